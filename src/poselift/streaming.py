"""Lift a live stream, one pose per incoming frame: :class:`StreamingLifter`.

``push(keypoints)`` takes the newest frame of a track, ``(J, 2|3)`` pixels, and returns its
3D pose at once: the model never sees a later frame. What a push returns is defined by
:func:`poselift.lift`: it is **the pose ``lift`` gives for the last frame of the sequence
pushed so far** (with a causal temporal model, or a single-frame one), so the rules are
lift's rules restricted to the past:

- **normalization** through the model's input contract
  (:meth:`~poselift.models.inputs.InputContract.prepare`): for a causal ``"bbox"`` model
  each frame's box scale is the median over the receptive field *ending* at that frame, so
  no frame depends on a later one, and the first frame is repeated before the start (the
  edge padding of the offline computation);
- **missing joints** (NaN or score below ``score_threshold``): ``lift`` interpolates a gap
  linearly between the valid frames around it, which needs the frame after the gap. A
  stream does not have it yet, so a joint missing in the newest frame is **held** at its
  last valid position (``lift``'s rule at the end of a sequence); once it is seen again,
  the frames of the gap that are still in the model's window are interpolated between the
  two valid positions, exactly as ``lift`` would on the sequence so far. A joint never seen
  in the track is given to the model as missing (``(0, 0)``, score 0; models with a score
  channel only). Joints seen before the start of the track's history are held
  indefinitely, however long ago.
- **missing frames** (the person not detected): push an all-NaN frame (or one with every
  score 0); every joint is then held and the track's timing is kept.
- **no pose**: a frame whose valid joints (after holding) span a box of size 0 -- none yet
  in the track, one, or several at one pixel -- gives NaN, as ``lift`` and the exported
  program do for it (the rule of :mod:`poselift.core`, whose
  :class:`~poselift.core.LiftingCore` all three run).
- **errors**: a push that raises records nothing, on any of its tracks.

Several tracks (people) are independent streams, keyed by any hashable ``track_id``; one
``push`` may take a frame of several tracks at once (one forward pass for all of them).

A push costs one forward pass of the network over one receptive field (the strided form of
a temporal model, :meth:`~poselift.models.temporal.TemporalNet.strided_twin`, through
:meth:`poselift.core.LiftingCore.windows`), on one
intra-op thread (:func:`poselift.prediction.small_call_threads`). Only the last
``2 * receptive_field - 1`` frames of a track are kept. The network runs as its inference
copy (:func:`poselift.models.fuse_for_inference`), built on the first push from the weights
the model has then: a lifter runs those weights; make a new one after changing the model's.

``model="default"`` resolves through :data:`DEFAULT_STREAMING_WEIGHTS` (causal SR-TCN
weights); while those are not shipped it falls back to the single-frame default weights
(:data:`poselift.inference.DEFAULT_WEIGHTS`, causal by nature) with a ``UserWarning`` --
never to random weights.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from poselift._array_ops import any_true
from poselift._pipeline import fill_gaps, numpy_view
from poselift._validation import (
    Array,
    check_array,
    check_frames,
    check_image_size,
    check_positive,
    check_real,
    check_shape,
)
from poselift.core import LiftingCore, detected_joints, far_joints
from poselift.inference import DEFAULT_MAX_GAP, DEFAULT_WEIGHTS, WeightsUnavailableError
from poselift.models.inputs import InputContract
from poselift.models.registry import list_weights
from poselift.models.resolve import resolve_model
from poselift.normalization import TYPICAL_EXTENT_PX
from poselift.prediction import small_call_threads
from poselift.skeletons import get_skeleton
from poselift.swaps import SwapFilter, swap_permutations

__all__ = ["DEFAULT_STREAMING_WEIGHTS", "StreamingLifter"]

DEFAULT_STREAMING_WEIGHTS: dict[str, str] = {
    "coco": "sr_tcn.coco-causal",
    "h36m": "sr_tcn.h36m-causal",
}
"""Weights used by ``StreamingLifter(model="default")``, by input skeleton: causal SR-TCNs
(27 frames). Until they are shipped (``poselift.list_weights()``), the single-frame default
weights of :data:`poselift.inference.DEFAULT_WEIGHTS` are used, with a warning."""


def _as_id(track_id: object) -> Hashable:
    """A track id as a plain value: a numpy scalar or a 0-d tensor is its Python number.

    A tensor is hashed by identity (``torch.tensor(3)`` is a new key each time) and a NaN is
    never equal to itself: either way every push would start a new track.

    Raises:
        TypeError: not hashable, or a tensor with more than one value.
        ValueError: NaN.
    """
    if isinstance(track_id, torch.Tensor):
        if track_id.ndim != 0:
            raise TypeError(f"track_id: expected a hashable id, got a tensor of shape "
                            f"{tuple(track_id.shape)}")
        track_id = track_id.item()
    elif isinstance(track_id, np.generic):
        track_id = track_id.item()
    if not isinstance(track_id, Hashable):
        raise TypeError(f"track_id: expected a hashable id for one frame, got "
                        f"{type(track_id).__name__}")
    if isinstance(track_id, float) and track_id != track_id:
        raise ValueError("track_id: NaN is not an id (NaN != NaN: every push would start a "
                         "new track); use a number, a string or another hashable")
    return track_id


class _Track:
    """One track's last ``length`` raw frames and, per joint, its last valid frame before.

    Immutable: :meth:`pushed` gives a new track (sharing the unchanged arrays), so a push
    that raises leaves the kept track as it was.
    """

    def __init__(self, length: int, joints: int, swaps: SwapFilter | None = None) -> None:
        self.swaps = swaps  # the track's left/right labelling (None: kept as detected)
        self.xy = np.full((length, joints, 2), np.nan)
        self.valid = np.zeros((length, joints), bool)
        self.count = 0  # frames pushed
        self.anchor_t = np.full(joints, -1, np.int64)
        self.anchor_xy = np.zeros((joints, 2))

    def pushed(self, xy: np.ndarray[Any, Any], valid: np.ndarray[Any, Any],
               swaps: SwapFilter | None = None) -> _Track:
        """This track with the frame ``xy`` ``(J, 2)`` (NaN where not ``valid``) added.

        ``swaps``: the track's labelling after this frame (a stepped copy of :attr:`swaps`).
        """
        new = _Track.__new__(_Track)
        new.swaps = swaps
        new.xy = np.concatenate((self.xy[1:], xy[None]))
        new.valid = np.concatenate((self.valid[1:], valid[None]))
        new.count = self.count + 1
        new.anchor_t, new.anchor_xy = self.anchor_t, self.anchor_xy
        length = self.valid.shape[0]
        if self.count >= length:  # the oldest frame leaves: keep its valid joints as anchors
            old = self.valid[0]
            if any_true(old):
                new.anchor_t = np.where(old, self.count - length, self.anchor_t)
                new.anchor_xy = np.where(old[:, None], self.xy[0], self.anchor_xy)
        return new

    def filled(self, max_gap: int | None = None
               ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The kept frames with their gaps filled as ``lift`` fills the sequence so far."""
        m = min(self.count, self.valid.shape[0])
        pix = self.xy[-m:].copy()
        frames = np.arange(self.count - m, self.count)
        ok = fill_gaps(pix, self.valid[-m:], frames, before=(self.anchor_t, self.anchor_xy),
                       max_gap=max_gap)
        return pix, ok

    def seen(self) -> np.ndarray[Any, Any]:
        """``(J,)`` the joints valid in some frame of the track so far."""
        out: np.ndarray[Any, Any] = (self.anchor_t >= 0) | self.valid.any(0)
        return out


