"""A temporal model and a single-frame model averaged: the default lifter for sequences.

On detector output a temporal model and a single-frame model of the same input layout make
partly independent errors: the temporal one is steady but drifts in body tilt and scale when
the input jitters or lags, the single-frame one follows each frame but shakes. Their mean is
better than either on the synthetic wild evaluation in every condition where the whole body
is seen (docs/weights.md, "Temporal and single-frame together"), so ``lift`` on a sequence
runs :class:`TemporalBlend` by default. Four refinements, each chosen by that evaluation:

- the single-frame model gets each frame normalized by its own box, as in its training (the
  temporal model's ``"bbox"`` inputs share one scale per window);
- the single-frame poses are **smoothed over time** (a Gaussian of ``smoothing`` frames,
  taken inside the temporal window, so the blend still sees exactly ``receptive_field``
  frames per output frame and a causal blend never looks ahead), each frame's pose weighted
  by its own share, so a frame whose share is 0 adds nothing to its neighbours;
- the single-frame share falls to 0 in frames where **most of a body half is missing**:
  fewer than ``min_limbs`` (8) of the 12 limb joints (shoulders, elbows, wrists, hips, knees,
  ankles) seen, as with the legs out of frame at a desk or only the legs in view. There the
  single-frame model can only guess the missing half while the temporal model keeps it
  plausible from the neighbouring frames (synthetic "upper-body": P-MPJPE-13 72.9 mm with the
  gate, 95.7 without). Frames missing a few joints (a hand out of frame, an occlusion) keep
  the share: there the mean is still better. The share is smoothed over the same window, so
  the output does not jump when a joint flickers;
- **flip averaging** (``flip=True``): the mirrored input's mirrored output averaged in
  (:meth:`~poselift.models.inputs.InputContract.flip_average`), better in every condition.

The blend is an ordinary temporal model (``(B, T, J, F)`` -> ``(B, T - R + 1, 17, 3)``, the
temporal part's ``receptive_field`` and ``causal``), so :func:`poselift.lift`,
:class:`poselift.StreamingLifter` and :mod:`poselift.export` run it like any other. Build it
from two weights names joined by ``+`` (``load_model("sr_tcn.coco+sr.coco")``) or with
:func:`poselift.create_model` (``"blend"``).

Examples:
    >>> import torch, poselift
    >>> net = poselift.create_model(
    ...     "blend", temporal={"name": "sr_tcn", "channels": 32, "filter_widths": (3, 3)},
    ...     single={"name": "sr", "hidden": 32}).eval()
    >>> net.receptive_field, net(torch.zeros(2, 9, 17, 2)).shape
    (9, torch.Size([2, 1, 17, 3]))
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from poselift.models.factory import blend_spec, create_model, load_model
from poselift.models.inputs import InputContract
from poselift.models.registry import register_model
from poselift.normalization import normalize_bbox
from poselift.skeletons import get_skeleton

__all__ = ["LIMB_NAMES", "TemporalBlend", "blend_spec", "limb_joints"]

LIMB_NAMES = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
"""Joint name stems (after ``left_``/``right_``) counted for the single-frame share's gate."""

Part = str | os.PathLike[str] | Mapping[str, Any]
"""A blend part: a weights name, a checkpoint path or a model config (``{"name": ..., ...}``)."""


def limb_joints(skeleton: str) -> list[int]:
    """Indices of the left/right shoulders, elbows, wrists, hips, knees and ankles.

    Examples:
        >>> limb_joints("coco")
        [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    """
    sk = get_skeleton(skeleton)
    return [i for i, name in enumerate(sk.joints)
            if name.split("_", 1)[-1] in LIMB_NAMES and name.startswith(("left_", "right_"))]


