"""Small-array operations spelled once for numpy and once for torch (private module).

A few rules of poselift (:func:`poselift.core.far_joints`, the box normalization of
:mod:`poselift.normalization` and the model inputs of
:meth:`poselift.models.inputs.InputContract.prepare`) are written once, in terms of
:class:`NumpyOps` / :class:`TorchOps` (:func:`ops_for` picks by the input's kind): numpy in,
numpy out; torch in, torch out. On one pose an operation's dispatch, not its work, sets the
time, and a torch operation's dispatch costs about twice a numpy one's (~2-5 us against
~1-2 us here), so ``lift`` and :class:`poselift.StreamingLifter` (numpy inside) run them in
numpy, while the exported program (tensors) traces the torch ones, without data-dependent
branches. Both spell the same IEEE operations in the same order: the results are the same
(tested through the rules that use them).

Examples:
    >>> import numpy as np, torch
    >>> ops_for(np.zeros(2)) is NumpyOps, ops_for(torch.zeros(2)) is TorchOps
    (True, True)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["NumpyOps", "TorchOps", "all_true", "any_true", "ops_for"]


class NumpyOps:
    """The operations in numpy (see the module docs)."""

    @staticmethod
    def as_mask(m: Any) -> Any:
        """A validity mask (numpy, tensor or sequence) as a numpy bool array."""
        return np.asarray(m.numpy() if isinstance(m, torch.Tensor) else m, dtype=bool)

    @staticmethod
    def nan(x: Any) -> Any:
        """A NaN scalar of ``x``'s dtype."""
        return np.array(np.nan, dtype=x.dtype)

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Any:
        """``np.where(condition, a, b)`` of ``a``'s shape, a new C-order array.

        ``a`` may be a strided view: the result is a new array (sorted in place, taken from
        without a copy).
        """
        out = np.array(a, order="C")
        np.copyto(out, b, where=~condition)
        return out

    @staticmethod
    def nonnegative(a: Any) -> Any:
        return np.maximum(a, 0)

    @staticmethod
    def count(ok: Any) -> Any:
        """``(..., 1)`` int64: the true entries of ``ok`` along its last axis."""
        return np.add.reduce(ok, -1, dtype=np.int64, keepdims=True)

    @staticmethod
    def sum(a: Any) -> Any:
        return np.add.reduce(a, -1)

    @staticmethod
    def amax(a: Any) -> Any:
        """The largest entry along the last axis (NaN propagates)."""
        return np.maximum.reduce(a, -1)

    @staticmethod
    def sort(a: Any) -> Any:
        """``a`` (a new array, e.g. from :meth:`where` or :meth:`windows`) sorted in place."""
        a.sort(-1)
        return a

    @staticmethod
    def take(a: Any, index: Any) -> Any:
        """``np.take_along_axis(a, index, -1)`` for a contiguous ``a`` (fewer steps)."""
        flat = a.reshape(-1)
        return flat[np.arange(0, flat.size, a.shape[-1]).reshape(*a.shape[:-1], 1) + index]

    @staticmethod
    def cat(parts: list[Any]) -> Any:
        return np.concatenate(parts, -1)

    @staticmethod
    def norm(d: Any) -> Any:
        """Euclidean norm over the last axis of ``d`` (a temporary: squared in place)."""
        np.multiply(d, d, out=d)
        out = np.add.reduce(d, -1)
        return np.sqrt(out, out=out)

    @staticmethod
    def cast(a: Any, like: Any) -> Any:
        return a.astype(like.dtype)

    @staticmethod
    def box(x: Any, valid: Any | None) -> tuple[Any, Any]:
        """Lower and upper corners ``(..., 2)`` of the valid points of ``x`` ``(..., J, 2)``."""
        # reduced along a contiguous last axis: numpy reduces over J with the coordinate
        # pairs innermost ~5x slower (53 frames: 34 against 6 us)
        high = np.array(x.swapaxes(-1, -2), order="C")  # (..., 2, J)
        if valid is None:
            return np.minimum.reduce(high, -1), np.maximum.reduce(high, -1)
        missing = ~valid[..., None, :]
        low = high.copy()
        np.copyto(low, np.inf, where=missing)
        np.copyto(high, -np.inf, where=missing)
        return np.minimum.reduce(low, -1), np.maximum.reduce(high, -1)

    @staticmethod
    def padded_windows(a: Any, left: int, right: int) -> Any:
        """``(..., n, left + 1 + right)``: each entry of the last axis with its neighbours.

        ``left`` entries before it and ``right`` after it, the first and last entries repeated
        beyond the ends (a copy).
        """
        return a[..., _window_index(a.shape[-1], left, right)]  # one gather, index built once

    @staticmethod
    def isnan(a: Any) -> Any:
        return np.isnan(a)

    @staticmethod
    def median(a: Any) -> Any:
        """``(..., 1)``: the median along the last axis (by ``torch.quantile``).

        The mean of the two middle values for an even count, rounded as :class:`TorchOps`.
        """
        a = np.ascontiguousarray(a)
        return torch.quantile(torch.from_numpy(a), 0.5, dim=-1, keepdim=True).numpy()

    @staticmethod
    def expand_as(a: Any, like: Any) -> Any:
        return np.broadcast_to(a, like.shape)

    @staticmethod
    def positive_finite(a: Any) -> bool:
        """Every entry of the non-empty ``a`` positive and finite (NaN: False)."""
        return bool(a.min() > 0) and bool(a.max() < np.inf)

    @staticmethod
    def first_bad(a: Any) -> list[int]:
        """The index of the first entry of ``a`` that is not positive and finite."""
        out: list[int] = np.argwhere(~(a > 0) | ~np.isfinite(a))[0].tolist()
        return out

    @staticmethod
    def reciprocal(a: Any) -> Any:
        return np.reciprocal(a)

    @staticmethod
    def with_ones(a: Any) -> Any:
        """``a`` ``(..., C)`` with a channel of ones appended: ``(..., C + 1)``."""
        out = np.empty((*a.shape[:-1], a.shape[-1] + 1), a.dtype)
        out[..., :-1] = a
        out[..., -1] = 1.0
        return out

    @staticmethod
    def zero_missing(a: Any, valid: Any) -> Any:
        """``a`` ``(..., J, C)`` (a new array: changed in place) with 0 where not ``valid``."""
        np.copyto(a, 0.0, where=~valid[..., None])
        return a


