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
- **Normalization** follows the model's ``config["input_norm"]``
  (:mod:`poselift.normalization`). ``"bbox"`` models (the shipped weights) always get
  :func:`~poselift.normalization.normalize_bbox`: each frame's box of valid keypoints centred,
  its larger side scaled to :data:`TYPICAL_EXTENT_PX` in a virtual 1000 x 1000 image, as in
  training: per frame for single-frame models, and for temporal models the median over a
  centred window of their receptive field (training used one scale per window);
  ``image_size`` is then not needed (it is validated but does not change the result).
  ``"screen"`` models get :func:`poselift.camera.normalize_screen` with ``image_size``, or,
  with ``image_size=None``, bounding-box normalization with one scale per sequence.
- **Missing joints** (score ``< score_threshold`` or NaN coordinates): in sequences each
  joint is linearly interpolated over time (nearest valid frame at the edges); a joint never
  visible in a sequence, and missing joints of single frames, are given to the model as
  ``(0, 0)`` with score 0 -- exactly the training representation of dropped joints -- which
  requires a model with a score channel (``in_features=3``); otherwise a ``ValueError`` is
  raised. Missing joints are never silently replaced by ``(0, 0)``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from poselift._validation import Array, check_array, check_positive, check_shape
from poselift.models.inputs import InputContract
from poselift.normalization import TYPICAL_EXTENT_PX, VIRTUAL_IMAGE_SIZE
from poselift.prediction import predict
from poselift.skeletons import get_skeleton

__all__ = [
    "DEFAULT_WEIGHTS",
    "PROGRESS_MIN_FRAMES",
    "TYPICAL_EXTENT_PX",
    "VIRTUAL_IMAGE_SIZE",
    "Lifter",
    "WeightsUnavailableError",
    "lift",
]

DEFAULT_WEIGHTS: dict[tuple[str, bool], str] = {
    ("coco", False): "sr.coco",
    ("coco", True): "sr_tcn.coco",
    ("h36m", False): "sr.h36m",
    ("h36m", True): "sr_tcn.h36m",
}
"""Weights used by ``model="default"``, by (input skeleton, temporal)."""

PROGRESS_MIN_FRAMES = 20_000
"""With ``progress=None``, inputs of at least this many frames show a progress bar."""


class WeightsUnavailableError(LookupError):
    """The requested pretrained weights are not shipped with this version of poselift."""


# ---------------------------------------------------------------------------------------------
# model resolution and the thread-safe cache
# ---------------------------------------------------------------------------------------------

_CACHE: dict[tuple[str, str, str], nn.Module] = {}
_CACHE_LOCK = threading.Lock()


def _device(device: object) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str | torch.device):
        try:
            return torch.device(device)
        except RuntimeError:
            pass
    raise ValueError(f"device: expected None, a torch.device or a device string, got {device!r}")


def _weights_names() -> list[str]:
    from poselift.models import list_weights

    return list_weights()


def _load(kind: str, ref: str, device: torch.device) -> nn.Module:
    """Load weights (``kind="weights"``) or a checkpoint file (``"path"``) once per device."""
    key = (kind, ref, str(device))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            from poselift.models import create_model, get_weights, load_model

            if kind == "weights":
                entry = get_weights(ref)
                cached = create_model(entry.model, weights=ref)
            else:
                cached = load_model(ref)
            cached = cached.to(device).eval()
            _CACHE[key] = cached
        return cached


def _resolve(model: object, skeleton: str, temporal: bool, device: torch.device
             ) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str):
        raise TypeError(
            f"model: expected 'default', a weights name, a checkpoint path or a torch.nn.Module, "
            f"got {type(model).__name__}"
        )
    shipped = _weights_names()
    if model == "default":
        name = DEFAULT_WEIGHTS.get((skeleton, temporal))
        kind = "temporal" if temporal else "single-frame"
        if name is None or name not in shipped:
            raise WeightsUnavailableError(
                f"model='default': no shipped {kind} weights for {skeleton!r} input (expected "
                f"{name!r}; shipped weights: {shipped or 'none'}). Pretrained weights are not "
                "part of this version; pass model= a checkpoint path or a torch.nn.Module"
            )
        return _load("weights", name, device)
    if model in shipped:
        return _load("weights", model, device)
    if Path(model).is_file():
        return _load("path", str(Path(model).resolve()), device)
    from poselift.models import list_models

    if model in list_models():
        raise ValueError(
            f"model: {model!r} is an architecture without trained weights; pass a weights "
            f"name ({shipped or 'none shipped'}), a checkpoint path, or "
            f"poselift.create_model({model!r}, ...) after training it"
        )
    raise ValueError(
        f"model: expected 'default', a weights name ({shipped or 'none shipped'}), an existing "
        f"checkpoint file or a torch.nn.Module, got {model!r}"
    )


