"""Checkpoint files: one file with a model's config, state_dict and plain-type meta (I/O only).

Files are written with :func:`torch.save` and read back only with
``torch.load(..., weights_only=True)``: a file that holds anything other than tensors and
plain containers (for example a pickle that would run code) is refused with a clear error and
nothing from it is executed. There is no fallback to unsafe loading.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poselift._files import atomic_write

__all__ = ["STORAGE_DTYPES", "atomic_save", "load_checkpoint", "save_model"]

FORMAT = "poselift-checkpoint"
VERSION = 1
STORAGE_DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16, "bfloat16": torch.bfloat16,
    "float32": torch.float32, "float64": torch.float64,
}
"""The dtypes :func:`save_model` can store weights in (floating point: a cast back is exact
up to rounding; integer dtypes would truncate the weights)."""


def _storage_dtype(value: object) -> torch.dtype | None:
    """``None`` or a floating-point dtype from :data:`STORAGE_DTYPES` (or its name)."""
    if value is None:
        return None
    if isinstance(value, str):
        found = STORAGE_DTYPES.get(value.removeprefix("torch."))
        if found is not None:
            return found
    elif isinstance(value, torch.dtype):
        if value in STORAGE_DTYPES.values():
            return value
    else:
        raise TypeError(f"storage_dtype: expected None, a torch.dtype or its name, got "
                        f"{type(value).__name__}")
    raise ValueError(f"storage_dtype: expected None or a floating-point dtype "
                     f"({', '.join(STORAGE_DTYPES)}), got {value!r}")


def _plain(value: Any, where: str) -> Any:
    """A copy of ``value`` built from exact plain types; ``TypeError`` for anything else.

    Subclasses of plain types (e.g. ``torch.__version__``, a ``str`` subclass) are converted
    to the base type, because ``torch.load(weights_only=True)`` refuses them.
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, list | tuple):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: dict keys must be str, got {type(k).__name__}")
            out[str(k)] = _plain(v, f"{where}[{k!r}]")
        return out
    raise TypeError(
        f"{where}: checkpoint meta and config must be plain types (str, int, float, bool, "
        f"None, list, tuple, dict), got {type(value).__name__}"
    )


def save_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    storage_dtype: torch.dtype | None = None,
    **meta: Any,
) -> None:
    """Save ``model`` (its ``.config`` and ``state_dict``) and plain-type ``meta`` to one file.

    The file is written to a temporary name first and renamed, so a failure never leaves a
    half-written checkpoint behind.

    Args:
        model: a model built by :func:`poselift.create_model` (it has ``.config``).
        path: destination file (conventionally ``.pt``).
        storage_dtype: store floating-point tensors in this dtype (e.g. ``torch.float16`` or
            ``"float16"`` to halve the file); they are cast back to the model's dtype on
            loading. Only floating-point dtypes (:data:`STORAGE_DTYPES`) are accepted.
        **meta: plain-type information (str, int, float, bool, None, lists, tuples, dicts):
            a model card, training recipe, metrics...

    Raises:
        TypeError: ``model`` has no ``.config`` or ``meta`` holds non-plain values.
        ValueError: ``storage_dtype`` is not a floating-point dtype, or a weight does not fit
            in it (e.g. beyond the float16 range).
        FileNotFoundError: the directory of ``path`` does not exist.

    Examples:
        >>> import tempfile, torch, poselift
        >>> model = poselift.create_model("fc", hidden=32)
        >>> path = tempfile.mkdtemp() + "/fc.pt"
        >>> save_model(model, path, note="doc example")
        >>> again = poselift.load_model(path)
        >>> again.config == model.config
        True
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(
            "model: expected a model built by poselift.create_model (with a .config dict), "
            f"got {type(model).__name__} without one"
        )
    config = _plain(config, "config")
    meta = _plain(meta, "meta")
    dtype = _storage_dtype(storage_dtype)
    state = {}
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu()
        if dtype is not None and t.is_floating_point():
            stored = t.to(dtype)
            lost = torch.isfinite(t) & ~torch.isfinite(stored)
            if bool(lost.any()):
                raise ValueError(
                    f"storage_dtype: {dtype} cannot hold state_dict[{key!r}] (|value| up to "
                    f"{float(t[lost].abs().max()):.4g} becomes inf); store it in a wider dtype")
            t = stored
        state[key] = t.clone()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": dict(config),
        "state_dict": state,
        "meta": dict(meta),
    }
    atomic_save(payload, path)


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never half-written.

    Examples:
        >>> import tempfile, torch
        >>> with tempfile.TemporaryDirectory() as d:
        ...     atomic_save({"x": torch.ones(2)}, f"{d}/s.pt")
        ...     torch.load(f"{d}/s.pt")["x"].tolist()
        [1.0, 1.0]
    """
    atomic_write(path, functools.partial(torch.save, obj))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint file safely and return its ``config``, ``state_dict`` and ``meta``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a poselift checkpoint (truncated, corrupted, another
            format or version), is malformed (``state_dict`` values that are not tensors,
            ``config`` keys that are not strings), or holds objects other than tensors and
            plain types (refused; nothing from it is executed).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"path: no checkpoint file at {str(p)!r}")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{p}: refused to load: not a safe poselift checkpoint (torch.load with "
            f"weights_only=True failed: {first}). Checkpoints hold only tensors and plain "
            "types; this file may contain arbitrary Python objects, and poselift never falls "
            "back to unsafe loading."
        ) from None
    except Exception as err:  # truncated/garbled archives fail anywhere inside torch.load
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"{p}: cannot read the checkpoint (truncated or corrupted file?): "
            f"{type(err).__name__}{': ' + first if first else ''}"
        ) from None
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        raise ValueError(f"{p}: not a poselift checkpoint (no format={FORMAT!r} marker)")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{p}: checkpoint version {payload.get('version')!r} is not supported "
            f"(this poselift reads version {VERSION})"
        )
    for key, kind in (("config", dict), ("state_dict", dict), ("meta", dict)):
        if not isinstance(payload.get(key), kind):
            raise ValueError(f"{p}: malformed checkpoint: {key!r} missing or not a {kind.__name__}")
    for name in ("config", "meta"):
        bad_keys = [k for k in payload[name] if not isinstance(k, str)]
        if bad_keys:
            raise ValueError(f"{p}: malformed checkpoint: {name} keys must be strings, got "
                             f"{bad_keys[0]!r}")
    for key, value in payload["state_dict"].items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(f"{p}: malformed checkpoint: state_dict[{key!r}] is a "
                             f"{type(value).__name__}, expected a torch.Tensor under a str key")
    return dict(payload)
