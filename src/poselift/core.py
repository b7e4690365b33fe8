"""The lifting core: pixels to metres, in one place, for ``lift``, streaming and export.

:class:`LiftingCore` is an ``nn.Module`` built on a model and its
:class:`~poselift.models.inputs.InputContract`. Everything that turns detector pixels into
root-relative metres is here, once:

1. **validity** (:func:`valid_joints`): a joint is valid when its x, y are finite, its
   score (if any) is at least ``score_threshold`` and it is not far from the frame's other
   valid joints (:func:`far_joints`: a detector's outlier);
2. **the rule for frames without a pose**: a frame whose valid joints span a box of size 0
   -- no valid joint, one, or several at one pixel -- **has no pose: its output is NaN**.
   Its joints enter the model (e.g. the windows of its temporal neighbours) as missing
   (``(0, 0)``, score 0) and it does not count in the sliding median box scale. The rule
   is the same for ``lift`` (any batch size), :class:`~poselift.StreamingLifter` and the
   exported program, since all three call this module;
3. **prepare** (:meth:`~poselift.models.inputs.InputContract.prepare`): normalization,
   missing joints at ``(0, 0)``, the score channel; float32 inputs that overflow are an
   error (eager) -- the exported program has no checks (NaN);
4. **pad** (:meth:`~poselift.models.inputs.InputContract.pad`), the **network**, **flip
   averaging** (:func:`poselift.prediction.run_model`) and **root-relative** output
   (:func:`root_relative`).

The network runs as its **inference copy** (:func:`~poselift.models.fuse_for_inference`:
BatchNorm folded in, dropout removed; the same outputs within float32 rounding, half the
time for one pose), built once per core on first use from the weights the model has when
the core is made (:meth:`LiftingCore.serves` tells whether they are still the model's). The
exported program (:meth:`LiftingCore.forward`) traces the model itself.

Around it, :class:`poselift.Lifter` adds chunking and the interpolation of missing joints
over time (``max_gap``), :class:`poselift.StreamingLifter` its ring buffer of frames; the
exported program (:mod:`poselift.export`) is this module's :meth:`LiftingCore.forward`.

Examples:
    >>> import torch, poselift
    >>> net = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
    ...                             hidden=32)                                  # untrained!
    >>> core = LiftingCore(net)
    >>> kp = torch.rand(3, 17, 3) * 400 + 300                   # x, y, score (all valid)
    >>> kp[1, :, 2] = 0.0                                       # no valid joint: no pose
    >>> y = core(kp)
    >>> y.shape, torch.isnan(y[1]).all().item(), torch.isfinite(y[[0, 2]]).all().item()
    (torch.Size([3, 17, 3]), True, True)
"""

from __future__ import annotations

import copy
import math
import weakref
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import torch
from torch import nn

from poselift._array_ops import NumpyOps, all_true, ops_for
from poselift._validation import all_finite, check_image_size, check_positive
from poselift.models.fuse import fuse_for_inference, is_inference_copy
from poselift.models.inputs import InputContract
from poselift.normalization import box_corners
from poselift.prediction import (
    Place,
    device_and_dtype,
    eval_model,
    predict_checked,
    run_model,
)
from poselift.skeletons import convert_keypoints, get_skeleton

__all__ = ["FAR_JOINT_FACTOR", "FAR_JOINT_MIN_VALID", "LiftingCore", "convert_detected",
           "detected_joints",
           "far_joints", "root_relative", "valid_joints"]


FAR_JOINT_FACTOR = 12.0
"""A valid joint farther from the joints' median position than this many times the upper
quartile of their distances from it is *far* (:func:`far_joints`), treated as missing. On
18,044 real mocap poses (every 25th frame of the 3,076 Bandai mocap clips) seen from 240
views (standing, lying, upside down, from below to nearly overhead, 2 m and 5 m away) no
joint is beyond 7.3 times; a wrist 3000 px from the demo clip's body is beyond 24 times."""

FAR_JOINT_MIN_VALID = 8
"""Fewest valid joints in a frame for :func:`far_joints` to judge it (with fewer, the
quartile of the distances need not measure the body)."""


