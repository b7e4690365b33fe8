"""Joint layouts (skeletons), their registry, and name-based keypoint conversion.

A :class:`Skeleton` names the joints of a layout, in order, with a parent for each joint.
Joints whose names start with ``left_``/``right_`` are mirror images of each other, which is
all that horizontal flipping needs (:attr:`Skeleton.flip_indices`).

Built-in layouts:

- ``"h36m"``: the 17 Human3.6M joints used throughout poselift (pelvis is the root).
- ``"coco"``: the 17 COCO keypoints in the standard order (as written by COCO-style detectors).
- ``"mpi_inf_3dhp"``: the 17 joints of the MPI-INF-3DHP test set, in its order.

Detector layouts (input only; :func:`poselift.lift` converts them by name to the skeleton of
the model it runs), each in the order its source documents (:attr:`Skeleton.source`):
``"body_25"``, ``"body_25b"`` and ``"coco_18"`` (OpenPose), ``"halpe_26"`` (AlphaPose,
RTMPose/MMPose Halpe models) and ``"mediapipe_pose"`` (MediaPipe's 33 pose landmarks).

:func:`convert_keypoints` converts between layouts by joint name: a joint present in both is
copied; a joint the source lacks is built from a recipe over named source joints (e.g. the
H36M pelvis is the midpoint of the COCO hips). A joint that cannot be built from visible
inputs gets score 0 and NaN coordinates: never a made-up confident value.

:func:`flip_keypoints` and :func:`flip_poses` mirror 2D keypoints and 3D poses (left/right
swapped by name): the one implementation behind training flips and test-time flip averaging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch

from poselift._registry import Registry
from poselift._validation import Array, check_array, check_shape

__all__ = [
    "Skeleton",
    "convert_keypoints",
    "flip_keypoints",
    "flip_poses",
    "get_skeleton",
    "list_skeletons",
    "register_skeleton",
]

_LEFT, _RIGHT = "left_", "right_"


@dataclass(frozen=True)
class Skeleton:
    """A named joint layout: joint names in order and a parent for each joint.

    Args:
        name: registry name of the layout, e.g. ``"h36m"``.
        joints: joint names in array order. Names starting with ``left_``/``right_`` mark
            mirror pairs; every ``left_x`` needs a ``right_x`` and vice versa.
        parents: index of each joint's parent, ``-1`` for the root (exactly one).
        root: index of the root joint; must be the joint whose parent is ``-1``.
        source: where the joint order comes from (a document or source file), for layouts
            that copy a detector's or data set's order; not used in comparisons.

    Raises:
        ValueError: on duplicate names, parents out of range, not exactly one root, a cycle,
            or an unpaired ``left_``/``right_`` joint.

    Examples:
        >>> sk = Skeleton("stick", ("hip", "left_leg", "right_leg"), (-1, 0, 0))
        >>> sk.num_joints, sk.flip_indices, sk.bones
        (3, (0, 2, 1), ((1, 0), (2, 0)))
        >>> sk.index("right_leg")
        2
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    root: int = 0
    source: str = field(default="", repr=False, compare=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", tuple(self.joints))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        where = f"skeleton {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"skeleton name must be a non-empty string, got {self.name!r}")
        if not self.joints:
            raise ValueError(f"{where}: joints must not be empty")
        if any(not isinstance(j, str) or not j for j in self.joints):
            raise ValueError(f"{where}: joint names must be non-empty strings, got {self.joints}")
        dupes = sorted({j for j in self.joints if self.joints.count(j) > 1})
        if dupes:
            raise ValueError(f"{where}: duplicate joint names {dupes}")
        n = len(self.joints)
        if len(self.parents) != n:
            raise ValueError(
                f"{where}: parents must have one entry per joint ({n}), got {len(self.parents)}"
            )
        bad = [p for p in self.parents if not -1 <= p < n]
        if bad:
            raise ValueError(f"{where}: parent indices must be in [-1, {n - 1}], got {bad}")
        roots = [j for j, p in enumerate(self.parents) if p == -1]
        if len(roots) != 1:
            raise ValueError(f"{where}: exactly one joint needs parent -1, found {len(roots)}")
        if roots[0] != self.root:
            raise ValueError(
                f"{where}: root={self.root} but the joint with parent -1 is {roots[0]}"
            )
        for start in range(n):  # every joint must reach the root without revisiting a joint
            seen, j = set(), start
            while j != -1:
                if j in seen:
                    raise ValueError(f"{where}: parents form a cycle through joint {j}")
                seen.add(j)
                j = self.parents[j]
        index = {name: i for i, name in enumerate(self.joints)}
        for name in self.joints:
            for a, b in ((_LEFT, _RIGHT), (_RIGHT, _LEFT)):
                if name.startswith(a) and b + name[len(a):] not in index:
                    raise ValueError(
                        f"{where}: joint {name!r} has no mirror joint {b + name[len(a):]!r}"
                    )
        object.__setattr__(self, "_index", index)

    @property
    def num_joints(self) -> int:
        """Number of joints ``J``."""
        return len(self.joints)

    def index(self, name: str) -> int:
        """Index of the joint called ``name``; ``ValueError`` listing the joints if unknown."""
        try:
            return self._index[name]
        except KeyError:
            raise ValueError(
                f"skeleton {self.name!r} has no joint {name!r}; joints: {', '.join(self.joints)}"
            ) from None

    @cached_property
    def flip_indices(self) -> tuple[int, ...]:
        """Permutation that swaps left and right joints (``x[..., flip_indices, :]``)."""
        out = []
        for name in self.joints:
            if name.startswith(_LEFT):
                out.append(self._index[_RIGHT + name[len(_LEFT):]])
            elif name.startswith(_RIGHT):
                out.append(self._index[_LEFT + name[len(_RIGHT):]])
            else:
                out.append(self._index[name])
        return tuple(out)

    @cached_property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(left, right)`` index pairs, in joint order of the left joint."""
        return tuple(
            (i, self.flip_indices[i])
            for i, name in enumerate(self.joints)
            if name.startswith(_LEFT)
        )

    @cached_property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """``(child, parent)`` index pairs for every non-root joint, in joint order."""
        return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)


_SKELETONS: Registry[Skeleton] = Registry("skeleton")


def register_skeleton(skeleton: Skeleton, *, overwrite: bool = False) -> Skeleton:
    """Register ``skeleton`` under its name so that :func:`get_skeleton` finds it.

    Args:
        skeleton: the layout to register.
        overwrite: replace an existing layout of the same name instead of raising.

    Returns:
        The registered skeleton.

    Raises:
        ValueError: the name is taken and ``overwrite`` is False.
        TypeError: ``skeleton`` is not a :class:`Skeleton`.

    Examples:
        >>> sk = register_skeleton(Skeleton("doc_stick", ("a", "b"), (-1, 0)))
        >>> get_skeleton("doc_stick").num_joints
        2
        >>> register_skeleton(sk)
        Traceback (most recent call last):
        ...
        ValueError: skeleton 'doc_stick' is already registered; pass overwrite=True to replace it
    """
    if not isinstance(skeleton, Skeleton):
        raise TypeError(f"skeleton: expected a Skeleton, got {type(skeleton).__name__}")
    return _SKELETONS.register(skeleton.name, skeleton, overwrite=overwrite)


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """Return the registered skeleton called ``name`` (a :class:`Skeleton` is passed through).

    Examples:
        >>> get_skeleton("h36m").num_joints
        17
        >>> get_skeleton("h36")
        Traceback (most recent call last):
        ...
        ValueError: unknown skeleton 'h36' (did you mean 'h36m'?); known: ...
    """
    if isinstance(name, Skeleton):
        return name
    return _SKELETONS.get(name)


def list_skeletons() -> list[str]:
    """Names of all registered skeletons, sorted.

    Examples:
        >>> {"coco", "h36m", "mpi_inf_3dhp"} <= set(list_skeletons())
        True
    """
    return _SKELETONS.names()


# --- built-in layouts ---------------------------------------------------------------------

H36M = register_skeleton(
    Skeleton(
        "h36m",
        (
            "pelvis", "right_hip", "right_knee", "right_ankle",
            "left_hip", "left_knee", "left_ankle",
            "spine", "thorax", "nose", "head_top",
            "left_shoulder", "left_elbow", "left_wrist",
            "right_shoulder", "right_elbow", "right_wrist",
        ),
        (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
        root=0,
    )
)

COCO = register_skeleton(
    Skeleton(
        "coco",
        (
            "nose", "left_eye", "right_eye", "left_ear", "right_ear",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist", "left_hip", "right_hip",
            "left_knee", "right_knee", "left_ankle", "right_ankle",
        ),
        # COCO has no anatomical root; the nose is the root of this tree (eyes -> nose,
        # ears -> eyes, shoulders -> nose, arms down from the shoulders, hips -> shoulders).
        (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
        root=0,
    )
)

MPI_INF_3DHP = register_skeleton(
    Skeleton(
        "mpi_inf_3dhp",
        (
            "head_top", "neck",
            "right_shoulder", "right_elbow", "right_wrist",
            "left_shoulder", "left_elbow", "left_wrist",
            "right_hip", "right_knee", "right_ankle",
            "left_hip", "left_knee", "left_ankle",
            "pelvis", "spine", "head",
        ),
        (16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
        root=14,
    )
)


# --- detector layouts (inputs only: converted by name to a model's skeleton) -------------
# Each order is copied from the detector's own documentation or source (``source``); the
# tests check every order against an independent hand-written table of the documented names.

_OPENPOSE_SRC = ("OpenPose src/openpose/pose/poseParameters.cpp (POSE_{}_BODY_PARTS); "
                 "doc/02_output.md")

BODY_25 = register_skeleton(
    Skeleton(
        "body_25",
        (
            "nose", "neck",
            "right_shoulder", "right_elbow", "right_wrist",
            "left_shoulder", "left_elbow", "left_wrist",
            "mid_hip",
            "right_hip", "right_knee", "right_ankle",
            "left_hip", "left_knee", "left_ankle",
            "right_eye", "left_eye", "right_ear", "left_ear",
            "left_big_toe", "left_small_toe", "left_heel",
            "right_big_toe", "right_small_toe", "right_heel",
        ),
        (1, 8, 1, 2, 3, 1, 5, 6, -1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19, 14, 11, 22, 11),
        root=8,
        source=_OPENPOSE_SRC.format("BODY_25"),
    )
)

BODY_25B = register_skeleton(
    Skeleton(
        "body_25b",
        (
            "nose", "left_eye", "right_eye", "left_ear", "right_ear",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist", "left_hip", "right_hip",
            "left_knee", "right_knee", "left_ankle", "right_ankle",
            "upper_neck", "head_top",
            "left_big_toe", "left_small_toe", "left_heel",
            "right_big_toe", "right_small_toe", "right_heel",
        ),
        (17, 0, 0, 1, 2, 17, 17, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14, -1, 17, 15, 19, 15, 16, 22,
         16),
        root=17,
        source="OpenPose src/openpose/pose/poseParameters.cpp (POSE_BODY_25B_BODY_PARTS), the "
        "same in openpose_caffe_train src/caffe/openpose/poseModel.cpp (experimental model: "
        "COCO-17 order, then MPII's upper neck and head top, then the feet)",
    )
)

COCO_18 = register_skeleton(
    Skeleton(
        "coco_18",
        (
            "nose", "neck",
            "right_shoulder", "right_elbow", "right_wrist",
            "left_shoulder", "left_elbow", "left_wrist",
            "right_hip", "right_knee", "right_ankle",
            "left_hip", "left_knee", "left_ankle",
            "right_eye", "left_eye", "right_ear", "left_ear",
        ),
        (1, -1, 1, 2, 3, 1, 5, 6, 1, 8, 9, 1, 11, 12, 0, 0, 14, 15),
        root=1,
        source=_OPENPOSE_SRC.format("COCO") + " (OpenPose's COCO model, 18 points)",
    )
)

HALPE_26 = register_skeleton(
    Skeleton(
        "halpe_26",
        (
            "nose", "left_eye", "right_eye", "left_ear", "right_ear",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist", "left_hip", "right_hip",
            "left_knee", "right_knee", "left_ankle", "right_ankle",
            "head_top", "neck", "mid_hip",
            "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
            "left_heel", "right_heel",
        ),
        (18, 0, 0, 1, 2, 18, 18, 5, 6, 7, 8, 19, 19, 11, 12, 13, 14, 18, 19, -1, 15, 16, 20, 21,
         15, 16),
        root=19,
        source="Halpe-FullBody README (github.com/Fang-Haoshu/Halpe-FullBody, '26 body "
        "keypoints'; 'Head' is the top of the head in its figure, 'Hip' the mid-hip); MMPose "
        "configs/_base_/datasets/halpe26.py",
    )
)

MEDIAPIPE_POSE = register_skeleton(
    Skeleton(
        "mediapipe_pose",
        (
            "nose",
            "left_eye_inner", "left_eye", "left_eye_outer",
            "right_eye_inner", "right_eye", "right_eye_outer",
            "left_ear", "right_ear", "left_mouth", "right_mouth",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist", "left_pinky", "right_pinky",
            "left_index", "right_index", "left_thumb", "right_thumb",
            "left_hip", "right_hip", "left_knee", "right_knee",
            "left_ankle", "right_ankle", "left_heel", "right_heel",
            "left_foot_index", "right_foot_index",
        ),
        (-1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16, 11, 12,
         23, 24, 25, 26, 27, 28, 27, 28),
        root=0,
        source="MediaPipe pose landmarker, 33 landmarks (ai.google.dev/edge/mediapipe/"
        "solutions/vision/pose_landmarker; mediapipe/tasks/python/vision/pose_landmarker.py, "
        "PoseLandmark); MOUTH_LEFT/RIGHT are called left_mouth/right_mouth here",
    )
)


# --- conversion ---------------------------------------------------------------------------

RecipeKind = Literal["all", "any"]


@dataclass(frozen=True)
class _Recipe:
    """Build a joint as the mean of named inputs.

    ``"all"``: every input must be visible (else the result is invisible);
    ``"any"``: the mean of the visible inputs (invisible when none is).
    """

    kind: RecipeKind
    inputs: tuple[str, ...]


# Alternatives are tried in order; per sample, the first visible result wins.
_RECIPES: dict[str, tuple[_Recipe, ...]] = {
    # The H36M pelvis is the midpoint of the hip joints; a detector's own mid-hip (OpenPose
    # MidHip, Halpe Hip) is the fallback when a hip is missing.
    "pelvis": (_Recipe("all", ("left_hip", "right_hip")), _Recipe("all", ("mid_hip",))),
    "mid_hip": (_Recipe("all", ("pelvis",)), _Recipe("all", ("left_hip", "right_hip"))),
    # H36M thorax and MPI-INF-3DHP neck are the same point (base of the neck).
    "thorax": (_Recipe("all", ("neck",)), _Recipe("all", ("left_shoulder", "right_shoulder"))),
    "neck": (_Recipe("all", ("thorax",)), _Recipe("all", ("left_shoulder", "right_shoulder"))),
    "spine": (_Recipe("all", ("pelvis", "thorax")),),
    # H36M "neck/nose" (joint 9) and MPI-INF-3DHP "head" are the standard correspondence.
    "nose": (_Recipe("all", ("head",)),),
    "head": (_Recipe("all", ("nose",)),),
    # COCO has no head top: the centre of the visible eyes/ears (and nose) stands in for it.
    # It lies a few centimetres below the true H36M head top (documented in docs/skeletons.md).
    "head_top": (
        _Recipe("any", ("left_eye", "right_eye", "left_ear", "right_ear")),
        _Recipe("all", ("nose",)),
    ),
}


def _resolve(
    name: str,
    src: Skeleton,
    xy: np.ndarray[Any, Any],
    vis: np.ndarray[Any, Any],
    score: np.ndarray[Any, Any],
    stack: tuple[str, ...],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """Coordinates, visibility and score of joint ``name`` built from ``src`` (or None)."""
    if name in src._index:
        j = src._index[name]
        return xy[..., j, :], vis[..., j], score[..., j]
    if name in stack:
        return None
    result = None
    for recipe in _RECIPES.get(name, ()):
        parts = [_resolve(i, src, xy, vis, score, (*stack, name)) for i in recipe.inputs]
        if any(p is None for p in parts):
            continue
        coords = np.stack([p[0] for p in parts if p is not None], axis=-2)
        seen = np.stack([p[1] for p in parts if p is not None], axis=-1)
        scores = np.stack([p[2] for p in parts if p is not None], axis=-1)
        if recipe.kind == "all":
            ok = np.asarray(seen.all(axis=-1))
            mean = coords.mean(axis=-2)
            sc = scores.min(axis=-1)
        else:
            w = seen.astype(coords.dtype)
            count = w.sum(axis=-1)
            ok = np.asarray(count > 0)
            safe = np.where(ok, count, 1.0)
            mean = (np.where(seen[..., None], coords, 0.0)).sum(axis=-2) / safe[..., None]
            sc = np.where(seen, scores, 0.0).sum(axis=-1) / safe
        mean = np.where(ok[..., None], mean, np.nan)
        sc = np.where(ok, sc, 0.0)
        if result is None:
            result = (mean, ok, sc)
        else:  # keep earlier alternatives where they were visible
            keep = result[1]
            result = (
                np.where(keep[..., None], result[0], mean),
                keep | ok,
                np.where(keep, result[2], sc),
            )
    return result


def convert_keypoints(
    x: Array,
    src: str | Skeleton,
    dst: str | Skeleton,
    *,
    scores: Array | None = None,
    coords: int = 2,
) -> Array:
    """Convert keypoints between joint layouts by joint name, carrying scores along.

    A destination joint that the source has is copied. Otherwise it is built from a recipe:
    ``pelvis`` = mean of the hips (else a detector's ``mid_hip``), ``thorax``/``neck`` = mean
    of the shoulders (or each other), ``spine`` = mean of pelvis and thorax, ``nose`` <->
    MPI-INF-3DHP ``head``, and ``head_top`` = centre of the visible eyes and ears (else the
    nose; an approximation a few cm below the true head top). A joint counts as visible when
    its score is > 0 and its coordinates are finite. A joint that cannot be built from visible
    inputs gets score 0 and NaN coordinates, never a made-up confident value. The score of a
    built joint is the minimum of its inputs' scores (the mean over the used inputs for
    "centre of the visible" recipes).

    Args:
        x: ``(..., J_src, coords)`` keypoints (any unit), or ``(..., J_src, coords + 1)``
            with a score/visibility channel last (e.g. ``(..., 17, 3)`` = x, y, score).
        src: source layout name (or :class:`Skeleton`), e.g. ``"coco"``.
        dst: destination layout name (or :class:`Skeleton`), e.g. ``"h36m"``.
        scores: optional ``(..., J_src)`` confidences in [0, 1], for ``x`` without a score
            channel; the result then carries them as an extra last channel.
        coords: number of coordinate channels: 2 for image keypoints (default), 3 for 3D
            poses (then ``(..., J, 3)`` is x, y, z and ``(..., J, 4)`` has a score last).

    Returns:
        ``(..., J_dst, C)``: same kind (numpy/torch), dtype and trailing size ``C`` as ``x``
        (``D + 1`` when ``scores`` was passed separately). Without any scores, the result
        has no score channel and invisible joints are NaN.

    Raises:
        ValueError: unknown layout, wrong shapes, or layouts with nothing in common.
            (Destination joints the source lacks and no recipe builds, such as COCO's eyes
            from H36M, are always invisible: NaN with score 0.)

    Examples:
        >>> import numpy as np
        >>> coco = np.zeros((17, 3)); coco[:, 2] = 1.0           # x, y, score
        >>> coco[11, :2] = (100.0, 200.0); coco[12, :2] = (140.0, 200.0)   # hips
        >>> h36m = convert_keypoints(coco, "coco", "h36m")
        >>> h36m.shape, h36m[0].tolist()                          # pelvis = mean of hips
        ((17, 3), [120.0, 200.0, 1.0])
        >>> back = convert_keypoints(h36m, "h36m", "coco")
        >>> back[1].tolist()                                      # eyes cannot be made
        [nan, nan, 0.0]
    """
    x = check_array(x, "x")
    s_src, s_dst = get_skeleton(src), get_skeleton(dst)
    dims = check_shape(x, "x", "(..., J, C)", J=s_src.num_joints)
    channels = dims["C"]
    if coords not in (2, 3):
        raise ValueError(f"coords: expected 2 or 3, got {coords!r}")
    if channels not in (coords, coords + 1) or (scores is not None and channels != coords):
        expect = f"{coords}" if scores is not None else f"{coords} or {coords + 1} (score last)"
        raise ValueError(f"x: expected {expect} channels per joint, got {channels}")
    data = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    data = data.astype(np.float64, copy=False)
    if scores is not None:
        scores = check_array(scores, "scores")
        check_shape(scores, "scores", f"({', '.join(str(d) for d in x.shape[:-1])})")
        sc = scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else scores
        xy, score, has_scores = data, np.asarray(sc, dtype=np.float64), True
    elif channels == coords + 1:
        xy, score, has_scores = data[..., :coords], data[..., coords], True
    else:
        xy, score, has_scores = data, np.ones(data.shape[:-1]), False
    vis = (score > 0) & np.isfinite(xy).all(axis=-1)
    out_xy, out_score, buildable = [], [], 0
    for name in s_dst.joints:
        got = _resolve(name, s_src, xy, vis, score, ())
        if got is None:  # no such joint and no recipe: always invisible
            out_xy.append(np.full(xy.shape[:-2] + xy.shape[-1:], np.nan))
            out_score.append(np.zeros(xy.shape[:-2]))
            continue
        buildable += 1
        pts, seen, sc = got
        out_xy.append(np.where(seen[..., None], pts, np.nan))
        out_score.append(np.where(seen, sc, 0.0))
    if buildable == 0:
        raise ValueError(
            f"cannot convert from skeleton {s_src.name!r} to {s_dst.name!r}: "
            "no joint of the destination can be built from the source's joints"
        )
    result = np.stack(out_xy, axis=-2)
    if has_scores:
        result = np.concatenate([result, np.stack(out_score, axis=-1)[..., None]], axis=-1)
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(result).to(dtype=x.dtype, device=x.device)
    return result.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)


def _flip_index(skeleton: Skeleton, x: Array) -> Any:
    idx = list(skeleton.flip_indices)
    return torch.as_tensor(idx, device=x.device) if isinstance(x, torch.Tensor) else np.array(idx)


def flip_poses(poses: Array, skeleton: str | Skeleton = "h36m") -> Array:
    """Mirror 3D poses horizontally: negate x and swap left/right joints.

    In camera coordinates (x right) this is the 3D counterpart of mirroring the image.

    Args:
        poses: ``(..., J, 3)`` (any unit), camera coordinates.
        skeleton: the joint layout (its ``flip_indices`` swap the joints).

    Returns:
        ``(..., J, 3)``, same kind as ``poses``. Flipping twice gives the input back.

    Examples:
        >>> import numpy as np
        >>> p = np.zeros((17, 3)); p[4] = (0.1, 0.0, 5.0)          # left hip
        >>> flip_poses(p)[1].tolist()                              # now the right hip
        [-0.1, 0.0, 5.0]
    """
    poses = check_array(poses, "poses")
    sk = get_skeleton(skeleton)
    check_shape(poses, "poses", "(..., J, 3)", J=sk.num_joints)
    sign = [-1.0, 1.0, 1.0]
    if isinstance(poses, torch.Tensor):
        out_t = poses[..., _flip_index(sk, poses), :]
        return out_t * torch.as_tensor(sign, dtype=out_t.dtype, device=out_t.device)
    out: np.ndarray[Any, Any] = poses[..., _flip_index(sk, poses), :]
    flipped: np.ndarray[Any, Any] = out * np.asarray(sign, dtype=out.dtype)
    return flipped


def flip_keypoints(keypoints: Array, skeleton: str | Skeleton = "h36m", *,
                   center: float = 0.0) -> Array:
    """Mirror 2D keypoints about the vertical line ``x = center`` and swap left/right.

    Use ``center=0`` for normalized screen coordinates and ``center=cx`` (the principal
    point) for pixels: then the result equals projecting the :func:`flip_poses` of the 3D
    points. Extra channels after x, y (e.g. a score) are carried along.

    Args:
        keypoints: ``(..., J, C)`` with ``C >= 2`` (x, y[, score...]).
        skeleton: the joint layout.
        center: x of the mirror line.

    Returns:
        ``(..., J, C)``, same kind as ``keypoints``.

    Examples:
        >>> import numpy as np
        >>> k = np.zeros((17, 3)); k[11] = (0.3, -0.5, 0.9)       # left shoulder, score .9
        >>> flip_keypoints(k)[14].tolist()
        [-0.3, -0.5, 0.9]
    """
    keypoints = check_array(keypoints, "keypoints")
    sk = get_skeleton(skeleton)
    dims = check_shape(keypoints, "keypoints", "(..., J, C)", J=sk.num_joints)
    if dims["C"] < 2:
        raise ValueError(f"keypoints: expected at least 2 channels, got shape "
                         f"{tuple(keypoints.shape)}")
    if isinstance(keypoints, torch.Tensor):
        out_t = keypoints[..., _flip_index(sk, keypoints), :].clone()
        out_t[..., 0] = 2 * center - out_t[..., 0]
        return out_t
    out: np.ndarray[Any, Any] = np.array(keypoints[..., _flip_index(sk, keypoints), :])
    out[..., 0] = 2 * center - out[..., 0]
    return out


def skeleton_table(names: Sequence[str] | None = None) -> str:
    """Markdown table of joint index and name for the given (default: built-in) layouts.

    Examples:
        >>> print(skeleton_table(["h36m"]).splitlines()[2])
        | 0 | pelvis |
    """
    chosen = [get_skeleton(n) for n in (names or ["h36m", "coco", "mpi_inf_3dhp"])]
    head = "| index | " + " | ".join(s.name for s in chosen) + " |"
    rule = "|---|" + "---|" * len(chosen)
    width = max(s.num_joints for s in chosen)
    rows = [
        f"| {i} | "
        + " | ".join(s.joints[i] if i < s.num_joints else "" for s in chosen)
        + " |"
        for i in range(width)
    ]
    return "\n".join([head, rule, *rows])
