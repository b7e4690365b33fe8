"""Model resolution: a weights name, a checkpoint path or a module -> a ready eval-mode model.

:func:`resolve_model` is how every user-facing layer (:class:`poselift.Lifter`,
:class:`poselift.StreamingLifter`, :func:`poselift.export.export_model`) gets its network:

- a ``torch.nn.Module`` is returned as it is (its mode and device are the caller's);
- a weights name (:func:`~poselift.models.list_weights`), a checkpoint path, or two of them
  joined by ``+`` (a temporal and a single-frame model averaged, :mod:`poselift.models.blend`)
  is loaded once
  per (file, device) and kept in a process-wide cache, in eval mode, so that repeated calls
  (one ``lift`` per frame) do not read the file again. The cache is keyed on the **file's
  identity** (device, inode, size, modification time), not on its name: a checkpoint
  overwritten at the same path is loaded again on the next call. Loading is guarded by a
  lock, so concurrent threads load a file once. :func:`clear_model_cache` empties it.

The cached models are shared: do not train or modify them (``load_model`` gives a private
copy). :func:`resolve_device` validates a device argument.

Examples:
    >>> import poselift
    >>> net = resolve_model("sr.coco")
    >>> net is resolve_model("sr.coco"), net.training
    (True, False)
    >>> clear_model_cache()
    >>> net is resolve_model("sr.coco")
    False
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poselift.models.blend import blend_spec
from poselift.models.factory import create_model, load_model
from poselift.models.registry import get_weights, list_models, list_weights

__all__ = ["clear_model_cache", "resolve_device", "resolve_model"]

_cache: dict[tuple[str, str, str], tuple[tuple[int, ...], nn.Module]] = {}
_lock = threading.Lock()


def resolve_device(device: object) -> torch.device:
    """``device`` as a ``torch.device`` this process can run a model on (None: CPU).

    Raises:
        ValueError: not a device, ``"meta"``, or an accelerator this process does not have.

    Examples:
        >>> resolve_device(None), resolve_device("cpu")
        (device(type='cpu'), device(type='cpu'))
        >>> resolve_device("gpu")
        Traceback (most recent call last):
        ...
        ValueError: device: expected None, a torch.device or a device string such as 'cpu' ...
    """
    if device is None:
        return torch.device("cpu")
    dev: torch.device | None = None
    if isinstance(device, str | torch.device):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            pass
    if dev is None:
        raise ValueError(f"device: expected None, a torch.device or a device string such as "
                         f"'cpu' or 'cuda:0', got {device!r}")
    if dev.type == "cpu":
        return dev
    if dev.type == "meta":
        raise ValueError("device: 'meta' holds no data and cannot run a model; expected 'cpu' "
                         "or an available accelerator")
    backend: Any = (torch.backends.mps if dev.type == "mps"
                    else getattr(torch, dev.type, None))
    available = getattr(backend, "is_available", None)
    if not callable(available) or not available():
        raise ValueError(f"device: {str(dev)!r} is not available in this process (torch "
                         f"{torch.__version__}); expected 'cpu' or an available accelerator")
    count = getattr(backend, "device_count", None)
    if dev.index is not None and callable(count) and dev.index >= int(count()):
        raise ValueError(f"device: {str(dev)!r} does not exist; this process sees "
                         f"{int(count())} {dev.type} device(s)")
    return dev


def _identity(*paths: Path) -> tuple[int, ...]:
    """What tells one version of files from another: device, inode, size, mtime (ns)."""
    out: tuple[int, ...] = ()
    for path in paths:
        st = path.stat()
        out += (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def _load(kind: str, ref: str, paths: tuple[Path, ...], device: torch.device) -> nn.Module:
    key = (kind, ref, str(device))
    with _lock:
        ident = _identity(*paths)
        hit = _cache.get(key)
        if hit is not None and hit[0] == ident:
            return hit[1]
        if kind == "weights":
            net = create_model(get_weights(ref).model, weights=ref)
        elif kind == "blend":
            net = load_model(ref)
        else:
            net = load_model(paths[0])
        net = net.to(device).eval()
        _cache[key] = (ident, net)  # replaces the entry of an older version of the file
        return net


def resolve_model(model: str | os.PathLike[str] | nn.Module, *,
                  device: str | torch.device | None = None) -> nn.Module:
    """The network for a weights name, a checkpoint path or a module (see the module docs).

    Args:
        model: a name from :func:`~poselift.models.list_weights`, a checkpoint file
            (:func:`~poselift.models.save_model`) or a ``torch.nn.Module`` (returned as is).
        device: where a loaded model runs (default CPU).

    Returns:
        The model; loaded ones in eval mode, shared through the cache (do not modify them).

    Raises:
        ValueError: an architecture name without weights, or neither a weights name nor an
            existing file.
        TypeError: ``model`` of another type.

    Examples:
        >>> resolve_model("sr").config["name"]
        Traceback (most recent call last):
        ...
        ValueError: model: 'sr' is an architecture without trained weights; pass a weights ...
    """
    if isinstance(model, nn.Module):
        return model
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str):
        raise TypeError(f"model: expected a weights name, a checkpoint path or a "
                        f"torch.nn.Module, got {type(model).__name__}")
    dev = resolve_device(device)
    shipped = list_weights()
    if model in shipped:
        return _load("weights", model, (get_weights(model).path,), dev)
    path = Path(model)
    if path.is_file():
        resolved = path.resolve()
        return _load("path", str(resolved), (resolved,), dev)
    parts = blend_spec(model)
    if parts is not None:
        files = tuple(get_weights(p).path if p in shipped else Path(p).resolve() for p in parts)
        missing = [p for p, f in zip(parts, files, strict=True) if not f.is_file()]
        if missing:
            raise ValueError(f"model: {model!r} blends two models (temporal+single) but "
                             f"{missing} is neither a weights name ({shipped or 'none shipped'}) "
                             "nor an existing checkpoint file")
        ref = "+".join(p if p in shipped else str(f) for p, f in zip(parts, files, strict=True))
        return _load("blend", ref, files, dev)
    if model in list_models():
        raise ValueError(
            f"model: {model!r} is an architecture without trained weights; pass a weights "
            f"name ({shipped or 'none shipped'}), a checkpoint path, or "
            f"poselift.create_model({model!r}, ...) after training it")
    raise ValueError(f"model: expected a weights name ({shipped or 'none shipped'}), an "
                     f"existing checkpoint file or a torch.nn.Module, got {model!r}")


def clear_model_cache() -> None:
    """Forget every model :func:`resolve_model` loaded (the next call loads the file again).

    Examples:
        >>> clear_model_cache()
    """
    with _lock:
        _cache.clear()
