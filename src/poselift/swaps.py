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
  units of the pair's typical motion per frame (the median over the sequence of the faster
  of its two joints' displacements, at least ``0.002`` of the person's height in pixels),
  capped at :data:`JUMP_CAP` (one outlier costs no more than a jump); a joint seen in only
  one of the two frames costs half the cap (dropping a joint is not a way to explain a
  jump);
- :data:`CHANGE_COST` for any change of state (one cap: a change must explain at least
  one joint's jump, and a change of several parts at once costs no more than one);
- :data:`SWAPPED_COST` per frame and swapped part: the labels as detected win a tie, so the
  state most frames are in is taken as the right one.

The values were chosen on the synthetic wild evaluation (docs/real-world.md, "Left/right
swaps"): on clips without swaps nearly no frame is changed (2 of 23,522 on the rig, none
under correlated jitter), and arms crossing at speed are not taken for swaps (the scale
per pair, not per sequence). Swaps that last for most of a sequence cannot be told from the
rest and stay as they are.

:func:`fix_swaps` is the public function; :class:`poselift.Lifter` runs it on every
sequence (``fix_swaps=True``, the default), before filling gaps.

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

import warnings
from typing import Any

import numpy as np

from poselift._validation import check_array, check_positive, check_real, check_shape
from poselift.skeletons import Skeleton, get_skeleton

__all__ = ["CHANGE_COST", "JUMP_CAP", "SWAPPED_COST", "SWAP_PARTS", "fix_swaps",
           "swap_permutations", "swap_states"]

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

JUMP_CAP = 25.0
"""Largest cost of one joint between two frames: a displacement of 5 typical motions."""

CHANGE_COST = JUMP_CAP
"""Cost of a change of state (any set of parts at once)."""

SWAPPED_COST = 0.01
"""Cost per frame of each part in the swapped state (the tie-break towards the labels as
detected)."""

_MIN_MOTION = 0.002  # the least typical motion per frame, as a fraction of the person's height
_CHUNK = 256  # frames per block of transition tables (2 MB with 32 states)


def _parts(sk: Skeleton) -> list[np.ndarray[Any, Any]]:
    """The joints of each part the skeleton has (left and right), in :data:`SWAP_PARTS` order."""
    flip = sk.flip_indices
    out = []
    for words in SWAP_PARTS.values():
        idx = [i for i, name in enumerate(sk.joints)
               if flip[i] != i and any(w in name for w in words)]
        if idx:
            out.append(np.array(idx))
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

    Examples:
        >>> xy = np.zeros((3, 17, 2)); xy[:, :, 0] = np.arange(17) * 10.0
        >>> swap_states(xy, np.ones((3, 17), bool), "coco").tolist()
        [0, 0, 0]
    """
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    frames = xy.shape[0]
    states = np.zeros(frames, np.int64)
    parts = _parts(sk)
    if frames < 2 or not parts:
        return states
    pts = np.array(xy, dtype=np.float64)  # NaN where missing
    pts[~valid] = np.nan
    seen = valid.any(-1)
    if not seen.any():
        return states
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
        extent = (np.nanmax(pts, axis=1) - np.nanmin(pts, axis=1)).max(-1)
    height = float(np.median(extent[seen]))
    motion = np.zeros(sk.num_joints)  # each joint's median displacement per frame
    for j in range(sk.num_joints):
        step = np.hypot(pts[1:, j, 0] - pts[:-1, j, 0], pts[1:, j, 1] - pts[:-1, j, 1])
        step = step[np.isfinite(step)]
        if step.size:
            motion[j] = np.median(step)
    motion = np.maximum(motion, _MIN_MOTION * max(height, 1e-9))
    flip = np.array(sk.flip_indices)
    count = 1 << len(parts)
    bits = (np.arange(count)[:, None] >> np.arange(len(parts))[None, :]) & 1  # (K, U)
    unary = SWAPPED_COST * bits.sum(1)
    change = CHANGE_COST * (1.0 - np.eye(count))
    back = np.zeros((frames, count), np.int8 if count <= 128 else np.int64)
    cost = unary.astype(np.float64)
    columns = np.arange(count)
    before, now = np.meshgrid(columns, columns, indexing="ij")
    pick = np.zeros((len(parts), 2, 2, count, count))
    for u in range(len(parts)):
        pick[u, bits[before, u], bits[now, u], before, now] = 1.0
    pick = pick.reshape(len(parts) * 4, count * count)
    for a in range(1, frames, _CHUNK):
        b = min(frames, a + _CHUNK)
        table = _transitions(pts, a, b, parts, flip, motion, pick)
        table += change + unary[None, :]
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


def _transitions(pts: np.ndarray[Any, Any], a: int, b: int,
                 parts: list[np.ndarray[Any, Any]], flip: np.ndarray[Any, Any],
                 motion: np.ndarray[Any, Any], pick: np.ndarray[Any, Any]
                 ) -> np.ndarray[Any, Any]:
    """``(b - a, K, K)``: the cost of frames ``t - 1 -> t`` (t in ``[a, b)``) per state pair.

    ``pick``: ``(U * 4, K * K)``, 1 where part u's bit before / now matches the state pair:
    ``table[t, s', s]`` is the sum over parts of their cost for the bits of ``s'`` and ``s``,
    one matrix product for the whole block.
    """
    now, before = pts[a:b], pts[a - 1:b - 1]
    count = int(np.sqrt(pick.shape[1]))
    parts_cost = np.empty((b - a, len(parts), 2, 2))  # per part: (swapped before, now)
    for u, idx in enumerate(parts):
        scale = np.maximum(motion[idx], motion[flip[idx]])
        for prev_swapped in (0, 1):
            p = before[:, flip[idx] if prev_swapped else idx]
            for swapped in (0, 1):
                q = now[:, flip[idx] if swapped else idx]
                with np.errstate(invalid="ignore"):
                    d = np.minimum((np.linalg.norm(q - p, axis=-1) / scale) ** 2, JUMP_CAP)
                seen_q, seen_p = np.isfinite(q[..., 0]), np.isfinite(p[..., 0])
                d = np.where(seen_q & seen_p, d,
                             np.where(seen_q | seen_p, JUMP_CAP / 2, 0.0))
                parts_cost[:, u, prev_swapped, swapped] = d.sum(-1)
    # table[t, s', s] = sum over parts u of parts_cost[t, u, bit u of s', bit u of s]: one
    # product with the 0/1 map from (u, bit before, bit now) to the state pairs
    return (parts_cost.reshape(b - a, -1) @ pick).reshape(b - a, count, count)


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
