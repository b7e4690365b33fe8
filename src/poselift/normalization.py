"""Input normalization of 2D keypoints: ``"screen"`` (image size) or ``"bbox"`` (the person).

Every lifting model has ``config["input_norm"]``, the contract of its inputs:

- ``"screen"``: :func:`poselift.camera.normalize_screen` with the camera's image size
  (``[0, w] -> [-1, 1]``, aspect kept). The paper's convention; the ablation models.
- ``"bbox"``: :func:`normalize_bbox`: each frame's box of its *valid* keypoints is centred at
  0 and scaled so that its larger side is ``extent / 500`` (the typical extent of a person on
  the training rig, :data:`TYPICAL_EXTENT_PX`, in a virtual 1000 x 1000 image); a sequence uses
  one scale, the median of its frames' larger sides. Independent of the camera's intrinsics,
  the image size and where the person stands in it: the shipped weights are trained and run
  this way.

Examples:
    >>> import torch
    >>> xy = torch.tensor([[[100.0, 200.0], [300.0, 600.0], [200.0, 400.0]]])   # (T=1, J=3, 2)
    >>> normalize_bbox(xy, extent=500.0)[0].tolist()                 # larger side 400 -> 1.0
    [[-0.25, -0.5], [0.25, 0.5], [0.0, 0.0]]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from poselift._array_ops import ops_for
from poselift._validation import Array

__all__ = ["INPUT_NORMS", "TYPICAL_EXTENT_PX", "VIRTUAL_IMAGE_SIZE", "box_corners", "box_side",
           "normalize_bbox"]

INPUT_NORMS = ("screen", "bbox")
"""Values of a model's ``config["input_norm"]``."""

VIRTUAL_IMAGE_SIZE = 1000
"""Side in pixels of the virtual square image of ``"bbox"`` normalization."""

TYPICAL_EXTENT_PX: dict[str, float] = {"h36m": 322.0, "coco": 302.0}
"""Median larger side (pixels) of the 2D keypoint bounding box on the ``h36m-like`` rig
(fx = 1145 px, 5 m away, 1000 x 1000 images), measured on the mocap of shared/data
(48,256 frame-camera pairs; see docs/inference.md for the command). A 1.6 m body at 5 m is
~366 px tall; the keypoints' box is smaller (no top of the head, no feet soles; COCO stops
at the eyes)."""


def box_corners(xy: Array, valid: Array | None = None) -> tuple[Any, Any]:
    """The lower and upper corners ``(..., T, 2)`` of each frame's box of valid keypoints.

    ``+inf`` and ``-inf`` for a frame without a valid keypoint. numpy in, numpy out (few
    small operations, cheaper in numpy); torch in, torch out. :func:`normalize_bbox` takes
    them (``corners``) from a caller that already has them.

    Examples:
        >>> import numpy as np
        >>> lo, hi = box_corners(np.array([[[0.0, 5.0], [3.0, 4.0]]]))
        >>> lo.tolist(), hi.tolist()
        ([[0.0, 4.0]], [[3.0, 5.0]])
    """
    # few operations: on one pose their count, not their size, sets the time
    ops = ops_for(xy)
    return ops.box(xy, None if valid is None else ops.as_mask(valid))  # the mask in xy's kind


def box_side(xy: Array, valid: Array | None = None) -> Array:
    """The larger side ``(..., T)`` of each frame's box of valid keypoints, pixels.

    0 for a frame with one valid keypoint (or several at one point), ``-inf`` for a frame
    without any: a frame can be normalized by its own box when its side is positive.
    numpy in, numpy out (few small operations, cheaper in numpy); torch in, torch out.

    Examples:
        >>> import torch
        >>> xy = torch.tensor([[[0.0, 0.0], [3.0, 4.0]]])
        >>> box_side(xy).tolist(), box_side(xy, torch.tensor([[True, False]])).tolist()
        ([4.0], [0.0])
    """
    lo, hi = box_corners(xy, valid)
    out: Array = ops_for(xy).amax(hi - lo)
    return out


