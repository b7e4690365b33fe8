"""What :meth:`poselift.Lifter.lift_full` returns: poses, trajectory, scale, rarity.

:func:`to_absolute` turns the root-relative poses of :func:`poselift.lift` and the 2D
keypoints they were lifted from into a :class:`LiftResult` (docs/absolute.md);
``lift_full(...)`` is ``to_absolute(lift(...), ...)``, so relative poses lifted once can be
made absolute with other options without lifting again:

- **scale**: with ``height``, ``intrinsics`` or ``root != "pelvis"`` the poses are rescaled
  to a person of standing height ``height`` (default
  :data:`poselift.absolute.DEFAULT_HEIGHT`), the body's size measured on the lifted poses
  by a running median over :data:`poselift.absolute.DEFAULT_SCALE_WINDOW` frames
  (:func:`poselift.absolute.metric_scale`); otherwise they are returned unchanged;
- **trajectory**: with ``intrinsics``, the pelvis position of every frame in camera
  coordinates, solved from the keypoints (weighted by their scores, robust to outliers,
  smoothed over each sequence: :func:`poselift.absolute.solve_trajectory`); ``root="camera"``
  adds it to the poses, ``root="world"`` also maps them to world coordinates with
  ``extrinsics``;
- **rarity** (:func:`poselift.rarity_flag.pose_rarity`): the occurrence of every lifted pose
  among the training poses, whole and per body group, and the flags of poses not to trust.

Sequences: a ``(T, J, 2)`` input is one person over ``T`` frames (one height, one smoothed
trajectory), ``(N, T, J, 2)`` is ``N`` such sequences, a ``(J, 2)`` input one pose. To treat
unrelated poses independently, pass them as ``(N, 1, J, 2)``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from poselift._validation import Array, check_array, check_choice, to_numpy
from poselift.absolute import (
    DEFAULT_SCALE_WINDOW,
    DEFAULT_SMOOTHING,
    MIN_JOINTS,
    as_extrinsics,
    as_intrinsics,
    camera_to_world_points,
    check_height,
    check_smoothing,
    metric_scale,
    solve_trajectory,
)
from poselift.core import convert_detected, far_joints
from poselift.data.bvh import BVH
from poselift.data.bvh_export import UpAxis, poses_to_bvh, write_bvh
from poselift.data.layouts import get_input_layout, list_input_layouts
from poselift.rarity_flag import PoseRarity, pose_rarity
from poselift.skeletons import convert_keypoints, get_skeleton
from poselift.swaps import swap_permutations, swap_states, translate_states

__all__ = ["ROOTS", "AbsoluteOptions", "LiftResult", "absolute_result", "check_absolute",
           "to_absolute"]

ROOTS = ("pelvis", "camera", "world")
"""Where the returned poses are: pelvis at the origin, camera coordinates, world coordinates."""


@dataclass(frozen=True)
class AbsoluteOptions:
    """Validated absolute-3D options (from :func:`check_absolute`).

    Attributes:
        root: ``"pelvis"``, ``"camera"`` or ``"world"``.
        K: ``(3, 3)`` intrinsics or None.
        extrinsics: ``(R, t)`` world-to-camera or None.
        height: the standing height in metres the poses are scaled to, or None (unchanged).
        smoothing: trajectory smoothing (metres per frame^2) or None.
        scale_window: frames of the running median of the body's size, None = the whole
            sequence.
    """

    root: str
    K: np.ndarray[Any, Any] | None
    extrinsics: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None
    height: float | None
    smoothing: float | None
    scale_window: int | None = DEFAULT_SCALE_WINDOW

    @property
    def plain(self) -> bool:
        """Whether nothing changes the network's root-relative output."""
        return self.root == "pelvis" and self.K is None and self.height is None


