"""Left/right label swaps of a 2D detector, found from continuity over time and undone.

Detectors sometimes give a body part's left and right joints each other's labels for a run
of frames: MediaPipe Pose's "full" model, on one camera of the real clip of
docs/real-world.md, labelled the whole body mirrored for 34 of 99 frames (frames 40-73 at 60
fps, flickering at the end). A lifter reads such a frame as a person facing the other way;
a temporal model also mixes the two readings across its window.

The labels are recovered from continuity: a swap makes a joint jump to where its mirror was
one frame before, while the relabelled frame continues the motion. The left/right pairs
are grouped in body parts (:data:`SWAP_PARTS`: face, shoulders, arms, hips, legs); every
frame is in one *state*, the set of parts whose labels are exchanged (``2^U`` states for U
parts), and the most likely sequence of states is found by dynamic programming (Viterbi)
with

- a cost per joint and frame pair: the squared displacement from the previous frame, in
  units of the pair's typical motion per frame (the larger of its two joints' median
  displacements over the sequence, at least ``0.002`` of the person's height in pixels),
  capped at :data:`JUMP_CAP` (one outlier costs no more than a jump); a joint seen in only
  one of the two frames costs half the cap (dropping a joint is not a way to explain a
  jump);
- :data:`CHANGE_COST` for any change of state (one cap: a change must explain at least
  one joint's jump, and a change of several parts at once costs no more than one);
- :data:`SWAPPED_COST` per frame and swapped part: the labels as detected are preferred
  where the jumps do not say otherwise (a part whose left and right points are close, as a
  face seen from the side, is left as detected), and the state most frames are in is
  taken as the right one.

The values were chosen on the synthetic wild evaluation (docs/real-world.md, "Left/right
swaps"): on clips without swaps nearly no frame is changed (2 of 23,522 on the rig, none
under correlated jitter), and arms crossing at speed are not taken for swaps (the scale
per pair, not per sequence). Swaps that last for most of a sequence cannot be told from the
rest and stay as they are.

:func:`fix_swaps` is the public function; :class:`poselift.Lifter` runs the search on every
sequence (``fix_swaps=True``, the default), before filling gaps, and
:class:`poselift.StreamingLifter` its causal form, :class:`SwapFilter`, as frames arrive.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(60)[:, None, None]
    >>> kp = rng.uniform(200, 600, (17, 2)) + np.concatenate([np.sin(t / 9) * 20, t * 0], -1)
    >>> swapped = kp.copy()
    >>> flip = np.array(get_skeleton("coco").flip_indices)
    >>> swapped[20:30] = kp[20:30][:, flip]                  # every left/right label swapped
    >>> fixed, changed = fix_swaps(swapped, "coco")
    >>> bool(np.allclose(fixed, kp)), int(changed.any(-1).sum())
    (True, 10)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poselift._validation import check_array, check_positive, check_real, check_shape
from poselift.skeletons import Skeleton, get_skeleton

__all__ = ["CHANGE_COST", "JUMP_CAP", "SWAPPED_COST", "SWAP_PARTS", "SWAP_SEGMENT", "SwapFilter",
           "fix_swaps", "swap_permutations", "swap_states", "translate_states"]

SWAP_PARTS: dict[str, tuple[str, ...]] = {
    "face": ("eye", "ear", "mouth"),
    "shoulders": ("shoulder",),
    "arms": ("elbow", "wrist", "hand", "pinky", "index", "thumb"),
    "hips": ("hip",),
    "legs": ("knee", "ankle", "heel", "foot", "toe"),
}
"""Body parts whose left/right labels are found swapped together, by the words of their joint
names (a skeleton's left/right joints matching none stay as they are). Parts in this order are
the bits of a state: state ``s`` swaps part ``u`` when ``s >> u & 1`` (parts the skeleton
lacks are skipped)."""

_PRIORITY = ("legs", "hips", "shoulders", "arms", "face")  # who owns a joint two parts name

JUMP_CAP = 25.0
"""Largest cost of one joint between two frames: a displacement of 5 typical motions."""

CHANGE_COST = JUMP_CAP
"""Cost of a change of state (any set of parts at once)."""

SWAPPED_COST = 0.5
"""Cost per frame of each part in the swapped state: the labels as detected are preferred
where the evidence is weak (a part whose left and right points lie close together, as the
face seen from the side), and a run is relabelled only where its jumps say so. 0.02 of a cap:
every injected synthetic run is still found; 0.01 relabelled the face or the hips alone for
dozens of frames of a real video where nothing shows a swap (docs/real-world.md)."""

SWAP_SEGMENT = 4096
"""Longest piece of a sequence whose left/right swaps are found at once (2.3 minutes at 30
fps): longer sequences are cut, each piece taking its own majority of frames as right (and
the memory of the search stays bounded)."""

_MIN_MOTION = 0.002  # the least typical motion per frame, as a fraction of the person's height
_CHUNK = 256  # frames per block of transition tables (2 MB with 32 states)
_REFRESH = 8  # a stream's typical motion is recomputed every this many frames


def _part_names(sk: Skeleton) -> list[str]:
    """The names of the parts the skeleton has, in bit order (those of :func:`_parts`)."""
    return [name for name, _ in _owned(sk)]


def translate_states(states: np.ndarray[Any, Any], source: str | Skeleton,
                     target: str | Skeleton) -> np.ndarray[Any, Any]:
    """States found in one layout as the states of another: the same parts exchanged.

    ``lift`` finds a detector layout's swaps on the points the model takes (MediaPipe's
    33 points converted to COCO-17); this gives the same relabelling of the detector's own
    points (a part the target lacks is dropped).

    Examples:
        >>> translate_states(np.array([0, 31]), "coco", "h36m").tolist()  # h36m: no face
        [0, 15]
    """
    src = get_skeleton(source) if isinstance(source, str) else source
    dst = get_skeleton(target) if isinstance(target, str) else target
    names, wanted = _part_names(src), _part_names(dst)
    table = np.array([sum(1 << v for v, name in enumerate(wanted)
                          if name in names and s >> names.index(name) & 1)
                      for s in range(1 << len(names))], np.int64)
    out: np.ndarray[Any, Any] = table[np.asarray(states, np.int64)]
    return out


def _parts(sk: Skeleton) -> list[np.ndarray[Any, Any]]:
    """The joints of each part the skeleton has (left and right), in :data:`SWAP_PARTS` order."""
    return [idx for _, idx in _owned(sk)]


def _owned(sk: Skeleton) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """Each part the skeleton has and its joints, in :data:`SWAP_PARTS` order.

    A joint whose name has the words of several parts (MediaPipe's ``left_foot_index``:
    ``"foot"`` and ``"index"``) belongs to the first of them in :data:`_PRIORITY`.
    """
    flip = sk.flip_indices
    owner: dict[int, str] = {}
    for part in _PRIORITY:
        for i, name in enumerate(sk.joints):
            if flip[i] != i and i not in owner and any(w in name for w in SWAP_PARTS[part]):
                owner[i] = part
    out = []
    for part in SWAP_PARTS:
        idx = [i for i in range(sk.num_joints) if owner.get(i) == part]
        if idx:
            out.append((part, np.array(idx)))
    return out


def swap_permutations(skeleton: str | Skeleton) -> np.ndarray[Any, Any]:
    """``(K, J)`` int: for each state, the joint each label takes (``x[..., perm, :]``).

    Row 0 is the identity; row ``s`` exchanges the left/right joints of the parts in ``s``
    (:data:`SWAP_PARTS`). Each row is its own inverse.

    Examples:
        >>> p = swap_permutations("h36m")
        >>> p.shape, p[0].tolist() == list(range(17))
        ((16, 17), True)
        >>> bool((p[15] == np.array(get_skeleton("h36m").flip_indices)).all())
        True
    """
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    parts = _parts(sk)
    flip = np.array(sk.flip_indices)
    perms = np.tile(np.arange(sk.num_joints), (1 << len(parts), 1))
    for s in range(len(perms)):
        for u, idx in enumerate(parts):
            if s >> u & 1:
                perms[s, idx] = flip[idx]
    return perms


class _CostModel:
    """The costs of one skeleton's labellings (module docstring), for blocks of frame pairs.

    The left/right joints of the parts are *slots*; a slot takes its own joint, or its
    mirror's when its part is swapped. ``table`` gives, per frame pair, the ``(K, K)`` cost of
    going from each state to each state: every slot's capped squared displacement summed per
    part, then mapped to the state pairs by one product with a 0/1 matrix (``pick``), plus the
    change and swapped-part costs.
    """

    def __init__(self, sk: Skeleton) -> None:
        parts = _parts(sk)
        self.joints = sk.num_joints
        self.count = 1 << len(parts)
        slots = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        flip = np.array(sk.flip_indices)
        self.slots, self.mirrors = slots, flip[slots]
        self.source = np.stack([slots, flip[slots]])  # (2, S): as detected / swapped
        self.member = np.zeros((len(slots), len(parts)))  # (S, U) the part of each slot
        self.member[np.arange(len(slots)), np.repeat(np.arange(len(parts)),
                                                     [len(p) for p in parts])] = 1.0
        bits = (np.arange(self.count)[:, None] >> np.arange(len(parts))[None, :]) & 1
        before, now = np.meshgrid(np.arange(self.count), np.arange(self.count), indexing="ij")
        pick = np.zeros((len(parts), 2, 2, self.count, self.count))
        for u in range(len(parts)):
            pick[u, bits[before, u], bits[now, u], before, now] = 1.0
        self.pick = pick.reshape(len(parts) * 4, self.count * self.count)
        self.fixed = (CHANGE_COST * (1.0 - np.eye(self.count))
                      + SWAPPED_COST * bits.sum(1)[None, :])  # change, and swapped parts now
        self.start = SWAPPED_COST * bits.sum(1).astype(np.float64)  # the first frame's

    @property
    def usable(self) -> bool:
        """Whether the skeleton has any left/right part."""
        return self.count > 1

    def scale(self, motion: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """``(S,)``: each slot's unit of motion, the faster of its pair's joints'."""
        out: np.ndarray[Any, Any] = np.maximum(motion[self.slots], motion[self.mirrors])
        return out

    def table(self, before: np.ndarray[Any, Any], now: np.ndarray[Any, Any],
              scale: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """``(T, K, K)`` for frame pairs ``before[t] -> now[t]`` (``(T, J, 2)``, NaN unseen)."""
        p = before[:, self.source][:, :, None]  # (T, 2 before, 1, S, 2)
        q = now[:, self.source][:, None]  # (T, 1, 2 now, S, 2)
        with np.errstate(invalid="ignore"):
            d = np.minimum(((q[..., 0] - p[..., 0]) ** 2 + (q[..., 1] - p[..., 1]) ** 2)
                           / scale ** 2, JUMP_CAP)  # (T, 2, 2, S)
        seen_p, seen_q = np.isfinite(p[..., 0]), np.isfinite(q[..., 0])
        d = np.where(seen_p & seen_q, d, np.where(seen_p | seen_q, JUMP_CAP / 2, 0.0))
        parts = (d @ self.member).transpose(0, 3, 1, 2)  # (T, U, 2, 2)
        table = (parts.reshape(len(d), -1) @ self.pick).reshape(len(d), self.count, self.count)
        table += self.fixed
        return table


def _motion(pts: np.ndarray[Any, Any], joints: int) -> np.ndarray[Any, Any]:
    """``(J,)`` each joint's median displacement per frame (0 where never seen twice)."""
    motion = np.zeros(joints)
    for j in range(joints):
        step = np.hypot(pts[1:, j, 0] - pts[:-1, j, 0], pts[1:, j, 1] - pts[:-1, j, 1])
        step = step[np.isfinite(step)]
        if step.size:
            motion[j] = np.median(step)
    return motion


def _column_medians(steps: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``(J,)`` the median of each column's finite values (0 where none).

    ``np.nanmedian``, which goes through masked arrays, costs ~20x more on a stream's rows.
    """
    ordered = np.sort(steps, axis=0)  # NaN last
    count = np.isfinite(steps).sum(0)
    cols = np.arange(steps.shape[1])
    low = ordered[np.maximum((count - 1) // 2, 0), cols]
    high = ordered[np.maximum(count // 2, 0).clip(max=len(steps) - 1), cols]
    return np.where(count > 0, (low + high) / 2, 0.0)


def _height(pts: np.ndarray[Any, Any]) -> float:
    """The median over frames with a joint of the larger side of the joints' box (pixels)."""
    # fmax / fmin skip NaN (a frame without any joint gives NaN) without nanmax's warnings
    extent = (np.fmax.reduce(pts, axis=1) - np.fmin.reduce(pts, axis=1)).max(-1)
    extent = extent[np.isfinite(extent)]
    return float(np.median(extent)) if extent.size else 0.0


def swap_states(xy: np.ndarray[Any, Any], valid: np.ndarray[Any, Any],
                skeleton: str | Skeleton) -> np.ndarray[Any, Any]:
    """``(T,)`` int: the state of each frame of one sequence (0: labels as detected).

    Args:
        xy: ``(T, J, 2)`` pixels of one sequence, any real dtype.
        valid: ``(T, J)`` bool, the joints that were detected.
        skeleton: the layout of ``xy``.

    Returns:
        The most likely states (module docstring); ``swap_permutations(skeleton)[states]``
        gives each frame's relabelling. All zeros for fewer than two frames or no joint.
        Sequences longer than :data:`SWAP_SEGMENT` frames are searched piece by piece.

    Examples:
        >>> xy = np.zeros((3, 17, 2)); xy[:, :, 0] = np.arange(17) * 10.0
        >>> swap_states(xy, np.ones((3, 17), bool), "coco").tolist()
        [0, 0, 0]
    """
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    frames = xy.shape[0]
    if frames > SWAP_SEGMENT:
        return np.concatenate([swap_states(xy[a:a + SWAP_SEGMENT], valid[a:a + SWAP_SEGMENT], sk)
                               for a in range(0, frames, SWAP_SEGMENT)])
    states = np.zeros(frames, np.int64)
    model = _CostModel(sk)
    if frames < 2 or not model.usable or not valid.any():
        return states
    pts = np.array(xy, dtype=np.float64)  # NaN where missing
    pts[~valid] = np.nan
    floor = _MIN_MOTION * max(_height(pts), 1e-9)
    scale = model.scale(np.maximum(_motion(pts, sk.num_joints), floor))
    back = np.zeros((frames, model.count), np.int8 if model.count <= 128 else np.int64)
    cost = model.start.copy()
    columns = np.arange(model.count)
    for a in range(1, frames, _CHUNK):
        b = min(frames, a + _CHUNK)
        table = model.table(pts[a - 1:b - 1], pts[a:b], scale)
        for t in range(a, b):
            total = table[t - a]
            total += cost[:, None]
            best = total.argmin(0)
            back[t] = best
            cost = total[best, columns]
    states[-1] = int(cost.argmin())
    for t in range(frames - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return states


class SwapFilter:
    """The causal form of :func:`swap_states`: each new frame's state from the frames before.

    For streams (:class:`poselift.StreamingLifter`): the same costs, but each frame's state is
    decided when it arrives (the end of the cheapest labelling so far, without revising
    earlier frames), and each joint's typical motion is the median over the last ``window``
    frames (recomputed every 8 frames). A stream that starts swapped is taken as right until
    a swap ends.

    Args:
        skeleton: the layout of the frames.
        window: frames of history for the typical motion.

    Examples:
        >>> import numpy as np
        >>> f = SwapFilter("coco")
        >>> pose = np.arange(34.0).reshape(17, 2) * 12
        >>> [f.step(pose + t, np.ones(17, bool)) for t in range(3)]
        [0, 0, 0]
    """

    def __init__(self, skeleton: str | Skeleton, window: int = 64) -> None:
        sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
        self._model = _CostModel(sk)
        self._cost = self._model.start.copy()
        self._recent = np.full((window, sk.num_joints, 2), np.nan)  # frames, oldest first
        self._steps = np.full((window, sk.num_joints), np.nan)  # each joint's displacements
        self._scale = np.ones(len(self._model.slots))
        self._frames = 0

    def copy(self) -> SwapFilter:
        """An independent copy."""
        new = SwapFilter.__new__(SwapFilter)
        new._model, new._frames, new._scale = self._model, self._frames, self._scale
        new._cost, new._recent = self._cost.copy(), self._recent.copy()
        new._steps = self._steps.copy()
        return new

    def step(self, xy: np.ndarray[Any, Any], valid: np.ndarray[Any, Any]) -> int:
        """The state of the new frame ``xy`` ``(J, 2)`` pixels with ``valid`` ``(J,)``."""
        now = np.where(valid[:, None], xy, np.nan).astype(np.float64)
        before = self._recent[-1].copy()
        self._recent[:-1] = self._recent[1:]
        self._recent[-1] = now
        self._steps[:-1] = self._steps[1:]
        self._steps[-1] = np.hypot(now[:, 0] - before[:, 0], now[:, 1] - before[:, 1])
        self._frames += 1
        if self._frames < 2 or not self._model.usable:
            return 0
        if self._frames <= _REFRESH or self._frames % _REFRESH == 0:  # the typical motion
            motion = _column_medians(self._steps)
            floor = _MIN_MOTION * max(_height(self._recent), 1e-9)
            self._scale = self._model.scale(np.maximum(motion, floor))
        total = self._model.table(before[None], now[None], self._scale)[0]
        total += self._cost[:, None]
        cost = total.min(0)
        self._cost = cost - cost.min()  # bounded over a long stream; the same decisions
        return int(self._cost.argmin())


def fix_swaps(keypoints2d: Any, skeleton: str = "coco", *, score_threshold: float = 0.3
              ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Undo left/right label swaps in 2D keypoint sequences (module docstring).

    Args:
        keypoints2d: ``(T, J, 2|3)`` or ``(N, T, J, 2|3)`` pixels of one or N sequences (a
            score last with C=3); NaN marks a missing joint.
        skeleton: the layout (its left/right pairs and joint names).
        score_threshold: joints scoring below this are missing.

    Returns:
        ``(keypoints, swapped)``: the keypoints relabelled (scores move with their joints),
        float64, and ``(..., T, J)`` bool, the joints whose label was changed.

    Raises:
        ValueError: an input that is not a sequence of the skeleton's joints.

    Examples:
        >>> import numpy as np
        >>> kp = np.random.default_rng(1).uniform(0, 500, (5, 17, 3))
        >>> fix_swaps(kp, "coco")[0].shape
        (5, 17, 3)
    """
    sk = get_skeleton(skeleton)
    x = check_array(keypoints2d, "keypoints2d")
    check_real(x, "keypoints2d")
    dims = check_shape(x, "keypoints2d", "(..., T, J, C)", J=sk.num_joints)
    if dims["..."] > 1 or dims["C"] not in (2, 3):
        raise ValueError(f"keypoints2d: expected shape (T, J, 2|3) or (N, T, J, 2|3) with "
                         f"J={sk.num_joints} ({sk.name}), got {tuple(x.shape)}")
    check_positive(score_threshold, "score_threshold", allow_zero=True)
    kp = np.array(x, dtype=np.float64)
    seqs = kp.reshape(-1, *kp.shape[-3:])
    perms = swap_permutations(sk)
    swapped = np.zeros(seqs.shape[:-1], bool)
    for i, seq in enumerate(seqs):
        valid = np.isfinite(seq[..., :2]).all(-1)
        if seq.shape[-1] == 3:
            valid &= seq[..., 2] >= score_threshold
        order = perms[swap_states(seq[..., :2], valid, sk)]  # (T, J)
        seqs[i] = np.take_along_axis(seq, order[..., None], axis=-2)
        swapped[i] = order != np.arange(sk.num_joints)
    return seqs.reshape(kp.shape), swapped.reshape(kp.shape[:-1])
