"""The ``"coco"`` input layout: COCO-17 3D points synthesized from H36M-17 joints.

Joints that COCO shares with H36M-17 by name (shoulders, elbows, wrists, hips, knees,
ankles) are copied. The COCO nose is H36M joint 9 (``"nose"``; in the mocap used here a
point about 6 cm above and 9 cm in front of the neck). Eyes and ears have no H36M
counterpart; they are **synthesized** (approximations, not measurements) at fixed offsets
from the nose in a head frame estimated per pose:

- ``up``: the direction nose -> head_top;
- ``left``: the shoulder line (right_shoulder -> left_shoulder) with its ``up`` component
  removed;
- ``forward``: ``left x up`` (right-handed coordinates, which camera and world coordinates
  of poselift are).

Offsets from the nose, in metres, as (left, up, forward) (see :data:`EYE_OFFSET`,
:data:`EAR_OFFSET` and docs/inference.md for the reasoning):

- eyes: (+/-0.032, +0.03, -0.02): half a typical adult interpupillary distance (~63 mm),
  roughly 3 cm above and 2 cm behind the tip of the nose;
- ears: (+/-0.075, +0.03, -0.08): half a typical head breadth at the ears (~15 cm),
  about eye height, about 8 cm behind the nose.

Importing this module registers the layout (``poselift.data`` imports it).

Examples:
    >>> import torch
    >>> from poselift.data.layouts import get_input_layout
    >>> get_input_layout("coco")(torch.zeros(4, 17, 3) + torch.randn(17, 3)).shape
    torch.Size([4, 17, 3])
"""

from __future__ import annotations

import torch

from poselift.data.layouts import InputLayout, register_input_layout

__all__ = ["EAR_OFFSET", "EYE_OFFSET", "FACE_NORMALS", "H36M_FOR_COCO", "head_frame",
           "synthesize_coco_from_h36m"]

H36M_FOR_COCO: tuple[int | None, ...] = (
    9,  # nose
    None, None, None, None,  # eyes, ears: synthesized
    11, 14,  # shoulders (left, right)
    12, 15,  # elbows
    13, 16,  # wrists
    4, 1,  # hips
    5, 2,  # knees
    6, 3,  # ankles
)
"""For each COCO-17 joint, the H36M-17 joint it copies (``None``: synthesized)."""

EYE_OFFSET: tuple[float, float, float] = (0.032, 0.03, -0.02)
"""Left eye offset from the nose, metres, as (left, up, forward); right eye mirrors ``left``."""

EAR_OFFSET: tuple[float, float, float] = (0.075, 0.03, -0.08)
"""Left ear offset from the nose, metres, as (left, up, forward); right ear mirrors ``left``."""

_NOSE, _HEAD_TOP, _L_SHOULDER, _R_SHOULDER = 9, 10, 11, 14


def _unit(v: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return out


def head_frame(h36m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit (left, up, forward) vectors of the head, each ``(..., 3)``.

    Args:
        h36m: ``(..., 17, 3)`` H36M-17 joints, metres, right-handed coordinates.

    Returns:
        ``(left, up, forward)``, orthonormal, ``forward = left x up``.

    Examples:
        >>> import torch
        >>> p = torch.zeros(17, 3)
        >>> p[10] = torch.tensor([0.0, 1.0, 0.0]); p[11, 0] = 1.0; p[14, 0] = -1.0
        >>> [v.tolist() for v in head_frame(p)]
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    up = _unit(h36m[..., _HEAD_TOP, :] - h36m[..., _NOSE, :])
    line = h36m[..., _L_SHOULDER, :] - h36m[..., _R_SHOULDER, :]
    left = _unit(line - (line * up).sum(-1, keepdim=True) * up)
    forward = torch.linalg.cross(left, up, dim=-1)
    return left, up, forward


def synthesize_coco_from_h36m(h36m: torch.Tensor) -> torch.Tensor:
    """COCO-17 3D points from H36M-17 joints (eyes and ears synthesized, approximate).

    Args:
        h36m: ``(..., 17, 3)`` H36M-17 joints in metres (camera or world coordinates,
            right-handed).

    Returns:
        ``(..., 17, 3)`` COCO-17 points in metres, same dtype and device.

    Examples:
        >>> import torch
        >>> p = torch.zeros(17, 3)
        >>> p[10, 1] = 0.2; p[11, 0] = 0.2; p[14, 0] = -0.2
        >>> coco = synthesize_coco_from_h36m(p)
        >>> [round(v, 4) for v in coco[1].tolist()]   # left eye: +x (body's left), up, behind
        [0.032, 0.03, -0.02]
    """
    left, up, forward = head_frame(h36m)
    nose = h36m[..., _NOSE, :]

    def at(offset: tuple[float, float, float], side: float) -> torch.Tensor:
        a, b, c = offset
        return nose + side * a * left + b * up + c * forward

    synth = {1: at(EYE_OFFSET, 1.0), 2: at(EYE_OFFSET, -1.0),
             3: at(EAR_OFFSET, 1.0), 4: at(EAR_OFFSET, -1.0)}
    joints = [h36m[..., j, :] if j is not None else synth[i]
              for i, j in enumerate(H36M_FOR_COCO)]
    return torch.stack(joints, dim=-2)


FACE_NORMALS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 1.0),  # nose: straight ahead
    (0.45, 0.1, 0.89), (-0.45, 0.1, 0.89),  # eyes: ahead, a little to their side
    (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0),  # ears: to their side (seen from front and back)
)
"""Direction each COCO face point (nose, eyes, ears) faces in the head's (left, up, forward)
frame: a detector sees the point when this direction points towards the camera."""

COCO_LAYOUT = register_input_layout(
    InputLayout("coco", "coco", synthesize_coco_from_h36m, face=(0, 1, 2, 3, 4), face_anchor=0,
                face_normals=FACE_NORMALS),
    overwrite=True)
"""The registered ``"coco"`` :class:`~poselift.data.layouts.InputLayout`."""
