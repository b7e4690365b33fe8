"""Build models: :func:`create_model` and :func:`load_model`.

:func:`create_model` builds a registered model (optionally with shipped weights),
:func:`load_model` a checkpoint file, on top of the registry tables and checkpoint I/O.
Every built model carries ``.config``, a plain dict that ``create_model(**config)``
accepts, and ``.receptive_field`` (1 for single-frame models); the input contract of a
model is derived from them (:class:`~poselift.models.inputs.InputContract`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_parameter_registration_hook

from poselift.models.checkpoint import load_checkpoint
from poselift.models.registry import (
    LEGACY_CONFIG,
    UNIVERSAL_CONFIG,
    ModelEntry,
    get_model_entry,
    get_weights,
    list_weights,
)
from poselift.normalization import INPUT_NORMS

__all__ = ["blend_spec", "create_model", "load_model"]


def create_model(name: str, *, weights: str | None = None, **config: Any) -> nn.Module:
    """Build a registered model, optionally with shipped pretrained weights.

    Args:
        name: a name from :func:`list_models`.
        weights: ``"<model>.<tag>"`` or just ``"<tag>"`` from :func:`list_weights`; the
            weights' own config is used and ``config`` must not contradict it. The file is
            checked against the SHA-256 of its model card (``storage.sha256``) before loading.
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
    entry = get_model_entry(name)
    if weights is not None:
        wname = weights if "." in weights else f"{name}.{weights}"
        w = get_weights(wname)
        if w.model != name:
            raise ValueError(f"weights: {wname!r} belong to model {w.model!r}, not {name!r}")
        verify_weights_file(wname, w.path, w.meta)
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
    own = getattr(model, "input_contract", None)  # a model made of models: its parts decide
    if own is not None:
        full["input_norm"] = own.input_norm
    model.config = full  # type: ignore[assignment]
    if not hasattr(model, "receptive_field"):
        model.receptive_field = 1  # type: ignore[assignment]
    return model


