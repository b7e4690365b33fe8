"""What a 2D keypoint detector does to perfect projections: a simulated detector.

:class:`DetectorModel` turns projected keypoints (pixels) into what detectors hand over, one
ingredient at a time (each can be switched off on its own):

- **face turned away**: the face points of the layout (nose, eyes, ears of COCO) are lost
  when they face away from the camera, computed from the head's orientation
  (:func:`~poselift.data.coco_layout.head_frame`) and each point's facing direction
  (:attr:`~poselift.data.layouts.InputLayout.face_normals`), with a per-sample threshold
  (detectors differ in how far round they still see an eye);
- **truncation**: joints outside the picture are lost;
- **noise that scales with the person**: Gaussian pixel noise with a per-joint standard
  deviation ``c * sigma_j * s``: ``sigma_j`` the COCO keypoint constants
  (:data:`KEYPOINT_SIGMAS`: hips are placed least precisely, eyes most), ``s`` the person's
  size (:data:`SIZE_PER_EXTENT` times the larger side of the keypoints' box) and ``c`` a
  per-sample factor (better and worse detectors, blur);
- **outliers**: a joint now and then lands far off (heavy tails);
- **left/right swaps**: a group of joints (legs, arms, or all) takes its mirror's place for
  a run of frames;
- **occlusions**: a limb end, a limb or one joint is lost for a run of frames;
- **dropout**: joints lost independently;
- **over time** (off by default; the ``temporal`` ingredient of :mod:`poselift.data.wild`):
  *lag* (the smoothing of trackers in video mode, e.g. MediaPipe's: each joint follows the
  projections through an exponential filter), *jitter* (noise correlated over frames, so that
  a joint wanders rather than flickers), *bias* (a per-joint offset held for the whole
  sequence: a detector's own idea of where a joint sits), and a *missing part* (the legs, the
  lower body or the upper body lost for the whole sequence: a person at a desk or close to a
  webcam, or only the legs in view).

Lost joints are returned as ``visible = False`` (their pixels stay finite); at least
``min_visible`` joints are kept in every frame. Every random draw is seeded by the caller's
generator, per sample (a window of T frames keeps its detector).

Examples:
    >>> import torch
    >>> uv = torch.rand(4, 5, 17, 2, generator=torch.Generator().manual_seed(0)) * 300 + 350
    >>> det = DetectorModel(face_away=None)
    >>> out, visible = det(uv, frame=torch.full((4, 2), 1000.0), layout="h36m",
    ...                    generator=torch.Generator().manual_seed(1))
    >>> out.shape, visible.shape, visible.dtype
    (torch.Size([4, 5, 17, 2]), torch.Size([4, 5, 17]), torch.bool)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from poselift.data.coco_layout import head_frame
from poselift.data.layouts import InputLayout, get_input_layout
from poselift.skeletons import Skeleton, get_skeleton

__all__ = ["KEYPOINT_SIGMAS", "MISSING_PARTS", "SIZE_PER_EXTENT", "DetectorModel",
           "exponential_filter"]

KEYPOINT_SIGMAS: dict[str, float] = {
    "nose": 0.026, "left_eye": 0.025, "right_eye": 0.025, "left_ear": 0.035,
    "right_ear": 0.035, "left_shoulder": 0.079, "right_shoulder": 0.079,
    "left_elbow": 0.072, "right_elbow": 0.072, "left_wrist": 0.062, "right_wrist": 0.062,
    "left_hip": 0.107, "right_hip": 0.107, "left_knee": 0.087, "right_knee": 0.087,
    "left_ankle": 0.089, "right_ankle": 0.089,
    # joints COCO does not annotate, by analogy: the pelvis and spine are hip-like, the
    # thorax shoulder-like, the head top a little less sharp than the face points
    "pelvis": 0.107, "spine": 0.09, "thorax": 0.079, "head_top": 0.05,
}
"""Per-joint spread of human keypoint annotations relative to the person's size: the COCO
keypoint "sigmas" of the OKS metric (cocoapi, Ronchi & Perona 2017), extended by analogy to the
H36M-only joints. A joint absent from this table gets 0.08."""

SIZE_PER_EXTENT = 0.41
"""A person's size ``s`` (the square root of the segmented area, COCO's object scale) as a
fraction of the larger side of their keypoints' box: about 0.41 for a standing adult."""

