"""Other people's bodies and other joint definitions, and poses the mocap lacks.

Both transforms act on batches of H36M-17 world poses ``(B, T, 17, 3)`` (metres, any
right-handed axes) before any camera sees them, so inputs and targets stay consistent: the
3D joints are where the 2D joints will be.

- :class:`BodyVariation`: hip and shoulder widths drawn in metres (detectors and mocap
  skeletons place these joints very differently: 0.13 / 0.20 m in the Bandai mocap, about
  0.18 / 0.40 m in other mocap, 0.23 / 0.33 m for a COCO detector), torso bones, where the
  hips and shoulders sit (tilted up or down, forward or back), and the nose and head-top
  points (length and pitch of their bones). Limb proportions and stature are the
  ``bone_scale`` / ``global_scale`` of :class:`~poselift.data.Augmentation`.
- :class:`PartRecombination`: the paper's argument turned into data: a limb (or both legs,
  both arms) takes the configuration of another sample's limb, expressed in the body's own
  frame, so that familiar local configurations appear in new combinations; optionally a limb
  is swung about its root joint (kicks, one-legged stands, raised arms).

Every draw is per sample and shared by its T frames (a window keeps one body).

Examples:
    >>> import torch
    >>> from poselift.data.synthetic import rest_pose
    >>> world = torch.from_numpy(rest_pose()).expand(4, 1, 17, 3).clone()
    >>> out = BodyVariation(hip_width=(0.3, 0.3))(world, generator=torch.Generator())
    >>> round(float((out[0, 0, 1] - out[0, 0, 4]).norm()), 4)
    0.3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from poselift.skeletons import get_skeleton

__all__ = ["BodyVariation", "PartRecombination", "body_frames"]

_SK = get_skeleton("h36m")
_PELVIS, _RHIP, _LHIP, _SPINE, _THORAX, _NOSE, _HEAD = 0, 1, 4, 7, 8, 9, 10
_LSH, _RSH = 11, 14
_LIMB_BONES = (2, 3, 5, 6, 12, 13, 15, 16)
_LIMBS: dict[str, tuple[int, ...]] = {
    # bones (by child joint) of each limb below its root joint (hip or shoulder)
    "right_leg": (2, 3), "left_leg": (5, 6), "left_arm": (12, 13), "right_arm": (15, 16),
}
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("right_leg", "left_leg"), ("left_arm", "right_arm"), ("right_leg",), ("left_leg",),
    ("left_arm",), ("right_arm",))
_LEG_BONES = frozenset((2, 3, 5, 6))


def _unit(v: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return out


def _frame(left: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Rows (left, up, forward) of an orthonormal right-handed frame, ``(..., 3, 3)``."""
    lft = _unit(left)
    u = _unit(up - (up * lft).sum(-1, keepdim=True) * lft)
    fwd = torch.linalg.cross(lft, u, dim=-1)
    return torch.stack([lft, u, fwd], -2)


