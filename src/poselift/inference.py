"""Lift 2D keypoints from a detector to metric 3D poses: :func:`lift` and :class:`Lifter`.

Input: pixels, ``(J, 2)`` (one pose), ``(T, J, 2)`` (a sequence) or ``(N, T, J, 2)``
(several sequences), numpy or torch, optionally ``(..., J, 3)`` with a score last. Output:
``(..., 17, 3)`` H36M-17 joints in metres, camera coordinates, pelvis at the origin, the same
kind (numpy/torch, device) as the input.

Rules (see docs/inference.md):

- **Model choice.** A single pose goes through a single-frame model; a sequence through a
  temporal model with edge padding (one output pose per input frame), unless
  ``temporal=False`` (frames lifted independently). ``model="default"`` resolves to the
  shipped weights for the input skeleton (:data:`DEFAULT_WEIGHTS`); if they are not
  shipped, a :class:`WeightsUnavailableError` says which are missing. Random weights are
  never used implicitly.
- **Detector layouts** (``skeleton="body_25"``, ...) are converted by joint name to the
  skeleton of the model that runs (:func:`default_model_skeleton` for ``"default"``); joints
  below the score threshold are missing before the conversion. ``coco`` and ``h36m``
  keypoints are never converted into each other.
- **Normalization** follows the model's ``config["input_norm"]``
  (:mod:`poselift.normalization`). ``"bbox"`` models (the shipped weights) always get
  :func:`~poselift.normalization.normalize_bbox`: each frame's box of valid keypoints centred,
  its larger side scaled to :data:`TYPICAL_EXTENT_PX` in a virtual 1000 x 1000 image, as in
  training: per frame for single-frame models, and for temporal models the median over a
  window of their receptive field, centred (causal models: ending at the frame; training
  used one scale per window);
  ``image_size`` is then not needed (it is validated but does not change the result).
  ``"screen"`` models get :func:`poselift.camera.normalize_screen` with ``image_size``, or,
  with ``image_size=None``, bounding-box normalization with one scale per sequence.
- **Missing joints** (score ``< score_threshold`` or NaN coordinates): in sequences each
  joint is linearly interpolated over time (nearest valid frame at the edges); a joint never
  visible in a sequence, and missing joints of single frames, are given to the model as
  ``(0, 0)`` with score 0 -- exactly the training representation of dropped joints -- which
  requires a model with a score channel (``in_features=3``); otherwise a ``ValueError`` is
  raised. Missing joints are never silently replaced by ``(0, 0)``.
- **Frames without a pose** (fewer than two distinct valid joints after interpolation) are
  NaN, with a ``UserWarning``: the rule of :mod:`poselift.core`, the same in
  :class:`poselift.StreamingLifter` and the exported program, at any ``batch_size``.
- **Memory.** Long inputs run in chunks of ``batch_size`` output frames, preprocessing
  included (:mod:`poselift._pipeline`): no float64 copy of the whole input, the same result.
  One frame at a time, without look-ahead: :class:`poselift.StreamingLifter`.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from typing_extensions import TypedDict, Unpack

from poselift._array_ops import any_true
from poselift._pipeline import lift_pixels, numpy_view
from poselift._validation import (
    Array,
    check_array,
    check_frames,
    check_image_size,
    check_positive,
    check_real,
    check_shape,
    is_int,
)
from poselift.absolute import DEFAULT_SMOOTHING
from poselift.core import FAR_JOINT_FACTOR, LiftingCore, convert_detected
from poselift.keypoint_checks import inspect_keypoints
from poselift.lift_result import LiftResult, absolute_result, check_absolute
from poselift.metrics import FAR_FROM_PELVIS
from poselift.models.blend import blend_spec
from poselift.models.inputs import InputContract
from poselift.models.registry import list_weights
from poselift.models.resolve import resolve_device, resolve_model
from poselift.normalization import TYPICAL_EXTENT_PX, VIRTUAL_IMAGE_SIZE
from poselift.skeletons import get_skeleton

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_MODEL_SKELETON",
    "DEFAULT_WEIGHTS",
    "MIN_TEMPORAL_FRAMES",
    "PROGRESS_MIN_FRAMES",
    "TYPICAL_EXTENT_PX",
    "VIRTUAL_IMAGE_SIZE",
    "LiftArguments",
    "LiftOptions",
    "Lifter",
    "WeightsUnavailableError",
    "default_model_skeleton",
    "lift",
    "lift_full",
]

DEFAULT_WEIGHTS: dict[tuple[str, bool], str] = {
    ("coco", False): "sr.coco",
    ("coco", True): "sr_tcn.coco+sr.coco",
    ("h36m", False): "sr.h36m",
    ("h36m", True): "sr_tcn.h36m+sr.h36m",
}
"""Weights used by ``model="default"``, by (input skeleton, temporal). Sequences go through
the temporal and the single-frame weights averaged (``"a+b"``, :mod:`poselift.models.blend`):
better than either alone on the synthetic wild evaluation (docs/weights.md)."""

DEFAULT_MODEL_SKELETON: dict[str, str] = {
    "body_25": "coco",
    "body_25b": "h36m",
    "coco_18": "coco",
    "halpe_26": "h36m",
    "mediapipe_pose": "coco",
}
"""For ``model="default"``: the model skeleton (a skeleton of :data:`DEFAULT_WEIGHTS`) that
keypoints of each detector layout are converted to. Chosen by measurement
(``tools/layout_routes.py``, docs/detectors.md): the lower mean MPJPE over four test
conditions and both model kinds on held-out mocap rendered as each layout
(``runs/layout-routes.json``): layouts with a real head top (BODY_25B, HALPE-26) go through
the H36M weights, the others through the COCO weights. Other layouts:
:func:`default_model_skeleton`."""

DEFAULT_MAX_GAP: int | None = None
"""Longest gap (frames) of a missing joint that ``lift`` fills by interpolation in sequences,
for models with a score channel; longer gaps reach the model as missing joints, as in its
training (docs/inference.md). None: every gap."""

MIN_TEMPORAL_FRAMES = 2
"""With ``model="default"`` and ``temporal=None``, sequences shorter than this are lifted frame
by frame with the single-frame weights. Measured on the synthetic wild evaluation (rig and
detector noise, P1 test clips cut into pieces of L frames, P-MPJPE-13): at L = 1 the
single-frame weights are better (26.8 vs 27.1 mm on the rig, 38.2 vs 39.9 with noise); from
L = 2 the default blend is level or better under noise (35.9 vs 38.5), and from L = 9 on the
rig as well (docs/inference.md)."""

PROGRESS_MIN_FRAMES = 20_000
"""With ``progress=None``, inputs of at least this many frames show a progress bar."""


class LiftOptions(TypedDict, total=False):
    """The per-call keyword arguments of :meth:`Lifter.lift`, defined once.

    :func:`lift`, :meth:`Lifter.lift_full` and :func:`lift_full` take them as they are
    (their defaults and meaning: :func:`lift`).
    """

    skeleton: str
    image_size: tuple[int, int] | None
    scores: Array | None
    temporal: bool | None
    intrinsics: object
    root: str
    height: float | None
    extrinsics: object


class LiftArguments(LiftOptions, total=False):
    """:class:`LiftOptions` and the :class:`Lifter` settings: every keyword of :func:`lift`."""

    model: str | os.PathLike[str] | nn.Module
    device: str | torch.device | None
    batch_size: int
    score_threshold: float
    flip_test: bool
    max_gap: int | None
    fix_swaps: bool


_ABSOLUTE = ("intrinsics", "root", "height", "extrinsics")
_LIFTER = ("model", "device", "batch_size", "score_threshold", "flip_test", "max_gap",
           "fix_swaps")


class WeightsUnavailableError(LookupError):
    """The requested pretrained weights are not shipped with this version of poselift."""


def default_model_skeleton(skeleton: str) -> str:
    """The input skeleton of the model ``model="default"`` runs for keypoints in ``skeleton``.

    A skeleton of :data:`DEFAULT_WEIGHTS` (``"coco"``, ``"h36m"``) is its own; a detector
    layout maps by :data:`DEFAULT_MODEL_SKELETON`; any other registered layout goes to the
    model skeleton that shares the most joint names with it (ties: the first in sorted
    order). :meth:`Lifter.lift` converts the keypoints to it by joint name
    (:func:`poselift.convert_keypoints`).

    Args:
        skeleton: a registered layout name, e.g. ``"body_25"``.

    Returns:
        A model skeleton name, e.g. ``"coco"``.

    Raises:
        ValueError: ``skeleton`` is not registered.

    Examples:
        >>> default_model_skeleton("coco"), default_model_skeleton("mpi_inf_3dhp")
        ('coco', 'h36m')
        >>> default_model_skeleton("body_25") in ("coco", "h36m")
        True
    """
    name = get_skeleton(skeleton).name
    models = sorted({s for s, _ in DEFAULT_WEIGHTS})
    if name in models:
        return name
    if name in DEFAULT_MODEL_SKELETON:
        return DEFAULT_MODEL_SKELETON[name]
    joints = set(get_skeleton(name).joints)
    return max(models, key=lambda m: (len(joints & set(get_skeleton(m).joints)), -models.index(m)))


def _warn_far(joints: Sequence[str], frames: int, per_joint: np.ndarray[Any, Any]) -> None:
    """``lift``'s warning about joints far from the others (treated as missing)."""
    order = np.argsort(-per_joint, kind="stable")
    named = ", ".join(f"{joints[j]} in {int(per_joint[j])}" for j in order if per_joint[j])
    warnings.warn(
        f"keypoints2d: {frames} frame(s) have a joint far from the others (more than "
        f"{FAR_JOINT_FACTOR:g} times the upper quartile of the joints' distances from their "
        f"median position; {named}): a detector's outlier, treated as missing",
        UserWarning, stacklevel=5)


