"""Absolute 3D: metric scale from a standing height, and the root trajectory from K.

A lifting network returns a root-relative pose whose *size* is whatever it learned; a
monocular camera cannot tell a small near person from a large far one. This module turns a
lifted pose into absolute camera coordinates in two documented steps (docs/absolute.md):

1. **Metric scale** (:func:`metric_scale`). The *height chain* of an H36M-17 pose
   (:func:`height_chain`: mean leg ``hip -> knee -> ankle`` plus ``pelvis -> spine -> thorax
   -> nose -> head_top``) is measured on the lifted poses (median over a sequence) and the
   pose is rescaled so that ``HEIGHT_PER_CHAIN * chain`` equals the person's standing height
   (``height``, floor to the top of the head standing upright; default
   :data:`DEFAULT_HEIGHT`). :data:`HEIGHT_PER_CHAIN` was measured on the Bandai mocap.
2. **Translation** (:func:`solve_translation`, per frame; :func:`solve_trajectory`, per
   sequence). With the intrinsics ``K``, the translation ``t`` of the scaled pose that best
   reprojects it onto the 2D keypoints: a linear least-squares start (``u (Z + tz) =
   fx (X + tx) + cx (Z + tz)`` is linear in ``t``), then Gauss-Newton on the reprojection
   error in pixels with Cauchy weights (IRLS), weighted by the detection scores, missing
   joints left out, at least ``min_joints`` joints per frame. Over a sequence the per-frame
   solutions are smoothed by a non-causal smoother that trusts each axis as much as the
   2D evidence does (depth much less than x and y).

Coordinates: camera coordinates in metres, OpenCV axes (x right, y down, z forward);
pixels with the origin at the top-left corner. Everything is computed in float64 numpy;
arrays come back as the kind (numpy/torch) of the main input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from poselift._validation import Array, check_array, check_shape, like, to_numpy
from poselift.camera import Camera

__all__ = [
    "DEFAULT_HEIGHT",
    "DEFAULT_SCALE_WINDOW",
    "DEFAULT_SMOOTHING",
    "HEIGHT_PER_CHAIN",
    "MIN_JOINTS",
    "ROBUST_SCALE",
    "TranslationFit",
    "as_extrinsics",
    "as_intrinsics",
    "camera_to_world_points",
    "check_height",
    "check_smoothing",
    "estimate_height",
    "height_chain",
    "metric_scale",
    "smooth_trajectory",
    "solve_trajectory",
    "solve_translation",
]

DEFAULT_HEIGHT = 1.70
"""Standing height (metres) assumed when none is given: a typical adult (between the
average adult man, ~1.75 m, and woman, ~1.62 m, of Europe and North America). A person of
1.55 m or 1.87 m is then placed about 10% too far or too near."""

HEIGHT_PER_CHAIN = 1.041
"""Standing height / :func:`height_chain`, measured on the Bandai mocap: the median over
the 3,611 upright frames of all 3,076 clips (both legs straight to 0.5%, thorax within 5
degrees and head within 10 degrees of vertical, both ankles on the floor; IQR 1.038-1.043),
with the height taken as the head-top joint's height above the floor
(``python tools/absolute_check.py ratio``)."""

MIN_JOINTS = 4
"""Fewest valid joints with which a frame's translation is solved. Two distinct joints fix
the three unknowns in principle (their projected distance gives the depth); one joint never
does (it only fixes a ray through the camera centre). Four leave the robust weights
something to compare. Frames with fewer are *not solved*: in a sequence their trajectory is
interpolated from the solved frames, a single pose raises an error in :func:`poselift.lift`."""

ROBUST_SCALE = 0.05
"""Cauchy scale of the reprojection residuals, as a fraction of the larger side of the
frame's keypoint box (about 9 cm on a 1.7 m body): a joint off by 3x this gets a tenth of
the weight of a joint that fits."""

DEFAULT_SCALE_WINDOW = 31
"""Frames of the running median of the body's size in :func:`metric_scale` as
:func:`poselift.lift` uses it (about 1 s at 30 fps). Against one median per sequence: in the
worked example of docs/absolute.md (a walk turning away, lifted a few % larger from behind)
the largest depth error fell from 12.3% to 4.4%; over 40 held-out clips the median error
went from 2.3% to 2.1% (sr_tcn.coco) and stayed 1.7% (sr.coco)."""

DEFAULT_SMOOTHING = 0.01
"""Prior standard deviation of the root's second difference (change of velocity between
consecutive frames), metres per frame squared: 0.01 m/frame^2 is 9 m/s^2 at 30 fps, loose
for x and y (well fixed by the image), strong for the noisy depth."""

_H36M_BONES_LEGS = ((1, 2), (2, 3), (4, 5), (5, 6))
_H36M_TRUNK = ((0, 7), (7, 8), (8, 9), (9, 10))
_MIN_DEPTH = 1e-3  # metres: a joint must stay this far in front of the camera
_MIN_NOISE_PX = 0.5
_MAX_PIXELS = 1e8  # intrinsics beyond this (a 1e8 px focal length) overflow the solver's squares


# --------------------------------------------------------------------------------------------
# camera parameters
# --------------------------------------------------------------------------------------------


def _numbers(x: object, name: str) -> np.ndarray[Any, Any]:
    if isinstance(x, torch.Tensor):
        arr = x.detach().cpu().to(torch.float64).numpy()
    elif isinstance(x, np.ndarray | Sequence) and not isinstance(x, str | bytes):
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected numbers, got {x!r}") from None
    else:
        raise TypeError(f"{name}: expected an array, a sequence of numbers or a "
                        f"poselift.camera.Camera, got {type(x).__name__}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite numbers, got {arr.tolist()}")
    return arr


def as_intrinsics(intrinsics: object) -> np.ndarray[Any, Any]:
    """The ``(3, 3)`` intrinsic matrix ``K`` (pixels) from any accepted form.

    Args:
        intrinsics: a ``(3, 3)`` matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` (skew ``s``
            must be 0), four numbers ``(fx, fy, cx, cy)`` in pixels, or an unbatched
            :class:`poselift.camera.Camera` without lens distortion.

    Returns:
        ``(3, 3)`` float64 numpy array.

    Raises:
        ValueError: wrong shape, non-positive focal lengths, values beyond 1e8 pixels, a last
            row other than ``(0, 0, 1)``, skew, or a camera with distortion (undistort the
            keypoints first).

    Examples:
        >>> as_intrinsics((1145.0, 1145.0, 500.0, 500.0)).tolist()
        [[1145.0, 0.0, 500.0], [0.0, 1145.0, 500.0], [0.0, 0.0, 1.0]]
        >>> as_intrinsics([1.0, 2.0])
        Traceback (most recent call last):
        ...
        ValueError: intrinsics: expected a (3, 3) matrix or (fx, fy, cx, cy) in pixels, got ...
    """
    if isinstance(intrinsics, Camera):
        if intrinsics.batch_shape:
            raise ValueError(f"intrinsics: expected one camera, got a batch of shape "
                             f"{intrinsics.batch_shape}")
        if intrinsics.has_distortion:
            raise ValueError("intrinsics: the camera has lens distortion; undistort the "
                             "keypoints and pass the pinhole intrinsics")
        return np.asarray(intrinsics.K.detach().cpu().to(torch.float64).numpy())
    arr = _numbers(intrinsics, "intrinsics")
    if arr.shape == (4,):
        fx, fy, cx, cy = (float(v) for v in arr)
        arr = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    elif arr.shape != (3, 3):
        raise ValueError(f"intrinsics: expected a (3, 3) matrix or (fx, fy, cx, cy) in pixels, "
                         f"got shape {arr.shape}")
    if not np.allclose(arr[2], [0.0, 0.0, 1.0]) or arr[1, 0] != 0.0:
        raise ValueError(f"intrinsics: expected K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got "
                         f"{arr.tolist()}")
    if arr[0, 1] != 0.0:
        raise ValueError(f"intrinsics: skewed pixels (K[0, 1] = {arr[0, 1]}) are not supported")
    if not (arr[0, 0] > 0 and arr[1, 1] > 0):
        raise ValueError(f"intrinsics: expected positive focal lengths fx, fy in pixels, got "
                         f"{arr[0, 0]}, {arr[1, 1]}")
    if np.abs(arr).max() > _MAX_PIXELS:
        raise ValueError(f"intrinsics: fx, fy, cx, cy must be at most {_MAX_PIXELS:g} pixels, "
                         f"got {arr[0, 0]:g}, {arr[1, 1]:g}, {arr[0, 2]:g}, {arr[1, 2]:g}")
    return arr


def as_extrinsics(extrinsics: object) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """World-to-camera rotation and translation ``(R, t)``: ``x_cam = R @ x_world + t``.

    Args:
        extrinsics: a ``(4, 4)`` or ``(3, 4)`` matrix ``[R | t]``, a pair ``(R, t)`` or an
            unbatched :class:`poselift.camera.Camera` (its ``R``, ``t``); metres.

    Returns:
        ``R (3, 3)``, ``t (3,)`` float64 numpy arrays.

    Raises:
        ValueError: wrong shapes, or ``R`` not a rotation (orthonormal to 1e-6, det +1).

    Examples:
        >>> R, t = as_extrinsics(np.hstack([np.eye(3), [[0.0], [0.0], [5.0]]]))
        >>> t.tolist()
        [0.0, 0.0, 5.0]
    """
    if isinstance(extrinsics, Camera):
        if extrinsics.batch_shape:
            raise ValueError(f"extrinsics: expected one camera, got a batch of shape "
                             f"{extrinsics.batch_shape}")
        R = extrinsics.R.detach().cpu().to(torch.float64).numpy()
        t = extrinsics.t.detach().cpu().to(torch.float64).numpy()
    elif isinstance(extrinsics, tuple | list) and len(extrinsics) == 2:
        R = _numbers(extrinsics[0], "extrinsics[0] (R)")
        t = _numbers(extrinsics[1], "extrinsics[1] (t)")
        if R.shape != (3, 3) or t.shape != (3,):
            raise ValueError(f"extrinsics: expected (R (3, 3), t (3,)), got shapes {R.shape} "
                             f"and {t.shape}")
    else:
        m = _numbers(extrinsics, "extrinsics")
        if m.shape not in ((3, 4), (4, 4)):
            raise ValueError(f"extrinsics: expected a (4, 4) or (3, 4) matrix [R | t], a pair "
                             f"(R, t) or a Camera, got shape {m.shape}")
        if m.shape == (4, 4) and not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]):
            raise ValueError(f"extrinsics: the last row of a (4, 4) matrix must be (0, 0, 0, 1), "
                             f"got {m[3].tolist()}")
        R, t = m[:3, :3], m[:3, 3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or not np.linalg.det(R) > 0:
        raise ValueError(f"extrinsics: R is not a rotation matrix (orthonormal, det +1): "
                         f"{np.round(R, 6).tolist()}")
    return np.array(R, dtype=np.float64), np.array(t, dtype=np.float64)


def camera_to_world_points(points: Array, extrinsics: object) -> Array:
    """Camera coordinates to world coordinates: ``R.T @ (x - t)``.

    Args:
        points: ``(..., 3)`` camera coordinates, metres (NaN passes through).
        extrinsics: anything :func:`as_extrinsics` accepts.

    Returns:
        ``(..., 3)`` world coordinates, metres, same kind as ``points``.

    Examples:
        >>> camera_to_world_points(np.array([0.0, 0.0, 5.0]), (np.eye(3), [0.0, 0.0, 5.0]))
        array([0., 0., 0.])
    """
    x = check_array(points, "points")
    check_shape(x, "points", "(..., 3)")
    R, t = as_extrinsics(extrinsics)
    out = (to_numpy(x).astype(np.float64) - t) @ R
    return _like(out, x)


def _like(result: np.ndarray[Any, Any], reference: Array) -> Array:
    """``result`` as the kind of ``reference``, in its floating dtype (float64 for integers)."""
    if isinstance(reference, torch.Tensor):
        dtype = reference.dtype if reference.is_floating_point() else torch.float64
        return torch.from_numpy(np.ascontiguousarray(result)).to(reference.device, dtype)
    kind = reference.dtype if np.issubdtype(reference.dtype, np.floating) else np.float64
    return like(np.asarray(result, dtype=kind), reference)


# --------------------------------------------------------------------------------------------
# metric scale
# --------------------------------------------------------------------------------------------


def _check_h36m(poses: object, name: str) -> np.ndarray[Any, Any]:
    x = check_array(poses, name)
    check_shape(x, name, "(..., J, 3)", J=17)
    return to_numpy(x).astype(np.float64)


def height_chain(poses: Array) -> Array:
    """Length of the chain from the ankles to the head top of H36M-17 poses.

    ``mean(|hip - knee| + |knee - ankle| over both legs) + |pelvis - spine| + |spine -
    thorax| + |thorax - nose| + |nose - head_top|``. It depends on the bone lengths only (not
    on the posture), so it measures a body's size in any pose; :data:`HEIGHT_PER_CHAIN` times
    it is the standing height.

    Args:
        poses: ``(..., 17, 3)`` H36M-17 poses (any unit).

    Returns:
        ``(...)`` chain lengths in the poses' unit, same kind as ``poses``.

    Examples:
        >>> from poselift.data.synthetic import rest_pose
        >>> round(float(height_chain(rest_pose())), 4)     # 0.42 + 0.40 + 0.22 + 0.25 + ...
        1.5759
    """
    p = _check_h36m(poses, "poses")

    def bone(a: int, b: int) -> np.ndarray[Any, Any]:
        out: np.ndarray[Any, Any] = np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)
        return out

    legs = 0.5 * sum((bone(a, b) for a, b in _H36M_BONES_LEGS), np.zeros(p.shape[:-2]))
    trunk = sum((bone(a, b) for a, b in _H36M_TRUNK), np.zeros(p.shape[:-2]))
    return _like(np.asarray(legs + trunk), check_array(poses, "poses"))


def check_height(height: object) -> float:
    """A standing height in metres (0.5-2.6) as a float; None: :data:`DEFAULT_HEIGHT`.

    Examples:
        >>> check_height(None), check_height(1.8)
        (1.7, 1.8)
    """
    if height is None:
        return DEFAULT_HEIGHT
    if isinstance(height, bool) or not isinstance(height, int | float | np.integer | np.floating):
        raise TypeError(f"height: expected a standing height in metres (a number) or None, "
                        f"got {type(height).__name__}")
    value = float(height)
    if not 0.5 <= value <= 2.6:
        raise ValueError(f"height: expected a standing height in metres between 0.5 and 2.6, "
                         f"got {height!r}")
    return value


def estimate_height(poses: Array) -> Array:
    """The standing height (metres if the poses are) that a sequence's body implies.

    ``HEIGHT_PER_CHAIN * median over T of height_chain``: what :func:`metric_scale` divides
    the wanted height by.

    Args:
        poses: ``(..., T, 17, 3)`` H36M-17 poses; the median is taken over ``T``.

    Returns:
        ``(...)`` standing heights, same kind as ``poses``.

    Examples:
        >>> from poselift.data.synthetic import rest_pose
        >>> round(float(estimate_height(rest_pose()[None])), 3)     # 1.041 * 1.5759
        1.641
    """
    x = check_array(poses, "poses")
    check_shape(x, "poses", "(..., T, J, 3)", J=17)
    chain = to_numpy(height_chain(x)).astype(np.float64)
    return _like(HEIGHT_PER_CHAIN * np.median(chain, axis=-1), x)


def metric_scale(poses: Array, height: float | None = None, *,
                 window: int | None = None) -> Array:
    """Factor that rescales lifted poses to a person of standing height ``height``.

    ``height / (HEIGHT_PER_CHAIN * chain)`` with ``chain`` the median
    :func:`height_chain` of the poses: the body's size is measured on the poses, never
    assumed from the network. With ``window=None`` the median is over all frames of each
    sequence (one factor per sequence); with ``window=W`` it is a centred running median over
    ``W`` frames (edges: nearest frame repeated), one factor per frame, which follows slow
    drifts of the network's output size (a body seen from behind lifted a few % larger than
    from the front) while a few badly lifted frames cannot move it. Either way the rescaled
    body has the wanted height chain.

    Args:
        poses: ``(..., T, 17, 3)`` root-relative H36M-17 poses (a single pose: ``T = 1``).
        height: standing height in metres, floor to the top of the head standing upright
            (default :data:`DEFAULT_HEIGHT`).
        window: ``None`` or an odd number of frames for a running median.

    Returns:
        ``(...)`` scale factors (``(..., T)`` with a ``window``), same kind as ``poses``.

    Raises:
        ValueError: ``height`` outside 0.5-2.6 m, a bad ``window``, or a body of zero size.

    Examples:
        >>> from poselift.data.synthetic import rest_pose
        >>> p = rest_pose()[None] * 0.8                     # a lifted body at 0.8x
        >>> round(float(metric_scale(p, 1.641)), 3)          # back to its 1.641 m
        1.25
        >>> import numpy as np
        >>> grow = rest_pose()[None] * np.linspace(0.8, 1.0, 9)[:, None, None]
        >>> np.round(metric_scale(grow, 1.641, window=3), 3).tolist()[:3]
        [1.25, 1.212, 1.177]
    """
    h = check_height(height)
    x = check_array(poses, "poses")
    check_shape(x, "poses", "(..., T, J, 3)", J=17)
    if window is None:
        est = to_numpy(estimate_height(x)).astype(np.float64)
    else:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1 or \
                window % 2 == 0:
            raise ValueError(f"window: expected None or an odd positive number of frames, got "
                             f"{window!r}")
        chain = to_numpy(height_chain(x)).astype(np.float64)
        if chain.size:
            size = (1,) * (chain.ndim - 1) + (window,)
            import scipy.ndimage  # lazy: scipy is slow to import

            chain = scipy.ndimage.median_filter(chain, size=size, mode="nearest")
        est = HEIGHT_PER_CHAIN * chain
    if not np.all(est > 1e-6):
        raise ValueError("poses: a sequence has a body of zero size (all joints at one point)")
    return _like(h / est, x)


# --------------------------------------------------------------------------------------------
# translation: one frame at a time
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TranslationFit:
    """Per-frame translations found by :func:`solve_translation`.

    Attributes:
        translation: ``(..., 3)`` metres, camera coordinates: added to the points it puts
            them where they reproject best (the root's position for root-relative poses);
            NaN where not solved.
        solved: ``(...)`` bool: the frame had at least ``min_joints`` usable joints and a
            well-posed solution.
        residual_px: ``(..., J)`` reprojection error of each joint at the solution, pixels
            (NaN for missing joints and unsolved frames).
        weight: ``(..., J)`` final weight of each joint: score times the Cauchy weight in
            ``[0, 1]`` (0 for missing joints): outliers end near 0.
        information: ``(..., 3, 3)`` ``J^T W J`` of the reprojection residuals at the
            solution, pixels^2 / metre^2 (how well each axis is fixed; 0 when not solved).
        noise_px: ``(...)`` residual standard deviation per coordinate of a joint of weight
            1, pixels: ``sqrt(sum_j weight_j |residual_j|^2 / (2 n - 3))``.
    """

    translation: Array
    solved: Array
    residual_px: Array
    weight: Array
    information: Array
    noise_px: Array


def _check_points_and_keypoints(points3d: object, keypoints2d: object, weights: object
                                ) -> tuple[Array, np.ndarray[Any, Any], np.ndarray[Any, Any],
                                           np.ndarray[Any, Any]]:
    p_in = check_array(points3d, "points3d")
    dims = check_shape(p_in, "points3d", "(..., J, 3)")
    kp = check_array(keypoints2d, "keypoints2d")
    check_shape(kp, "keypoints2d", "(..., J, 2)", J=dims["J"])
    if tuple(kp.shape[:-1]) != tuple(p_in.shape[:-1]):
        raise ValueError(f"keypoints2d: expected shape {(*tuple(p_in.shape[:-1]), 2)} (one pixel "
                         f"position per point of points3d), got {tuple(kp.shape)}")
    p = to_numpy(p_in).astype(np.float64)
    uv = to_numpy(kp).astype(np.float64)
    if np.isinf(p).any() or np.isinf(uv).any():
        raise ValueError("points3d / keypoints2d: expected finite values (NaN marks a missing "
                         "joint), found inf")
    if weights is None:
        w = np.ones(p.shape[:-1])
    else:
        wa = check_array(weights, "weights")
        if tuple(wa.shape) != tuple(p.shape[:-1]):
            raise ValueError(f"weights: expected shape {tuple(p.shape[:-1])} (one per point), "
                             f"got {tuple(wa.shape)}")
        w = np.nan_to_num(to_numpy(wa).astype(np.float64), nan=0.0)
        if (w < 0).any() or np.isinf(w).any():
            raise ValueError("weights: expected finite non-negative weights (scores)")
    return p_in, p, uv, w


def _check_min_joints(min_joints: object) -> int:
    if isinstance(min_joints, bool) or not isinstance(min_joints, int | np.integer) or \
            min_joints < 2:
        raise ValueError(f"min_joints: expected an int >= 2 (one joint cannot fix the depth), "
                         f"got {min_joints!r}")
    return int(min_joints)


def _project(pc: np.ndarray[Any, Any], K: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    z = pc[..., 2]
    safe = np.where(z > _MIN_DEPTH, z, np.nan)
    u = K[0, 0] * pc[..., 0] / safe + K[0, 2]
    v = K[1, 1] * pc[..., 1] / safe + K[1, 2]
    return np.stack([u, v], -1)


def _linear_init(p: np.ndarray[Any, Any], uv: np.ndarray[Any, Any], w: np.ndarray[Any, Any],
                 K: np.ndarray[Any, Any], depth: np.ndarray[Any, Any] | None
                 ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Weighted algebraic least squares for ``t`` per frame: ``(B, 3)`` and well-posedness.

    Rows per joint: ``fx tx + (cx - u) tz = (u - cx) Z - fx X`` and the same in y; each row
    is divided by the joint's depth (``depth``: a previous estimate of ``tz``) so that its
    error is close to a reprojection error in pixels.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    u, v = uv[..., 0], uv[..., 1]
    X, Y, Z = p[..., 0], p[..., 1], p[..., 2]
    zero = np.zeros_like(u)
    a_u = np.stack([np.full_like(u, fx), zero, cx - u], -1)  # (B, J, 3)
    a_v = np.stack([zero, np.full_like(v, fy), cy - v], -1)
    b_u = (u - cx) * Z - fx * X
    b_v = (v - cy) * Z - fy * Y
    ww = w.copy()
    if depth is not None:
        zj = Z + depth[:, None]
        ww = np.where(zj > _MIN_DEPTH, ww / np.maximum(zj, _MIN_DEPTH) ** 2, 0.0)
    A = np.einsum("bj,bjk,bjl->bkl", ww, a_u, a_u) + np.einsum("bj,bjk,bjl->bkl", ww, a_v, a_v)
    g = np.einsum("bj,bjk,bj->bk", ww, a_u, b_u) + np.einsum("bj,bjk,bj->bk", ww, a_v, b_v)
    ev = np.linalg.eigvalsh(A)
    ok = (ev[:, 0] > 1e-10 * np.maximum(ev[:, -1], 1e-300)) & (ev[:, -1] > 0)
    t = np.full(g.shape, np.nan)
    if ok.any():
        t[ok] = np.linalg.solve(A[ok], g[ok][..., None])[..., 0]
    return t, ok


def _fallback_init(p: np.ndarray[Any, Any], uv: np.ndarray[Any, Any], w: np.ndarray[Any, Any],
                   K: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Weak-perspective start: depth from the 2D vs 3D spread, x/y from the centroid."""
    ws = np.maximum(w.sum(-1, keepdims=True), 1e-300)
    c3 = (w[..., None] * p).sum(-2) / ws
    c2 = (w[..., None] * uv).sum(-2) / ws
    s3 = np.sqrt((w * ((p[..., :2] - c3[:, None, :2]) ** 2).sum(-1)).sum(-1) / ws[:, 0])
    s2 = np.sqrt((w * ((uv - c2[:, None]) ** 2).sum(-1)).sum(-1) / ws[:, 0])
    f = 0.5 * (K[0, 0] + K[1, 1])
    tz = f * s3 / np.maximum(s2, 1e-9) - c3[:, 2]
    zc = c3[:, 2] + tz
    tx = (c2[:, 0] - K[0, 2]) * zc / K[0, 0] - c3[:, 0]
    ty = (c2[:, 1] - K[1, 2]) * zc / K[1, 1] - c3[:, 1]
    return np.stack([tx, ty, tz], -1)


def _objective(p: np.ndarray[Any, Any], uv: np.ndarray[Any, Any], w: np.ndarray[Any, Any],
               K: np.ndarray[Any, Any], t: np.ndarray[Any, Any], c: np.ndarray[Any, Any] | None
               ) -> np.ndarray[Any, Any]:
    r = _project(p + t[:, None], K) - uv
    r2 = (r**2).sum(-1)
    behind = ~np.isfinite(r2) & (w > 0)
    r2 = np.where(w > 0, np.nan_to_num(r2, nan=0.0), 0.0)
    if c is None:
        per = 0.5 * r2
    else:
        cc = c[:, None] ** 2
        per = 0.5 * cc * np.log1p(r2 / cc)
    out: np.ndarray[Any, Any] = (w * per).sum(-1)
    return np.where(behind.any(-1), np.inf, out)


def _gauss_newton(p: np.ndarray[Any, Any], uv: np.ndarray[Any, Any], w: np.ndarray[Any, Any],
                  K: np.ndarray[Any, Any], t: np.ndarray[Any, Any],
                  c: np.ndarray[Any, Any] | None, max_iter: int
                  ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """IRLS / Gauss-Newton on the (Cauchy-weighted) reprojection error; ``(B, 3)`` frames.

    Returns the translations, the final joint weights (score x Cauchy) and ``J^T W J``.
    """
    fx, fy = K[0, 0], K[1, 1]
    active = np.ones(t.shape[0], bool)
    obj = _objective(p, uv, w, K, t, c)
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        pc = p[idx] + t[idx, None]
        X, Y, Z = pc[..., 0], pc[..., 1], np.maximum(pc[..., 2], _MIN_DEPTH)
        r = _project(pc, K) - uv[idx]
        r = np.nan_to_num(r, nan=0.0)
        ww = w[idx]
        if c is not None:
            ww = ww / (1.0 + (r**2).sum(-1) / c[idx, None] ** 2)
        zero = np.zeros_like(X)
        ju = np.stack([fx / Z, zero, -fx * X / Z**2], -1)
        jv = np.stack([zero, fy / Z, -fy * Y / Z**2], -1)
        H = np.einsum("bj,bjk,bjl->bkl", ww, ju, ju) + np.einsum("bj,bjk,bjl->bkl", ww, jv, jv)
        g = np.einsum("bj,bjk,bj->bk", ww, ju, r[..., 0]) + np.einsum("bj,bjk,bj->bk", ww, jv,
                                                                     r[..., 1])
        try:
            step = -np.linalg.solve(H, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = -np.stack([np.linalg.lstsq(h, gg, rcond=None)[0] for h, gg in zip(H, g,
                                                                                   strict=True)])
        # backtracking: halve the step until the objective does not increase
        scale = np.ones(len(idx))
        cand = t[idx] + step
        new = _objective(p[idx], uv[idx], w[idx], K, cand, None if c is None else c[idx])
        for _half in range(30):
            worse = ~(new <= obj[idx] + 1e-12 * np.abs(obj[idx]))
            if not worse.any():
                break
            scale[worse] *= 0.5
            cand[worse] = t[idx][worse] + scale[worse, None] * step[worse]
            sub = np.flatnonzero(worse)
            new[sub] = _objective(p[idx][sub], uv[idx][sub], w[idx][sub], K, cand[sub],
                                  None if c is None else c[idx][sub])
        moved = new <= obj[idx] + 1e-12 * np.abs(obj[idx])
        t[idx[moved]] = cand[moved]
        obj[idx[moved]] = new[moved]
        size = np.linalg.norm(scale[:, None] * step, axis=-1)
        done = ~moved | (size < 1e-10 * np.maximum(np.abs(t[idx, 2]), 1.0))
        active[idx[done]] = False
    # final weights and information at the solution
    pc = p + t[:, None]
    X, Y, Z = pc[..., 0], pc[..., 1], np.maximum(pc[..., 2], _MIN_DEPTH)
    r = np.nan_to_num(_project(pc, K) - uv, nan=0.0)
    ww = w if c is None else w / (1.0 + (r**2).sum(-1) / c[:, None] ** 2)
    zero = np.zeros_like(X)
    ju = np.stack([fx / Z, zero, -fx * X / Z**2], -1)
    jv = np.stack([zero, fy / Z, -fy * Y / Z**2], -1)
    H = np.einsum("bj,bjk,bjl->bkl", ww, ju, ju) + np.einsum("bj,bjk,bjl->bkl", ww, jv, jv)
    return t, ww, H


def solve_translation(
    points3d: Array,
    keypoints2d: Array,
    intrinsics: object,
    *,
    weights: Array | None = None,
    min_joints: int = MIN_JOINTS,
    robust_scale: float | None = ROBUST_SCALE,
    max_iter: int = 50,
) -> TranslationFit:
    """Per frame, the translation ``t`` that best reprojects ``points3d + t`` onto the 2D points.

    Minimizes ``sum_j w_j rho(|proj(K, X_j + t) - x_j|)`` over ``t`` for every frame, with
    ``w_j`` the weights (detection scores) and ``rho`` the Cauchy loss
    ``c^2/2 log(1 + r^2/c^2)`` (plain squares with ``robust_scale=None``), ``c`` =
    ``robust_scale`` times the larger side of the frame's box of valid keypoints. Start: the
    weighted linear least squares of ``u (Z + tz) = fx (X + tx) + cx (Z + tz)`` (and the
    same in y), each row divided by its depth; then Gauss-Newton with the Cauchy weights
    updated every step (IRLS) and a backtracking line search, to a stationary point.

    A joint is *missing* when its 3D or 2D coordinates are NaN or its weight is 0. A frame
    is solved when it has at least ``min_joints`` joints and they fix ``t`` (distinct
    points); one joint alone never does: it fixes a ray, not a depth.

    Args:
        points3d: ``(..., J, 3)`` the body without translation (e.g. a metric root-relative
            pose), metres, camera axes (OpenCV: x right, y down, z forward).
        keypoints2d: ``(..., J, 2)`` the same joints' pixel positions (NaN = missing).
        intrinsics: ``(3, 3)`` K or ``(fx, fy, cx, cy)`` pixels (:func:`as_intrinsics`).
        weights: ``(..., J)`` non-negative weights (scores); default 1.
        min_joints: fewest joints for a solved frame (>= 2; default :data:`MIN_JOINTS`).
        robust_scale: Cauchy scale as a fraction of the keypoint box (default
            :data:`ROBUST_SCALE`); ``None`` for plain weighted least squares.
        max_iter: Gauss-Newton iterations at most.

    Returns:
        A :class:`TranslationFit` (arrays of the kind of ``points3d``).

    Raises:
        ValueError / TypeError: shapes that do not match, inf values, bad intrinsics or
            options (the message names the argument).

    Examples:
        >>> import numpy as np
        >>> K = as_intrinsics((1000.0, 1000.0, 500.0, 500.0))
        >>> body = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.1], [0.0, -0.5, 0.0],
        ...                  [-0.2, 0.4, -0.1]])
        >>> true_t = np.array([0.5, -0.2, 4.0])
        >>> cam = body + true_t
        >>> uv = cam[:, :2] / cam[:, 2:] * 1000.0 + 500.0
        >>> fit = solve_translation(body, uv, K)
        >>> np.round(fit.translation, 6).tolist(), bool(fit.solved)
        ([0.5, -0.2, 4.0], True)
        >>> bool(solve_translation(body[:1], uv[:1], K, min_joints=2).solved)   # one joint
        False
    """
    K = as_intrinsics(intrinsics)
    min_j = _check_min_joints(min_joints)
    if robust_scale is not None and (isinstance(robust_scale, bool) or not isinstance(
            robust_scale, int | float) or not robust_scale > 0):
        raise ValueError(f"robust_scale: expected a positive fraction or None, got "
                         f"{robust_scale!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter: expected a positive int, got {max_iter!r}")
    p_in, p, uv, w = _check_points_and_keypoints(points3d, keypoints2d, weights)
    lead = p.shape[:-2]
    nj = p.shape[-2]
    p = p.reshape(-1, nj, 3)
    uv = uv.reshape(-1, nj, 2)
    w = w.reshape(-1, nj)
    valid = np.isfinite(p).all(-1) & np.isfinite(uv).all(-1) & (w > 0)
    w = np.where(valid, w, 0.0)
    p = np.where(valid[..., None], p, 0.0)
    uv = np.where(valid[..., None], uv, 0.0)
    b = p.shape[0]
    t = np.full((b, 3), np.nan)
    weight = np.zeros((b, nj))
    info = np.zeros((b, 3, 3))
    ok = valid.sum(-1) >= min_j
    idx = np.flatnonzero(ok)
    if idx.size:
        ps, us, ws = p[idx], uv[idx], w[idx]
        t0, posed = _linear_init(ps, us, ws, K, None)
        t1, posed1 = _linear_init(ps, us, ws, K, np.where(posed, t0[:, 2], 1.0))
        start = np.where((posed1 & np.isfinite(t1).all(-1))[:, None], t1, t0)
        bad = ~np.isfinite(_objective(ps, us, ws, K, np.nan_to_num(start), None))
        if bad.any():
            start[bad] = _fallback_init(ps[bad], us[bad], ws[bad], K)
        c = None
        if robust_scale is not None:
            big = np.where(ws[..., None] > 0, us, np.nan)
            side = np.nanmax(np.nanmax(big, -2) - np.nanmin(big, -2), -1)
            c = np.maximum(float(robust_scale) * side, 1.0)
        ts, wf, hf = _gauss_newton(ps, us, ws, K, np.nan_to_num(start), c, max_iter)
        finite = np.isfinite(ts).all(-1) & posed & np.isfinite(_objective(ps, us, ws, K,
                                                                          ts, None))
        t[idx[finite]] = ts[finite]
        weight[idx[finite]] = wf[finite]
        info[idx[finite]] = hf[finite]
    solved = np.isfinite(t).all(-1)
    res = np.linalg.norm(_project(p + np.nan_to_num(t)[:, None], K) - uv, axis=-1)
    res = np.where(valid & solved[:, None], res, np.nan)
    n_used = (weight > 0).sum(-1)
    rss = np.nansum(weight * np.where(np.isfinite(res), res, 0.0) ** 2, -1)
    noise = np.sqrt(rss / np.maximum(2 * n_used - 3, 1))
    noise = np.where(solved, noise, np.nan)
    return TranslationFit(
        translation=_like(t.reshape(*lead, 3), p_in),
        solved=like(solved.reshape(lead), p_in),
        residual_px=_like(res.reshape(*lead, nj), p_in),
        weight=_like(weight.reshape(*lead, nj), p_in),
        information=_like(info.reshape(*lead, 3, 3), p_in),
        noise_px=_like(noise.reshape(lead), p_in),
    )


# --------------------------------------------------------------------------------------------
# trajectory: sequences
# --------------------------------------------------------------------------------------------


def check_smoothing(smoothing: object) -> float | None:
    """Trajectory smoothing: None (off) or a positive finite number (metres per frame^2).

    Examples:
        >>> check_smoothing(None), check_smoothing(2)
        (None, 2.0)
    """
    if smoothing is None:
        return None
    if isinstance(smoothing, bool) or not isinstance(smoothing, int | float) or \
            not (smoothing > 0 and np.isfinite(smoothing)):
        raise ValueError(f"smoothing: expected None (off) or a positive number of metres per "
                         f"frame^2, got {smoothing!r}")
    return float(smoothing)


def _fill(t: np.ndarray[Any, Any], solved: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Linear interpolation of unsolved frames of ``(T, 3)`` (nearest solved at the ends)."""
    out = t.copy()
    if solved.all() or not solved.any():
        return out
    f = np.arange(len(t))
    for k in range(3):
        out[~solved, k] = np.interp(f[~solved], f[solved], t[solved, k])
    return out


def _whittaker(t: np.ndarray[Any, Any], info: np.ndarray[Any, Any], q: float
               ) -> np.ndarray[Any, Any]:
    """Minimize ``sum (t_f - t^_f)' A_f (t_f - t^_f) + sum |D2 t|^2 / q^2`` (banded solve)."""
    n = t.shape[0]
    size = 3 * n
    # dense band storage for a symmetric matrix, upper form: ab[u + i - j, j] = M[i, j]
    u = 6
    ab = np.zeros((u + 1, size))

    def add(i: np.ndarray[Any, Any], j: np.ndarray[Any, Any], val: np.ndarray[Any, Any]
            ) -> None:
        np.add.at(ab, (u + i - j, j), val)

    f = np.arange(n)
    for a in range(3):
        for b_ in range(a, 3):
            add(3 * f + a, 3 * f + b_, info[:, a, b_])
    lam = 1.0 / q**2
    if n >= 3:
        m = np.arange(n - 2)
        coef = (1.0, -2.0, 1.0)
        for k in range(3):
            for x in range(3):
                for y in range(x, 3):
                    add(3 * (m + x) + k, 3 * (m + y) + k, np.full(n - 2, lam * coef[x] * coef[y]))
    rhs = np.einsum("fab,fb->fa", info, np.nan_to_num(t)).reshape(-1)
    import scipy.linalg  # lazy: scipy is slow to import

    sol = scipy.linalg.solveh_banded(ab, rhs, lower=False)
    out: np.ndarray[Any, Any] = sol.reshape(n, 3)
    return out


def smooth_trajectory(
    trajectory: Array,
    information: Array,
    *,
    noise_px: float,
    smoothing: float = DEFAULT_SMOOTHING,
) -> Array:
    """Smooth one sequence's per-frame translations, trusting each axis as the image does.

    Minimizes ``sum_f (t_f - t^_f)' A_f (t_f - t^_f) + sum_f |t_{f-1} - 2 t_f + t_{f+1}|^2 /
    smoothing^2`` with ``A_f = information_f / noise_px^2`` (the inverse covariance of the
    per-frame solution ``t^_f``): a Whittaker (Rauch-Tung-Striebel) smoother with a random
    acceleration prior. Non-causal: every frame uses past and future frames. Depth, fixed
    by the image far less than x and y, is smoothed much more. Frames without information
    (unsolved: NaN translation or zero information) are interpolated by the same prior
    (cubic-spline-like inside, straight lines beyond the last solved frame).

    Args:
        trajectory: ``(T, 3)`` per-frame translations, metres (NaN where unsolved).
        information: ``(T, 3, 3)`` ``J^T W J`` per frame (pixels^2 / metre^2).
        noise_px: residual standard deviation per coordinate, pixels (> 0).
        smoothing: prior standard deviation of the second difference, metres per frame^2.

    Returns:
        ``(T, 3)`` smoothed translations, same kind as ``trajectory``.

    Raises:
        ValueError: bad shapes, fewer than one solved frame, bad ``noise_px``/``smoothing``,
            or frames whose information does not fix a trajectory (implausible per-frame
            solutions, e.g. translations of 1e15 m known to 1e-26 pixels^2/metre^2).

    Examples:
        >>> import numpy as np
        >>> t = np.zeros((50, 3)); t[:, 2] = 5.0
        >>> t[:, 2] += np.random.default_rng(0).normal(0.0, 0.05, 50)   # noisy depth
        >>> info = np.tile(np.diag([1e6, 1e6, 5e3]), (50, 1, 1))        # depth fixed less
        >>> s = smooth_trajectory(t, info, noise_px=5.0)
        >>> jitter = lambda x: np.abs(np.diff(x[:, 2])).mean()          # metres per frame
        >>> round(float(jitter(t)), 3), round(float(jitter(s)), 3)
        (0.042, 0.004)
    """
    x = check_array(trajectory, "trajectory")
    check_shape(x, "trajectory", "(T, 3)")
    h = check_array(information, "information")
    check_shape(h, "information", "(T, 3, 3)", T=int(x.shape[0]))
    q = check_smoothing(smoothing)
    if q is None:
        raise ValueError("smoothing: expected a positive number of metres per frame^2, got None")
    if isinstance(noise_px, bool) or not isinstance(noise_px, int | float) or \
            not (noise_px > 0 and np.isfinite(noise_px)):
        raise ValueError(f"noise_px: expected a positive number of pixels, got {noise_px!r}")
    t = to_numpy(x).astype(np.float64)
    info = np.nan_to_num(to_numpy(h).astype(np.float64)) / float(noise_px) ** 2
    has = np.isfinite(t).all(-1) & (np.trace(info, axis1=-2, axis2=-1) > 0)
    info = np.where(has[:, None, None], info, 0.0)
    if has.sum() == 0:
        raise ValueError("trajectory: no solved frame to smooth (all NaN or zero information)")
    if has.sum() == 1:
        out = np.tile(t[has], (len(t), 1))
    else:
        try:
            out = _whittaker(np.where(has[:, None], t, 0.0), info, q)
        except np.linalg.LinAlgError:  # (a ValueError subclass that names nothing)
            trace = np.trace(info[has], axis1=-2, axis2=-1) * float(noise_px) ** 2
            far = float(np.abs(t[has]).max())
            raise ValueError(
                f"trajectory: cannot be smoothed: the information of its solved frames "
                f"({trace.min():.3g} to {trace.max():.3g} pixels^2/metre^2) does not fix a "
                f"trajectory (translations up to {far:.3g} m); implausible per-frame "
                "solutions (keypoints that the poses do not fit at any plausible distance?)"
            ) from None
    return _like(out, x)


def solve_trajectory(
    points3d: Array,
    keypoints2d: Array,
    intrinsics: object,
    *,
    weights: Array | None = None,
    min_joints: int = MIN_JOINTS,
    robust_scale: float | None = ROBUST_SCALE,
    smoothing: float | None = DEFAULT_SMOOTHING,
) -> tuple[Array, TranslationFit]:
    """The trajectory of sequences: per-frame translations, gaps filled, smoothed over time.

    :func:`solve_translation` on every frame, then per sequence (the ``T`` axis)
    :func:`smooth_trajectory` (non-causal) with the sequence's median ``noise_px`` (at least
    0.5 px), or with ``smoothing=None`` the per-frame solutions with unsolved frames
    linearly interpolated (the nearest solved frame repeated at the ends).

    Args:
        points3d: ``(..., T, J, 3)`` bodies without translation, metres, camera axes.
        keypoints2d: ``(..., T, J, 2)`` pixels (NaN = missing).
        intrinsics: ``(3, 3)`` K or ``(fx, fy, cx, cy)``.
        weights: ``(..., T, J)`` scores (default 1).
        min_joints: fewest joints for a solved frame.
        robust_scale: see :func:`solve_translation`.
        smoothing: metres per frame^2 (see :func:`smooth_trajectory`), ``None`` = off.

    Returns:
        ``(trajectory (..., T, 3), per-frame fit)``; the trajectory is NaN for a sequence
        without any solved frame.

    Raises:
        ValueError: bad inputs (see :func:`solve_translation`), or a sequence whose
            per-frame solutions cannot be smoothed (:func:`smooth_trajectory`).

    Examples:
        >>> import numpy as np
        >>> body = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.1], [0.0, -0.5, 0.0],
        ...                  [-0.2, 0.4, -0.1]])
        >>> path = np.stack([np.linspace(-1, 1, 10), np.zeros(10), np.full(10, 5.0)], -1)
        >>> cam = body[None] + path[:, None]
        >>> uv = cam[..., :2] / cam[..., 2:] * 1000.0 + 500.0
        >>> uv[4] = np.nan                                   # frame 4: nothing detected
        >>> traj, fit = solve_trajectory(body[None].repeat(10, 0), uv, (1e3, 1e3, 500, 500))
        >>> fit.solved.tolist()[3:6], bool(np.abs(traj - path).max() < 1e-6)
        ([True, False, True], True)
    """
    q = check_smoothing(smoothing)
    fit = solve_translation(points3d, keypoints2d, intrinsics, weights=weights,
                            min_joints=min_joints, robust_scale=robust_scale)
    p_in = check_array(points3d, "points3d")
    check_shape(p_in, "points3d", "(..., T, J, 3)")
    t = to_numpy(fit.translation).astype(np.float64)
    solved = to_numpy(fit.solved).astype(bool)
    info = to_numpy(fit.information).astype(np.float64)
    noise = to_numpy(fit.noise_px).astype(np.float64)
    lead = t.shape[:-2]
    n_frames = t.shape[-2]
    t2 = t.reshape(-1, n_frames, 3)
    s2 = solved.reshape(-1, n_frames)
    i2 = info.reshape(-1, n_frames, 3, 3)
    n2 = noise.reshape(-1, n_frames)
    out = np.full_like(t2, np.nan)
    for k in range(t2.shape[0]):
        if not s2[k].any():
            continue
        if q is None or s2[k].sum() < 2:
            out[k] = _fill(t2[k], s2[k])
        else:
            sigma = max(float(np.median(n2[k][s2[k]])), _MIN_NOISE_PX)
            try:
                out[k] = np.asarray(smooth_trajectory(t2[k], i2[k], noise_px=sigma,
                                                      smoothing=q))
            except ValueError as e:
                where = f"sequence {k}" if t2.shape[0] > 1 else "the sequence"
                raise ValueError(f"keypoints2d: {where}: the per-frame positions that fit the "
                                 f"poses to these keypoints give no trajectory: {e}") from None
    return _like(out.reshape(*lead, n_frames, 3), p_in), fit