class TemporalBlend(nn.Module):
    """Average a temporal model's poses with a single-frame model's (see the module docs).

    Args:
        temporal: a temporal model (``receptive_field > 1``).
        single: a single-frame model with the same input contract (skeleton, output
            skeleton, features, normalization).
        single_weight: the single-frame share where the whole body is seen, in [0, 1].
        smoothing: standard deviation (frames) of the Gaussian that smooths the single-frame
            poses and the share over time; 0: none. A causal blend smooths with the past half
            of the window only (no look-ahead).
        min_limbs: the single-frame share needs at least this many of the 12 limb joints
            seen in the frame (0: always; models without a score channel see every joint).
        flip: test-time flip averaging inside the blend (the mirrored input's mirrored
            output averaged in, :meth:`~poselift.models.inputs.InputContract.flip_average`):
            twice the arithmetic, better in every condition of the wild evaluation.

    Raises:
        ValueError: parts of the wrong kind, contracts that differ, a weight outside [0, 1],
            a negative smoothing, or ``min_limbs`` outside 0..12.
        TypeError: ``flip`` not a bool.

    Shapes: ``(B, T, J, F)`` -> ``(B, T - receptive_field + 1, J_out, 3)``.
    """

    def __init__(self, temporal: nn.Module, single: nn.Module, *, single_weight: float = 0.5,
                 smoothing: float = 2.0, min_limbs: int = 8, flip: bool = True) -> None:
        super().__init__()
        tc, sc = InputContract.of(temporal), InputContract.of(single)
        if not tc.temporal:
            raise ValueError("temporal: expected a temporal model (receptive_field > 1)")
        if sc.temporal:
            raise ValueError("single: expected a single-frame model, got a temporal one")
        mine = (tc.skeleton, tc.out_skeleton, tc.in_features, tc.input_norm)
        theirs = (sc.skeleton, sc.out_skeleton, sc.in_features, sc.input_norm)
        if mine != theirs:
            raise ValueError(
                "single: its input contract (skeleton, out_skeleton, in_features, input_norm) "
                f"{theirs} differs from the temporal model's {mine}")
        if not 0.0 <= float(single_weight) <= 1.0:
            raise ValueError(f"single_weight: expected a number in [0, 1], got {single_weight!r}")
        if not float(smoothing) >= 0.0:
            raise ValueError(f"smoothing: expected a number >= 0 (frames), got {smoothing!r}")
        limbs = limb_joints(tc.skeleton)
        if isinstance(min_limbs, bool) or not isinstance(min_limbs, int) or not (
                0 <= min_limbs <= len(limbs)):
            raise ValueError(f"min_limbs: expected an int in 0..{len(limbs)} (limb joints of "
                             f"{tc.skeleton!r}), got {min_limbs!r}")
        self.temporal = temporal
        self.single = single
        self.input_contract = tc
        self.receptive_field = tc.receptive_field
        self.causal = tc.causal
        self.in_features = tc.in_features
        if not isinstance(flip, bool):
            raise TypeError(f"flip: expected True or False, got {flip!r}")
        self.flip = flip
        self.single_weight = float(single_weight)
        self.min_limbs = min_limbs if tc.in_features == 3 else 0
        r = self.receptive_field
        self._centre = r - 1 if self.causal else r // 2
        # Gaussian taps over the frames around the output frame that the window holds
        sigma = self.smoothing = float(smoothing)
        radius = 0 if sigma == 0 else min(math.ceil(3 * sigma), self._centre)
        before, after = radius, (0 if self.causal else radius)
        offsets = torch.arange(-before, after + 1, dtype=torch.float64)
        taps = torch.exp(-0.5 * (offsets / sigma) ** 2) if sigma > 0 else torch.ones(1)
        self.register_buffer("_taps", (taps / taps.sum()).float(), persistent=False)
        self._before = before
        self.register_buffer("_limbs", torch.tensor(limbs), persistent=False)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Lift ``(B, T, J, F)`` sequences to ``(B, T - receptive_field + 1, J_out, 3)``."""
        if self.flip:
            return self.input_contract.flip_average(self._blend, keypoints)
        return self._blend(keypoints)

    def _blend(self, keypoints: torch.Tensor) -> torch.Tensor:
        """The blend of one pass (no flip averaging)."""
        poses = self.temporal(keypoints)
        b, frames = poses.shape[:2]
        taps = self.get_buffer("_taps")
        k = taps.shape[0]
        # the input frames the smoothed single-frame poses of the output frames need
        first = self._centre - self._before
        x = keypoints.narrow(1, first, frames + k - 1)
        single = self.single(self._per_frame(x).reshape(-1, *x.shape[2:]))
        single = single.reshape(b, frames + k - 1, -1, 3)
        # a frame without a box (fewer than two distinct joints) has a NaN single-frame pose
        finite = single.isfinite().all(-1).all(-1)
        share = self._share(x).to(poses.dtype) * finite.to(poses.dtype)
        # each frame's single-frame pose counts with its own share: a gated frame or a frame
        # without a pose adds nothing to its neighbours' smoothed pose
        single = torch.where(finite[..., None, None], single, torch.zeros_like(single))
        weighted = share[..., None, None] * single
        smooth_share = taps[0] * share[:, :frames]
        smooth_single = taps[0] * weighted[:, :frames]
        for i in range(1, k):
            smooth_share = smooth_share + taps[i] * share[:, i:i + frames]
            smooth_single = smooth_single + taps[i] * weighted[:, i:i + frames]
        out: torch.Tensor = poses * (1 - smooth_share[..., None, None]) + smooth_single
        return out

    def _share(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T)``: ``single_weight`` where at least ``min_limbs`` limb joints are seen."""
        share = torch.full(x.shape[:2], self.single_weight, dtype=x.dtype, device=x.device)
        if self.min_limbs > 0:
            limbs = x.index_select(2, self.get_buffer("_limbs"))[..., 2] > 0
            share = share * (limbs.sum(-1) >= self.min_limbs).to(x.dtype)
        return share

    def _per_frame(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs normalized as the single-frame model was trained: each frame by its own box.

        A temporal ``"bbox"`` model's inputs share one scale per window (the median box);
        the single-frame model saw every frame scaled by its own box: normalizing each frame
        again on its own gives exactly its inputs (both centre each frame's box at 0). A frame
        without a box gives NaN (its share is 0 in :meth:`forward`).
        """
        if self.input_contract.input_norm != "bbox":
            return x
        valid = x[..., 2] > 0 if self.in_features == 3 else None
        xy = normalize_bbox(x[..., :2], valid, extent=self.input_contract.extent, check=False)
        assert isinstance(xy, torch.Tensor)
        if valid is not None:
            xy = xy * valid[..., None]  # missing joints stay at 0, as prepare gives them
        return torch.cat([xy, x[..., 2:]], -1)


def _part(part: Part) -> nn.Module:
    """A blend part as a module (weights are loaded, configs built fresh)."""
    if isinstance(part, nn.Module):
        raise TypeError("blend part: a module cannot be stored in a model config; build "
                        "poselift.models.blend.TemporalBlend(temporal, single) from modules")
    if isinstance(part, Mapping):
        config = dict(part)
        name = config.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(f"blend part: a config needs a model 'name', got {part!r}")
        return create_model(name, **config)
    if isinstance(part, str | os.PathLike):
        return load_model(part)
    raise TypeError(f"blend part: expected a weights name, a checkpoint path or a config dict, "
                    f"got {type(part).__name__}")


@register_model("blend", temporal=True,
                summary="a temporal and a single-frame model averaged (lift's default)")
def blend(
    *,
    temporal: Part = "sr_tcn.coco",
    single: Part = "sr.coco",
    single_weight: float = 0.5,
    smoothing: float = 2.0,
    min_limbs: int = 8,
    flip: bool = True,
) -> nn.Module:
    """A :class:`TemporalBlend` of two parts (weights names, checkpoint paths or configs)."""
    return TemporalBlend(_part(temporal), _part(single), single_weight=single_weight,
                         smoothing=smoothing, min_limbs=min_limbs, flip=flip)
