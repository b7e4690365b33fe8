"""3D pose error metrics: MPJPE, P-MPJPE, N-MPJPE, MPJVE, PCK and AUC, plus an accumulator.

Every function takes ``pred`` and ``target`` of shape ``(..., J, 3)`` in any unit (results are
in the same unit) and accepts numpy arrays or torch tensors, returning the same kind. With torch
the computation is differentiable (``mpjpe``, ``p_mpjpe``, ``n_mpjpe`` and ``mpjve`` are usable
as losses); numpy inputs are computed in float64.

Common keyword arguments:

- ``mask``: optional ``(..., J)`` boolean array (broadcastable to ``pred.shape[:-1]``); joints
  where it is ``False`` are left out of every mean (and, for ``p_mpjpe``/``n_mpjpe``, out of the
  alignment as well).
- ``reduction``: ``"mean"`` (one number: the mean over all valid (sample, joint) pairs, i.e.
  joint-weighted, which equals the frame-weighted mean of the per-sample values when nothing
  is masked), ``"none"`` (per-sample values of shape ``(...)``; a sample with no valid joint
  gives NaN) or ``"per_joint"`` (shape ``(J,)``: the mean of each joint over the samples).

NaN or inf in the inputs propagates to the result (no check, as for torch losses).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import torch

from poselift._validation import (
    Array,
    check_array,
    check_choice,
    check_positive,
    check_real,
    check_shape,
)

__all__ = [
    "FAR_FROM_PELVIS",
    "MetricAccumulator",
    "MetricReport",
    "auc3d",
    "bone_length_cv",
    "limb_asymmetry",
    "mean_acceleration",
    "motion_ratio",
    "mpjpe",
    "mpjve",
    "n_mpjpe",
    "p_mpjpe",
    "pck3d",
    "root_distance",
]

Reduction: TypeAlias = Literal["mean", "none", "per_joint"]
_REDUCTIONS = ("mean", "none", "per_joint")
DEFAULT_PCK_THRESHOLD = 150.0
"""Default PCK threshold, in the poses' unit: 150 assumes millimetres (use 0.15 for metres)."""


def _default_auc_thresholds() -> np.ndarray[Any, Any]:
    return np.linspace(0.0, 150.0, 31)


# --------------------------------------------------------------------------------------------
# boundary helpers
# --------------------------------------------------------------------------------------------


def _as_tensor(x: Array) -> torch.Tensor:
    """Numpy -> float64 tensor (shared memory when possible); torch -> floating tensor."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    return x if x.is_floating_point() else x.to(torch.float64)


def _prepare(
    pred: object, target: object, mask: object, *, min_dims: int = 2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool]:
    """Validate ``pred``/``target``/``mask`` once; return tensors and whether input was numpy."""
    p = check_array(pred, "pred")
    t = check_array(target, "target")
    if isinstance(p, np.ndarray) != isinstance(t, np.ndarray):
        raise TypeError(
            "pred and target: expected the same kind (both numpy or both torch), got "
            f"{type(p).__name__} and {type(t).__name__}"
        )
    spec = "(..., T, J, 3)" if min_dims == 3 else "(..., J, 3)"
    check_shape(p, "pred", spec)
    if tuple(p.shape) != tuple(t.shape):
        raise ValueError(
            f"target: expected the same shape as pred {tuple(p.shape)}, got {tuple(t.shape)}"
        )
    check_real(p, "pred")
    check_real(t, "target")
    is_numpy = isinstance(p, np.ndarray)
    pt = _as_tensor(p)
    tt = _as_tensor(t)
    if isinstance(tt, torch.Tensor) and tt.dtype != pt.dtype:
        dtype = torch.promote_types(pt.dtype, tt.dtype)
        pt, tt = pt.to(dtype), tt.to(dtype)
    if tt.device != pt.device:
        raise ValueError(
            f"pred and target: expected the same device, got {pt.device} and {tt.device}"
        )
    m: torch.Tensor | None = None
    if mask is not None:
        mk = check_array(mask, "mask")
        if isinstance(mk, np.ndarray) != is_numpy:
            raise TypeError(
                f"mask: expected the same kind as pred ({type(pred).__name__}), "
                f"got {type(mk).__name__}"
            )
        is_bool = mk.dtype == np.bool_ if isinstance(mk, np.ndarray) else mk.dtype == torch.bool
        if not is_bool:
            raise TypeError(f"mask: expected a boolean array, got dtype {mk.dtype}")
        mt = torch.from_numpy(np.ascontiguousarray(mk)) if isinstance(mk, np.ndarray) else mk
        shape = tuple(pt.shape[:-1])
        try:
            m = torch.broadcast_to(mt.to(pt.device), shape)
        except RuntimeError:
            raise ValueError(
                f"mask: expected a shape broadcastable to {shape} (pred.shape[:-1]), "
                f"got {tuple(mt.shape)}"
            ) from None
    return pt, tt, m, is_numpy


def _out(value: torch.Tensor, is_numpy: bool) -> Array:
    if is_numpy:
        arr = value.detach().cpu().numpy()
        return np.float64(arr) if arr.ndim == 0 else arr  # type: ignore[return-value]
    return value


def _reduce(err: torch.Tensor, mask: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Reduce per-joint values ``(..., J)`` by ``reduction`` (see module docstring)."""
    joints = err.shape[-1]
    if mask is None:
        if reduction == "none":
            return err.mean(-1)
        if reduction == "per_joint":
            return err.reshape(-1, joints).mean(0)
        return err.mean()
    w = mask.to(err.dtype)
    masked = torch.where(mask, err, torch.zeros((), dtype=err.dtype, device=err.device))
    if reduction == "none":
        return masked.sum(-1) / w.sum(-1)
    if reduction == "per_joint":
        return masked.reshape(-1, joints).sum(0) / w.reshape(-1, joints).sum(0)
    return masked.sum() / w.sum()