class StreamingLifter:
    """Lift one frame at a time, at once, without looking ahead (see the module docs).

    Args:
        skeleton: input layout of the pushed keypoints, the model's: ``"coco"`` or
            ``"h36m"``.
        model: ``"default"`` (:data:`DEFAULT_STREAMING_WEIGHTS`, or the single-frame default
            weights while those are not shipped), a weights name, a checkpoint path, or a
            ``torch.nn.Module``: a causal temporal model (``causal=True``) or a single-frame
            model.
        device: torch device for loaded weights (default CPU; a module stays where it is).
        score_threshold: joints scoring below it are missing (default 0.3, as ``lift``).
        image_size: ``(width, height)``, needed by ``"screen"`` models only (``"bbox"``
            models, the shipped ones, do not depend on it).
        flip_test: average with the mirrored input's mirrored prediction (2x the work).
        max_gap: a missing joint is held or interpolated over at most this many frames, as
            :class:`~poselift.Lifter` does (default
            :data:`~poselift.inference.DEFAULT_MAX_GAP`).
        fix_swaps: undo the detector's left/right label swaps, each frame as it arrives
            (:class:`poselift.swaps.SwapFilter`: the causal form of what ``lift`` does over a
            whole sequence; default True).

    Attributes:
        model: the network in use (eval mode).
        weights: the weights name ``model="default"`` resolved to (else None).
        receptive_field: frames the model sees per output (1 for single-frame models).

    Raises:
        ValueError: a model that looks ahead (a centred temporal model), a model of another
            skeleton or output, a ``"screen"`` model without ``image_size``.
        WeightsUnavailableError: ``model="default"`` and no default weights are shipped.

    Examples:
        >>> import numpy as np, poselift
        >>> net = poselift.create_model("sr_tcn", skeleton="coco", in_features=3,
        ...                             input_norm="bbox", causal=True, channels=32,
        ...                             filter_widths=(3, 3))                      # untrained!
        >>> stream = StreamingLifter("coco", net)
        >>> rng = np.random.default_rng(0)
        >>> for frame in rng.uniform(300, 700, (5, 17, 2)):            # one frame at a time
        ...     pose = stream.push(frame)
        >>> pose.shape, pose.dtype
        ((17, 3), dtype('float32'))
        >>> stream.push(rng.uniform(300, 700, (2, 17, 3)), track_id=["ann", "bob"]).shape
        (2, 17, 3)
        >>> sorted(stream.tracks, key=str)
        [0, 'ann', 'bob']
        >>> stream.reset()
    """

    def __init__(
        self,
        skeleton: str = "coco",
        model: str | os.PathLike[str] | nn.Module = "default",
        *,
        device: str | torch.device | None = None,
        score_threshold: float = 0.3,
        image_size: tuple[float, float] | None = None,
        flip_test: bool = False,
        max_gap: int | None = DEFAULT_MAX_GAP,
        fix_swaps: bool = True,
    ) -> None:
        sk = get_skeleton(skeleton).name
        self.max_gap = check_frames(max_gap, "max_gap")
        if not isinstance(fix_swaps, bool):
            raise TypeError(f"fix_swaps: expected True or False, got {fix_swaps!r}")
        self.fix_swaps = fix_swaps
        check_positive(score_threshold, "score_threshold", allow_zero=True)
        if not isinstance(flip_test, bool):
            raise TypeError(f"flip_test: expected True or False, got {flip_test!r}")
        size = check_image_size(image_size)
        self.weights: str | None = None
        if isinstance(model, str) and model == "default":
            if sk not in DEFAULT_STREAMING_WEIGHTS:
                raise ValueError(
                    f"skeleton: model='default' streams {sorted(DEFAULT_STREAMING_WEIGHTS)} "
                    f"keypoints, got {sk!r}; convert a detector's layout first "
                    "(poselift.convert_keypoints) or pass a model of that skeleton")
            net = self._default(sk, device)
        else:
            net = resolve_model(model, device=device)
        contract = InputContract.of(net)
        if contract.skeleton != sk:
            raise ValueError(f"skeleton: the model takes {contract.skeleton!r} keypoints, got "
                             f"skeleton={sk!r}")
        if contract.out_skeleton != "h36m":
            raise ValueError(f"model: expected a model with H36M-17 output, got "
                             f"{contract.out_skeleton!r}")
        if contract.temporal and not contract.causal:
            ahead = contract.receptive_field - 1 - (contract.receptive_field - 1) // 2
            causal = sorted(set(DEFAULT_STREAMING_WEIGHTS.values()) & set(list_weights()))
            raise ValueError(
                f"model: a streaming lifter needs a model that does not look ahead; this "
                f"temporal model's window is centred (it needs {ahead} later frames). Use "
                f"causal weights ({', '.join(map(repr, causal)) or 'none shipped'}, or "
                "model='default'), a causal checkpoint you trained, or single-frame weights")
        if contract.input_norm == "screen" and size is None:
            raise ValueError("image_size: required for a model with input_norm='screen' (a "
                             "stream cannot take one box scale over the whole sequence)")
        if contract.input_norm == "bbox" and sk not in TYPICAL_EXTENT_PX:
            raise ValueError(f"skeleton: bounding-box normalization is calibrated for "
                             f"{sorted(TYPICAL_EXTENT_PX)}, not {sk!r}")
        self._core = LiftingCore(net, score_threshold=score_threshold, image_size=size,
                                 flip_test=flip_test)
        self.model: nn.Module = self._core.model
        self.skeleton = sk
        self.score_threshold = self._core.score_threshold
        self.image_size = size
        self.flip_test = flip_test
        self.receptive_field = contract.receptive_field if contract.temporal else 1
        self._contract = contract
        self._joints = get_skeleton(sk).num_joints
        self._perms = swap_permutations(sk)
        self._length = 2 * self.receptive_field - 1  # the window and its first frame's scale
        self._tracks: dict[Hashable, _Track] = {}
        self._lock = threading.Lock()

    def _default(self, skeleton: str, device: str | torch.device | None) -> nn.Module:
        shipped = list_weights()
        name = DEFAULT_STREAMING_WEIGHTS.get(skeleton)
        if name is None or name not in shipped:
            fallback = DEFAULT_WEIGHTS.get((skeleton, False))
            if fallback is None or fallback not in shipped:
                raise WeightsUnavailableError(
                    f"model='default': no shipped streaming weights for {skeleton!r} input "
                    f"(expected {name!r}, or the single-frame {fallback!r}; shipped weights: "
                    f"{shipped or 'none'}); pass model= a causal model or a checkpoint")
            warnings.warn(
                f"StreamingLifter: the causal temporal weights {name!r} are not shipped in this "
                f"version; using the single-frame weights {fallback!r} (each frame lifted on "
                "its own, less smooth than a temporal model)", UserWarning, stacklevel=3)
            name = fallback
        self.weights = name
        return resolve_model(name, device=device)

    def __repr__(self) -> str:
        model = self.weights or type(self.model).__name__
        return (f"StreamingLifter(skeleton={self.skeleton!r}, model={model!r}, "
                f"receptive_field={self.receptive_field}, tracks={len(self._tracks)})")

    @property
    def tracks(self) -> tuple[Hashable, ...]:
        """The ids of the tracks with state (pushed since their last :meth:`reset`)."""
        return tuple(self._tracks)

    def reset(self, track_id: Hashable | None = None) -> None:
        """Forget every track (``None``) or one track (an unknown id is ignored).

        A track's next push then starts a new sequence (its first frame edge-padded).
        """
        with self._lock:
            if track_id is None:
                self._tracks.clear()
            else:
                self._tracks.pop(_as_id(track_id), None)

    def push(self, keypoints: Array, track_id: Hashable | Sequence[Hashable] = 0) -> Array:
        """Add the newest frame of a track (or of several) and return its 3D pose at once.

        Args:
            keypoints: ``(J, 2)`` pixels of one frame (``(J, 3)``: x, y, score; NaN marks a
                missing joint), or ``(N, J, 2|3)``: one frame of each of N tracks.
            track_id: the track the frame belongs to (any hashable but NaN, default 0; a
                numpy scalar or a 0-d tensor is its number); with ``(N, J, C)`` input, a
                sequence of N distinct ids.

        Returns:
            ``(17, 3)`` (or ``(N, 17, 3)``) H36M-17 joints in metres, camera coordinates,
            pelvis at the origin, float32, the same kind (numpy/torch) as ``keypoints``; NaN
            for a track without a pose yet (see the module docs).

        Raises:
            ValueError / TypeError: bad shapes, values or track ids (nothing is recorded);
                missing joints for a model without a score channel.
        """
        x = check_array(keypoints, "keypoints")
        dims = check_shape(x, "keypoints", "(..., J, C)", J=self._joints)
        if dims["..."] > 1 or dims["C"] not in (2, 3):
            raise ValueError(f"keypoints: expected shape (J, 2|3) for one frame or (N, J, 2|3) "
                             f"for one frame of N tracks, with J={self._joints} "
                             f"({self.skeleton}), got {tuple(x.shape)}")
        check_real(x, "keypoints")
        many = dims["..."] == 1
        ids = self._ids(track_id, x.shape[0] if many else None)
        arr = numpy_view(x).reshape(-1, self._joints, dims["C"]).astype(np.float64)
        xy = arr[..., :2]
        if any_true(np.isinf(xy)):
            raise ValueError("keypoints: expected finite pixel coordinates (NaN marks a "
                             "missing joint), found inf")
        valid = detected_joints(xy, arr[..., 2] if dims["C"] == 3 else None,
                                self.score_threshold)
        far = far_joints(xy, valid)
        if any_true(far):  # one text per set of joints: shown once by Python's default filter
            names = sorted({get_skeleton(self.skeleton).joints[j] for j in np.nonzero(far)[-1]})
            warnings.warn(
                f"keypoints: a joint far from the others ({', '.join(names)}): a detector's "
                "outlier, treated as missing", UserWarning, stacklevel=2)
            valid &= ~far
        with self._lock:
            # new tracks (pushed): a push that raises records nothing, on any of its tracks
            tracks = [self._tracks[i] if i in self._tracks
                      else _Track(self._length, self._joints,
                                  SwapFilter(self.skeleton) if self.fix_swaps else None)
                      for i in ids]
            if not self._contract.has_scores:
                for n, track in enumerate(tracks):
                    seen = track.seen() | valid[n]
                    if seen.any() and not seen.all():
                        raise ValueError(
                            f"keypoints: {int((~seen).sum())} joint(s) of track {ids[n]!r} "
                            f"have not been seen yet (score < {self.score_threshold} or NaN); "
                            "this model has no score channel (in_features=2), so they cannot "
                            "be lifted honestly; use a model with a score channel")
            tracks = [self._pushed(track, f_xy, f_ok)
                      for track, f_xy, f_ok in zip(tracks, xy, valid, strict=True)]
            out = self._lift(tracks)
            self._tracks.update(zip(ids, tracks, strict=True))
        res: np.ndarray[Any, Any] = out if many else out[0]
        if isinstance(x, torch.Tensor):
            return torch.from_numpy(res).to(x.device)
        return res

    def _pushed(self, track: _Track, xy: np.ndarray[Any, Any],
                valid: np.ndarray[Any, Any]) -> _Track:
        """``track`` with the frame added, relabelled by (a stepped copy of) its filter."""
        swaps = None if track.swaps is None else track.swaps.copy()
        if swaps is not None:
            order = self._perms[swaps.step(xy, valid)]
            xy, valid = xy[order], valid[order]
        return track.pushed(np.where(valid[:, None], xy, np.nan), valid, swaps)

    def _ids(self, track_id: object, n: int | None) -> list[Hashable]:
        if n is None:
            return [_as_id(track_id)]
        ids = list(track_id) if isinstance(track_id, Sequence | np.ndarray | torch.Tensor) and \
            not isinstance(track_id, str | bytes) else None
        if ids is None or len(ids) != n or not all(isinstance(i, Hashable) for i in ids):
            raise ValueError(f"track_id: expected a sequence of {n} hashable ids (one per row "
                             f"of keypoints), got {track_id!r}")
        ids = [_as_id(i) for i in ids]
        if len(set(ids)) != n:
            raise ValueError(f"track_id: expected distinct ids (one frame per track and "
                             f"push), got {ids!r}")
        return ids

    def _lift(self, tracks: list[_Track]) -> np.ndarray[Any, Any]:
        """``(N, 17, 3)`` float32: each track's newest frame through the model's window."""
        with small_call_threads(len(tracks)):  # the normalization too (see lift_pixels)
            return self._lift_windows(tracks)

    def _lift_windows(self, tracks: list[_Track]) -> np.ndarray[Any, Any]:
        """:meth:`_lift` inside its thread setting."""
        c, r = self._contract, self.receptive_field
        windows, poses = [], []
        for track in tracks:
            pix, ok = track.filled(self.max_gap)
            inp, pose = self._core.inputs(pix[None], ok[None])  # numpy (tensors: at the net)
            if c.temporal and inp.shape[1] < r:  # the track's first frames: edge-padded
                inp = c.pad(torch.from_numpy(inp))[:, -r:].numpy()
            else:
                inp = inp[:, -r:] if c.temporal else inp[:, -1]
            windows.append(inp)
            poses.append(pose[:, -1])
        if len(windows) > 1:  # (one track: no copy)
            windows, poses = [np.concatenate(windows)], [np.concatenate(poses)]
        out: np.ndarray[Any, Any] = self._core.windows(windows[0], poses[0])
        return out