def _warn_poses(square: np.ndarray[Any, Any], threshold: float) -> None:
    """``lift``'s warnings about its output: frames without a pose, joints far from the pelvis.

    ``square``: ``(..., 17)`` each joint's squared distance from the pelvis (NaN: no pose).
    """
    top = np.maximum.reduce(square, -1)  # (...,) per frame, NaN if any
    nan = np.isnan(top)
    if nan.any():
        warnings.warn(
            f"keypoints2d: {int(nan.sum())} frame(s) without a pose (fewer than two distinct "
            f"valid joints, score < {threshold} or NaN, after interpolation): their poses are "
            "NaN", UserWarning, stacklevel=4)
    far = np.sqrt(top, out=top) > FAR_FROM_PELVIS
    if far.any():
        warnings.warn(
            f"poses: {int(far.sum())} of {far.size} lifted frame(s) have a joint more than "
            f"{FAR_FROM_PELVIS:g} m from the pelvis: not a human pose; the input is probably "
            f"outside what the model was trained on (check the layout and the missing joints, "
            f"or try temporal=False)", UserWarning, stacklevel=4)


def _unmasked(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A masked array's values with its masked entries as NaN.

    A masked coordinate or score makes its joint missing.
    """
    mask = np.ma.getmaskarray(x)
    data = np.ma.getdata(x).astype(np.result_type(x.dtype, np.float32))
    data[mask] = np.nan
    out: np.ndarray[Any, Any] = data
    return out


def _resolve(model: object, skeleton: str, temporal: bool, device: torch.device
             ) -> nn.Module:
    """``Lifter``'s model: ``"default"`` by (skeleton, temporal), else :func:`resolve_model`."""
    if isinstance(model, str) and model == "default":
        shipped = list_weights()
        name = DEFAULT_WEIGHTS.get((skeleton, temporal))
        kind = "temporal" if temporal else "single-frame"
        parts = (name,) if name is None else blend_spec(name) or (name,)
        if any(part not in shipped for part in parts):
            raise WeightsUnavailableError(
                f"model='default': no shipped {kind} weights for {skeleton!r} input (expected "
                f"{name!r}; shipped weights: {shipped or 'none'}). Pretrained weights are not "
                "part of this version; pass model= a checkpoint path or a torch.nn.Module"
            )
        model = name
    if not isinstance(model, str | os.PathLike | nn.Module):
        raise TypeError(
            f"model: expected 'default', a weights name, a checkpoint path or a torch.nn.Module, "
            f"got {type(model).__name__}"
        )
    return resolve_model(model, device=device)


class Lifter:
    """Reusable lifter: resolves and caches the model, then lifts keypoints with :meth:`lift`.

    Args:
        model: ``"default"`` (shipped weights chosen by skeleton and single/temporal), a name
            from :func:`poselift.list_weights`, a checkpoint path (:func:`poselift.save_model`)
            or a ``torch.nn.Module`` from :func:`poselift.create_model`.
        device: torch device to run on (default CPU; a given module stays where it is).
        batch_size: frames per forward pass.
        score_threshold: joints with a score below this are treated as missing.
        flip_test: average with the prediction for the mirrored input (mirrored back), as in
            the paper's evaluation: about 3x the time for ~0.7-0.8 mm lower MPJPE with the
            shipped COCO weights (P1, every 10th test clip) (default False).
        progress: show a progress bar (stderr) while lifting (default ``False``); ``None``:
            only for inputs of at least :data:`PROGRESS_MIN_FRAMES` frames (the CLI's choice).
        max_gap: in sequences, a missing joint is interpolated over a gap of at most this
            many frames; longer gaps reach a model with a score channel as missing joints,
            which it was trained on (default :data:`DEFAULT_MAX_GAP`; None: every gap).
        fix_swaps: in sequences, undo the detector's left/right label swaps (a body part's
            left and right joints exchanged for a run of frames) before filling gaps, found
            from continuity over time (:func:`poselift.swaps.fix_swaps`; default True; single
            poses and ``temporal=False`` lifts of independent frames are unchanged).

    Loaded models are shared through :func:`poselift.models.resolve.resolve_model`'s cache
    (per file version and device; ``clear_model_cache()`` empties it).

    Examples:
        >>> import numpy as np, torch, poselift
        >>> net = poselift.create_model("sr", skeleton="coco", hidden=64)  # untrained!
        >>> lifter = Lifter(net)
        >>> kp = np.random.default_rng(0).uniform(300, 700, (17, 2))     # one COCO pose, px
        >>> lifter.lift(kp, skeleton="coco").shape
        (17, 3)
        >>> lifter.lift(torch.zeros(10, 17, 2) + torch.arange(17.0)[:, None],
        ...             skeleton="coco").shape
        torch.Size([10, 17, 3])
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | nn.Module = "default",
        *,
        device: str | torch.device | None = None,
        batch_size: int = 4096,
        score_threshold: float = 0.3,
        flip_test: bool = False,
        progress: bool | None = False,
        max_gap: int | None = DEFAULT_MAX_GAP,
        fix_swaps: bool = True,
    ) -> None:
        if not is_int(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        check_positive(score_threshold, "score_threshold", allow_zero=True)
        if not isinstance(model, str | os.PathLike | nn.Module):
            raise TypeError(
                f"model: expected 'default', a weights name, a checkpoint path or a "
                f"torch.nn.Module, got {type(model).__name__}"
            )
        self.model = model
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.score_threshold = float(score_threshold)
        if not isinstance(flip_test, bool):
            raise TypeError(f"flip_test: expected True or False, got {flip_test!r}")
        self.flip_test = flip_test
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress: expected None, True or False, got {progress!r}")
        self.progress = progress
        self.max_gap = check_frames(max_gap, "max_gap")
        if not isinstance(fix_swaps, bool):
            raise TypeError(f"fix_swaps: expected True or False, got {fix_swaps!r}")
        self.fix_swaps = fix_swaps
        self._cores: tuple[nn.Module, tuple[float, float] | None, LiftingCore] | None = None

    def __repr__(self) -> str:
        model = self.model if not isinstance(self.model, nn.Module) else type(self.model).__name__
        return (f"Lifter(model={model!r}, device={str(self.device)!r}, "
                f"batch_size={self.batch_size}, score_threshold={self.score_threshold}, "
                f"flip_test={self.flip_test})")

    def model_for(self, skeleton: str, temporal: bool) -> nn.Module:
        """The (loaded, cached) network used for ``skeleton`` input, sequence or single frames.

        With ``model="default"`` a detector layout gets the weights of its
        :func:`default_model_skeleton` (its keypoints are converted to that skeleton).

        Examples:
            >>> import poselift
            >>> Lifter(poselift.create_model("sr", hidden=32)).model_for("h36m", False).config[
            ...     "name"]
            'sr'
        """
        return _resolve(self.model, default_model_skeleton(skeleton), temporal, self.device)

    def lift(
        self,
        keypoints2d: Array,
        *,
        skeleton: str = "coco",
        image_size: tuple[int, int] | None = None,
        scores: Array | None = None,
        temporal: bool | None = None,
        intrinsics: object = None,
        root: str = "pelvis",
        height: float | None = None,
        extrinsics: object = None,
    ) -> Array:
        """Lift 2D keypoints in pixels to 3D H36M-17 poses (see :func:`lift`).

        Examples:
            >>> import numpy as np, poselift
            >>> net = poselift.create_model("sr_tcn", skeleton="coco", channels=32,
            ...                             filter_widths=(3, 3))                 # untrained!
            >>> kp = np.random.default_rng(0).uniform(300, 700, (2, 20, 17, 2))
            >>> Lifter(net).lift(kp, skeleton="coco", image_size=(1000, 1000)).shape
            (2, 20, 17, 3)
        """
        options = check_absolute(intrinsics=intrinsics, root=root, height=height,
                                 extrinsics=extrinsics)
        relative = self._relative(keypoints2d, skeleton, image_size, scores, temporal)
        if options.plain:
            return relative
        return absolute_result(relative, keypoints2d, skeleton=skeleton, options=options,
                               scores=scores, score_threshold=self.score_threshold,
                               rarity=False, fix_swaps=self.fix_swaps,
                               swaps_layout=self._model_layout(skeleton)).poses

    def _model_layout(self, skeleton: str) -> str:
        """The skeleton ``lift`` converts ``skeleton`` keypoints to (the model's input)."""
        if isinstance(self.model, str) and self.model == "default":
            return default_model_skeleton(skeleton)
        return InputContract.of(self.model_for(skeleton, False)).skeleton

    def _core(self, net: nn.Module, size: tuple[float, float] | None) -> LiftingCore:
        """The lifting core of ``net``, kept while it serves ``net`` as it is (small calls)."""
        kept = self._cores
        if kept is not None and kept[2].serves(net):
            if kept[1] == size:
                return kept[2]
            core = kept[2].with_image_size(size)  # the same inference copy
        else:
            core = LiftingCore(net, score_threshold=self.score_threshold, image_size=size,
                               flip_test=self.flip_test)
        self._cores = (net, size, core) if core.model is net else None
        return core

    def _relative(self, keypoints2d: Array, skeleton: str,
                  image_size: tuple[int, int] | None, scores: Array | None,
                  temporal: bool | None) -> Array:
        """The root-relative poses of :meth:`lift` (what the network gives)."""
        x = check_array(keypoints2d, "keypoints2d")
        if isinstance(x, np.ma.MaskedArray):  # masked joints are missing joints
            x = _unmasked(x)
        if isinstance(scores, np.ma.MaskedArray):
            scores = _unmasked(scores)
        sk = get_skeleton(skeleton)
        dims = check_shape(x, "keypoints2d", "(..., J, C)", J=sk.num_joints)
        lead, chans = dims["..."], dims["C"]
        if lead > 2 or chans not in (2, 3):
            raise ValueError(
                f"keypoints2d: expected shape (J, 2), (T, J, 2) or (N, T, J, 2) pixels (or "
                f"C=3 with a score last) with J={sk.num_joints} ({sk.name}), got "
                f"{tuple(x.shape)}"
            )
        check_real(x, "keypoints2d")
        arr = numpy_view(x)  # the caller's values in their dtype: no copy of the whole input
        xy = arr[..., :2]
        sc: np.ndarray[Any, Any] | None = arr[..., 2] if chans == 3 else None
        if scores is not None:
            if chans == 3:
                raise ValueError("scores: given twice, as keypoints2d[..., 2] and as scores=")
            s = check_array(scores, "scores")
            check_real(s, "scores", allow_bool=True)
            check_shape(s, "scores", "(..., J)", J=sk.num_joints)
            if tuple(s.shape) != tuple(x.shape[:-1]):
                raise ValueError(f"scores: expected shape {tuple(x.shape[:-1])} (keypoints2d "
                                 f"without its last axis), got {tuple(s.shape)}")
            sc = numpy_view(s)
        if any_true(np.isinf(xy)):
            raise ValueError("keypoints2d: expected finite pixel coordinates (NaN marks a "
                             "missing joint), found inf")
        size = check_image_size(image_size)
        if xy.size:
            inspect_keypoints(xy, sc, sk, sequences=lead > 0 and temporal is not False,
                              threshold=self.score_threshold,
                              scores_name="scores" if scores is not None else
                              "keypoints2d[..., 2]")
        if temporal is not None and not isinstance(temporal, bool):
            raise TypeError(f"temporal: expected None, True or False, got {temporal!r}")
        if temporal and lead == 0:
            raise ValueError("temporal: True needs a sequence (T, J, 2) or (N, T, J, 2), got a "
                             f"single pose of shape {tuple(x.shape)}")
        seq = lead > 0 if temporal is None else temporal
        if temporal is None and seq and xy.shape[-3] < MIN_TEMPORAL_FRAMES and \
                isinstance(self.model, str) and self.model == "default":
            seq = False  # too short for the temporal weights to help (MIN_TEMPORAL_FRAMES)

        net = self.model_for(sk.name, seq)
        core = self._core(net, size)  # kept between calls: the model's contract, its copy
        contract = core.contract
        convert = None
        if contract.skeleton != sk.name:
            if sk.name in {s for s, _ in DEFAULT_WEIGHTS}:  # a model layout: never converted
                raise ValueError(f"skeleton: the model takes {contract.skeleton!r} keypoints, "
                                 f"got skeleton={sk.name!r}")
            # a detector layout: converted by joint name to what the model takes, chunk by
            # chunk (_pipeline reads the caller's array in its own dtype)
            convert = functools.partial(convert_detected, src=sk.name, dst=contract.skeleton,
                                        threshold=self.score_threshold)
            sk = get_skeleton(contract.skeleton)
        if contract.out_skeleton != "h36m":
            raise ValueError(f"model: expected a model with H36M-17 output, got "
                             f"{contract.out_skeleton!r}")
        if contract.temporal and not seq:
            raise ValueError("model: a temporal model needs sequences; pass temporal=None/True "
                             "with (T, J, 2) input, or a single-frame model")

        # chunk by chunk (_pipeline): S sequences of T frames, or N independent frames
        shape = xy.shape[:-1]
        if xy.size == 0:  # no pose at all: the empty result of the right shape
            empty = torch.zeros(*shape[:-1], get_skeleton(contract.out_skeleton).num_joints, 3)
            return empty.to(x.device) if isinstance(x, torch.Tensor) else empty.numpy()
        if (size is None or contract.input_norm == "bbox") and \
                sk.name not in TYPICAL_EXTENT_PX:
            raise ValueError(f"image_size: required for skeleton {sk.name!r} (bounding-box "
                             f"normalization is calibrated for {sorted(TYPICAL_EXTENT_PX)})")
        xs = xy.reshape(-1, *xy.shape[-3:]) if seq else xy.reshape(-1, *xy.shape[-2:])
        out = lift_pixels(core, xs, None if sc is None else sc.reshape(xs.shape[:-1]),
                          sequences=seq, batch_size=self.batch_size, progress=self.progress,
                          progress_min_frames=PROGRESS_MIN_FRAMES, convert=convert,
                          max_gap=self.max_gap if contract.has_scores else None,
                          on_far=functools.partial(_warn_far, sk.joints),
                          fix_swaps=self.fix_swaps)
        result = out.reshape(*shape[:-1], *out.shape[-2:])
        # the checks of the output, in numpy (fewer microseconds) without a temporary of the
        # output's size: the poses are root-relative (LiftingCore), so each joint's distance
        # from the pelvis is its norm; a NaN coordinate makes its joint's square NaN
        square = np.einsum("...jc,...jc->...j", out, out)  # (..., 17)
        # the largest square (NaN if any: np.maximum propagates it); sqrt is monotonic, so
        # its root is the largest distance: one reduction when all is well
        if not math.sqrt(np.maximum.reduce(square, None)) <= FAR_FROM_PELVIS:
            _warn_poses(square, self.score_threshold)
        if isinstance(x, torch.Tensor):
            return torch.from_numpy(result).to(x.device)
        return result

    def lift_full(self, keypoints2d: Array, *, rarity: bool = True,
                  smoothing: float | None = DEFAULT_SMOOTHING,
                  **options: Unpack[LiftOptions]) -> LiftResult:
        """:meth:`lift` + :func:`~poselift.lift_result.to_absolute` (see :func:`lift_full`).

        ``options``: :meth:`lift`'s keyword arguments (:class:`LiftOptions`).

        Examples:
            >>> import numpy as np, poselift, torch
            >>> _ = torch.manual_seed(0)  # untrained weights that do not depend on the order
            >>> net = poselift.create_model("sr", skeleton="coco", hidden=32)    # untrained!
            >>> kp = np.random.default_rng(0).uniform(300, 700, (5, 17, 2))
            >>> res = Lifter(net).lift_full(kp, intrinsics=(1000, 1000, 500, 500))
            >>> res.poses.shape, res.trajectory.shape, res.rarity.occurrence.shape
            ((5, 17, 3), (5, 3), (5,))
        """
        if not isinstance(rarity, bool):
            raise TypeError(f"rarity: expected True or False, got {rarity!r}")
        call: dict[str, Any] = dict(options)
        absolute = {k: call.pop(k) for k in _ABSOLUTE if k in call}
        checked = check_absolute(**absolute, smoothing=smoothing)  # before any lifting
        relative = self.lift(keypoints2d, **call)
        return absolute_result(relative, keypoints2d, skeleton=call.get("skeleton", "coco"),
                               options=checked, scores=call.get("scores"),
                               score_threshold=self.score_threshold, rarity=rarity,
                               fix_swaps=self.fix_swaps,
                               swaps_layout=self._model_layout(call.get("skeleton", "coco")))


def lift(
    keypoints2d: Array,
    *,
    model: str | os.PathLike[str] | nn.Module = "default",
    device: str | torch.device | None = None,
    batch_size: int = 4096,
    score_threshold: float = 0.3,
    flip_test: bool = False,
    max_gap: int | None = DEFAULT_MAX_GAP,
    fix_swaps: bool = True,
    **options: Unpack[LiftOptions],
) -> Array:
    """Lift 2D keypoints (pixels) from any detector to metric 3D H36M-17 poses.

    Args:
        keypoints2d: ``(J, 2)`` one pose, ``(T, J, 2)`` a sequence or ``(N, T, J, 2)``
            sequences, pixels, numpy or torch; ``(..., J, 3)`` means a score last. NaN
            coordinates mark missing joints.
        skeleton: input layout (``J`` must match): ``"coco"``, ``"h36m"``, or a detector's
            (``"body_25"``, ``"body_25b"``, ``"coco_18"``, ``"halpe_26"``,
            ``"mediapipe_pose"``, any registered skeleton), converted by joint name to the
            skeleton the model takes (:func:`default_model_skeleton` for ``"default"``).
        image_size: ``(width, height)`` of the image the keypoints come from; ``None``
            normalizes from the keypoints' bounding box (see module docs).
        scores: ``(..., J)`` detection scores (alternative to a third channel).
        model: ``"default"``, a weights name, a checkpoint path or a ``torch.nn.Module``.
        device: torch device (default CPU).
        batch_size: frames per forward pass.
        temporal: ``None``: sequences use a temporal model; ``False``: lift every frame of
            a ``(T, J, 2)`` / ``(N, T, J, 2)`` input independently.
        score_threshold: joints scoring below it are missing.
        flip_test: average with the mirrored input's mirrored prediction (default False;
            see :class:`Lifter`).
        intrinsics: the camera's ``(3, 3)`` K or ``(fx, fy, cx, cy)`` in pixels (keypoints
            undistorted); with it the root trajectory is solved (docs/absolute.md).
        root: ``"pelvis"`` (default: pelvis at the origin), ``"camera"`` (absolute camera
            coordinates, needs ``intrinsics``) or ``"world"`` (needs ``extrinsics`` too).
        height: the person's standing height in metres (floor to the top of the head);
            rescales the poses to it. Default: the network's output unchanged, or
            :data:`poselift.absolute.DEFAULT_HEIGHT` (1.70 m) when ``intrinsics`` or a root
            other than ``"pelvis"`` is given.
        extrinsics: world-to-camera ``[R | t]`` (``(4, 4)``, ``(3, 4)``, ``(R, t)``), for
            ``root="world"``.
        max_gap: longest gap of a missing joint (frames) interpolated in sequences (see
            :class:`Lifter`).
        fix_swaps: undo left/right label swaps in sequences (default True; see
            :class:`Lifter`).

    Returns:
        ``(..., 17, 3)`` H36M-17 joints in metres, camera coordinates (x right, y down,
        z forward), pelvis at the origin (``root="pelvis"``), or absolute camera or world
        coordinates; same leading shape and kind as ``keypoints2d``.

    Raises:
        WeightsUnavailableError: ``model="default"`` and the weights are not shipped.
        ValueError / TypeError: bad shapes or values (the message names the argument), or
            missing joints with a model without a score channel.

    Examples:
        >>> import numpy as np, poselift
        >>> net = poselift.create_model("sr", skeleton="coco", hidden=64)   # untrained!
        >>> kp = np.random.default_rng(0).uniform(300, 700, (17, 3))
        >>> lift(kp[:, :2], skeleton="coco", model=net).shape
        (17, 3)
        >>> lift(kp[:, :2], skeleton="coco").shape      # the shipped sr.coco weights
        (17, 3)
    """
    lifter = Lifter(model, device=device, batch_size=batch_size,
                    score_threshold=score_threshold, flip_test=flip_test, max_gap=max_gap,
                    fix_swaps=fix_swaps)
    return lifter.lift(keypoints2d, **options)


def lift_full(keypoints2d: Array, *, rarity: bool = True,
              smoothing: float | None = DEFAULT_SMOOTHING,
              **arguments: Unpack[LiftArguments]) -> LiftResult:
    """Like :func:`lift`, returning the poses with their trajectory, scale and rarity.

    ``lift_full(kp, **arguments)`` is ``to_absolute(lift(kp, **arguments), kp, ...)``
    (:func:`poselift.lift_result.to_absolute`).

    Args:
        keypoints2d: see :func:`lift`.
        rarity: also score how rare each lifted pose is among the training poses
            (:func:`poselift.rarity_flag.pose_rarity`; about 0.25 ms per pose).
        smoothing: trajectory smoothing, metres per frame^2
            (:func:`poselift.absolute.smooth_trajectory`), ``None`` = per-frame solutions.
        **arguments: every keyword argument of :func:`lift` (:class:`LiftArguments`);
            without ``intrinsics`` there is no trajectory.

    Returns:
        A :class:`~poselift.lift_result.LiftResult`: ``poses`` (what :func:`lift` returns),
        ``trajectory``, ``solved``, ``reprojection_px``, ``scale``, ``height``, ``rarity``;
        ``save_bvh(path, fps=...)`` writes the sequence as a BVH animation.

    Examples:
        >>> import numpy as np
        >>> kp = np.random.default_rng(0).uniform(300, 700, (17, 2))
        >>> res = lift_full(kp, intrinsics=(1000.0, 1000.0, 500.0, 500.0), root="camera")
        >>> res.poses.shape, res.trajectory.shape, res.height, bool(res.trajectory[2] > 0)
        ((17, 3), (3,), 1.7, True)
    """
    call: dict[str, Any] = dict(arguments)
    settings = {k: call.pop(k) for k in _LIFTER if k in call}
    return Lifter(**settings).lift_full(keypoints2d, rarity=rarity, smoothing=smoothing, **call)