def check_absolute(
    *,
    intrinsics: object = None,
    root: str = "pelvis",
    height: float | None = None,
    extrinsics: object = None,
    smoothing: float | None = DEFAULT_SMOOTHING,
    scale_window: int | None = DEFAULT_SCALE_WINDOW,
) -> AbsoluteOptions:
    """Validate the absolute-3D arguments of :func:`poselift.lift` (before any lifting).

    Raises:
        ValueError / TypeError: naming the argument: an unknown ``root``, ``root="camera"``
            or ``"world"`` without ``intrinsics``, ``"world"`` without ``extrinsics``,
            ``extrinsics`` with another root, bad intrinsics/extrinsics/height/smoothing.

    Examples:
        >>> check_absolute(root="camera")
        Traceback (most recent call last):
        ...
        ValueError: root: 'camera' needs intrinsics= (a (3, 3) matrix K or (fx, fy, cx, ...
        >>> check_absolute(intrinsics=(1000, 1000, 960, 540), root="camera").height
        1.7
    """
    r = check_choice(root, "root", ROOTS)
    K = None if intrinsics is None else as_intrinsics(intrinsics)
    if r != "pelvis" and K is None:
        raise ValueError(f"root: {r!r} needs intrinsics= (a (3, 3) matrix K or (fx, fy, cx, cy) "
                         "in pixels): the distance to the camera is solved from the keypoints "
                         "through K")
    ext = None
    if extrinsics is not None:
        if r != "world":
            raise ValueError(f"extrinsics: only used with root='world' (world coordinates), got "
                             f"root={r!r}")
        ext = as_extrinsics(extrinsics)
    elif r == "world":
        raise ValueError("root: 'world' needs extrinsics= (world-to-camera [R | t], "
                         "x_cam = R @ x_world + t, metres)")
    h = None if height is None else check_height(height)
    if h is None and (K is not None or r != "pelvis"):
        h = check_height(None)
    if scale_window is not None and (isinstance(scale_window, bool) or not isinstance(
            scale_window, int) or scale_window < 1 or scale_window % 2 == 0):
        raise ValueError(f"scale_window: expected None or an odd positive number of frames, "
                         f"got {scale_window!r}")
    return AbsoluteOptions(r, K, ext, h, check_smoothing(smoothing), scale_window)


@dataclass(frozen=True, eq=False)
class LiftResult:
    """Lifted poses with their root trajectory, the scale used and how rare each pose is.

    Leading shapes: ``()`` for one pose, ``(T,)`` for a sequence, ``(N, T)`` for sequences
    (written ``...`` below); arrays are numpy or torch like the keypoints given.

    Attributes:
        poses: ``(..., 17, 3)`` H36M-17 joints in metres, what :func:`poselift.lift` returns
            with the same arguments: pelvis at the origin (``root="pelvis"``), camera
            coordinates (``"camera"``, OpenCV axes) or world coordinates (``"world"``).
        root: ``"pelvis"``, ``"camera"`` or ``"world"``.
        height: the standing height (metres) the poses are scaled to, or None when they are
            the network's output unchanged.
        scale: ``(...)`` the factor applied to each frame's network output (1.0 when
            unchanged; it follows the running median of the lifted body's size).
        trajectory: ``(..., 3)`` the pelvis position of every frame, metres, camera
            coordinates (world coordinates for ``root="world"``); None without intrinsics.
        solved: ``(...)`` bool, the frame's translation was solved from its own keypoints
            (else interpolated over time); None without intrinsics.
        reprojection_px: ``(...)`` median reprojection error of the frame's valid joints at
            the final (smoothed) position, pixels; None without intrinsics.
        rarity: occurrence of each pose among the training poses and the rarity flags
            (:class:`poselift.rarity_flag.PoseRarity`), or None (``rarity=False``).
    """

    poses: Array
    root: str
    height: float | None
    scale: Array
    trajectory: Array | None
    solved: Array | None
    reprojection_px: Array | None
    rarity: PoseRarity | None

    def _sequence(self, sequence: int | None) -> np.ndarray[Any, Any]:
        p = to_numpy(self.poses).astype(np.float64)
        if p.ndim == 2:
            p = p[None]
        if p.ndim == 4:
            n = p.shape[0]
            if sequence is None:
                raise ValueError(f"sequence: the result holds {n} sequences; pass sequence=i "
                                 f"(0 <= i < {n}) to choose one")
            if isinstance(sequence, bool) or not isinstance(sequence, int) or \
                    not 0 <= sequence < n:
                raise ValueError(f"sequence: expected an int in [0, {n}), got {sequence!r}")
            p = p[sequence]
        elif sequence not in (None, 0):
            raise ValueError(f"sequence: the result holds one sequence, got {sequence!r}")
        return p

    def to_bvh(self, *, fps: float = 30.0, up: UpAxis | None = None,
               sequence: int | None = None) -> BVH:
        """A BVH animation of one sequence (:func:`poselift.data.poses_to_bvh`).

        Args:
            fps: frames per second.
            up: up direction of the poses' axes; default ``"-y"`` (camera coordinates) for
                ``root="pelvis"``/``"camera"`` and ``"y"`` for ``"world"``.
            sequence: which of ``N`` sequences (required when there are several).

        Returns:
            The :class:`~poselift.data.BVH`; with a trajectory, the root moves along it.
        """
        axes: UpAxis = up if up is not None else ("y" if self.root == "world" else "-y")
        return poses_to_bvh(self._sequence(sequence), fps=fps, up=axes)

    def save_bvh(self, path: str | os.PathLike[str], *, fps: float = 30.0,
                 up: UpAxis | None = None, sequence: int | None = None) -> Path:
        """Write :meth:`to_bvh` to ``path`` (atomically); returns the path."""
        return write_bvh(path, self.to_bvh(fps=fps, up=up, sequence=sequence))