def normalize_bbox(xy: Array, valid: Array | None = None, *, extent: float,
                   per_sequence: bool = False, window: int | None = None,
                   causal: bool = False, check: bool = True,
                   corners: tuple[Any, Any] | None = None) -> Array:
    """Centre each frame's valid-keypoint box at 0 and scale its larger side to ``extent/500``.

    Args:
        xy: ``(..., T, J, 2)`` pixels (numpy or torch).
        valid: ``(..., T, J)`` bool, the keypoints that define the box (default: all).
            Invalid keypoints are transformed too (callers zero them afterwards).
        extent: the larger side's length in virtual pixels (e.g. ``TYPICAL_EXTENT_PX["coco"]``).
        per_sequence: one scale per sequence (the median over T of the larger sides) instead
            of one per frame; centres always follow each frame.
        window: with ``per_sequence``, the median over a centred window of this many frames
            (odd; the sequence's ends repeated), as a temporal model of that receptive field
            saw in training (one scale per training window); None: the whole sequence.
        causal: with ``window``, the window *ends* at its frame (the frame and the
            ``window - 1`` before it, the first frame repeated before the start), so a frame's
            scale never depends on later frames (causal temporal models, streaming). Frames
            whose box has size 0 (fewer than two distinct valid keypoints) do not count in
            the window's median (the median of the others; NaN if none).
        check: raise for a frame whose scale is not positive and finite; False: no check
            (such frames give NaN or inf; :class:`poselift.core.LiftingCore` gives them no
            pose).
        corners: :func:`box_corners` of ``xy`` and ``valid`` when the caller has them (the
            lifting core: it finds the frames without a pose from them); None: found here.

    Returns:
        Normalized coordinates, same shape and kind as ``xy``: numpy inputs are normalized
        in numpy operations, tensors in torch ones (the same arithmetic,
        :mod:`poselift._array_ops`; on one pose numpy's take fewer microseconds).

    Raises:
        ValueError: a frame whose valid keypoints span a box of size 0 (fewer than two
            distinct valid keypoints). Under ``torch.compile`` / ``torch.export`` there is no
            check (it would depend on the data): such a frame gives NaN or inf.
    """
    if isinstance(xy, np.ndarray):  # numpy in: numpy operations (one pose: fewer microseconds)
        # frames without a box give NaN/inf (torch is silent about them: so is this)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return _normalize(xy, valid, extent, per_sequence, window, causal, check, corners)
    return _normalize(xy, valid, extent, per_sequence, window, causal, check, corners)


def _normalize(xy: Array, valid: Array | None, extent: float, per_sequence: bool,
               window: int | None, causal: bool, check: bool,
               corners: tuple[Any, Any] | None) -> Array:
    """:func:`normalize_bbox`, in numpy or torch operations (:mod:`poselift._array_ops`)."""
    ops = ops_for(xy)
    lo, hi = box_corners(xy, valid) if corners is None else corners  # (..., T, 2)
    centre = (lo + hi) * 0.5
    side = ops.amax(hi - lo)  # (..., T)
    if per_sequence and window is not None and window > 1:
        if window % 2 != 1:
            raise ValueError(f"window: expected an odd number of frames, got {window}")
        left = window - 1 if causal else window // 2
        # the median of an odd window (the sequence's ends repeated): the middle of its sorted
        # values (not torch.median: ONNX has no median). Frames without a box are NaN,
        # sorted last, and not counted: the median of the others.
        if torch.compiler.is_compiling() or not bool((side > 0).all()):
            windows = ops.padded_windows(ops.where(side > 0, side, ops.nan(side)), left,
                                         window - 1 - left)
            middle = ops.nonnegative((ops.count(~ops.isnan(windows)) - 1) // 2)
            side = ops.take(ops.sort(windows), middle)[..., 0]
        else:  # every frame has a box (the usual case): the middle of each window
            side = ops.sort(ops.padded_windows(side, left, window - 1 - left))[..., window // 2]
    elif per_sequence:
        # the median (mean of the two middle values for an even count, like numpy's)
        side = ops.expand_as(ops.median(side), side)
    traced = torch.compiler.is_compiling()  # exported/compiled: no data-dependent check
    if check and not traced and math.prod(side.shape) and not ops.positive_finite(side):
        bad = ops.first_bad(side)
        raise ValueError(
            f"keypoints2d: bounding-box normalization needs at least two distinct valid "
            f"keypoints per frame; frame at index {tuple(bad)} has a bounding box of size 0 "
            "(for a model with input_norm='screen' you can pass image_size=(width, height))"
        )
    scale = ops.reciprocal(side) * (extent / (VIRTUAL_IMAGE_SIZE / 2))
    out: Array = (xy - centre[..., None, :]) * scale[..., None, None]
    return out
