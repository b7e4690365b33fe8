"""Pixels to poses in bounded memory: the body of :meth:`poselift.Lifter.lift` (private module).

:func:`lift_pixels` runs ``lift``'s rules (docs/inference.md) chunk by chunk, so that no
array of the whole input is ever made in float64 or as model inputs; only the ``(..., J)``
validity mask (one byte per joint) and the float32 output are whole:

1. **validity**: a joint is missing when its coordinates are NaN or its score is below the
   threshold (read chunk by chunk from the caller's array, in its own dtype);
2. **gaps** (:func:`fill_gaps`): in a sequence each missing joint is linearly interpolated
   over time between the frames where it is valid, the nearest valid frame repeated at the
   ends. Linear interpolation only needs the two valid frames around a gap, so a chunk is
   filled exactly as the whole sequence would be from its own frames plus, per joint, the
   last valid frame before it and the first after it ("anchors", found once per sequence);
3. **normalization** (:meth:`~poselift.models.inputs.InputContract.prepare`): the sliding
   median box scale of a frame depends on the frames within half (causal: all) of the
   receptive field, so each chunk is normalized with that much context on both sides;
4. **prediction** (:func:`poselift.prediction.predict_checked`) of each chunk with the receptive
   field's context frames; outputs outside the chunk are dropped.

Every step is local, so chunked results equal whole-sequence results (tested). The one
non-local rule, one box scale per sequence (``"screen"`` models without ``image_size``), runs
each sequence whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from poselift._array_ops import any_true
from poselift.core import LiftingCore, detected_joints, far_joints
from poselift.models.inputs import InputContract
from poselift.prediction import small_call_threads
from poselift.progress import ProgressBar
from poselift.skeletons import get_skeleton
from poselift.swaps import SWAP_SEGMENT, swap_permutations, swap_states

__all__ = ["Convert", "fill_gaps", "lift_pixels", "numpy_view"]

_MASK_CHUNK = 8192

Convert = Callable[[np.ndarray[Any, Any], np.ndarray[Any, Any] | None], np.ndarray[Any, Any]]
"""``(xy (..., J_src, 2) float64, scores (..., J_src) | None) -> (..., J, 2)`` pixels of the
model's layout, NaN where missing (a detector layout converted by joint name, chunk by
chunk)."""


def numpy_view(x: np.ndarray[Any, Any] | torch.Tensor) -> np.ndarray[Any, Any]:
    """The values of ``x`` as numpy, without copying when they already are on the CPU.

    Examples:
        >>> import torch
        >>> t = torch.zeros(3)
        >>> numpy_view(t).base is not None or numpy_view(t).size == 3
        True
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        try:
            return t.numpy()
        except TypeError:  # a dtype numpy lacks (bfloat16): float32
            return t.float().numpy()
    return np.asarray(x)


def fill_gaps(
    xy: np.ndarray[Any, Any],
    valid: np.ndarray[Any, Any],
    frames: np.ndarray[Any, Any],
    before: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None,
    after: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None,
    max_gap: int | None = None,
) -> np.ndarray[Any, Any]:
    """In place: linearly interpolate the missing joints of ``L`` frames of one sequence.

    Args:
        xy: ``(L, J, 2)`` float64 pixels; missing entries are overwritten.
        valid: ``(L, J)`` bool, the joints present.
        frames: ``(L,)`` the frames' indices in the sequence (increasing).
        before: ``(t (J,), xy (J, 2))``: per joint the last valid frame before these
            (``t = -1``: none), or None.
        after: the same for the first valid frame after them.
        max_gap: fill only gaps of at most this many frames between two valid frames, and at
            the ends of the sequence only frames at most this far from the nearest valid
            frame; longer gaps stay missing. None: every gap.

    Returns:
        ``(L, J)`` bool: the joints present after filling (a joint with no valid frame in
        ``frames`` nor an anchor, or in a gap longer than ``max_gap``, stays missing).

    Examples:
        >>> import numpy as np
        >>> xy = np.zeros((3, 1, 2)); xy[0, 0] = 10.0; xy[2, 0] = 20.0
        >>> ok = fill_gaps(xy, np.array([[True], [False], [True]]), np.arange(3))
        >>> xy[1, 0].tolist(), bool(ok.all())
        ([15.0, 15.0], True)
        >>> fill_gaps(xy, np.array([[True], [False], [True]]), np.arange(3), max_gap=0)[1, 0]
        np.False_
    """
    out = valid.copy()
    for j in np.flatnonzero(~valid.all(0)):
        ok = valid[:, j]
        xp, fp = frames[ok], xy[ok, j]
        if before is not None and before[0][j] >= 0:
            xp, fp = np.concatenate((before[0][j : j + 1], xp)), np.concatenate(
                (before[1][j : j + 1], fp))
        if after is not None and after[0][j] >= 0:
            xp, fp = np.concatenate((xp, after[0][j : j + 1])), np.concatenate(
                (fp, after[1][j : j + 1]))
        if len(xp) == 0:
            continue
        todo = ~ok
        if max_gap is not None:
            f = frames[todo]
            k = np.searchsorted(xp, f)
            prev = np.where(k > 0, xp[np.maximum(k - 1, 0)], -1)
            nxt = np.where(k < len(xp), xp[np.minimum(k, len(xp) - 1)], -1)
            short = np.where((prev >= 0) & (nxt >= 0), nxt - prev - 1 <= max_gap,
                             np.where(prev >= 0, f - prev <= max_gap, nxt - f <= max_gap))
            todo = todo.copy()
            todo[np.flatnonzero(todo)[~short]] = False
        at = frames[todo]
        for c in range(2):
            xy[todo, j, c] = np.interp(at, xp, fp[:, c])
        out[todo, j] = True
    return out