def _observations(keypoints2d: Array, scores: Array | None, threshold: float
                  ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Pixels ``(..., J, 2)`` and solver weights ``(..., J)`` (score, 0 when missing)."""
    x = to_numpy(check_array(keypoints2d, "keypoints2d")).astype(np.float64)
    xy = x[..., :2]
    sc = x[..., 2] if x.shape[-1] == 3 else (
        None if scores is None else to_numpy(check_array(scores, "scores")).astype(np.float64))
    valid: np.ndarray[Any, Any] = np.asarray(np.isfinite(xy).all(-1))
    w = np.ones(xy.shape[:-1])
    if sc is not None:
        sc = np.nan_to_num(sc, nan=-1.0)
        valid &= sc >= threshold
        w = np.clip(sc, 0.0, None)
    w = np.where(valid & (w > 0), w, 0.0)
    return np.where(valid[..., None], xy, np.nan), w


_MAX_OFF_AXIS = 20.0
"""Keypoints whose median ``|u - cx| / fx`` (or in y) is beyond this (87 degrees from the
optical axis) cannot have been seen through these intrinsics: they are not in pixels."""


def _k_text(K: np.ndarray[Any, Any]) -> str:
    return f"(fx, fy, cx, cy) = ({K[0, 0]:g}, {K[1, 1]:g}, {K[0, 2]:g}, {K[1, 2]:g})"


def _check_intrinsics_fit(K: np.ndarray[Any, Any], xy: np.ndarray[Any, Any],
                          w: np.ndarray[Any, Any]) -> None:
    """Refuse intrinsics that put the keypoints beyond 87 degrees from the optical axis.

    The median over the valid keypoints of ``max(|u - cx| / fx, |v - cy| / fy)`` (the
    tangent of their angle from the axis) above :data:`_MAX_OFF_AXIS`: intrinsics in
    normalized units (``fx = 1.145``) with keypoints in pixels, or a principal point in
    another image. ``xy``: ``(..., J, 2)`` pixels, ``w``: ``(..., J)`` weights (0: missing).
    """
    seen = w > 0
    if not seen.any():
        return
    u, v = xy[seen][:, 0], xy[seen][:, 1]
    off = np.maximum(np.abs(u - K[0, 2]) / K[0, 0], np.abs(v - K[1, 2]) / K[1, 1])
    typical = float(np.median(off))
    if typical > _MAX_OFF_AXIS:
        extent = float(max(np.ptp(u), np.ptp(v)))
        hint = (" they look like normalized units (a fraction of the image size): give fx, fy, "
                "cx, cy in pixels, e.g. fx = 1.145 x the image width" if
                min(K[0, 0], K[1, 1]) < 0.05 * max(extent, 1.0) else
                " check that the principal point (cx, cy) lies in the image the keypoints were "
                "detected in")
        raise ValueError(
            f"intrinsics: {_k_text(K)} put the keypoints (pixels, spread over {extent:.0f} px) "
            f"a median {np.degrees(np.arctan(typical)):.1f} degrees from the optical axis: no "
            f"camera position projects the joints there with these intrinsics;{hint}")


def _relabelled(xy: np.ndarray[Any, Any], w: np.ndarray[Any, Any], skeleton: str,
                layout: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Observations ``(S, T, J, 2)`` and weights ``(S, T, J)``, each sequence's swaps undone.

    The search of :mod:`poselift.swaps` as ``lift`` runs it: on the joints it lifts from
    (valid, converted by name to ``layout``, not far from the others), the states found
    there applied to the parts of ``skeleton``.
    """
    perms = swap_permutations(skeleton)
    xy, w = xy.copy(), w.copy()
    for s in range(len(xy)):
        valid = np.isfinite(xy[s]).all(-1) & (w[s] > 0)
        pts = xy[s]
        if get_skeleton(layout).name != get_skeleton(skeleton).name:
            pts = convert_detected(np.where(valid[..., None], pts, np.nan), None,
                                   src=skeleton, dst=layout, threshold=0.0)
            valid = np.isfinite(pts).all(-1)
        found = swap_states(pts, valid & ~np.asarray(far_joints(pts, valid)), layout)
        states = translate_states(found, layout, skeleton)
        if states.any():
            order = perms[states]
            xy[s] = np.take_along_axis(xy[s], order[..., None], axis=-2)
            w[s] = np.take_along_axis(w[s], order, axis=-1)
    return xy, w


def _input_points(poses: np.ndarray[Any, Any], skeleton: str) -> np.ndarray[Any, Any]:
    """``(..., 17, 3)`` H36M-17 -> the 3D points of ``skeleton``'s keypoints (NaN: unknown).

    A registered input layout of that skeleton (``"h36m"``, ``"coco"``: the points the models
    were trained to see) is used as is; other layouts get their joints by name, from the
    H36M-17 joints and, for face points, from the COCO layout's synthesized eyes and ears.
    """
    name = get_skeleton(skeleton).name
    t = torch.from_numpy(np.ascontiguousarray(poses, dtype=np.float64))
    if name in list_input_layouts() and get_input_layout(name).skeleton == name:
        return np.asarray(get_input_layout(name)(t).numpy())
    out = np.asarray(convert_keypoints(poses, "h36m", name, coords=3), dtype=np.float64)
    coco = get_input_layout("coco")(t).numpy()
    more = np.asarray(convert_keypoints(coco, "coco", name, coords=3), dtype=np.float64)
    filled: np.ndarray[Any, Any] = np.where(np.isfinite(out), out, more)
    return filled


def _out(a: np.ndarray[Any, Any], like_this: Array, dtype: Any = np.float32) -> Array:
    arr = np.array(a.astype(dtype) if a.dtype != bool else a, order="C")  # keeps 0-d
    if isinstance(like_this, torch.Tensor):
        return torch.from_numpy(arr).to(like_this.device)
    return arr


def absolute_result(
    relative: Array,
    keypoints2d: Array,
    *,
    skeleton: str,
    options: AbsoluteOptions,
    scores: Array | None = None,
    score_threshold: float = 0.3,
    rarity: bool = True,
    min_joints: int = MIN_JOINTS,
    fix_swaps: bool = False,
    swaps_layout: str | None = None,
) -> LiftResult:
    """Scale, trajectory and rarity of lifted poses (what :meth:`Lifter.lift_full` returns).

    Args:
        relative: ``(..., 17, 3)`` root-relative poses from :meth:`poselift.Lifter.lift`.
        keypoints2d: ``(..., J, 2|3)`` the pixels they were lifted from (score last if 3).
        skeleton: the keypoints' layout.
        options: from :func:`check_absolute`.
        scores: ``(..., J)`` scores (instead of a third channel).
        score_threshold: keypoints scoring below it are missing (as in ``lift``).
        rarity: compute the rarity (:func:`poselift.rarity_flag.pose_rarity`).
        min_joints: fewest valid joints with which a frame's translation is solved.
        fix_swaps: relabel each sequence's left/right swaps in ``keypoints2d`` before solving
            the trajectory, as ``lift`` did before lifting (:mod:`poselift.swaps`; the same
            search on the same joints: detected, not far from the others), so that the 2D
            points and the 3D joints they are matched with carry the same labels.
        swaps_layout: the layout ``lift`` searched for swaps in (the model's input skeleton:
            a detector's keypoints are converted to it by joint name first); None: the
            keypoints' own.

    Returns:
        A :class:`LiftResult`.

    Raises:
        ValueError: a pose, or a whole sequence, with too few valid joints to solve the
            translation (``intrinsics`` given).
    """
    rel_in = check_array(relative, "relative")
    rel = to_numpy(rel_in).astype(np.float64)
    lead = rel.shape[:-2]
    seq = rel.reshape(-1, 17, 3) if len(lead) < 2 else rel.reshape(-1, lead[-1], 17, 3)
    if len(lead) < 2:
        seq = seq[None] if len(lead) == 1 else seq[:, None]
    s_count, n_frames = seq.shape[0], seq.shape[1]
    if options.height is not None and seq.size:
        scale = np.asarray(to_numpy(metric_scale(seq, options.height,
                                                 window=options.scale_window)), np.float64)
        if scale.ndim == 1:
            scale = np.repeat(scale[:, None], n_frames, 1)
    else:
        scale = np.ones((s_count, n_frames))
    metric = seq * scale[:, :, None, None]
    trajectory = solved = reproj = None
    poses = metric
    if options.K is not None and seq.size:
        xy, w = _observations(keypoints2d, scores, score_threshold)
        _check_intrinsics_fit(options.K, xy, w)
        nj = xy.shape[-2]
        xy = xy.reshape(s_count, n_frames, nj, 2)
        w = w.reshape(s_count, n_frames, nj)
        if fix_swaps and n_frames > 1:
            xy, w = _relabelled(xy, w, skeleton, swaps_layout or skeleton)
        pts = _input_points(metric, skeleton)
        w = np.where(np.isfinite(pts).all(-1), w, 0.0)
        traj, fit = solve_trajectory(pts, xy, options.K, weights=w, min_joints=min_joints,
                                     smoothing=options.smoothing)
        t = np.asarray(traj, dtype=np.float64)
        ok = np.asarray(fit.solved, dtype=bool)
        for s in range(s_count):
            if not ok[s].any():
                counts = (w[s] > 0).sum(-1)
                if counts.max() >= min_joints:  # enough joints: no camera position fits
                    what = "the pose" if len(lead) == 0 else f"no frame of sequence {s}"
                    raise ValueError(
                        f"intrinsics: {what} can be placed in front of the camera so that it "
                        f"projects onto its keypoints with K = {_k_text(options.K)} (pixels); "
                        "check that the intrinsics belong to the camera and the image size the "
                        "keypoints were detected in")
                where = (f"the pose has {int(counts.max())} valid joint(s)" if len(lead) == 0
                         else f"no frame of sequence {s} has enough valid joints (at most "
                              f"{int(counts.max())})")
                raise ValueError(
                    f"keypoints2d: cannot solve the root position: {where}; it needs at least "
                    f"{min_joints} with a score >= {score_threshold} (one joint cannot fix the "
                    "depth)")
        poses = metric + t[:, :, None, :]
        proj = pts + t[:, :, None, :]
        z = np.where(proj[..., 2] > 1e-6, proj[..., 2], np.nan)
        K = options.K
        uv = np.stack([K[0, 0] * proj[..., 0] / z + K[0, 2], K[1, 1] * proj[..., 1] / z + K[1, 2]],
                      -1)
        err = np.where(w > 0, np.linalg.norm(uv - xy, axis=-1), np.nan)
        with warnings.catch_warnings():  # frames without a valid joint: NaN, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            reproj = np.nanmedian(err, axis=-1)
        trajectory, solved = t, ok
        if options.root == "world":
            assert options.extrinsics is not None
            poses = np.asarray(camera_to_world_points(poses, options.extrinsics))
            trajectory = np.asarray(camera_to_world_points(t, options.extrinsics))
        elif options.root == "pelvis":
            poses = metric
    occ = pose_rarity(rel_in) if rarity and rel.size else None

    def shape(a: np.ndarray[Any, Any], tail: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return a.reshape((*lead, *tail))

    return LiftResult(
        poses=_out(shape(poses, (17, 3)), rel_in),
        root=options.root,
        height=options.height,
        scale=_out(shape(scale, ()), rel_in),
        trajectory=None if trajectory is None else _out(shape(trajectory, (3,)), rel_in),
        solved=None if solved is None else _out(shape(solved, ()), rel_in, bool),
        reprojection_px=None if reproj is None else _out(shape(reproj, ()), rel_in),
        rarity=occ,
    )


def to_absolute(
    poses: Array,
    keypoints2d: Array,
    *,
    skeleton: str = "coco",
    scores: Array | None = None,
    score_threshold: float = 0.3,
    intrinsics: object = None,
    root: str = "pelvis",
    height: float | None = None,
    extrinsics: object = None,
    rarity: bool = True,
    smoothing: float | None = DEFAULT_SMOOTHING,
    scale_window: int | None = DEFAULT_SCALE_WINDOW,
    fix_swaps: bool = True,
) -> LiftResult:
    """Scale, trajectory and rarity of root-relative poses: ``lift_full = lift + to_absolute``.

    Args:
        poses: ``(..., 17, 3)`` root-relative poses from :func:`poselift.lift` (metres).
        keypoints2d: ``(..., J, 2|3)`` the pixels they were lifted from (score last if 3).
        skeleton: the keypoints' layout (as given to ``lift``).
        scores: ``(..., J)`` scores (instead of a third channel).
        score_threshold: keypoints scoring below it are missing (as in ``lift``).
        intrinsics: the camera's ``(3, 3)`` K or ``(fx, fy, cx, cy)``; with it the root
            trajectory is solved.
        root: ``"pelvis"``, ``"camera"`` (needs ``intrinsics``) or ``"world"`` (needs
            ``extrinsics`` too).
        height: standing height in metres the poses are scaled to (see :func:`poselift.lift`).
        extrinsics: world-to-camera ``[R | t]``, for ``root="world"``.
        rarity: also score how rare each pose is among the training poses.
        smoothing: trajectory smoothing, metres per frame^2; None: per-frame solutions.
        scale_window: frames of the running median of the body's size (odd); None: one
            median over each sequence (:func:`poselift.absolute.metric_scale`).
        fix_swaps: as given to ``lift`` (default True): the trajectory is solved against the
            keypoints relabelled as ``lift`` relabelled them before lifting.

    Returns:
        A :class:`LiftResult`, what :func:`poselift.lift_full` returns for these arguments.

    Raises:
        ValueError / TypeError: bad options (naming the argument); a pose or a whole
            sequence with too few valid joints to solve the translation.

    Examples:
        >>> import numpy as np, poselift
        >>> kp = np.random.default_rng(0).uniform(300, 700, (17, 2))
        >>> rel = poselift.lift(kp)
        >>> res = to_absolute(rel, kp, intrinsics=(1000.0, 1000.0, 500.0, 500.0),
        ...                   root="camera", rarity=False)
        >>> res.poses.shape, bool(res.trajectory[2] > 0)
        ((17, 3), True)
    """
    if not isinstance(rarity, bool):
        raise TypeError(f"rarity: expected True or False, got {rarity!r}")
    options = check_absolute(intrinsics=intrinsics, root=root, height=height,
                             extrinsics=extrinsics, smoothing=smoothing,
                             scale_window=scale_window)
    if not isinstance(fix_swaps, bool):
        raise TypeError(f"fix_swaps: expected True or False, got {fix_swaps!r}")
    return absolute_result(poses, keypoints2d, skeleton=skeleton, options=options,
                           scores=scores, score_threshold=score_threshold, rarity=rarity,
                           fix_swaps=fix_swaps)