# --------------------------------------------------------------------------------------------
# per-joint errors (private, reused by the accumulator)
# --------------------------------------------------------------------------------------------


def _joint_errors(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Euclidean distance per joint, ``(..., J)``; gradient-safe at zero distance."""
    sq = ((p - t) ** 2).sum(-1)
    zero = sq == 0
    safe = torch.where(zero, torch.ones((), dtype=sq.dtype, device=sq.device), sq)
    return torch.where(zero, torch.zeros((), dtype=sq.dtype, device=sq.device), safe.sqrt())


def _weights(p: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones((*p.shape[:-1], 1), dtype=p.dtype, device=p.device)
    return mask.to(p.dtype).unsqueeze(-1)


def _procrustes_aligned(
    p: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """``pred`` aligned to ``target`` by the best similarity (scale, rotation, translation).

    Orthogonal Procrustes with Umeyama's reflection fix: R = V diag(1, 1, d) U^T with
    d = sign(det(V U^T)), scale = trace(diag(1, 1, d) S) / |X|^2. A sample whose valid
    predicted joints all coincide (zero scale) is aligned by translation only (scale 0,
    i.e. every joint placed at the target's centroid). A sample with NaN/inf among its valid
    joints is aligned as NaN (the SVD never sees it); masked joints take no part at all.
    """
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    if mask is not None:  # masked joints may hold anything, NaN included
        p = torch.where(mask.unsqueeze(-1), p, zero)
        t = torch.where(mask.unsqueeze(-1), t, zero)
    bad = ~(torch.isfinite(p) & torch.isfinite(t)).flatten(-2).all(-1)  # (...) samples
    has_bad = bool(bad.any())
    if has_bad:
        p = torch.where(bad[..., None, None], zero, p)
        t = torch.where(bad[..., None, None], zero, t)
    w = _weights(p, mask)  # (..., J, 1)
    wsum = w.sum(-2, keepdim=True).clamp_min(1.0)
    mu_p = (w * p).sum(-2, keepdim=True) / wsum
    mu_t = (w * t).sum(-2, keepdim=True) / wsum
    x = p - mu_p
    y = t - mu_t
    h = (x * w).transpose(-1, -2) @ y  # (..., 3, 3) = sum_i w_i x_i y_i^T
    norm_x = (w * x * x).sum((-1, -2))
    ref = (w * p * p).sum((-1, -2))
    eps = torch.finfo(p.dtype).eps
    degenerate = norm_x <= (1e4 * eps * eps) * ref + torch.finfo(p.dtype).tiny
    eye = torch.eye(3, dtype=p.dtype, device=p.device)
    h_safe = torch.where(degenerate[..., None, None], eye, h)
    u, s, vh = torch.linalg.svd(h_safe)
    d = torch.sign(torch.linalg.det(u @ vh)).detach()
    d = torch.where(d == 0, torch.ones_like(d), d)
    diag = torch.ones((*d.shape, 3), dtype=p.dtype, device=p.device)
    diag = torch.cat([diag[..., :2], d[..., None]], dim=-1)
    r = vh.transpose(-1, -2) @ (diag[..., :, None] * u.transpose(-1, -2))  # V D U^T
    trace = (s * diag).sum(-1)
    safe_norm = torch.where(degenerate, torch.ones_like(norm_x), norm_x)
    scale = torch.where(degenerate, torch.zeros_like(norm_x), trace / safe_norm)
    aligned: torch.Tensor = scale[..., None, None] * (x @ r.transpose(-1, -2)) + mu_t
    if has_bad:
        aligned = torch.where(bad[..., None, None], torch.full((), math.nan, dtype=p.dtype,
                                                                device=p.device), aligned)
    return aligned


def _scaled(p: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``pred`` times the least-squares scale ``sum <p, t> / sum |p|^2`` (0 if ``pred`` is 0).

    Masked joints take no part (whatever they hold, NaN included).
    """
    if mask is not None:
        zero = torch.zeros((), dtype=p.dtype, device=p.device)
        p = torch.where(mask.unsqueeze(-1), p, zero)
        t = torch.where(mask.unsqueeze(-1), t, zero)
    w = _weights(p, mask)
    num = (w * p * t).sum((-1, -2))
    den = (w * p * p).sum((-1, -2))
    zero = den <= torch.finfo(p.dtype).tiny
    safe = torch.where(zero, torch.ones_like(den), den)
    scale = torch.where(zero, torch.zeros_like(den), num / safe)
    return scale[..., None, None] * p


def _errors(
    kind: str, p: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    if kind == "p_mpjpe":
        return _joint_errors(_procrustes_aligned(p, t, mask), t)
    if kind == "n_mpjpe":
        return _joint_errors(_scaled(p, t, mask), t)
    return _joint_errors(p, t)


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------


@overload
def mpjpe(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor: ...


@overload
def mpjpe(
    pred: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    *,
    mask: np.ndarray[Any, Any] | None = None,
    reduction: Reduction = "mean",
) -> Any: ...


def mpjpe(
    pred: Array, target: Array, *, mask: Array | None = None, reduction: Reduction = "mean"
) -> Array:
    """Mean per-joint position error: the mean Euclidean distance between matching joints.

    Args:
        pred: ``(..., J, 3)`` predicted joints, any unit.
        target: ``(..., J, 3)`` ground truth, same shape and unit.
        mask: optional ``(..., J)`` booleans; ``False`` joints are excluded from the mean.
        reduction: ``"mean"`` -> scalar, ``"none"`` -> ``(...)`` per sample,
            ``"per_joint"`` -> ``(J,)``.

    Returns:
        The error in the poses' unit, same kind as the input (differentiable in torch).

    Raises:
        TypeError: inputs are not arrays/tensors, of mixed kinds, or the mask is not boolean.
        ValueError: shapes do not match ``(..., J, 3)`` or each other.

    Examples:
        >>> import numpy as np
        >>> target = np.zeros((2, 17, 3))
        >>> pred = target + np.array([0.0, 3.0, 4.0])   # every joint off by 5
        >>> float(mpjpe(pred, target))
        5.0
        >>> mpjpe(pred, target, reduction="none").shape
        (2,)
    """
    check_choice(reduction, "reduction", _REDUCTIONS)
    p, t, m, is_numpy = _prepare(pred, target, mask)
    return _out(_reduce(_joint_errors(p, t), m, reduction), is_numpy)


@overload
def p_mpjpe(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor: ...


@overload
def p_mpjpe(
    pred: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    *,
    mask: np.ndarray[Any, Any] | None = None,
    reduction: Reduction = "mean",
) -> Any: ...


def p_mpjpe(
    pred: Array, target: Array, *, mask: Array | None = None, reduction: Reduction = "mean"
) -> Array:
    """MPJPE after aligning each predicted pose to its target by a similarity transform.

    Per sample, the scale ``s``, rotation ``R`` (a proper rotation: ``det R = +1``, i.e. with
    the reflection fix of Umeyama 1991) and translation ``t`` minimizing
    ``sum_j |s R pred_j + t - target_j|^2`` over the valid joints are found by SVD (batched,
    differentiable in torch), then MPJPE is measured on the aligned prediction.

    Degenerate input: if the valid predicted joints of a sample all coincide (zero scale), the
    sample is aligned by translation only with scale 0, so its error is the mean distance of the
    target joints to their centroid (finite, no NaN, and gradients stay finite).

    Args:
        pred: ``(..., J, 3)`` predicted joints, any unit.
        target: ``(..., J, 3)`` ground truth, same shape and unit.
        mask: optional ``(..., J)`` booleans; ``False`` joints take no part in the alignment
            nor in the mean.
        reduction: ``"mean"``, ``"none"`` (per sample) or ``"per_joint"``.

    Returns:
        The error in the poses' unit, same kind as the input.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> target = rng.normal(size=(17, 3))
        >>> c, s = np.cos(0.3), np.sin(0.3)
        >>> rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        >>> pred = 2.5 * target @ rot.T + np.array([1.0, -2.0, 0.5])
        >>> bool(p_mpjpe(pred, target) < 1e-12)
        True
        >>> bool(p_mpjpe(target * np.array([-1.0, 1.0, 1.0]), target) > 0.1)  # a mirror image
        True
    """
    check_choice(reduction, "reduction", _REDUCTIONS)
    p, t, m, is_numpy = _prepare(pred, target, mask)
    return _out(_reduce(_errors("p_mpjpe", p, t, m), m, reduction), is_numpy)


@overload
def n_mpjpe(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor: ...


@overload
def n_mpjpe(
    pred: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    *,
    mask: np.ndarray[Any, Any] | None = None,
    reduction: Reduction = "mean",
) -> Any: ...


def n_mpjpe(
    pred: Array, target: Array, *, mask: Array | None = None, reduction: Reduction = "mean"
) -> Array:
    """MPJPE after scaling each predicted pose by its least-squares scale (no rotation/shift).

    The scale is ``sum_j <pred_j, target_j> / sum_j |pred_j|^2`` over the valid joints of the
    sample (as in VideoPose3D; meant for root-relative poses). If the prediction is all zeros
    the scale is 0 and the error is the mean norm of the target joints (finite).

    Args:
        pred: ``(..., J, 3)`` predicted joints, any unit.
        target: ``(..., J, 3)`` ground truth, same shape and unit.
        mask: optional ``(..., J)`` booleans.
        reduction: ``"mean"``, ``"none"`` or ``"per_joint"``.

    Returns:
        The error in the poses' unit, same kind as the input.

    Examples:
        >>> import numpy as np
        >>> target = np.random.default_rng(0).normal(size=(4, 17, 3))
        >>> float(n_mpjpe(0.5 * target, target)) < 1e-12
        True
    """
    check_choice(reduction, "reduction", _REDUCTIONS)
    p, t, m, is_numpy = _prepare(pred, target, mask)
    return _out(_reduce(_errors("n_mpjpe", p, t, m), m, reduction), is_numpy)


@overload
def mpjve(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    axis: int = -3,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor: ...


@overload
def mpjve(
    pred: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    *,
    axis: int = -3,
    mask: np.ndarray[Any, Any] | None = None,
    reduction: Reduction = "mean",
) -> Any: ...


def mpjve(
    pred: Array,
    target: Array,
    *,
    axis: int = -3,
    mask: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """Mean per-joint velocity error: MPJPE of the frame-to-frame differences.

    Velocities are first differences along the frame axis ``axis``, by default the axis just
    before ``J`` (``pred`` of shape ``(..., T, J, 3)``); the unit is the poses' unit per frame.

    Args:
        pred: ``(..., T, J, 3)`` predicted joints over ``T >= 2`` frames.
        target: same shape.
        axis: the frame axis of ``pred`` (negative or positive, not one of the last two).
        mask: optional ``(..., T, J)`` booleans; a velocity is valid when the joint is valid
            in both frames.
        reduction: ``"mean"``, ``"none"`` (shape ``(..., T - 1)`` along ``axis``) or
            ``"per_joint"``.

    Returns:
        The error in the poses' unit per frame, same kind as the input.

    Examples:
        >>> import numpy as np
        >>> target = np.zeros((5, 17, 3))
        >>> pred = target.copy()
        >>> pred[2:] += 1.0           # a jump of (1, 1, 1) between frames 1 and 2
        >>> mpjve(pred, target, reduction="none").round(4).tolist()
        [0.0, 1.7321, 0.0, 0.0]
    """
    check_choice(reduction, "reduction", _REDUCTIONS)
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"axis: expected an int, got {type(axis).__name__}")
    p, t, m, is_numpy = _prepare(pred, target, mask, min_dims=3)
    ndim = p.dim()
    a = axis + ndim if axis < 0 else axis
    if not 0 <= a < ndim - 2:
        raise ValueError(
            f"axis: expected a frame axis before the last two (J, 3) of a {ndim}-d input, "
            f"got {axis}"
        )
    if p.shape[a] < 2:
        raise ValueError(f"pred: expected at least 2 frames along axis {axis}, got {p.shape[a]}")
    vel_p = torch.diff(p, dim=a)
    vel_t = torch.diff(t, dim=a)
    mv = None
    if m is not None:
        n = m.shape[a]
        mv = m.narrow(a, 1, n - 1) & m.narrow(a, 0, n - 1)
    return _out(_reduce(_joint_errors(vel_p, vel_t), mv, reduction), is_numpy)


def _thresholds(thresholds: object) -> torch.Tensor:
    if thresholds is None:
        arr = _default_auc_thresholds()
    elif isinstance(thresholds, torch.Tensor):
        arr = thresholds.detach().cpu().double().numpy()
    else:
        try:
            arr = np.asarray(thresholds, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"thresholds: expected a 1-d sequence of numbers, got {type(thresholds).__name__}"
            ) from None
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(
            f"thresholds: expected a non-empty 1-d sequence of non-negative finite numbers, "
            f"got shape {arr.shape}"
        )
    return torch.from_numpy(arr)


def _nan_where_nan(value: torch.Tensor, err: torch.Tensor) -> torch.Tensor:
    """``value`` with NaN wherever ``err`` is NaN (a NaN error is neither a hit nor a miss)."""
    return torch.where(torch.isnan(err), torch.full((), math.nan, dtype=value.dtype,
                                                    device=value.device), value)


def _pck_joints(err: torch.Tensor, threshold: float) -> torch.Tensor:
    e = err.detach()
    return _nan_where_nan((e < threshold).to(err.dtype), e)


def _auc_joints(err: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    th = thresholds.to(device=err.device, dtype=err.dtype)
    e = err.detach()
    return _nan_where_nan((e[..., None] < th).to(err.dtype).mean(-1), e)


@overload
def pck3d(
    pred: torch.Tensor,
    target: torch.Tensor,
    threshold: float = DEFAULT_PCK_THRESHOLD,
    *,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor: ...


@overload
def pck3d(
    pred: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    threshold: float = DEFAULT_PCK_THRESHOLD,
    *,
    mask: np.ndarray[Any, Any] | None = None,
    reduction: Reduction = "mean",
) -> Any: ...


def pck3d(
    pred: Array,
    target: Array,
    threshold: float = DEFAULT_PCK_THRESHOLD,
    *,
    mask: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """3D percentage of correct keypoints: the fraction of joints closer than ``threshold``.

    A joint is correct when its Euclidean error is strictly below ``threshold``. The result is a
    fraction in ``[0, 1]`` (multiply by 100 for percent); it carries no gradient.

    Args:
        pred: ``(..., J, 3)`` predicted joints.
        target: ``(..., J, 3)`` ground truth.
        threshold: distance in the poses' unit. The default 150.0 assumes millimetres; for
            poses in metres pass ``threshold=0.15``.
        mask: optional ``(..., J)`` booleans.
        reduction: ``"mean"``, ``"none"`` or ``"per_joint"``.

    Returns:
        The fraction of correct joints, same kind as the input.

    Examples:
        >>> import numpy as np
        >>> target = np.zeros((1, 4, 3))
        >>> pred = np.array([[[100.0, 0, 0], [149.0, 0, 0], [150.0, 0, 0], [400.0, 0, 0]]])
        >>> float(pck3d(pred, target))
        0.5
    """
    check_choice(reduction, "reduction", _REDUCTIONS)
    check_positive(threshold, "threshold", allow_zero=True)
    p, t, m, is_numpy = _prepare(pred, target, mask)
    return _out(_reduce(_pck_joints(_joint_errors(p, t), float(threshold)), m, reduction), is_numpy)


@overload
def auc3d(
    pred: torch.Tensor,
    target: torch.Tensor,
    thresholds: Sequence[float] | Array | None = None,
    *,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor: ...


@overload
def auc3d(
    pred: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    thresholds: Sequence[float] | Array | None = None,
    *,
    mask: np.ndarray[Any, Any] | None = None,
    reduction: Reduction = "mean",
) -> Any: ...


def auc3d(
    pred: Array,
    target: Array,
    thresholds: Sequence[float] | Array | None = None,
    *,
    mask: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """Area under the PCK curve: the mean of :func:`pck3d` over a set of thresholds.

    Args:
        pred: ``(..., J, 3)`` predicted joints.
        target: ``(..., J, 3)`` ground truth.
        thresholds: distances in the poses' unit; default 31 thresholds 0, 5, ..., 150
            (millimetres; pass ``np.linspace(0, 0.15, 31)`` for metres).
        mask: optional ``(..., J)`` booleans.
        reduction: ``"mean"``, ``"none"`` or ``"per_joint"``.

    Returns:
        A fraction in ``[0, 1]``, same kind as the input (no gradient).

    Examples:
        >>> import numpy as np
        >>> target = np.zeros((1, 1, 3))
        >>> pred = np.array([[[12.0, 0.0, 0.0]]])   # correct at thresholds 15, 20, ..., 150
        >>> round(float(auc3d(pred, target)), 6) == round(28 / 31, 6)
        True
    """
    check_choice(reduction, "reduction", _REDUCTIONS)
    th = _thresholds(thresholds)
    p, t, m, is_numpy = _prepare(pred, target, mask)
    return _out(_reduce(_auc_joints(_joint_errors(p, t), th), m, reduction), is_numpy)


# --------------------------------------------------------------------------------------------
# reference-free checks
# --------------------------------------------------------------------------------------------


def _bone_lengths(poses: Array, skeleton: str, name: str) -> tuple[torch.Tensor, Any, bool]:
    from poselift.skeletons import get_skeleton

    x = check_array(poses, name)
    sk = get_skeleton(skeleton)
    check_shape(x, name, "(..., J, 3)", J=sk.num_joints)
    is_numpy = isinstance(x, np.ndarray)
    t = _as_tensor(x)
    child = [c for c, _ in sk.bones]
    parent = [p for _, p in sk.bones]
    return (t[..., child, :] - t[..., parent, :]).norm(dim=-1), sk, is_numpy


def bone_length_cv(poses: Array, skeleton: str = "h36m") -> Array:
    """How steady each bone's length is over time: its coefficient of variation.

    A reference-free check of a lifted sequence: a real body keeps its bone lengths, so the
    standard deviation over frames divided by the mean should be near 0 (mocap: ~0).

    Args:
        poses: ``(..., T, J, 3)`` sequences (any unit).
        skeleton: the joint layout (its bones).

    Returns:
        ``(..., num_bones)`` std / mean of each bone's length over T, in the order of the
        skeleton's ``bones``; same kind as ``poses``.

    Examples:
        >>> import numpy as np
        >>> seq = np.zeros((2, 17, 3)); seq[:, 1, 0] = [0.1, 0.3]   # right hip: 0.1 then 0.3
        >>> round(float(bone_length_cv(seq)[0]), 6)                  # std 0.1 / mean 0.2
        0.5
    """
    lengths, _, is_numpy = _bone_lengths(poses, skeleton, "poses")
    if lengths.ndim < 2:
        raise ValueError(f"poses: expected (..., T, J, 3) sequences, got shape "
                         f"{tuple(poses.shape)}")
    mean = lengths.mean(-2)
    cv = lengths.std(-2, correction=0) / mean.clamp_min(torch.finfo(mean.dtype).tiny)
    return _out(cv, is_numpy)


def limb_asymmetry(poses: Array, skeleton: str = "h36m") -> Array:
    """Left/right asymmetry of each mirrored pair of bones: ``|L - R| / ((L + R) / 2)``.

    A reference-free check: bodies are close to symmetric (mocap: ~0), so a lifter that
    makes one thigh much longer than the other is guessing.

    Args:
        poses: ``(..., J, 3)`` poses (any unit).
        skeleton: the joint layout (bones whose child joints mirror each other).

    Returns:
        ``(..., num_pairs)`` relative differences, one per left/right bone pair (each pair
        once, in the order of the skeleton's ``bones``); same kind as ``poses``.

    Examples:
        >>> import numpy as np
        >>> p = np.zeros((17, 3)); p[1, 0] = -0.1; p[4, 0] = 0.3    # hips 0.1 and 0.3 m out
        >>> round(float(limb_asymmetry(p)[0]), 6)                   # 0.2 / 0.2
        1.0
    """
    lengths, sk, is_numpy = _bone_lengths(poses, skeleton, "poses")
    child = [c for c, _ in sk.bones]
    pairs = [(k, child.index(sk.flip_indices[c])) for k, c in enumerate(child)
             if sk.flip_indices[c] != c and child.index(sk.flip_indices[c]) > k]
    a = lengths[..., [p for p, _ in pairs]]
    b = lengths[..., [q for _, q in pairs]]
    out = (a - b).abs() / ((a + b) / 2).clamp_min(torch.finfo(a.dtype).tiny)
    return _out(out, is_numpy)


def mean_acceleration(poses: Array) -> Array:
    """Jitter of a sequence: the mean size of each joint's acceleration, per frame squared.

    A reference-free check: ``||x[t+1] - 2 x[t] + x[t-1]||`` averaged over joints and frames
    (NaN frames left out), in the poses' unit per frame squared. Real motion at 30-60 fps has
    small accelerations; a lifter that flickers has large ones.

    Args:
        poses: ``(..., T, J, 3)`` sequences (T >= 3), any unit, pelvis-relative or not.

    Returns:
        ``(...)`` mean acceleration per sequence; same kind as ``poses``.

    Examples:
        >>> import numpy as np
        >>> seq = np.zeros((4, 2, 3)); seq[:, :, 0] = [[0, 0], [0, 0], [1, 1], [1, 1]]
        >>> float(mean_acceleration(seq))   # accelerations 1 and 1 (frames 1 and 2)
        1.0
    """
    x = check_array(poses, "poses")
    check_shape(x, "poses", "(..., T, J, 3)")
    if x.shape[-3] < 3:
        raise ValueError(f"poses: expected at least 3 frames, got shape {tuple(x.shape)}")
    is_numpy = isinstance(x, np.ndarray)
    t = _as_tensor(x)
    acc = (t[..., 2:, :, :] - 2 * t[..., 1:-1, :, :] + t[..., :-2, :, :]).norm(dim=-1)
    return _out(acc.nanmean(dim=(-2, -1)), is_numpy)


FAR_FROM_PELVIS = 1.5
"""Metres: a lifted joint farther than this from the pelvis is not part of a human pose (the
farthest joints of the mocap, raised wrists, lie about 0.9 m from it)."""


def root_distance(poses: Array, root: int = 0) -> Array:
    """How far the farthest joint of each pose lies from the root joint.

    A reference-free plausibility check: no joint of a human body is more than about 1 m from
    the pelvis; a lifted pose with a joint metres away is not a pose.

    Args:
        poses: ``(..., J, 3)`` poses.
        root: the root joint's index (default 0: the pelvis of H36M-17).

    Returns:
        ``(...)`` largest joint-to-root distance per pose, in the poses' unit (NaN joints
        ignored); same kind as ``poses``.

    Examples:
        >>> import numpy as np
        >>> p = np.zeros((17, 3)); p[16] = [0.0, 3.0, 4.0]
        >>> float(root_distance(p))
        5.0
    """
    x = check_array(poses, "poses")
    shape = check_shape(x, "poses", "(..., J, 3)")
    if not 0 <= root < shape["J"]:
        raise ValueError(f"root: expected a joint index in [0, {shape['J']}), got {root!r}")
    is_numpy = isinstance(x, np.ndarray)
    t = _as_tensor(x)
    d = (t - t[..., root : root + 1, :]).norm(dim=-1)
    d = torch.where(d.isnan(), torch.zeros((), dtype=d.dtype), d)
    return _out(d.amax(-1), is_numpy)


def _shape_motion(points: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean frame-to-frame motion of a pose's shape relative to its size: ``(..., T, J, D)``."""
    both = valid[..., 1:, :] & valid[..., :-1, :]
    w = both.to(points.dtype)[..., None]
    n = w.sum(-2, keepdim=True).clamp_min(1)
    a, b = points[..., 1:, :, :], points[..., :-1, :, :]
    a = a - (a * w).sum(-2, keepdim=True) / n
    b = b - (b * w).sum(-2, keepdim=True) / n
    step = ((a - b).norm(dim=-1) * both).sum(-1) / both.sum(-1).clamp_min(1)  # (..., T-1)
    vw = valid.to(points.dtype)[..., None]
    lo = torch.where(valid[..., None], points, torch.full_like(points, math.inf)).amin(-2)
    hi = torch.where(valid[..., None], points, torch.full_like(points, -math.inf)).amax(-2)
    extent = (hi - lo).amax(-1)  # (..., T)
    extent = torch.where(vw.sum((-2, -1)) >= 2, extent, torch.full_like(extent, math.nan))
    size = extent.nanmedian(-1).values
    frames = (both.sum(-1) >= 2).sum(-1).clamp_min(1)
    motion: torch.Tensor = (step * (both.sum(-1) >= 2)).sum(-1) / frames / size
    return motion


def motion_ratio(poses: Array, keypoints: Array) -> Array:
    """Does the lifted sequence move as its input moves? Output motion over input motion.

    A reference-free collapse check. Each side's motion is the mean frame-to-frame change of
    its joints about their centre (the joints valid in both frames), divided by the
    sequence's median pose size (the larger side of the joints' box): for the 3D poses on
    the image plane (``x, y`` of camera coordinates), for the 2D keypoints in pixels. A
    lifter that follows its input gives about 1 (the joint sets differ, and motion in depth
    is not seen in 2D, so read it loosely: 0.5-1.5); a frozen output gives nearly 0.

    Args:
        poses: ``(..., T, J3, 3)`` lifted poses, camera coordinates (NaN frames ignored).
        keypoints: ``(..., T, J2, 2|3)`` the input, pixels; a third column is a score
            (joints with score 0 or NaN coordinates are not used).

    Returns:
        ``(...)`` ratio per sequence; same kind as ``poses``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> kp = rng.normal(size=(20, 17, 2)) * 10 + 300
        >>> poses = np.concatenate([kp / 1000, np.ones((20, 17, 1))], -1)
        >>> round(float(motion_ratio(poses, kp)), 6)             # moves exactly as its input
        1.0
        >>> round(float(motion_ratio(poses[:1].repeat(20, 0), kp)), 6)   # frozen
        0.0
    """
    p = check_array(poses, "poses")
    k = check_array(keypoints, "keypoints")
    sp = check_shape(p, "poses", "(..., T, J, 3)")
    if check_shape(k, "keypoints", "(..., T, J, C)", T=sp["T"])["C"] not in (2, 3):
        raise ValueError(f"keypoints: expected shape (..., T, J, 2|3), got {tuple(k.shape)}")
    if sp["T"] < 2:
        raise ValueError(f"poses: expected at least 2 frames, got shape {tuple(p.shape)}")
    is_numpy = isinstance(p, np.ndarray)
    pt, kt = _as_tensor(p), _as_tensor(k).to(_as_tensor(p).dtype)
    pv = ~pt.isnan().any(-1)
    kv = ~kt[..., :2].isnan().any(-1)
    if kt.shape[-1] == 3:
        kv &= kt[..., 2] > 0
    out = _shape_motion(pt[..., :2].nan_to_num(), pv) / _shape_motion(kt[..., :2].nan_to_num(),
                                                                      kv)
    return _out(out, is_numpy)


# --------------------------------------------------------------------------------------------
# accumulator
# --------------------------------------------------------------------------------------------

_ACC_METRICS = ("mpjpe", "p_mpjpe", "n_mpjpe", "pck3d", "auc3d")
_TITLES = {
    "mpjpe": "MPJPE",
    "p_mpjpe": "P-MPJPE",
    "n_mpjpe": "N-MPJPE",
    "pck3d": "PCK (%)",
    "auc3d": "AUC (%)",
}


@dataclass(frozen=True)
class MetricReport:
    """What :meth:`MetricAccumulator.compute` returns: overall, per-joint and per-group values.

    Distance metrics are in the accumulator's unit (input unit times ``scale``); ``pck3d`` and
    ``auc3d`` are fractions in ``[0, 1]`` (the markdown table shows them in percent). Means are
    joint-weighted over all valid (sample, joint) pairs.

    Attributes:
        metrics: metric names, in column order.
        overall: metric -> mean over everything seen.
        per_joint: metric -> ``(J,)`` numpy array.
        per_group: metric -> {group label -> mean}, groups in first-seen order.
        group_counts: group label -> number of samples.
        num_samples: total number of samples.
        joint_names: names for the per-joint table (or ``None`` for indices).

    Examples:
        >>> import numpy as np
        >>> acc = MetricAccumulator(metrics=("mpjpe",))
        >>> acc.update(np.ones((2, 3, 3)), np.zeros((2, 3, 3)), groups=["a", "b"])
        >>> report = acc.compute()
        >>> round(report.overall["mpjpe"], 4), report.group_counts
        (1.7321, {'a': 1, 'b': 1})
    """

    metrics: tuple[str, ...]
    overall: dict[str, float]
    per_joint: dict[str, np.ndarray[Any, Any]]
    per_group: dict[str, dict[Hashable, float]]
    group_counts: dict[Hashable, int]
    num_samples: int
    joint_names: tuple[str, ...] | None = field(default=None)

    def _fmt(self, metric: str, value: float, digits: int) -> str:
        if math.isnan(value):
            return "-"
        if metric in ("pck3d", "auc3d"):
            return f"{100.0 * value:.{digits}f}"
        return f"{value:.{digits}f}"

    def to_markdown(self, by: Literal["group", "joint"] = "group", *, digits: int = 1) -> str:
        """A markdown table with one row per group (plus ``all``) or per joint.

        Args:
            by: ``"group"`` or ``"joint"``.
            digits: decimals shown.

        Returns:
            The table as a string.

        Examples:
            >>> import numpy as np
            >>> acc = MetricAccumulator(metrics=("mpjpe",))
            >>> acc.update(np.ones((1, 2, 3)), np.zeros((1, 2, 3)), groups="walk")
            >>> print(acc.compute().to_markdown())
            | group | samples | MPJPE |
            |---|---|---|
            | walk | 1 | 1.7 |
            | all | 1 | 1.7 |
        """
        check_choice(by, "by", ("group", "joint"))
        titles = [_TITLES[m] for m in self.metrics]
        if by == "group":
            lines = ["| group | samples | " + " | ".join(titles) + " |"]
            lines.append("|---|---|" + "---|" * len(titles))
            for g, count in self.group_counts.items():
                cells = [self._fmt(m, self.per_group[m][g], digits) for m in self.metrics]
                lines.append(f"| {g} | {count} | " + " | ".join(cells) + " |")
            cells = [self._fmt(m, self.overall[m], digits) for m in self.metrics]
            lines.append(f"| all | {self.num_samples} | " + " | ".join(cells) + " |")
            return "\n".join(lines)
        lines = ["| joint | " + " | ".join(titles) + " |", "|---|" + "---|" * len(titles)]
        num_joints = len(next(iter(self.per_joint.values()))) if self.per_joint else 0
        for j in range(num_joints):
            name = self.joint_names[j] if self.joint_names is not None else str(j)
            cells = [self._fmt(m, float(self.per_joint[m][j]), digits) for m in self.metrics]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        cells = [self._fmt(m, self.overall[m], digits) for m in self.metrics]
        lines.append("| all | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown("group")


class MetricAccumulator:
    """Accumulate per-joint and per-group errors over batches (torchmetrics-style).

    Reuses the metric functions of this module: each :meth:`update` computes the per-joint
    errors of every requested metric for the batch and adds them to running float64 sums per
    (group, joint); :meth:`compute` turns the sums into a :class:`MetricReport` (overall,
    per-joint and per-group means, joint-weighted) with a markdown table. ``mpjve`` is not
    accumulated (it needs a frame axis); call it directly on sequences.

    Args:
        metrics: any of ``"mpjpe"``, ``"p_mpjpe"``, ``"n_mpjpe"``, ``"pck3d"``, ``"auc3d"``.
        scale: multiply poses by this before measuring (e.g. ``1000.0`` for metres -> mm).
        pck_threshold: PCK threshold in the scaled unit (default 150, i.e. millimetres).
        auc_thresholds: AUC thresholds in the scaled unit (default 0, 5, ..., 150).
        joint_names: optional names for the per-joint table.

    Examples:
        >>> import numpy as np
        >>> acc = MetricAccumulator(metrics=("mpjpe", "pck3d"), scale=1000.0)  # metres -> mm
        >>> target = np.zeros((4, 17, 3))
        >>> pred = target + np.array([0.1, 0.0, 0.0])       # 100 mm off everywhere
        >>> acc.update(pred, target, groups=["walk", "walk", "run", "run"])
        >>> report = acc.compute()
        >>> report.overall["mpjpe"], report.overall["pck3d"]
        (100.0, 1.0)
        >>> print(report)
        | group | samples | MPJPE | PCK (%) |
        |---|---|---|---|
        | walk | 2 | 100.0 | 100.0 |
        | run | 2 | 100.0 | 100.0 |
        | all | 4 | 100.0 | 100.0 |
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("mpjpe", "p_mpjpe"),
        *,
        scale: float = 1.0,
        pck_threshold: float = DEFAULT_PCK_THRESHOLD,
        auc_thresholds: Sequence[float] | Array | None = None,
        joint_names: Sequence[str] | None = None,
    ) -> None:
        if isinstance(metrics, str):
            metrics = (metrics,)
        names = tuple(metrics)
        if not names:
            raise ValueError("metrics: expected at least one metric name, got none")
        for name in names:
            check_choice(name, "metrics", _ACC_METRICS)
        check_positive(scale, "scale")
        check_positive(pck_threshold, "pck_threshold", allow_zero=True)
        self.metrics = names
        self.scale = float(scale)
        self.pck_threshold = float(pck_threshold)
        self.auc_thresholds = _thresholds(auc_thresholds)
        self.joint_names = tuple(joint_names) if joint_names is not None else None
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self._num_joints: int | None = None
        self._sums: dict[str, dict[Hashable, np.ndarray[Any, Any]]] = {m: {} for m in self.metrics}
        self._counts: dict[Hashable, np.ndarray[Any, Any]] = {}
        self._samples: dict[Hashable, int] = {}

    def _group_labels(self, groups: object, num: int) -> list[Hashable]:
        if groups is None:
            return ["all"] * num
        if isinstance(groups, str | int) and not isinstance(groups, bool):
            return [groups] * num
        if isinstance(groups, torch.Tensor):
            labels: list[Hashable] = [g.item() for g in groups.reshape(-1)]
        elif isinstance(groups, np.ndarray):
            labels = [g.item() if hasattr(g, "item") else g for g in groups.reshape(-1)]
        elif isinstance(groups, Sequence):
            labels = list(groups)
        else:
            raise TypeError(
                "groups: expected None, a label, or a sequence of labels (one per sample), "
                f"got {type(groups).__name__}"
            )
        if len(labels) != num:
            raise ValueError(
                f"groups: expected one label per sample ({num}), got {len(labels)} labels"
            )
        for g in labels:
            if not isinstance(g, Hashable):
                raise TypeError(f"groups: labels must be hashable, got {type(g).__name__}")
        return labels

    def update(
        self,
        pred: Array,
        target: Array,
        *,
        groups: object = None,
        mask: Array | None = None,
    ) -> None:
        """Add a batch.

        Args:
            pred: ``(..., J, 3)`` predictions; every leading index is one sample.
            target: ``(..., J, 3)`` ground truth.
            groups: ``None`` (one group ``"all"``), one label for the whole batch, or one
                label per sample (a sequence/array of ``prod(...)`` labels, e.g. actions).
            mask: optional ``(..., J)`` booleans.

        Examples:
            >>> import numpy as np
            >>> acc = MetricAccumulator(metrics=("mpjpe",))
            >>> acc.update(np.zeros((3, 17, 3)), np.zeros((3, 17, 3)), groups=[0, 1, 1])
            >>> acc.compute().group_counts
            {0: 1, 1: 2}
        """
        p, t, m, _ = _prepare(pred, target, mask)
        num_joints = int(p.shape[-2])
        if self._num_joints is None:
            if self.joint_names is not None and len(self.joint_names) != num_joints:
                raise ValueError(
                    f"pred: expected J={len(self.joint_names)} joints (joint_names), "
                    f"got {num_joints}"
                )
            self._num_joints = num_joints
        elif num_joints != self._num_joints:
            raise ValueError(
                f"pred: expected J={self._num_joints} joints as in earlier batches, "
                f"got {num_joints}"
            )
        with torch.no_grad():
            p = p.detach().reshape(-1, num_joints, 3).to(torch.float64) * self.scale
            t = t.detach().reshape(-1, num_joints, 3).to(torch.float64) * self.scale
            mm = None if m is None else m.reshape(-1, num_joints)
            labels = self._group_labels(groups, p.shape[0])
            per: dict[str, np.ndarray[Any, Any]] = {}
            base = _joint_errors(p, t) if {"mpjpe", "pck3d", "auc3d"} & set(self.metrics) else None
            for name in self.metrics:
                if name in ("p_mpjpe", "n_mpjpe"):
                    v = _errors(name, p, t, mm)
                elif name == "pck3d":
                    assert base is not None
                    v = _pck_joints(base, self.pck_threshold)
                elif name == "auc3d":
                    assert base is not None
                    v = _auc_joints(base, self.auc_thresholds)
                else:
                    assert base is not None
                    v = base
                if mm is not None:
                    v = torch.where(mm, v, torch.zeros((), dtype=v.dtype))
                per[name] = v.cpu().numpy()
            valid = (
                np.ones((p.shape[0], num_joints), dtype=np.int64)
                if mm is None
                else mm.cpu().numpy().astype(np.int64)
            )
        codes: dict[Hashable, int] = {}
        idx = np.fromiter((codes.setdefault(g, len(codes)) for g in labels), dtype=np.int64,
                          count=len(labels))
        for g, code in codes.items():
            sel = idx == code
            if g not in self._samples:
                self._samples[g] = 0
                self._counts[g] = np.zeros(num_joints, dtype=np.int64)
                for name in self.metrics:
                    self._sums[name][g] = np.zeros(num_joints, dtype=np.float64)
            self._samples[g] += int(sel.sum())
            self._counts[g] += valid[sel].sum(0)
            for name in self.metrics:
                self._sums[name][g] += per[name][sel].sum(0)

    def compute(self) -> MetricReport:
        """Means over everything seen since construction or :meth:`reset`.

        Returns:
            A :class:`MetricReport`; values with no valid joint are NaN.

        Raises:
            ValueError: nothing was accumulated.

        Examples:
            >>> import numpy as np
            >>> acc = MetricAccumulator()
            >>> acc.update(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)))
            >>> acc.compute().overall
            {'mpjpe': 0.0, 'p_mpjpe': 0.0}
        """
        if self._num_joints is None:
            raise ValueError("compute: nothing accumulated yet; call update() first")
        total_count = sum(self._counts.values())
        overall: dict[str, float] = {}
        per_joint: dict[str, np.ndarray[Any, Any]] = {}
        per_group: dict[str, dict[Hashable, float]] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for name in self.metrics:
                sums = sum(self._sums[name].values())
                per_joint[name] = np.asarray(sums / total_count, dtype=np.float64)
                overall[name] = float(np.sum(sums) / np.sum(total_count))
                per_group[name] = {
                    g: float(self._sums[name][g].sum() / self._counts[g].sum())
                    for g in self._samples
                }
        return MetricReport(
            metrics=self.metrics,
            overall=overall,
            per_joint=per_joint,
            per_group=per_group,
            group_counts=dict(self._samples),
            num_samples=sum(self._samples.values()),
            joint_names=self.joint_names,
        )

    def __str__(self) -> str:
        if self._num_joints is None:
            return f"MetricAccumulator(metrics={self.metrics}, empty)"
        return str(self.compute())

    def __repr__(self) -> str:
        return f"MetricAccumulator(metrics={self.metrics}, samples={sum(self._samples.values())})"