def verify_weights_file(name: str, path: Path, card: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``path`` has the SHA-256 its model card records.

    Cards without ``storage.sha256`` (weights registered by a user) are not checked.

    Examples:
        >>> from poselift.models import get_weights
        >>> w = get_weights("sr.coco")
        >>> verify_weights_file(w.name, w.path, w.meta)               # intact: no error
        >>> verify_weights_file(w.name, w.path, {"storage": {"sha256": "0" * 64}})
        Traceback (most recent call last):
        ...
        ValueError: weights 'sr.coco': ... has SHA-256 ..., its model card says 000000000000...
    """
    storage = card.get("storage")
    expected = storage.get("sha256") if isinstance(storage, Mapping) else None
    if not isinstance(expected, str):
        return
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    got = digest.hexdigest()
    if got != expected.lower():
        raise ValueError(
            f"weights {name!r}: {path} has SHA-256 {got[:12]}..., its model card says "
            f"{expected[:12]}...; the file is damaged or was replaced (reinstall poselift)"
        )


def _check_state(path: str | os.PathLike[str], name: str, config: Mapping[str, Any],
                 state: Mapping[str, torch.Tensor]) -> None:
    """Refuse a checkpoint whose config does not build the tensors it stores.

    The model is built on the ``meta`` device (shapes only, no memory), so a config asking
    for an absurd size (``hidden=10**9``) is refused before anything is allocated: the sizes
    it implies must equal those of the tensors actually stored in the file. Stored weights
    must also be finite and floating point where the model's are, and BatchNorm running
    variances positive.
    """
    limit = 2 * len(state) + 16  # parameters the build may register (re-assignments count)
    count = 0
    builder = threading.get_ident()

    def count_parameters(module: nn.Module, key: str, param: Any) -> None:
        nonlocal count
        if threading.get_ident() == builder and param is not None:
            count += 1
            if count > limit:  # e.g. num_blocks=10**6: stop building, however cheap on meta
                raise ValueError(f"the config builds more than {limit} parameter tensors, the "
                                 f"file stores {len(state)}")

    handle = register_module_parameter_registration_hook(count_parameters)
    try:
        with torch.device("meta"):
            shapes = create_model(name, **config).state_dict()
    except Exception as err:  # the config comes from a file: any failure means "malformed"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: malformed checkpoint: its config does not build model "
                         f"{name!r} ({first})") from None
    finally:
        handle.remove()
    missing = [k for k in shapes if k not in state]
    extra = [k for k in state if k not in shapes]
    if missing or extra:
        raise ValueError(f"{path}: state_dict does not match model {name!r} built from its "
                         f"config: missing keys {missing[:3]}, unexpected keys {extra[:3]}")
    built = sum(t.numel() for t in shapes.values())
    stored = sum(t.numel() for t in state.values())
    for key, ref in shapes.items():
        got = state[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise ValueError(
                f"{path}: state_dict[{key!r}] has shape {tuple(got.shape)} but the config "
                f"builds {tuple(ref.shape)}: the config asks for {built:,} numbers, the file "
                f"stores {stored:,}; refused before allocating the model")
        if ref.is_floating_point() and not got.is_floating_point():
            raise ValueError(f"{path}: state_dict[{key!r}] is stored as {got.dtype}, expected "
                             "a floating-point tensor (weights would be truncated)")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            bad = int((~torch.isfinite(got)).sum())
            raise ValueError(f"{path}: state_dict[{key!r}] holds {bad} NaN/inf value(s); the "
                             "model would give NaN poses (a diverged training run?)")
        if key.endswith("running_var") and got.is_floating_point() and \
                not bool((got > 0).all()):
            bad = int((got <= 0).sum())
            raise ValueError(
                f"{path}: state_dict[{key!r}] (a BatchNorm running variance) holds {bad} "
                f"value(s) <= 0 (smallest {float(got.min()):.3g}); a variance must be positive "
                "(with 0 the layer multiplies its input by 1/sqrt(eps) and the poses come out "
                "thousands of km long): a damaged or hand-edited checkpoint")


def load_model(path: str | os.PathLike[str]) -> nn.Module:
    """Load shipped weights by name, or a model saved with :func:`save_model`, in eval mode.

    ``path``: a weights name (:func:`list_weights`, e.g. ``"sr.coco"``: the same as
    ``create_model("sr", weights="sr.coco")``, checked against its model card) or a checkpoint
    file. A string that names registered weights is read as the name; pass a
    ``pathlib.Path`` for a file of the same name. The model has ``.meta`` attached (the
    checkpoint's metadata). Each call returns a new model (for a shared, cached one see
    :func:`poselift.models.resolve.resolve_model`).

    Uses ``torch.load(weights_only=True)`` only; a file holding anything else is refused
    with a ``ValueError``. Before the model is allocated, its config is built on the
    ``meta`` device and the sizes it implies are compared with the tensors stored in the
    file (an absurd config is refused, not allocated); non-finite weights and BatchNorm
    running variances that are not positive are refused.
    Weights stored in reduced precision are cast back to the model's
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
        >>> poselift.load_model("sr.coco").config["skeleton"]              # by weights name
        'coco'
    """
    if isinstance(path, str) and path in list_weights():
        return create_model(get_weights(path).model, weights=path)
    if isinstance(path, str) and not os.path.exists(path):
        parts = blend_spec(path)
        if parts is not None:  # "temporal+single": the two models averaged
            return create_model("blend", temporal=parts[0], single=parts[1]).eval()
    payload = load_checkpoint(path)
    config = dict(payload["config"])
    name = config.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"{path}: malformed checkpoint: config has no model name")
    try:
        defaults = get_model_entry(name).defaults
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    for key, value in LEGACY_CONFIG.items():
        if key in defaults and key not in config:
            config[key] = value
    _check_state(path, name, config, payload["state_dict"])
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


def blend_spec(name: str) -> tuple[str, str] | None:
    """``"temporal+single"`` (two weights names or checkpoint files) as its two parts, else None.

    Examples:
        >>> blend_spec("sr_tcn.coco+sr.coco"), blend_spec("sr.coco")
        (('sr_tcn.coco', 'sr.coco'), None)
    """
    parts = name.split("+")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]