class _Reader:
    """Frames of the caller's array as float64 pixels of the model's layout, and validity."""

    def __init__(self, xy: np.ndarray[Any, Any], sc: np.ndarray[Any, Any] | None,
                 threshold: float, convert: Convert | None) -> None:
        self.xy, self.sc, self.threshold, self.convert = xy, sc, threshold, convert
        self.far: np.ndarray[Any, Any] | None = None  # (J,) frames with joint j far
        self.far_frames = 0  # frames with some far joint
        # sequences with their left/right swaps undone (:mod:`poselift.swaps`): the state of
        # each frame, indexed like the frames, and the relabelling of each state
        self.states: np.ndarray[Any, Any] | None = None
        self.perms: np.ndarray[Any, Any] | None = None

    def __call__(self, index: Any, count: bool = False
                 ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Pixels and validity (:func:`poselift.core.valid_joints`) of the frames ``index``.

        ``count``: add their far joints (:func:`poselift.core.far_joints`) to :attr:`far`.
        """
        xy = np.array(self.xy[index], dtype=np.float64)  # a copy: gaps are filled in place
        sc = None if self.sc is None else np.asarray(self.sc[index], dtype=np.float64)
        if self.convert is not None:
            xy, sc = self.convert(xy, sc), None
        ok = np.asarray(detected_joints(xy, sc, self.threshold))
        far = np.asarray(far_joints(xy, ok))
        if count and any_true(far):  # (none: nothing to count, the usual case)
            rows = far.reshape(-1, far.shape[-1])
            self.far = rows.sum(0) if self.far is None else self.far + rows.sum(0)
            self.far_frames += int(rows.any(-1).sum())
        ok = ok & ~far
        if self.states is not None and self.perms is not None:
            states = self.states[index]
            if states.any():
                order = self.perms[states]  # (..., J): the joint each label takes
                xy = np.take_along_axis(xy, order[..., None], axis=-2)
                ok = np.take_along_axis(ok, order, axis=-1)
        return xy, ok


def _anchors(valid: np.ndarray[Any, Any], starts: np.ndarray[Any, Any],
             ends: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Per range and joint, the valid frames around ``[starts, ends)`` (-1: none).

    The last valid frame before ``starts`` and the first at or after ``ends``, from one
    sequence's ``(T, J)`` validity.
    """
    prev = np.full((len(starts), valid.shape[1]), -1, np.int64)
    nxt = np.full_like(prev, -1)
    for j in np.flatnonzero(~valid.all(0) & valid.any(0)):
        idx = np.flatnonzero(valid[:, j])
        p = np.searchsorted(idx, starts)
        prev[:, j] = np.where(p > 0, idx[np.maximum(p - 1, 0)], -1)
        n = np.searchsorted(idx, ends)
        nxt[:, j] = np.where(n < len(idx), idx[np.minimum(n, len(idx) - 1)], -1)
    return prev, nxt


def _anchor_values(read: _Reader, s: int, t: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``(J, 2)`` pixels of joint j at frame ``t[j]`` of sequence s (zeros where ``t < 0``)."""
    out = np.zeros((len(t), 2))
    js = np.flatnonzero(t >= 0)
    if len(js):
        frames, inverse = np.unique(t[js], return_inverse=True)
        xy, _ = read((s, frames))
        out[js] = xy[inverse, js]
    return out


def lift_pixels(
    core: LiftingCore,
    xy: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any] | None,
    *,
    sequences: bool,
    batch_size: int,
    progress: bool | None,
    progress_min_frames: int,
    convert: Convert | None = None,
    max_gap: int | None = None,
    on_far: Callable[[int, np.ndarray[Any, Any]], None] | None = None,
    fix_swaps: bool = False,
) -> np.ndarray[Any, Any]:
    """Lift pixels to root-relative poses following ``lift``'s rules, chunk by chunk.

    Args:
        core: the lifting core (model, contract, score threshold, image size, flip test).
        xy: ``(S, T, J_src, 2)`` sequences (``sequences=True``) or ``(N, J_src, 2)`` frames
            lifted independently; any real dtype, not copied as a whole.
        scores: ``(S, T, J_src)`` / ``(N, J_src)`` or None.
        sequences: interpolate missing joints over time (sequences) or not (frames).
        batch_size: output frames per chunk (and forward pass).
        progress: progress bar (None: for inputs of ``progress_min_frames`` or more).
        progress_min_frames: see ``progress``.
        convert: maps the caller's layout to the model's (see :data:`Convert`).
        max_gap: sequences: interpolate only gaps of at most this many frames (models with a
            score channel get longer gaps as missing joints); None: every gap.
        on_far: called once, before lifting, when some joint is far from the others
            (:func:`poselift.core.far_joints`: treated as missing), with the number of frames
            that have one and ``(J,)`` per joint the number of frames where it is far.
        fix_swaps: sequences: undo left/right label swaps (:mod:`poselift.swaps`) before
            filling gaps, each sequence in pieces of at most
            :data:`poselift.swaps.SWAP_SEGMENT` frames.

    Returns:
        ``(S, T, J_out, 3)`` / ``(N, J_out, 3)`` float32 numpy, pelvis at the origin; NaN for
        frames without a pose (:mod:`poselift.core`).

    Raises:
        ValueError: missing joints for a model without a score channel, inputs that do not
            normalize to finite float32, or a model giving NaN/inf.
    """
    contract = core.contract
    read = _Reader(xy, scores, core.score_threshold, convert)
    lead = xy.shape[:2] if sequences else xy.shape[:1]
    joints = get_skeleton(contract.skeleton).num_joints
    valid = np.empty((*lead, joints), bool)
    flat = math.prod(lead)
    frames_read = None
    for s in range(lead[0] if sequences else 1):  # the mask, in chunks of frames
        length = lead[-1] if sequences else flat
        for a in range(0, length, _MASK_CHUNK):
            b = min(length, a + _MASK_CHUNK)
            where = (s, slice(a, b)) if sequences else slice(a, b)
            frames_read = read(where, count=True)
            valid[where] = frames_read[1]
    if on_far is not None and read.far is not None and read.far_frames:
        on_far(read.far_frames, read.far)
    _check_valid(valid, sequences, core.score_threshold, contract)
    if sequences and fix_swaps:
        _find_swaps(read, valid, contract.skeleton)
    if sequences or flat > min(batch_size, _MASK_CHUNK):
        frames_read = None  # else one chunk of frames (a few poses): read once, not twice

    out_joints = get_skeleton(contract.out_skeleton).num_joints
    show = progress if progress is not None else flat >= progress_min_frames
    if frames_read is not None and not show:  # a few poses: no copy into a whole output
        pix, ok = frames_read
        # one thread for the normalization too: waking a second one for a reduction over a
        # few joints cost more than the whole network pass (~0.1 ms)
        with small_call_threads(flat):
            few: np.ndarray[Any, Any] = _run(core, pix[:, None], ok[:, None], batch_size)[:, 0]
            return few
    out = torch.empty(*lead, out_joints, 3).numpy()  # (torch's allocator, as the network's)
    with ProgressBar(flat, "lifting", unit="frame", enabled=show) as bar:
        if not sequences:
            for a in range(0, flat, batch_size):
                b = min(flat, a + batch_size)
                pix, ok = read(slice(a, b))
                out[a:b] = _run(core, pix[:, None], ok[:, None], batch_size)[:, 0]
                bar.update(b - a)
            return out
        n_seq, frames = lead
        whole = contract.input_norm == "screen" and core.image_size is None  # one scale/sequence
        if frames <= batch_size or whole:
            per = max(1, batch_size // frames)
            for s in range(0, n_seq, per):
                e = min(n_seq, s + per)
                pix, ok = read(slice(s, e))
                for i in range(e - s):
                    ok[i] = fill_gaps(pix[i], ok[i], np.arange(frames), max_gap=max_gap)
                out[s:e] = _run(core, pix, ok, batch_size)
                bar.update((e - s) * frames)
            return out
        for s in range(n_seq):
            _lift_long(read, s, valid[s], core, batch_size, out[s], bar, max_gap)
    return out


def _context(contract: InputContract) -> tuple[int, int, int, int]:
    """Frames of context a chunk needs: (model left, model right, scale left, scale right)."""
    if not contract.temporal:
        return 0, 0, 0, 0
    r = contract.receptive_field
    left = r - 1 if contract.causal else (r - 1) // 2
    scale = contract.input_norm == "bbox" and r > 1
    return left, r - 1 - left, left if scale else 0, r - 1 - left if scale else 0


def _find_swaps(read: _Reader, valid: np.ndarray[Any, Any], skeleton: str) -> None:
    """Each sequence's left/right swaps, for ``read`` to undo; ``valid`` relabelled in place."""
    perms = swap_permutations(skeleton)
    read.states = np.zeros(valid.shape[:2], np.int64)
    for s in range(valid.shape[0]):
        for a in range(0, valid.shape[1], SWAP_SEGMENT):
            b = min(valid.shape[1], a + SWAP_SEGMENT)
            pix, ok = read((s, slice(a, b)))
            states = swap_states(pix, ok, skeleton)
            if states.any():
                read.states[s, a:b] = states
                valid[s, a:b] = np.take_along_axis(valid[s, a:b], perms[states], axis=-1)
    read.perms = perms


def _lift_long(read: _Reader, s: int, valid: np.ndarray[Any, Any], core: LiftingCore,
               batch_size: int, out: np.ndarray[Any, Any], bar: ProgressBar,
               max_gap: int | None = None) -> None:
    """One long sequence in chunks of ``batch_size`` output frames, each with its context.

    Output frames ``[o0, o1)`` take model inputs ``[o0 - left, o1 + right)`` (edge copies
    beyond the sequence, as :meth:`~poselift.models.inputs.InputContract.pad` makes them),
    whose box scales take frames ``[i0 - sl, i1 + sr)``, whose gaps take the anchors.
    """
    frames = valid.shape[0]
    contract = core.contract
    left, right, sl, sr = _context(contract)
    o0 = np.arange(0, frames, batch_size)
    o1 = np.minimum(o0 + batch_size, frames)
    i0, i1 = np.maximum(o0 - left, 0), np.minimum(o1 + right, frames)
    f0, f1 = np.maximum(i0 - sl, 0), np.minimum(i1 + sr, frames)
    prev, nxt = _anchors(valid, f0, f1)
    for c in range(len(o0)):
        a, b = int(f0[c]), int(f1[c])
        pix, ok = read((s, slice(a, b)))
        ok = fill_gaps(pix, ok, np.arange(a, b), (prev[c], _anchor_values(read, s, prev[c])),
                       (nxt[c], _anchor_values(read, s, nxt[c])), max_gap)
        inp, pose = core.inputs(pix[None], ok[None])
        inp = inp[:, int(i0[c]) - a : int(i1[c]) - a]
        pose = pose[:, int(o0[c]) - a : int(o1[c]) - a]
        missing = (left - int(o0[c] - i0[c]), right - int(i1[c] - o1[c]))  # at the ends
        if any(missing):
            full = contract.pad(torch.from_numpy(inp))  # (left, right) edge copies: keep the
            # missing ones
            inp = full[:, left - missing[0] : full.shape[1] - (right - missing[1])]
        out[o0[c] : o1[c]] = core.outputs(inp, pose, batch_size=int(o1[c] - o0[c]),
                                          padded=contract.temporal)[0]
        bar.update(int(o1[c] - o0[c]))


def _run(core: LiftingCore, pix: np.ndarray[Any, Any], ok: np.ndarray[Any, Any],
         batch_size: int) -> np.ndarray[Any, Any]:
    """``(S, T, J, 2)`` filled pixels -> ``(S, T, J_out, 3)`` root-relative poses."""
    inp, pose = core.inputs(pix, ok)
    poses: np.ndarray[Any, Any] = core.outputs(inp, pose, batch_size=batch_size)
    return poses


def _check_valid(valid: np.ndarray[Any, Any], sequences: bool, threshold: float,
                 contract: InputContract) -> None:
    """``lift``'s error about missing joints for a model without a score channel.

    Counted in the frames that have a pose: sequences with some valid joint (a joint never
    valid in such a sequence), single frames with at least two valid joints. Frames without
    a pose are NaN (:mod:`poselift.core`), not an error.
    """
    if contract.has_scores:
        return
    if sequences:
        seen: np.ndarray[Any, Any] = np.asarray(valid.any(1))  # (S, J): seen in the sequence
        missing = int((~seen[seen.any(-1)]).sum()) * valid.shape[1]
    else:
        lifted = valid.sum(-1) >= 2
        missing = int((~valid[lifted]).sum())
    if missing:
        never = " and never visible in their sequence" if sequences else ""
        raise ValueError(
            f"keypoints2d: {missing} joint(s) are missing (score < {threshold}, NaN or far from "
            f"the other joints){never}"
            "; this model has no score channel (in_features=2), so they cannot be lifted "
            "honestly; use a model trained with a score channel or provide the joints"
        )
