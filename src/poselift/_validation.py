"""Validation helpers used once at the public boundary (private module).

Every public function checks its inputs with these helpers, so that bad input raises a
``ValueError``/``TypeError`` naming the argument, the expected shape or value and what was
received, instead of an ``IndexError`` or ``RuntimeError`` from deep inside.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any, TypeAlias, TypeGuard

import numpy as np
import torch

Array: TypeAlias = np.ndarray[Any, Any] | torch.Tensor
"""A numpy array or a torch tensor; functions return the same kind they were given."""

_TOKEN = re.compile(r"^(\.\.\.|\d+|[A-Za-z_][A-Za-z_0-9']*)$")


@functools.lru_cache(maxsize=256)
def _parse_spec(spec: str) -> tuple[str, ...]:
    body = spec.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ValueError(f"shape spec must look like '(..., J, 2)', got {spec!r}")
    tokens = [t.strip() for t in body[1:-1].split(",") if t.strip()]
    for t in tokens:
        if not _TOKEN.match(t):
            raise ValueError(f"bad token {t!r} in shape spec {spec!r}")
    if tokens.count("...") > 1 or ("..." in tokens and tokens[0] != "..."):
        raise ValueError(f"'...' may only lead a shape spec, got {spec!r}")
    return tuple(tokens)


def check_array(x: object, name: str) -> Array:
    """Raise ``TypeError`` unless ``x`` is a numpy array or a torch tensor.

    Args:
        x: the value to check.
        name: the argument's name, used in the message.

    Returns:
        ``x`` unchanged, typed as :data:`Array`.

    Examples:
        >>> import numpy as np
        >>> check_array(np.zeros(3), "x").shape
        (3,)
        >>> check_array([1, 2], "x")
        Traceback (most recent call last):
        ...
        TypeError: x: expected a numpy.ndarray or torch.Tensor, got list
    """
    if isinstance(x, np.ndarray | torch.Tensor):
        return x
    raise TypeError(f"{name}: expected a numpy.ndarray or torch.Tensor, got {type(x).__name__}")


def check_shape(x: Array, name: str, spec: str, **sizes: int) -> dict[str, int]:
    """Check ``x.shape`` against a spec such as ``"(..., J, 2)"`` and return the bound sizes.

    Letters bind a size that must be the same wherever the letter appears; keyword
    arguments fix a letter's size in advance; integers must match exactly; a leading
    ``...`` matches zero or more dimensions.

    Args:
        x: array or tensor to check.
        name: the argument's name, used in the message.
        spec: the expected shape, e.g. ``"(..., J, 2)"`` or ``"(N, J, 3)"``.
        **sizes: known sizes for letters of the spec, e.g. ``J=17``.

    Returns:
        The size bound to each letter (and ``"..."`` -> number of leading dims).

    Raises:
        ValueError: the shape does not match, with the expected and received shapes.

    Examples:
        >>> import numpy as np
        >>> check_shape(np.zeros((4, 17, 2)), "keypoints", "(..., J, 2)")
        {'...': 1, 'J': 17}
        >>> check_shape(np.zeros((4, 17, 3)), "keypoints", "(..., J, 2)", J=17)
        Traceback (most recent call last):
        ...
        ValueError: keypoints: expected shape (..., J, 2) with J=17, got (4, 17, 3)
    """
    tokens = _parse_spec(spec)
    shape = tuple(int(s) for s in x.shape)
    bound: dict[str, int] = dict(sizes)
    ok = True
    fixed = [t for t in tokens if t != "..."]
    if tokens and tokens[0] == "...":
        ok = len(shape) >= len(fixed)
        lead = len(shape) - len(fixed)
    else:
        ok = len(shape) == len(fixed)
        lead = 0
    if ok:
        for tok, dim in zip(fixed, shape[lead:], strict=True):
            if tok.isdigit():
                ok = ok and dim == int(tok)
            elif tok in bound:
                ok = ok and dim == bound[tok]
            else:
                bound[tok] = dim
    if not ok:
        extra = ", ".join(f"{k}={v}" for k, v in sizes.items())
        detail = f" with {extra}" if extra else ""
        raise ValueError(f"{name}: expected shape {spec}{detail}, got {shape}")
    if tokens and tokens[0] == "...":
        bound["..."] = lead
    return {k: bound[k] for k in (["..."] if "..." in bound else []) + [t for t in fixed
                                                                     if not t.isdigit()]}


def check_finite(x: Array, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values.

    Examples:
        >>> import numpy as np
        >>> check_finite(np.array([1.0, np.nan]), "poses")
        Traceback (most recent call last):
        ...
        ValueError: poses: expected finite values, found 1 NaN/inf of 2
    """
    bad = int((~torch.isfinite(x)).sum()) if isinstance(x, torch.Tensor) else int(
        (~np.isfinite(x)).sum())
    if bad:
        total = int(x.numel()) if isinstance(x, torch.Tensor) else int(x.size)
        raise ValueError(f"{name}: expected finite values, found {bad} NaN/inf of {total}")