_GROUP_WORDS: dict[str, tuple[str, ...]] = {
    # left/right swaps
    "all": ("left_", "right_"),
    "legs": ("hip", "knee", "ankle"),
    "lower_legs": ("knee", "ankle"),
    "arms": ("shoulder", "elbow", "wrist"),
    "lower_arms": ("elbow", "wrist"),
}


MISSING_PARTS: dict[str, tuple[str, ...]] = {
    "legs": ("knee", "ankle"),
    "lower_body": ("pelvis", "hip", "knee", "ankle"),
    "upper_body": ("nose", "eye", "ear", "head", "neck", "thorax", "spine", "shoulder", "elbow",
                   "wrist"),
}
"""Body parts that ``DetectorModel(missing_part=...)`` loses for a whole sequence, by the words
of their joint names: ``"legs"`` (knees and ankles: a person at a desk), ``"lower_body"`` (hips
too: close to a webcam, upper body only), ``"upper_body"`` (every joint above the hips: only
the legs in view), drawn with the probabilities of ``DetectorModel.missing_part_weights``."""


def exponential_filter(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Exponential smoothing along dimension 1: ``y_t = a x_t + (1 - a) y_{t-1}``, ``y_0 = x_0``.

    What trackers do to keypoints in video mode (a lag of about ``(1 - a) / a`` frames), and,
    applied to white noise, noise correlated over frames.

    Args:
        x: ``(B, T, ...)`` values.
        alpha: ``(B,)`` weight of the new value per sample, in ``(0, 1]`` (1: no smoothing).

    Returns:
        ``(B, T, ...)`` smoothed values.

    Examples:
        >>> import torch
        >>> x = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
        >>> exponential_filter(x, torch.tensor([0.5])).tolist()
        [[0.0, 0.5, 0.75, 0.875]]
    """
    a = alpha.reshape((-1,) + (1,) * (x.ndim - 2)).to(x.dtype)
    out = torch.empty_like(x)
    prev = x[:, 0]
    out[:, 0] = prev
    for t in range(1, x.shape[1]):
        prev = torch.lerp(prev, x[:, t], a)
        out[:, t] = prev
    return out


def _uniform(lo: float, hi: float, shape: tuple[int, ...], g: torch.Generator | None,
             like: torch.Tensor) -> torch.Tensor:
    u = torch.rand(shape, generator=g, dtype=like.dtype, device=like.device)
    return lo + (hi - lo) * u


def _runs(b: int, t: int, lengths: tuple[int, int], g: torch.Generator | None,
          device: torch.device) -> torch.Tensor:
    """``(B, T)`` bool: one run of ``U(lengths)`` frames per sample.

    Runs are placed so that any frame is as likely to be covered as any other (a window of
    one frame is always covered).
    """
    lo, hi = lengths
    n = torch.randint(lo, hi + 1, (b,), generator=g, device=device)
    start = (torch.rand(b, generator=g, device=device) * (t + n - 1)).long() - (n - 1)
    frames = torch.arange(t, device=device)[None, :]
    return (frames >= start[:, None]) & (frames < (start + n)[:, None])


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class DetectorModel:
    """A simulated 2D keypoint detector (see the module docs for each ingredient).

    Args:
        face_away: ``(low, high)`` range of the per-sample visibility threshold of face
            points: a point is lost when the cosine between its facing direction and the
            direction to the camera is below it (default (-0.35, 0.1): lost somewhat past
            profile); None: never (and layouts without face points are unaffected).
        face_kept: ``(low, high)`` range of the per-sample probability that a turned-away face
            point is reported all the same (detectors guess a face on the back of a head: 29%
            of the face points of a subject facing away scored 0.3 or more in the real
            detections we measured); default (0, 0): always lost.
        truncate: lose joints outside the picture ``[0, w] x [0, h]`` (default True).
        noise: ``(low, high)`` range of the per-sample noise factor ``c`` (default (0, 0.6));
            None: no noise.
        outliers: probability that a joint in a frame is an outlier (default 0.01).
        outlier_scale: standard deviation of an outlier's displacement per coordinate, as a
            fraction of the keypoints' box (default 0.15).
        swaps: probability per sample of a left/right swap of a joint group for a run of
            frames (default 0.03).
        occlusion: probability per sample that a limb end (elbow and wrist, or knee and
            ankle), a whole limb or one joint is lost for a run of ``occlusion_frames``
            frames (default 0.15).
        occlusion_frames: ``(shortest, longest)`` run, frames (default (5, 40)).
        dropout: probability that a joint is lost in a frame on its own (default 0.05).
        min_visible: frames keep at least this many visible joints (when fewer survive, the
            frame's joints are all kept) (default 4).
        lag: ``(low, high)`` range of the per-sample lag of a tracker's smoothing, in frames
            (an exponential filter with weight ``1 / (1 + lag)`` on each new frame), or None
            (default): no smoothing.
        jitter: ``(low, high)`` range of the per-sample factor of noise correlated over
            frames (same size rule as ``noise``), or None (default).
        jitter_correlation: ``(low, high)`` range of the frame-to-frame correlation of the
            jitter (default (0.5, 0.95)).
        bias: ``(low, high)`` range of the per-sample factor of a per-joint offset held for
            the whole sequence (same size rule as ``noise``), or None (default).
        missing_part: probability per sample that a body part (:data:`MISSING_PARTS`) is
            lost in every frame (default 0).
        missing_part_weights: relative probabilities of the parts of :data:`MISSING_PARTS`,
            in its order (default (0.4, 0.4, 0.2)).

    Examples:
        >>> DetectorModel().noise
        (0.0, 0.6)
    """

    face_away: tuple[float, float] | None = (-0.35, 0.1)
    face_kept: tuple[float, float] = (0.0, 0.0)
    truncate: bool = True
    noise: tuple[float, float] | None = (0.0, 0.6)
    outliers: float = 0.01
    outlier_scale: float = 0.15
    swaps: float = 0.03
    occlusion: float = 0.15
    occlusion_frames: tuple[int, int] = (5, 40)
    dropout: float = 0.05
    min_visible: int = 4
    lag: tuple[float, float] | None = None
    jitter: tuple[float, float] | None = None
    jitter_correlation: tuple[float, float] = (0.5, 0.95)
    bias: tuple[float, float] | None = None
    missing_part: float = 0.0
    missing_part_weights: tuple[float, ...] = (0.4, 0.4, 0.2)

    def __post_init__(self) -> None:
        for name in ("outliers", "swaps", "occlusion", "dropout", "missing_part"):
            _check_probability(name, getattr(self, name))
        lo, hi = self.face_kept
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"face_kept: expected a (low, high) range of probabilities, got "
                             f"{self.face_kept!r}")
        for name, lo_ok in (("face_away", -1.0), ("noise", 0.0), ("lag", 0.0),
                            ("jitter", 0.0), ("bias", 0.0), ("jitter_correlation", 0.0)):
            rng = getattr(self, name)
            if rng is not None and not (len(rng) == 2 and lo_ok <= rng[0] <= rng[1]
                                        and all(math.isfinite(v) for v in rng)):
                raise ValueError(f"{name}: expected a (low, high) range with {lo_ok} <= low <= "
                                 f"high, got {rng!r}")
        lo, hi = self.occlusion_frames
        if not 1 <= lo <= hi:
            raise ValueError(f"occlusion_frames: expected 1 <= shortest <= longest, got "
                             f"{self.occlusion_frames!r}")
        w = self.missing_part_weights
        if len(w) != len(MISSING_PARTS) or not all(v >= 0 for v in w) or not sum(w) > 0:
            raise ValueError(f"missing_part_weights: expected {len(MISSING_PARTS)} weights >= 0, "
                             f"not all 0, got {w!r}")
        if not self.jitter_correlation[1] < 1.0:
            raise ValueError(f"jitter_correlation: expected a range within [0, 1), got "
                             f"{self.jitter_correlation!r}")
        if not self.outlier_scale >= 0:
            raise ValueError(f"outlier_scale: expected >= 0, got {self.outlier_scale!r}")
        if self.min_visible < 2:
            raise ValueError(f"min_visible: expected at least 2 (a box needs two points), got "
                             f"{self.min_visible!r}")

    def __call__(
        self,
        uv: torch.Tensor,
        *,
        frame: torch.Tensor,
        layout: str | InputLayout,
        points: torch.Tensor | None = None,
        h36m: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Detect: ``(B, T, J, 2)`` projected pixels -> (detected pixels, ``(B, T, J)`` visible).

        Args:
            uv: ``(B, T, J, 2)`` pixels of the layout's points.
            frame: ``(B, 2)`` picture size (width, height) of each sample, pixels.
            layout: the input layout (its skeleton and face points).
            points: ``(B, T, J, 3)`` the layout's 3D points in camera coordinates (needed for
                ``face_away`` with a layout that has face points).
            h36m: ``(B, T, 17, 3)`` the H36M-17 joints in camera coordinates (the head's
                orientation, for ``face_away``).
            generator: torch random generator.
        """
        lay = get_input_layout(layout)
        sk = get_skeleton(lay.skeleton)
        g = generator
        b, t, j = uv.shape[:3]
        dev = uv.device
        visible = torch.ones(b, t, j, dtype=torch.bool, device=dev)
        if self.face_away is not None and lay.face:
            if points is None or h36m is None:
                raise ValueError("points, h36m: face_away needs the 3D points of the layout and "
                                 "the H36M-17 joints in camera coordinates")
            left, up, fwd = head_frame(h36m)
            normals = torch.tensor(lay.face_normals, dtype=uv.dtype, device=dev)  # (F, 3)
            facing = (normals[:, 0, None] * left[:, :, None] + normals[:, 1, None] * up[:, :, None]
                      + normals[:, 2, None] * fwd[:, :, None])  # (B, T, F, 3)
            face = list(lay.face)
            to_camera = -points[:, :, face]
            to_camera = to_camera / to_camera.norm(dim=-1, keepdim=True).clamp_min(1e-9)
            cos = (facing * to_camera).sum(-1)
            tau = _uniform(*self.face_away, (b, 1, 1), g, uv)
            seen = cos >= tau
            if self.face_kept[1] > 0:
                keep = _uniform(*self.face_kept, (b, 1, 1), g, uv)
                seen |= torch.rand(seen.shape, generator=g, device=dev) < keep
            visible[:, :, face] &= seen
        if self.truncate:
            w, h = frame[:, 0, None, None], frame[:, 1, None, None]
            inside = (uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)
            visible &= inside
        extent = (uv.amax(-2) - uv.amin(-2)).amax(-1).median(-1).values  # (B,)
        sig = torch.tensor([KEYPOINT_SIGMAS.get(n, 0.08) for n in sk.joints],
                           dtype=uv.dtype, device=dev)
        size = sig[None, None, :, None] * SIZE_PER_EXTENT * extent[:, None, None, None]
        if self.lag is not None and self.lag[1] > 0 and t > 1:
            lag = _uniform(*self.lag, (b,), g, uv)
            uv = exponential_filter(uv, 1.0 / (1.0 + lag))
        if self.noise is not None and self.noise[1] > 0:
            c = _uniform(*self.noise, (b, 1, 1, 1), g, uv)
            uv = uv + c * size * torch.randn(uv.shape, generator=g, dtype=uv.dtype, device=dev)
        if self.jitter is not None and self.jitter[1] > 0:
            c = _uniform(*self.jitter, (b, 1, 1, 1), g, uv)
            rho = _uniform(*self.jitter_correlation, (b,), g, uv)
            white = torch.randn(uv.shape, generator=g, dtype=uv.dtype, device=dev)
            # an AR(1) process started in its stationary state, unit variance in every frame:
            # e_t = rho e_(t-1) + sqrt(1 - rho^2) w_t, as a filter with weight 1 - rho
            r = rho[:, None, None, None]
            white[:, 1:] *= ((1 + r) / (1 - r)).sqrt()
            white = exponential_filter(white, 1 - rho)
            uv = uv + c * size * white
        if self.bias is not None and self.bias[1] > 0:
            c = _uniform(*self.bias, (b, 1, 1, 1), g, uv)
            uv = uv + c * size * torch.randn((b, 1, j, 2), generator=g, dtype=uv.dtype,
                                             device=dev)
        if self.outliers > 0:
            hit = torch.rand(b, t, j, generator=g, device=dev) < self.outliers
            jump = torch.randn(uv.shape, generator=g, dtype=uv.dtype, device=dev)
            uv = uv + hit[..., None] * jump * (self.outlier_scale * extent[:, None, None, None])
        if self.swaps > 0:
            uv = self._swap(uv, sk, g)
        if self.occlusion > 0:
            visible &= ~self._occluded(b, t, sk, g, dev)
        if self.dropout > 0:
            visible &= torch.rand(b, t, j, generator=g, device=dev) >= self.dropout
        if self.missing_part > 0:
            visible &= ~self._missing_part(b, sk, g, dev)[:, None, :]
        few = visible.sum(-1, keepdim=True) < min(self.min_visible, j)
        visible = visible | few
        return uv, visible

    def _swap(self, uv: torch.Tensor, sk: Skeleton, g: torch.Generator | None) -> torch.Tensor:
        b, t, j = uv.shape[:3]
        dev = uv.device
        chosen = torch.rand(b, generator=g, device=dev) < self.swaps
        group = torch.randint(len(_GROUP_WORDS), (b,), generator=g, device=dev)
        runs = _runs(b, t, (1, t), g, dev) & chosen[:, None]
        flip = torch.tensor(sk.flip_indices, device=dev)
        perm = torch.arange(j, device=dev).expand(b, j).clone()
        for k, words in enumerate(_GROUP_WORDS.values()):
            members = [i for i, name in enumerate(sk.joints)
                       if any(w in name for w in words) and sk.flip_indices[i] != i]
            if members:
                sel = (group == k)[:, None]
                idx = torch.tensor(members, device=dev)
                perm[:, idx] = torch.where(sel, flip[idx][None, :], perm[:, idx])
        swapped = torch.gather(uv, 2, perm[:, None, :, None].expand(b, t, j, 2))
        return torch.where(runs[:, :, None, None], swapped, uv)

    def _missing_part(self, b: int, sk: Skeleton, g: torch.Generator | None,
                      dev: torch.device) -> torch.Tensor:
        """``(B, J)`` bool: joints of a body part lost for the whole sequence."""
        table = torch.tensor([[any(w in name for w in words) for name in sk.joints]
                              for words in MISSING_PARTS.values()], dtype=torch.bool,
                             device=dev)
        chosen = torch.rand(b, generator=g, device=dev) < self.missing_part
        pick = torch.multinomial(torch.tensor(self.missing_part_weights), b, replacement=True,
                                 generator=g).to(dev)
        return table[pick] & chosen[:, None]

    def _occluded(self, b: int, t: int, sk: Skeleton, g: torch.Generator | None,
                  dev: torch.device) -> torch.Tensor:
        """``(B, T, J)`` bool: joints lost to an occlusion."""
        groups: list[list[int]] = []
        for side in ("left_", "right_"):
            for limb in (("elbow", "wrist"), ("knee", "ankle"), ("shoulder", "elbow", "wrist"),
                         ("hip", "knee", "ankle")):
                groups.append([i for i, n in enumerate(sk.joints)
                               if n.startswith(side) and n.removeprefix(side) in limb])
        groups = [grp for grp in groups if grp]
        groups += [[i] for i in range(sk.num_joints)]
        table = torch.zeros(len(groups), sk.num_joints, dtype=torch.bool, device=dev)
        for k, grp in enumerate(groups):
            table[k, grp] = True
        chosen = torch.rand(b, generator=g, device=dev) < self.occlusion
        pick = torch.randint(len(groups), (b,), generator=g, device=dev)
        runs = _runs(b, t, self.occlusion_frames, g, dev) & chosen[:, None]
        return runs[:, :, None] & table[pick][:, None, :]