# ---------------------------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------------------------


def _interpolate(xy: np.ndarray[Any, Any], valid: np.ndarray[Any, Any]) -> None:
    """In place: fill invalid entries of ``(S, T, J, 2)`` linearly over T per joint."""
    t = np.arange(valid.shape[1])
    todo = (~valid).any(1) & valid.any(1)  # (S, J): partly visible joints
    for s, j in np.argwhere(todo):
        ok = valid[s, :, j]
        for c in range(2):
            xy[s, ~ok, j, c] = np.interp(t[~ok], t[ok], xy[s, ok, j, c])
        valid[s, :, j] = True


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

    Loaded models are cached per (model, device) for the whole process; loading is guarded
    by a lock, so concurrent threads load a model once.

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
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        check_positive(score_threshold, "score_threshold", allow_zero=True)
        if not isinstance(model, str | os.PathLike | nn.Module):
            raise TypeError(
                f"model: expected 'default', a weights name, a checkpoint path or a "
                f"torch.nn.Module, got {type(model).__name__}"
            )
        self.model = model
        self.device = _device(device)
        self.batch_size = batch_size
        self.score_threshold = float(score_threshold)
        if not isinstance(flip_test, bool):
            raise TypeError(f"flip_test: expected True or False, got {flip_test!r}")
        self.flip_test = flip_test
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress: expected None, True or False, got {progress!r}")
        self.progress = progress

    def __repr__(self) -> str:
        model = self.model if not isinstance(self.model, nn.Module) else type(self.model).__name__
        return (f"Lifter(model={model!r}, device={str(self.device)!r}, "
                f"batch_size={self.batch_size}, score_threshold={self.score_threshold}, "
                f"flip_test={self.flip_test})")

    def model_for(self, skeleton: str, temporal: bool) -> nn.Module:
        """The (loaded, cached) network used for ``skeleton`` input, sequence or single frames.

        Examples:
            >>> import poselift
            >>> Lifter(poselift.create_model("sr", hidden=32)).model_for("h36m", False).config[
            ...     "name"]
            'sr'
        """
        return _resolve(self.model, get_skeleton(skeleton).name, temporal, self.device)

    def lift(
        self,
        keypoints2d: Array,
        *,
        skeleton: str = "coco",
        image_size: tuple[int, int] | None = None,
        scores: Array | None = None,
        temporal: bool | None = None,
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
        x = check_array(keypoints2d, "keypoints2d")
        sk = get_skeleton(skeleton)
        dims = check_shape(x, "keypoints2d", "(..., J, C)", J=sk.num_joints)
        lead, chans = dims["..."], dims["C"]
        if lead > 2 or chans not in (2, 3):
            raise ValueError(
                f"keypoints2d: expected shape (J, 2), (T, J, 2) or (N, T, J, 2) pixels (or "
                f"C=3 with a score last) with J={sk.num_joints} ({sk.name}), got "
                f"{tuple(x.shape)}"
            )
        if x.dtype in (torch.bool,) or (isinstance(x, np.ndarray) and x.dtype.kind not in "fiu"):
            raise TypeError(f"keypoints2d: expected a real-valued array, got dtype {x.dtype}")
        arr = (x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor)
               else np.asarray(x, dtype=np.float64))
        xy = arr[..., :2].copy()
        sc: np.ndarray[Any, Any] | None = arr[..., 2] if chans == 3 else None
        if scores is not None:
            if chans == 3:
                raise ValueError("scores: given twice, as keypoints2d[..., 2] and as scores=")
            s = check_array(scores, "scores")
            check_shape(s, "scores", "(..., J)", J=sk.num_joints)
            if tuple(s.shape) != tuple(x.shape[:-1]):
                raise ValueError(f"scores: expected shape {tuple(x.shape[:-1])} (keypoints2d "
                                 f"without its last axis), got {tuple(s.shape)}")
            sc = (s.detach().cpu().double().numpy() if isinstance(s, torch.Tensor)
                  else np.asarray(s, dtype=np.float64))
        if np.isinf(xy).any():
            raise ValueError("keypoints2d: expected finite pixel coordinates (NaN marks a "
                             "missing joint), found inf")
        if image_size is not None:
            ok = (isinstance(image_size, tuple | list) and len(image_size) == 2
                  and all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                          for v in image_size))
            if not ok:
                raise ValueError(f"image_size: expected (width, height) in pixels, got "
                                 f"{image_size!r}")
        if temporal is not None and not isinstance(temporal, bool):
            raise TypeError(f"temporal: expected None, True or False, got {temporal!r}")
        if temporal and lead == 0:
            raise ValueError("temporal: True needs a sequence (T, J, 2) or (N, T, J, 2), got a "
                             f"single pose of shape {tuple(x.shape)}")
        seq = lead > 0 if temporal is None else temporal

        net = self.model_for(sk.name, seq)
        contract = InputContract.of(net)
        if contract.skeleton != sk.name:
            raise ValueError(f"skeleton: the model takes {contract.skeleton!r} keypoints, got "
                             f"skeleton={sk.name!r}")
        if contract.out_skeleton != "h36m":
            raise ValueError(f"model: expected a model with H36M-17 output, got "
                             f"{contract.out_skeleton!r}")
        if contract.temporal and not seq:
            raise ValueError("model: a temporal model needs sequences; pass temporal=None/True "
                             "with (T, J, 2) input, or a single-frame model")

        # (S, T, J, 2): S sequences of T frames (independent frames: T = 1)
        shape = xy.shape[:-1]
        if seq:
            xs = xy.reshape(-1, *xy.shape[-3:])
        else:
            xs = xy.reshape(-1, 1, *xy.shape[-2:])
        valid = np.isfinite(xs).all(-1)
        if sc is not None:
            valid &= np.nan_to_num(sc, nan=-1.0).reshape(valid.shape) >= self.score_threshold
        if seq:
            _interpolate(xs, valid)
        if not valid.any(-1).all():
            s, f = np.argwhere(~valid.any(-1))[0]
            where = f"frame {int(f)} of sequence {int(s)}" if seq else f"pose {int(s)}"
            raise ValueError(f"keypoints2d: no valid keypoint in {where} (all NaN or score < "
                             f"{self.score_threshold})")
        missing = ~valid
        if missing.any() and not contract.has_scores:
            never = " and never visible in their sequence" if seq else ""
            raise ValueError(
                f"keypoints2d: {int(missing.sum())} joint(s) are missing (score < "
                f"{self.score_threshold} or NaN){never}"
                "; this model has no score channel (in_features=2), so they cannot be lifted "
                "honestly; use a model trained with a score channel or provide the joints"
            )
        if (image_size is None or contract.input_norm == "bbox") and \
                sk.name not in TYPICAL_EXTENT_PX:
            raise ValueError(f"image_size: required for skeleton {sk.name!r} (bounding-box "
                             f"normalization is calibrated for {sorted(TYPICAL_EXTENT_PX)})")
        norm = contract.prepare(xs, valid, image_size=image_size)
        inp = torch.from_numpy(np.asarray(norm).astype(np.float32))
        if not seq:
            inp = inp[:, 0]
        show = (self.progress if self.progress is not None
                else int(np.prod(inp.shape[:-2])) >= PROGRESS_MIN_FRAMES)
        out = predict(net, inp, batch_size=self.batch_size, flip_test=self.flip_test,
                      progress=show)
        assert isinstance(out, torch.Tensor)
        root = get_skeleton(contract.out_skeleton).root
        out = out - out[..., root : root + 1, :]
        result = out.reshape(*shape[:-1], *out.shape[-2:]).float()
        if isinstance(x, torch.Tensor):
            return result.to(x.device)
        res: np.ndarray[Any, Any] = result.cpu().numpy()
        return res


def lift(
    keypoints2d: Array,
    *,
    skeleton: str = "coco",
    image_size: tuple[int, int] | None = None,
    scores: Array | None = None,
    model: str | os.PathLike[str] | nn.Module = "default",
    device: str | torch.device | None = None,
    batch_size: int = 4096,
    temporal: bool | None = None,
    score_threshold: float = 0.3,
    flip_test: bool = False,
) -> Array:
    """Lift 2D keypoints (pixels) from any detector to metric 3D H36M-17 poses.

    Args:
        keypoints2d: ``(J, 2)`` one pose, ``(T, J, 2)`` a sequence or ``(N, T, J, 2)``
            sequences, pixels, numpy or torch; ``(..., J, 3)`` means a score last. NaN
            coordinates mark missing joints.
        skeleton: input skeleton (``"coco"`` or ``"h36m"``; ``J`` must match).
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

    Returns:
        ``(..., 17, 3)`` H36M-17 joints in metres, camera coordinates (x right, y down,
        z forward), pelvis at the origin; same leading shape and kind as ``keypoints2d``.

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
                    score_threshold=score_threshold, flip_test=flip_test)
    return lifter.lift(keypoints2d, skeleton=skeleton, image_size=image_size, scores=scores,
                       temporal=temporal)