def all_finite(t: torch.Tensor) -> bool:
    """True when every entry of the float tensor ``t`` is finite (fast on small tensors).

    One reduction instead of ``isfinite(t).all()``'s four operations: the sum of finite
    values is finite unless it overflows, which only values near the float type's largest
    (~3e38 in float32; never model inputs or outputs) can make it do; those count as not
    finite.

    Examples:
        >>> import torch
        >>> all_finite(torch.ones(3)), all_finite(torch.tensor([1.0, float("nan")]))
        (True, False)
    """
    return t.numel() == 0 or math.isfinite(t.sum().item())


def check_choice(value: object, name: str, choices: Mapping[str, object] | tuple[str, ...]) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``; return it as ``str``.

    Examples:
        >>> check_choice("mean", "reduction", ("mean", "none"))
        'mean'
        >>> check_choice("sum", "reduction", ("mean", "none"))
        Traceback (most recent call last):
        ...
        ValueError: reduction: expected one of 'mean', 'none', got 'sum'
    """
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ValueError(f"{name}: expected one of {listed}, got {value!r}")
    return value


def is_number(value: object) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    """True for a real number: a Python or numpy int/float, not a bool.

    Examples:
        >>> import numpy as np
        >>> is_number(3), is_number(np.float32(0.3)), is_number(True), is_number(1j)
        (True, True, False, False)
    """
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_))


def is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """True for a Python or numpy integer, not a bool.

    Examples:
        >>> import numpy as np
        >>> is_int(8), is_int(np.int64(8)), is_int(8.0), is_int(False)
        (True, True, False, False)
    """
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def check_real(x: Array, name: str, *, allow_bool: bool = False) -> None:
    """Raise ``TypeError`` unless ``x`` holds real numbers (no complex, str, object, bool).

    Examples:
        >>> import numpy as np, torch
        >>> check_real(np.zeros(2), "x")
        >>> check_real(torch.zeros(2, dtype=torch.complex64), "keypoints2d")
        Traceback (most recent call last):
        ...
        TypeError: keypoints2d: expected real numbers, got dtype torch.complex64
    """
    if isinstance(x, torch.Tensor):
        ok = not x.is_complex() and (allow_bool or x.dtype != torch.bool)
    else:
        ok = x.dtype.kind in ("fiub" if allow_bool else "fiu")
    if not ok:
        raise TypeError(f"{name}: expected real numbers, got dtype {x.dtype}")


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a positive (or non-negative) finite number.

    Python and numpy numbers are accepted (``np.float32(0.3)``); bools are not.

    Examples:
        >>> check_positive(-1, "sigma")
        Traceback (most recent call last):
        ...
        ValueError: sigma: expected a positive number, got -1
    """
    good = is_number(value) and bool(np.isfinite(value))
    if good:
        good = bool(value >= 0) if allow_zero else bool(value > 0)
    if not good:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name}: expected a {kind} number, got {value!r}")


def to_numpy(x: Array) -> np.ndarray[Any, Any]:
    """Return ``x`` as a numpy array (detached, on the CPU), without copying when possible."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def like(result: np.ndarray[Any, Any], reference: Array) -> Array:
    """Return ``result`` as the same kind (numpy or torch, device) as ``reference``."""
    if isinstance(reference, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(result)).to(reference.device)
    return result


def check_image_size(image_size: object) -> tuple[float, float] | None:
    """``image_size`` as ``(width, height)`` floats, or None; else ``ValueError``.

    A tuple or list of two numbers (numpy scalars too) or a 1-d numpy array of two.

    Examples:
        >>> check_image_size((1920, 1080)), check_image_size(None)
        ((1920.0, 1080.0), None)
        >>> check_image_size(np.array([1280, 720]))
        (1280.0, 720.0)
        >>> check_image_size((0, 5))
        Traceback (most recent call last):
        ...
        ValueError: image_size: expected (width, height) in pixels, two positive finite ...
    """
    if image_size is None:
        return None
    if isinstance(image_size, np.ndarray) and image_size.ndim == 1 and \
            image_size.dtype.kind in "iuf":
        image_size = image_size.tolist()  # Python numbers (a bool array stays refused)
    ok = (isinstance(image_size, tuple | list) and len(image_size) == 2
          and all(is_number(v) and bool(np.isfinite(v)) and v > 0 for v in image_size))
    if not ok:
        raise ValueError(f"image_size: expected (width, height) in pixels, two positive "
                         f"finite numbers, got {image_size!r}")
    assert isinstance(image_size, tuple | list)
    return float(image_size[0]), float(image_size[1])


def check_frames(value: object, name: str) -> int | None:
    """A number of frames ``>= 0`` as an int, or None; else ``ValueError`` naming ``name``.

    Examples:
        >>> check_frames(3, "max_gap"), check_frames(None, "max_gap")
        (3, None)
    """
    if value is not None and (not is_int(value) or value < 0):
        raise ValueError(f"{name}: expected None or a number of frames >= 0, got {value!r}")
    return None if value is None else int(value)