def far_joints(xy: Any, valid: Any) -> Any:
    """``(..., J)`` bool: valid joints far from the others, a detector's outliers.

    Per frame, among its valid joints: the median position ``m`` (per coordinate) and the
    upper quartile ``q`` of the joints' distances from ``m``. A joint farther than
    :data:`FAR_JOINT_FACTOR` ``x q`` from ``m`` is far: without this rule a wrist detected
    3000 px away sets the box every other joint is normalized by. Frames with fewer than
    :data:`FAR_JOINT_MIN_VALID` valid joints are not judged.

    numpy in, numpy out; torch in, torch out: the same operations, in numpy for numpy
    inputs (on one pose a torch operation's dispatch costs more than its work: ~0.03 ms
    against ~0.3 ms) and in torch for tensors, without data-dependent branches (the
    exported program runs this too). Both give the same result (tested).

    Args:
        xy: ``(..., J, 2)`` pixels (any value, NaN too, where not valid).
        valid: ``(..., J)`` bool.

    Returns:
        ``(..., J)`` bool, a subset of ``valid``.

    Examples:
        >>> import numpy as np
        >>> xy = np.stack([np.arange(17.0) * 10, np.zeros(17)], -1)
        >>> xy[9] = (3000.0, 0.0)
        >>> np.flatnonzero(far_joints(xy, np.ones(17, bool))).tolist()
        [9]
    """
    ops = ops_for(xy)
    x, ok = (xy, np.asarray(valid, dtype=bool)) if ops is NumpyOps else (xy, valid)
    if ops is NumpyOps and all_true(ok):  # every joint valid (most frames): see _far_all_valid
        return _far_all_valid(x, ok)
    # quantiles of the valid entries: NaN elsewhere, sorted last; indices from the count (no
    # data-dependent branch: it traces, and ONNX has no median). Few operations: on one pose
    # their number, not their size, sets the time.
    nan = ops.nan(x)
    n = ops.count(ok)  # (..., 1)
    last = ops.nonnegative(n - 1)  # index of the largest valid entry
    lo = last // 2  # the median: mean of the entries lo and last - lo (numpy's)
    coords = ops.sort(ops.where(ok[..., None, :], x.swapaxes(-1, -2), nan))  # (..., 2, J)
    centre = ops.sum(ops.take(coords, ops.cat([lo, last - lo])[..., None, :])) * 0.5
    del coords  # (numpy: few temporaries of the input's size at a time; lift reads in chunks)
    dist = ops.norm(x - centre[..., None, :])
    # the upper quartile, linear between neighbours (numpy's): index 3 * last / 4
    low = (3 * last) // 4
    pair = ops.take(ops.sort(ops.where(ok, dist, nan)), ops.cat([low, (3 * last + 3) // 4]))
    below, above = pair[..., :1], pair[..., 1:]
    quartile = below + (above - below) * ops.cast(3 * last - 4 * low, x) * 0.25
    return ok & (n >= FAR_JOINT_MIN_VALID) & (dist > FAR_JOINT_FACTOR * quartile)


def _far_all_valid(x: np.ndarray[Any, Any], ok: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """:func:`far_joints` in numpy when every joint is valid: the same arithmetic.

    The count is the number of joints, so the ranks of the median and of the quartile's
    neighbours are Python ints: no masking and no gathers (half the operations of the
    general form on one pose; tested to agree with it).
    """
    n = x.shape[-2]
    if n < FAR_JOINT_MIN_VALID:
        return np.zeros_like(ok)
    last = n - 1
    lo, low = last // 2, (3 * last) // 4
    coords = np.sort(x.swapaxes(-1, -2))  # (..., 2, J)
    centre = (coords[..., lo] + coords[..., last - lo]) * 0.5
    dist = NumpyOps.norm(x - centre[..., None, :])
    ranked = np.sort(dist)
    high = (3 * last + 3) // 4
    below, above = ranked[..., low : low + 1], ranked[..., high : high + 1]
    quartile = below + (above - below) * x.dtype.type(3 * last - 4 * low) * 0.25
    far: np.ndarray[Any, Any] = dist > FAR_JOINT_FACTOR * quartile
    return far


def valid_joints(xy: Any, scores: Any, threshold: float) -> Any:
    """``(..., J)`` bool: finite x, y, (with ``scores``) a score ``>= threshold`` and not far.

    numpy in, numpy out; torch in, torch out. A NaN score is below every threshold. A joint
    far from the others (:func:`far_joints`) is not valid: it is missing, as if undetected.

    Examples:
        >>> import numpy as np
        >>> xy = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 4.0]])
        >>> valid_joints(xy, np.array([0.9, 0.9, 0.1]), 0.3).tolist()
        [True, False, False]
    """
    ok = detected_joints(xy, scores, threshold)
    return ok & ~far_joints(xy, ok)


def detected_joints(xy: Any, scores: Any, threshold: float) -> Any:
    """``(..., J)`` bool: finite x, y and (with ``scores``) a score ``>= threshold``.

    :func:`valid_joints` before the rule on far joints.

    Examples:
        >>> import numpy as np
        >>> detected_joints(np.array([[1.0, 2.0], [np.nan, 0.0]]), None, 0.3).tolist()
        [True, False]
    """
    if isinstance(xy, torch.Tensor):
        ok = torch.isfinite(xy).all(-1)
        return ok if scores is None else ok & (scores >= threshold)
    ok = np.isfinite(xy).all(-1)
    if scores is not None:
        ok &= np.asarray(scores) >= threshold
    return ok


_COPIES: weakref.WeakKeyDictionary[
    nn.Module, tuple[_Weights, dict[str, tuple[nn.Module, Place | None]]]] = (
    weakref.WeakKeyDictionary())
"""Inference copies per module (and the weights they were built from), while it lives."""


class _Weights:
    """What a model's outputs depend on, as found when a core was made, and a cheap re-check.

    Every submodule (and its mode), every entry of their parameter, buffer and submodule
    tables (by identity: a replaced parameter or submodule is seen), each tensor's version
    counter (in-place changes: optimizer steps, ``load_state_dict``) and data pointer
    (``.to()``, ``p.data = ...``). The tensors are kept alive so that their ids stay unique:
    while the tables hold the same objects, the tensors to re-check are the ones kept.
    """

    def __init__(self, model: nn.Module) -> None:
        modules, stack = [], [model]
        while stack:
            m = stack.pop()
            modules.append(m)
            stack += [c for c in m._modules.values() if c is not None]
        self.modules = modules
        self.tables = [t for m in modules for t in (m._parameters, m._buffers) if t]
        self.children = [m._modules for m in modules if m._modules]
        self.entries = self._entries()
        tables: list[dict[str, Any]] = self.tables
        self.tensors: list[torch.Tensor] = [
            t for t in chain.from_iterable(map(dict.values, tables)) if t is not None]
        self.state = self._state()

    def _entries(self) -> tuple[list[int], list[int]]:
        """The ids of the tables' entries (None too) and of the submodules."""
        # map over C-level getters: this runs on every small call (~90 tensors)
        tables: list[dict[str, Any]] = self.tables
        children: list[dict[str, Any]] = self.children
        return (list(map(id, chain.from_iterable(map(dict.values, tables)))),
                list(map(id, chain.from_iterable(map(dict.values, children)))))

    def _state(self) -> tuple[list[int], list[int]]:
        """The kept tensors' version counters and data pointers."""
        return list(map(_VERSION, self.tensors)), list(map(_DATA_PTR, self.tensors))

    def unchanged(self) -> bool:
        """Whether every submodule is in eval mode and nothing above changed."""
        return (not any(map(_TRAINING, self.modules)) and self._entries() == self.entries
                and self._state() == self.state)


_VERSION = attrgetter("_version")
_DATA_PTR = torch.Tensor.data_ptr  # the method itself: mapped without a lookup per tensor
_TRAINING = attrgetter("training")


def convert_detected(xy: np.ndarray[Any, Any], sc: np.ndarray[Any, Any] | None, *, src: str,
                     dst: str, threshold: float) -> np.ndarray[Any, Any]:
    """``(..., J_src, 2)`` pixels -> ``(..., J_dst, 2)`` by joint name, NaN where missing.

    How ``lift`` converts a detector's layout to its model's: joints below ``threshold`` (or
    NaN) are invisible to the conversion recipes, so a built joint (e.g. the pelvis from the
    hips) only uses joints that ``lift`` would use. Far joints are judged afterwards, in the
    model's layout.

    Examples:
        >>> xy = np.arange(34.0).reshape(17, 2)
        >>> convert_detected(xy, None, src="coco", dst="h36m", threshold=0.3).shape
        (17, 2)
    """
    vis = detected_joints(xy, sc, threshold)
    packed = np.concatenate([np.where(vis[..., None], xy, np.nan), vis[..., None]], axis=-1)
    out = np.asarray(convert_keypoints(packed, src, dst))
    converted: np.ndarray[Any, Any] = np.where(out[..., 2:] > 0, out[..., :2], np.nan)
    return converted


def root_relative(poses: Any, skeleton: str) -> Any:
    """``(..., J, 3)`` poses with the skeleton's root joint moved to the origin.

    numpy in, numpy out; torch in, torch out (the same subtraction).

    Examples:
        >>> import torch
        >>> root_relative(torch.ones(17, 3), "h36m").abs().sum().item()
        0.0
    """
    root = get_skeleton(skeleton).root
    return poses - poses[..., root : root + 1, :]


def _tensor(x: Any) -> torch.Tensor:
    """Model inputs as a tensor (numpy ones shared, not copied: at the network only)."""
    return torch.from_numpy(x) if isinstance(x, np.ndarray) else x


class LiftingCore(nn.Module):
    """Pixels to root-relative metres with one model (see the module docs).

    Args:
        model: a lifting model (e.g. :func:`poselift.create_model`), run in eval mode (a
            model in training mode is copied, never switched).
        score_threshold: joints scoring below it are missing (default 0.3, as ``lift``).
        image_size: ``(width, height)`` for ``"screen"`` models; without it they take one
            box scale per sequence. Ignored by ``"bbox"`` models.
        flip_test: average with the mirrored input's mirrored prediction.

    Shapes (:meth:`forward`, the exported program): single-frame ``(B, J, 3)`` ->
    ``(B, 17, 3)``; temporal ``(B, T, J, 3)`` -> ``(B, T, 17, 3)``; pixels with the score
    last.
    """

    def __init__(self, model: nn.Module, *, score_threshold: float = 0.3,
                 image_size: tuple[float, float] | None = None,
                 flip_test: bool = False) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        check_positive(score_threshold, "score_threshold", allow_zero=True)
        if not isinstance(flip_test, bool):
            raise TypeError(f"flip_test: expected True or False, got {flip_test!r}")
        self.image_size = check_image_size(image_size)
        self.contract = InputContract.of(model)
        self.model = eval_model(model)
        self.score_threshold = float(score_threshold)
        self.flip_test = flip_test
        # the inference copies, built on first use; a plain dict: not submodules (export)
        # the copies are shared by every core of the same module with the same weights: a
        # resolved model (one object per file) is fused once per process, not once per
        # `poselift.lift` call; so is the record of those weights (the same module, the same
        # weights: one check a call, not a new record)
        shared = _COPIES.get(self.model)
        if shared is not None and shared[0].unchanged():
            self._weights, self._copies = shared
        else:
            self._weights, self._copies = _Weights(self.model), {}
            _COPIES[self.model] = (self._weights, self._copies)

    def serves(self, model: nn.Module) -> bool:
        """Whether this core runs ``model`` as it is now.

        The same module, in eval mode, with the weights it had when the core was made (no
        parameter or buffer replaced, moved or changed in place since: version counters).

        Callers keeping a core between calls (:class:`poselift.Lifter`) make a new one
        otherwise.

        Examples:
            >>> import torch, poselift
            >>> net = poselift.create_model("sr", hidden=32).eval()
            >>> core = LiftingCore(net)
            >>> core.serves(net)
            True
            >>> with torch.no_grad():
            ...     _ = net.head.op.bias.add_(1.0)
            >>> core.serves(net)
            False
        """
        return model is self.model and self._weights.unchanged()

    def with_image_size(self, image_size: tuple[float, float] | None) -> LiftingCore:
        """This core for another ``image_size``, sharing its inference copies.

        Examples:
            >>> import poselift
            >>> core = LiftingCore(poselift.create_model("sr", hidden=32).eval())
            >>> core.with_image_size((640, 480)).image_size
            (640.0, 480.0)
        """
        other = copy.copy(self)  # shares the model, its weights record and the copies
        other.image_size = check_image_size(image_size)
        return other

    def _inference(self, windows: bool = False) -> nn.Module:
        """The model's inference copy (``windows``: its strided twin's), built once."""
        return self._copy(windows)[0]

    def _copy(self, windows: bool = False) -> tuple[nn.Module, Place | None]:
        """:meth:`_inference` and, for a copy of the core's own, its device and dtype.

        A copy the core built is never moved, so its place is found once; a model run as it
        is (one that :func:`~poselift.models.fuse_for_inference` returns unchanged) is
        looked at on every call (None).
        """
        key = "windows" if windows and self.contract.temporal else "frames"
        built = self._copies.get(key)
        if built is None:
            make_twin = getattr(self.model, "strided_twin", None)
            if key == "windows" and callable(make_twin) and not is_inference_copy(self.model):
                net = fuse_for_inference(make_twin())
            else:  # (an inference copy given as the model: its windows run dilated)
                net = fuse_for_inference(self.model)
            built = self._copies[key] = (net, None if net is self.model else
                                         device_and_dtype(net))
        return built

    # --- the pieces (Lifter's chunks, StreamingLifter's windows) ----------------------------
    def inputs(self, xy: Any, valid: Any) -> tuple[Any, Any]:
        """Pixels and validity -> float32 model inputs and which frames have a pose.

        Args:
            xy: ``(S, T, J, 2)`` pixels (numpy or torch; missing joints any finite value).
            valid: ``(S, T, J)`` bool.

        Returns:
            ``(S, T, J, C)`` float32 model inputs and ``(S, T)`` bool: the frame has a pose
            (its valid joints span a box of positive size). numpy for numpy ``xy`` (``lift``
            and :class:`~poselift.StreamingLifter`: tensors only at the network), torch for
            tensors.

        Raises:
            ValueError: inputs that do not normalize to finite float32 (eager only).
        """
        # numpy in (lift, StreamingLifter): numpy operations up to the float32 inputs (on one
        # pose fewer microseconds than torch's); tensors (the exported program): torch
        ops = ops_for(xy)
        ok = valid
        if isinstance(valid, np.ndarray) and all_true(valid):  # a clean pose: no mask
            ok = None
        lo, hi = box_corners(xy, ok)  # found once: the rule below and the normalization
        pose = ops.amax(hi - lo)
        pose = (pose > 0) & (pose < float("inf"))
        if isinstance(pose, torch.Tensor) or not all_true(pose):  # (tensors: no data branch)
            # frames without a pose: every joint missing, so no box either
            has = pose[..., None]
            ok = ops.expand_as(has, xy[..., 0]) if ok is None else ok & has
            lo, hi = ops.where(has, lo, float("inf")), ops.where(has, hi, -float("inf"))
        norm = self.contract.prepare(xy, ok, image_size=self.image_size, check=False,
                                     corners=(lo, hi))
        # float32: inf where it overflows, refused just below (numpy: cast and checked in
        # numpy, fewer microseconds; the check is all_finite's, one sum)
        inp: Any
        if isinstance(norm, np.ndarray):
            with np.errstate(over="ignore", invalid="ignore"):
                inp = norm.astype(np.float32)
                finite = math.isfinite(np.add.reduce(inp, None))
        else:
            inp = norm.float()
            finite = torch.compiler.is_compiling() or all_finite(inp)
        if not finite:
            kept = xy if ok is None else xy[ok]
            biggest = float(abs(kept).max()) if math.prod(kept.shape) else 0.0
            raise ValueError(
                "keypoints2d: the normalized keypoints are not finite in float32; expected "
                "pixel coordinates of a plausible magnitude (largest |coordinate| "
                f"{biggest:.3g})")
        return inp, pose

    def outputs(self, inp: Any, pose: Any, *, batch_size: int = 4096,
                padded: bool = False) -> Any:
        """Model inputs -> root-relative poses, NaN for frames without a pose.

        Args:
            inp: ``(S, T, J, C)`` from :meth:`inputs` (``padded``: with the receptive
                field's context, ``T + R - 1`` frames).
            pose: ``(S, T')`` which output frames have a pose.
            batch_size: output frames per forward pass.
            padded: temporal models: ``inp`` holds the context (no edge padding added).

        Returns:
            ``(S, T', J_out, 3)`` float32 on the CPU, numpy for a numpy ``pose`` (see
            :meth:`inputs`), else torch.

        Raises:
            ValueError: the model gives NaN/inf for finite inputs (e.g. NaN weights).
        """
        c = self.contract
        if not c.temporal:  # frames one by one (_finish gives them pose's shape again)
            inp = inp.reshape(-1, *inp.shape[-2:])
        net, place = self._copy()
        with torch.inference_mode():  # faster than no_grad; the caller copies the result out
            y = predict_checked(net, c, _tensor(inp), batch_size=batch_size,
                                flip_test=self.flip_test, padded=padded, place=place)
        return self._finish(y, pose, inp)

    def windows(self, inp: Any, pose: Any) -> Any:
        """``(N, R, J, C)`` windows (``(N, J, C)`` frames) -> ``(N, J_out, 3)`` last-frame poses.

        Temporal models run their strided form
        (:meth:`~poselift.models.temporal.TemporalNet.strided_twin`; its inference copy,
        built once). ``pose``: ``(N,)``. numpy or torch, as :meth:`outputs`.
        """
        net, place = self._copy(windows=True)
        with torch.inference_mode():
            y = run_model(net, self.contract, _tensor(inp), flip_test=self.flip_test,
                          place=place)
        if self.contract.temporal:
            y = y[:, -1]
        return self._finish(y.cpu(), pose, inp)

    def _finish(self, y: torch.Tensor, pose: Any, inp: Any) -> Any:
        """Network outputs -> root-relative poses, NaN without a pose; the check of ``y``.

        The poses ``(*pose.shape, J_out, 3)``; numpy for a numpy ``pose`` (fewer
        microseconds on a few poses), else torch.
        """
        y = y if y.dtype == torch.float32 else y.float()
        if isinstance(pose, np.ndarray):
            out = y.numpy().reshape(*pose.shape, *y.shape[-2:])
            with np.errstate(over="ignore", invalid="ignore"):  # (all_finite's check)
                finite = math.isfinite(np.add.reduce(out, None))
            if finite:
                out = root_relative(out, self.contract.out_skeleton)  # a new array
                if not all_true(pose):
                    out[~pose] = np.nan
                return out
        elif all_finite(y):
            y = root_relative(y.reshape(*pose.shape, *y.shape[-2:]), self.contract.out_skeleton)
            if bool(pose.all()):
                return y
            return y.masked_fill(~pose.reshape(*pose.shape, 1, 1), float("nan"))
        # the model gave NaN/inf
        bad = int((~torch.isfinite(y)).sum())
        biggest = float(abs(inp).max())
        cause = ("inputs of an implausible magnitude (a keypoint far outside the body's box?)"
                 if biggest > 1e3 else "its weights may hold NaN/inf (a diverged training "
                 "run?)")
        raise ValueError(
            f"model: gave {bad} NaN/inf output value(s) for finite inputs (largest |model "
            f"input| {biggest:.3g}); {cause}")

    # --- the whole program (export) ----------------------------------------------------------
    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Pixels ``(B, [T,] J, 3)`` -> root-relative metres ``(B, [T,] 17, 3)``.

        No interpolation over time: a temporal program sees each missing joint as missing
        in its frame (fill gaps beforehand to match ``lift``).
        """
        xy, score = keypoints[..., :2], keypoints[..., 2]
        valid = valid_joints(xy, score, self.score_threshold)
        xy = torch.where(valid.unsqueeze(-1), xy, torch.zeros((), dtype=xy.dtype))
        c = self.contract
        if not c.temporal:
            xy, valid = xy.unsqueeze(1), valid.unsqueeze(1)
        inp, pose = self.inputs(xy, valid)
        if c.temporal:
            y = run_model(self.model, c, c.pad(inp), flip_test=self.flip_test)
        else:
            y = run_model(self.model, c, inp[:, 0], flip_test=self.flip_test)
            pose = pose[:, 0]
        y = root_relative(y, c.out_skeleton)
        return torch.where(pose.reshape(*pose.shape, 1, 1), y,
                           torch.full((), float("nan"), dtype=y.dtype))