class TorchOps:
    """:class:`NumpyOps` in torch (eager, traced and exported)."""

    @staticmethod
    def as_mask(m: Any) -> Any:
        if isinstance(m, torch.Tensor):
            return m.to(torch.bool)
        return torch.from_numpy(np.asarray(m, dtype=bool))

    @staticmethod
    def nan(x: Any) -> Any:
        return torch.full((), float("nan"), dtype=x.dtype)

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Any:
        return torch.where(condition, a, b)

    @staticmethod
    def nonnegative(a: Any) -> Any:
        return a.clamp(min=0)

    @staticmethod
    def count(ok: Any) -> Any:
        return ok.sum(-1, keepdim=True)

    @staticmethod
    def sum(a: Any) -> Any:
        return a.sum(-1)

    @staticmethod
    def amax(a: Any) -> Any:
        return a.amax(-1)

    @staticmethod
    def sort(a: Any) -> Any:
        return a.sort(-1).values

    @staticmethod
    def take(a: Any, index: Any) -> Any:
        return a.gather(-1, index.expand(*a.shape[:-1], index.shape[-1]))

    @staticmethod
    def cat(parts: list[Any]) -> Any:
        return torch.cat(parts, -1)

    @staticmethod
    def norm(d: Any) -> Any:
        return (d * d).sum(-1).sqrt()

    @staticmethod
    def cast(a: Any, like: Any) -> Any:
        return a.to(like.dtype)

    @staticmethod
    def box(x: Any, valid: Any | None) -> tuple[Any, Any]:
        if valid is None:
            lo, hi = torch.aminmax(x, dim=-2)
            return lo, hi
        missing = ~valid.unsqueeze(-1)
        return (x.masked_fill(missing, float("inf")).amin(-2),
                x.masked_fill(missing, float("-inf")).amax(-2))

    @staticmethod
    def padded_windows(a: Any, left: int, right: int) -> Any:
        lead = a.shape[:-1]
        padded = torch.cat([a[..., :1].expand(*lead, left), a, a[..., -1:].expand(*lead, right)],
                           -1)
        # contiguous: exports without a guard on the length
        return padded.unfold(-1, left + 1 + right, 1).contiguous()

    @staticmethod
    def isnan(a: Any) -> Any:
        return torch.isnan(a)

    @staticmethod
    def median(a: Any) -> Any:
        return torch.quantile(a, 0.5, dim=-1, keepdim=True)

    @staticmethod
    def expand_as(a: Any, like: Any) -> Any:
        return a.expand_as(like)

    @staticmethod
    def positive_finite(a: Any) -> bool:
        smallest, largest = torch.aminmax(a)
        return bool(smallest.item() > 0) and bool(largest.item() < float("inf"))

    @staticmethod
    def first_bad(a: Any) -> list[int]:
        out: list[int] = torch.nonzero(~(a > 0) | ~torch.isfinite(a))[0].tolist()
        return out

    @staticmethod
    def reciprocal(a: Any) -> Any:
        return a.reciprocal()

    @staticmethod
    def with_ones(a: Any) -> Any:
        return F.pad(a, (0, 1), value=1.0)

    @staticmethod
    def zero_missing(a: Any, valid: Any) -> Any:
        return a.masked_fill(~valid.unsqueeze(-1), 0.0)


@functools.lru_cache(maxsize=64)
def _window_index(n: int, left: int, right: int) -> np.ndarray[Any, Any]:
    """``(n, left + 1 + right)`` indices of :meth:`NumpyOps.padded_windows` (read-only, shared)."""
    index: np.ndarray[Any, Any] = np.clip(np.arange(n)[:, None] + np.arange(-left, right + 1),
                                          0, n - 1)
    index.flags.writeable = False
    return index


def ops_for(x: Any) -> type[NumpyOps] | type[TorchOps]:
    """:class:`NumpyOps` for a numpy array, else :class:`TorchOps`."""
    return NumpyOps if isinstance(x, np.ndarray) else TorchOps


def all_true(mask: np.ndarray[Any, Any]) -> bool:
    """Whether every entry of a numpy bool array is true (``mask.all()``).

    Counted rather than reduced: on a few joints ~0.5 us against ~3 us for ``.all()``, and a
    small call asks a dozen such questions.

    Examples:
        >>> all_true(np.ones(3, bool)), all_true(np.array([True, False]))
        (True, False)
    """
    return int(np.count_nonzero(mask)) == mask.size


def any_true(mask: np.ndarray[Any, Any]) -> bool:
    """Whether some entry of a numpy bool array is true (``mask.any()``, counted).

    See :func:`all_true`.

    Examples:
        >>> any_true(np.zeros(3, bool)), any_true(np.array([False, True]))
        (False, True)
    """
    return bool(np.count_nonzero(mask))
