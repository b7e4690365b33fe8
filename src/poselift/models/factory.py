"""Build models: :func:`create_model` and :func:`load_model`.

:func:`create_model` builds a registered model (optionally with shipped weights),
:func:`load_model` a checkpoint file, on top of the registry tables and checkpoint I/O.
Every built model carries ``.config``, a plain dict that ``create_model(**config)``
accepts, and ``.receptive_field`` (1 for single-frame models); the input contract of a
model is derived from them (:class:`~poselift.models.inputs.InputContract`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import nn

from poselift.models.checkpoint import load_checkpoint
from poselift.models.registry import (
    _MODELS,
    _WEIGHTS,
    LEGACY_CONFIG,
    UNIVERSAL_CONFIG,
    ModelEntry,
    get_model_entry,
)
from poselift.normalization import INPUT_NORMS

__all__ = ["create_model", "load_model"]


def create_model(name: str, *, weights: str | None = None, **config: Any) -> nn.Module:
    """Build a registered model, optionally with shipped pretrained weights.

    Args:
        name: a name from :func:`list_models`.
        weights: ``"<model>.<tag>"`` or just ``"<tag>"`` from :func:`list_weights`; the
            weights' own config is used and ``config`` must not contradict it.
        **config: the builder's config keys (see the model table in docs/models.md).
            Unknown keys raise ``ValueError`` listing the accepted ones.

    Returns:
        The model (in training mode when built fresh, eval mode when weights are loaded),
        with ``.config`` (a plain dict that ``create_model(**config)`` accepts) and
        ``.receptive_field``.

    Examples:
        >>> m = create_model("fc", hidden=64)
        >>> m.config["hidden"], m.receptive_field
        (64, 1)
        >>> create_model("fc", hiden=64)
        Traceback (most recent call last):
        ...
        ValueError: model 'fc' has no config key 'hiden' (did you mean 'hidden'?); accepted: ...
    """
    if config.get("name", name) == name:
        config.pop("name", None)
    else:
        raise ValueError(f"name: config says {config['name']!r} but model {name!r} was asked")
    entry = _MODELS.get(name)
    if weights is not None:
        wname = weights if "." in weights else f"{name}.{weights}"
        w = _WEIGHTS.get(wname)
        if w.model != name:
            raise ValueError(f"weights: {wname!r} belong to model {w.model!r}, not {name!r}")
        model = load_model(w.path)
        trained: dict[str, Any] = getattr(model, "config", {})
        for key, value in config.items():
            if trained.get(key) != value:
                raise ValueError(
                    f"{key}: weights {wname!r} were trained with {key}="
                    f"{trained.get(key)!r}, got {value!r}"
                )
        return model
    universal = {k: config.pop(k, v) for k, v in UNIVERSAL_CONFIG.items()}
    if universal["input_norm"] not in INPUT_NORMS:
        raise ValueError(f"input_norm: expected one of {INPUT_NORMS}, got "
                         f"{universal['input_norm']!r}")
    _check_config(entry, config)
    model = entry.builder(**config)
    full = {"name": name, **entry.defaults, **config, **universal}
    model.config = full  # type: ignore[assignment]
    if not hasattr(model, "receptive_field"):
        model.receptive_field = 1  # type: ignore[assignment]
    return model


def load_model(path: str | os.PathLike[str]) -> nn.Module:
    """Load a model saved with :func:`save_model`, in eval mode, with ``.meta`` attached.

    Uses ``torch.load(weights_only=True)`` only; a file holding anything else is refused
    with a ``ValueError``. Weights stored in reduced precision are cast back to the model's
    parameter dtype. A config key added after the checkpoint was written gets the value the
    checkpoint was trained with (:data:`~poselift.models.registry.LEGACY_CONFIG`).

    Examples:
        >>> import tempfile, torch, poselift
        >>> model = poselift.create_model("fc", hidden=32).eval()
        >>> path = tempfile.mkdtemp() + "/fc.pt"
        >>> poselift.save_model(model, path)
        >>> x = torch.randn(2, 17, 2)
        >>> torch.equal(poselift.load_model(path)(x), model(x))
        True
    """
    payload = load_checkpoint(path)
    config = dict(payload["config"])
    name = config.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"{path}: malformed checkpoint: config has no model name")
    defaults = get_model_entry(name).defaults
    for key, value in LEGACY_CONFIG.items():
        if key in defaults and key not in config:
            config[key] = value
    model = create_model(name, **config)
    reference = model.state_dict()
    state = {}
    for key, tensor in payload["state_dict"].items():
        if key in reference and tensor.is_floating_point():
            tensor = tensor.to(reference[key].dtype)
        state[key] = tensor
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path}: state_dict does not match model {name!r}: {err}") from None
    model.eval()
    model.meta = dict(payload["meta"])  # type: ignore[assignment]
    return model


def _check_config(entry: ModelEntry, config: Mapping[str, Any]) -> None:
    import difflib

    for key in config:
        if key not in entry.defaults:
            close = difflib.get_close_matches(key, list(entry.defaults), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            accepted = ", ".join(sorted(entry.defaults))
            raise ValueError(
                f"model {entry.name!r} has no config key {key!r}{hint}; accepted: {accepted} "
                f"(and {', '.join(UNIVERSAL_CONFIG)} for every model)"
            )