def body_frames(poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pelvis and thorax frames of H36M-17 poses: rows (left, up, forward), ``(..., 3, 3)``.

    Pelvis frame: left along right hip -> left hip, up towards the thorax. Thorax frame: left
    along right shoulder -> left shoulder, up from the spine to the thorax.

    Examples:
        >>> from poselift.data.synthetic import rest_pose
        >>> pelvis, thorax = body_frames(torch.from_numpy(rest_pose()))
        >>> pelvis.round(decimals=6).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    pelvis = _frame(poses[..., _LHIP, :] - poses[..., _RHIP, :],
                    poses[..., _THORAX, :] - poses[..., _PELVIS, :])
    thorax = _frame(poses[..., _LSH, :] - poses[..., _RSH, :],
                    poses[..., _THORAX, :] - poses[..., _SPINE, :])
    return pelvis, thorax


@lru_cache(maxsize=1)
def _ancestors() -> np.ndarray[Any, Any]:
    n = _SK.num_joints
    a = np.zeros((n, n))
    for j in range(n):
        k = j
        while _SK.parents[k] >= 0:
            a[j, k] = 1.0
            k = _SK.parents[k]
    return a


def _bones(poses: torch.Tensor) -> torch.Tensor:
    parents = [p if p >= 0 else j for j, p in enumerate(_SK.parents)]
    return poses - poses[..., parents, :]


def _rebuild(root: torch.Tensor, bones: torch.Tensor) -> torch.Tensor:
    a = torch.as_tensor(_ancestors(), dtype=bones.dtype, device=bones.device)
    return root.unsqueeze(-2) + torch.einsum("jk,...kc->...jc", a, bones)


def _rotation(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` rotations about coordinate axis ``axis`` (0 x, 1 y, 2 z) by ``angle``."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    rows = [[one if r == k else zero for k in range(3)] for r in range(3)]
    rows[i][i], rows[i][j], rows[j][i], rows[j][j] = c, -s, s, c
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def _uniform(rng: tuple[float, float], shape: tuple[int, ...], g: torch.Generator | None,
             like: torch.Tensor) -> torch.Tensor:
    u = torch.rand(shape, generator=g, dtype=like.dtype, device=like.device)
    return rng[0] + (rng[1] - rng[0]) * u


def _log_uniform(rng: tuple[float, float], shape: tuple[int, ...], g: torch.Generator | None,
                 like: torch.Tensor) -> torch.Tensor:
    return torch.exp(_uniform((math.log(rng[0]), math.log(rng[1])), shape, g, like))


def _check_range(name: str, value: tuple[float, float] | None, positive: bool = True) -> None:
    if value is None:
        return
    ok = (len(value) == 2 and all(math.isfinite(v) for v in value) and value[0] <= value[1]
          and (not positive or value[0] > 0))
    if not ok:
        kind = "0 < low <= high" if positive else "low <= high"
        raise ValueError(f"{name}: expected a (low, high) range with {kind}, got {value!r}")


@dataclass(frozen=True)
class BodyVariation:
    """Random body proportions and joint definitions, applied to world poses.

    Args:
        hip_width: distance between the two hip joints in metres, drawn log-uniformly
            (default (0.10, 0.35)); None keeps the data's.
        shoulder_width: distance between the shoulders in metres, log-uniform (default
            (0.18, 0.45)); None keeps the data's.
        torso: factor of each torso bone (pelvis -> spine, spine -> thorax), default
            (0.85, 1.2); None: unchanged.
        hip_tilt_deg: the hip joints are swung up/down (about the body's forward axis) and
            forward/back (about its up axis) by up to this many degrees, mirrored on both
            sides (default 15).
        shoulder_tilt_deg: the same for the shoulders (default 15).
        head_length: factor of the thorax -> nose and nose -> head-top bones (default
            (0.75, 1.3)); None: unchanged.
        head_pitch_deg: those two bones are pitched forward/back by up to this many degrees
            (default 20): where a skeleton or a detector puts its nose and head top.
        limb_asymmetry: each limb bone is further scaled by ``1 + U(-a, a)``, left and right
            independently (default 0.03).
        face_scale: eyes and ears of the input layout (its ``face`` points) are moved away
            from or towards the nose by this factor (default (0.75, 1.35)): other faces and
            other detectors' eye and ear positions. None: unchanged.

    Examples:
        >>> import torch
        >>> from poselift.data.synthetic import rest_pose
        >>> world = torch.from_numpy(rest_pose()).expand(8, 3, 17, 3).clone()
        >>> out = BodyVariation()(world, generator=torch.Generator().manual_seed(0))
        >>> out.shape, bool(torch.equal(out[:, 0], out[:, 1]))     # one body per sample
        (torch.Size([8, 3, 17, 3]), True)
    """

    hip_width: tuple[float, float] | None = (0.10, 0.35)
    shoulder_width: tuple[float, float] | None = (0.18, 0.45)
    torso: tuple[float, float] | None = (0.85, 1.2)
    hip_tilt_deg: float = 15.0
    shoulder_tilt_deg: float = 15.0
    head_length: tuple[float, float] | None = (0.75, 1.3)
    head_pitch_deg: float = 20.0
    limb_asymmetry: float = 0.03
    face_scale: tuple[float, float] | None = (0.75, 1.35)

    def __post_init__(self) -> None:
        for name in ("hip_width", "shoulder_width", "torso", "head_length", "face_scale"):
            _check_range(name, getattr(self, name))
        for name in ("hip_tilt_deg", "shoulder_tilt_deg", "head_pitch_deg"):
            v = getattr(self, name)
            if not 0.0 <= v <= 90.0:
                raise ValueError(f"{name}: expected degrees in [0, 90], got {v!r}")
        if not 0.0 <= self.limb_asymmetry < 1.0:
            raise ValueError(f"limb_asymmetry: expected a fraction in [0, 1), got "
                             f"{self.limb_asymmetry!r}")

    def __call__(self, world: torch.Tensor, *, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """``(B, T, 17, 3)`` H36M-17 poses -> the same motion on other bodies."""
        g = generator
        b = world.shape[0]
        pelvis_f, thorax_f = body_frames(world)
        frames = torch.stack([pelvis_f, thorax_f], 2)  # (B, T, 2, 3, 3)
        which = torch.zeros(17, dtype=torch.long, device=world.device)
        which[[_LSH, _RSH, _NOSE, _HEAD, 12, 13, 15, 16]] = 1
        fj = frames[:, :, which]  # (B, T, 17, 3, 3): the frame each bone is expressed in
        local = torch.einsum("btjik,btjk->btji", fj, _bones(world))
        eye = torch.eye(3, dtype=world.dtype, device=world.device)
        rot = eye.expand(b, 17, 3, 3).clone()

        def swing(left: int, right: int, limit: float) -> None:
            a = torch.deg2rad(_uniform((-limit, limit), (b,), g, world))   # up/down
            c = torch.deg2rad(_uniform((-limit, limit), (b,), g, world))   # forward/back
            rot[:, left] = _rotation(1, c) @ _rotation(2, a)
            rot[:, right] = _rotation(1, -c) @ _rotation(2, -a)

        if self.hip_tilt_deg > 0:
            swing(_LHIP, _RHIP, self.hip_tilt_deg)
        if self.shoulder_tilt_deg > 0:
            swing(_LSH, _RSH, self.shoulder_tilt_deg)
        if self.head_pitch_deg > 0:
            lim = self.head_pitch_deg
            for j in (_NOSE, _HEAD):
                rot[:, j] = _rotation(0, torch.deg2rad(_uniform((-lim, lim), (b,), g, world)))
        local = torch.einsum("bjik,btjk->btji", rot, local)
        factor = torch.ones(b, 17, dtype=world.dtype, device=world.device)
        if self.hip_width is not None:
            now = (local[:, 0, _LHIP] - local[:, 0, _RHIP]).norm(dim=-1).clamp_min(1e-6)
            f = _log_uniform(self.hip_width, (b,), g, world) / now
            factor[:, _LHIP] = factor[:, _RHIP] = f
        if self.shoulder_width is not None:
            now = (local[:, 0, _LSH] - local[:, 0, _RSH]).norm(dim=-1).clamp_min(1e-6)
            f = _log_uniform(self.shoulder_width, (b,), g, world) / now
            factor[:, _LSH] = factor[:, _RSH] = f
        if self.torso is not None:
            factor[:, [_SPINE, _THORAX]] = _uniform(self.torso, (b, 2), g, world)
        if self.head_length is not None:
            factor[:, [_NOSE, _HEAD]] = _uniform(self.head_length, (b, 2), g, world)
        if self.limb_asymmetry > 0:
            a = self.limb_asymmetry
            factor[:, list(_LIMB_BONES)] *= 1 + _uniform((-a, a), (b, len(_LIMB_BONES)), g, world)
        local = local * factor[:, None, :, None]
        bones = torch.einsum("btjki,btjk->btji", fj, local)
        return _rebuild(world[..., _PELVIS, :], bones)

    def face_points(self, points: torch.Tensor, face: tuple[int, ...], anchor: int | None, *,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Move the ``face`` points of ``(B, T, J, 3)`` input points about ``anchor``.

        One factor per sample and side-symmetric (both eyes, both ears move alike).
        """
        if self.face_scale is None or not face or anchor is None:
            return points
        b = points.shape[0]
        s = _uniform(self.face_scale, (b,), generator, points)[:, None, None]
        idx = [j for j in face if j != anchor]
        out = points.clone()
        nose = points[:, :, anchor : anchor + 1]
        out[:, :, idx] = nose + s[..., None] * (points[:, :, idx] - nose)
        return out


@dataclass(frozen=True)
class PartRecombination:
    """New poses from familiar parts: limbs taken from other samples, limbs swung.

    Args:
        swap: probability per sample that a limb group (both legs, both arms, or one limb)
            takes the configuration of the same group of another sample of the batch,
            expressed in the body's frame (pelvis frame for legs, thorax frame for arms) and
            rebuilt with the sample's own bone lengths (default 0.3).
        swing: probability per sample that one limb is rotated about its root joint (hip or
            shoulder) by up to ``swing_deg`` about the body's left axis (forward/back) and
            half that about its forward axis (sideways), constant over the window
            (default 0.0).
        swing_deg: largest swing, degrees (default 60).

    Examples:
        >>> import torch
        >>> from poselift.data.synthetic import rest_pose
        >>> world = torch.from_numpy(rest_pose()).expand(4, 2, 17, 3).clone()
        >>> out = PartRecombination(swap=1.0)(world, generator=torch.Generator())
        >>> torch.allclose(out, world, atol=1e-6)    # identical bodies: nothing changes
        True
    """

    swap: float = 0.3
    swing: float = 0.0
    swing_deg: float = 60.0

    def __post_init__(self) -> None:
        for name in ("swap", "swing"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {v!r}")
        if not 0.0 <= self.swing_deg <= 180.0:
            raise ValueError(f"swing_deg: expected degrees in [0, 180], got {self.swing_deg!r}")

    def __call__(self, world: torch.Tensor, *, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """``(B, T, 17, 3)`` H36M-17 poses -> recombined poses (same bone lengths)."""
        g = generator
        b = world.shape[0]
        dev = world.device
        pelvis_f, thorax_f = body_frames(world)
        bones = _bones(world)
        lengths = bones.norm(dim=-1, keepdim=True)
        # every limb bone in its body frame: legs in the pelvis frame, arms in the thorax frame
        leg = torch.tensor([j in _LEG_BONES for j in range(17)], device=dev)
        fj = torch.where(leg[None, None, :, None, None], pelvis_f.unsqueeze(2),
                         thorax_f.unsqueeze(2))
        local = torch.einsum("btjik,btjk->btji", fj, bones)
        direction = local / lengths.clamp_min(1e-9)
        new = direction.clone()
        if self.swap > 0 and b > 1:
            donor = torch.randperm(b, generator=g, device=dev)
            chosen = torch.rand(b, generator=g, device=dev) < self.swap
            group = torch.randint(len(_GROUPS), (b,), generator=g, device=dev)
            mask = torch.zeros(b, 17, dtype=torch.bool, device=dev)
            for k, names in enumerate(_GROUPS):
                js = [j for n in names for j in _LIMBS[n]]
                sel = chosen & (group == k)
                mask[sel.nonzero().squeeze(-1)[:, None], torch.tensor(js, device=dev)] = True
            new = torch.where(mask[:, None, :, None], direction[donor], new)
        if self.swing > 0:
            chosen = torch.rand(b, generator=g, device=dev) < self.swing
            limb = torch.randint(len(_LIMBS), (b,), generator=g, device=dev)
            lim = math.radians(self.swing_deg)
            pitch = _uniform((-lim, lim), (b,), g, world)
            side = _uniform((-lim / 2, lim / 2), (b,), g, world)
            r = _rotation(2, side) @ _rotation(0, pitch)  # (B, 3, 3)
            for k, name in enumerate(_LIMBS):
                js = list(_LIMBS[name])
                sel = chosen & (limb == k)
                if bool(sel.any()):
                    turned = torch.einsum("bik,btjk->btji", r, new[:, :, js])
                    new[:, :, js] = torch.where(sel[:, None, None, None], turned, new[:, :, js])
        out_bones = torch.einsum("btjki,btjk->btji", fj, new * lengths)
        keep = ~torch.tensor([j in _LEG_BONES or j in (12, 13, 15, 16) for j in range(17)],
                             device=dev)
        out_bones = torch.where(keep[None, None, :, None], bones, out_bones)
        return _rebuild(world[..., _PELVIS, :], out_bones)
