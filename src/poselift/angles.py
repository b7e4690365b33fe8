"""Joint angles of H36M-17 poses: knee, elbow, hip and shoulder flexion, trunk lean (degrees).

Pure numpy on ``(..., 17, 3)`` joint positions (any unit; any right-handed axes, e.g. the
camera coordinates :func:`poselift.lift` returns or a world frame). The conventions:

- **Knee / elbow flexion**: ``180 deg`` minus the 3D angle at the joint between the two
  segments (hip-knee-ankle, shoulder-elbow-wrist). ``0`` is a straight limb, ``90`` a right
  angle; always in ``[0, 180]`` (unsigned: a knee cannot tell flexion from hyperextension
  from three points).
- **Body frame** (per pose, from the trunk): *up* is pelvis -> thorax, *left* is right hip
  -> left hip made perpendicular to *up*, *forward* is ``left x up`` (the direction the chest
  faces, in a right-handed frame). The sagittal plane is spanned by *up* and *forward*.
- **Hip flexion**: the angle of the thigh (hip -> knee), projected onto the sagittal plane,
  from the trunk's downward direction (``-up``), positive towards *forward*:
  ``atan2(thigh . forward, thigh . -up)``. ``0`` standing, ``90`` thigh horizontal in front,
  negative = extension (thigh behind the trunk); in ``(-180, 180]``. Abduction (sideways) is
  not part of it.
- **Shoulder flexion**: the same for the upper arm (shoulder -> elbow): ``0`` arm hanging
  along the trunk, ``90`` horizontal in front, ``180`` straight up, negative = extension.
- **Trunk lean**: the unsigned angle between the trunk (pelvis -> thorax) and the vertical
  ``up`` direction of the coordinates (``up="-y"`` for camera coordinates: only as vertical
  as the camera is level; ``"y"`` or ``"z"`` for world coordinates). ``0`` upright, ``90``
  lying; in ``[0, 180]``.

A missing joint (NaN) or a zero-length segment gives NaN for the angles that need it.

Examples:
    >>> import numpy as np
    >>> from poselift.angles import joint_angles
    >>> p = np.zeros((17, 3))                                    # camera axes, y down
    >>> p[[1, 4]] = [[-0.1, 0, 0], [0.1, 0, 0]]                  # right hip, left hip
    >>> p[[2, 5]] = [[-0.1, 0.4, 0], [0.1, 0.4, 0]]              # knees below
    >>> p[[3, 6]] = [[-0.1, 0.8, 0], [0.1, 0.4, 0.4]]            # left knee bent 90 deg
    >>> p[7], p[8] = [0, -0.25, 0], [0, -0.5, 0]                 # spine, thorax
    >>> a = joint_angles(p)
    >>> round(float(a["right_knee"]), 6), round(float(a["left_knee"]), 6)
    (0.0, 90.0)
    >>> round(float(a["trunk_lean"]), 6)
    0.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poselift._validation import Array, check_array, check_choice, check_shape, to_numpy

__all__ = ["ANGLES", "joint_angles"]

ANGLES = (
    "left_knee", "right_knee", "left_elbow", "right_elbow",
    "left_hip", "right_hip", "left_shoulder", "right_shoulder", "trunk_lean",
)
"""The names :func:`joint_angles` returns, in this order."""

# H36M-17 indices (poselift.skeletons: "h36m")
_PELVIS, _THORAX = 0, 8
_R_HIP, _R_KNEE, _R_ANKLE, _L_HIP, _L_KNEE, _L_ANKLE = 1, 2, 3, 4, 5, 6
_L_SHOULDER, _L_ELBOW, _L_WRIST, _R_SHOULDER, _R_ELBOW, _R_WRIST = 11, 12, 13, 14, 15, 16
_UP = {"-y": (0.0, -1.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
_EPS = 1e-9


def _unit(v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > _EPS, v / np.where(n > _EPS, n, 1.0), np.nan)


def _between(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Unsigned angle between vectors, degrees (NaN for a zero or missing vector)."""
    ua, ub = _unit(a), _unit(b)
    # atan2 of |cross| and dot: accurate near 0 and 180 degrees, unlike arccos
    out: np.ndarray[Any, Any] = np.degrees(np.arctan2(np.linalg.norm(np.cross(ua, ub), axis=-1),
                                                      np.sum(ua * ub, axis=-1)))
    return out


def joint_angles(poses: Array, *, up: str = "-y") -> dict[str, np.ndarray[Any, Any]]:
    """Flexion angles of knees, elbows, hips and shoulders and the trunk lean, in degrees.

    Args:
        poses: ``(..., 17, 3)`` H36M-17 joint positions (numpy or torch), any unit, a
            right-handed frame: :func:`poselift.lift` output (camera coordinates) or world
            coordinates. NaN joints are missing.
        up: the vertical direction of those coordinates, for ``trunk_lean`` only: ``"-y"``
            (camera coordinates, y down; default), ``"y"`` or ``"z"`` (world frames).

    Returns:
        ``{name: (...) float64 array}`` for every name of :data:`ANGLES` (see the module
        docstring for the conventions: ``0`` is a straight knee/elbow, a thigh/upper arm
        along the trunk, an upright trunk). NaN where a joint it needs is missing.

    Raises:
        ValueError: ``poses`` is not ``(..., 17, 3)`` or ``up`` is unknown.

    Examples:
        >>> p = np.zeros((17, 3)); p[[1, 4]] = [[-1, 0, 0], [1, 0, 0]]; p[8] = [0, -5, 0]
        >>> p[11:14] = [[1, -5, 0], [1, -5, -3], [1, -5, -6]]   # left arm straight forward
        >>> a = joint_angles(p)
        >>> round(float(a["left_shoulder"]), 6), round(float(a["left_elbow"]), 6)
        (90.0, 0.0)
        >>> bool(np.isnan(a["right_elbow"]))                      # right arm all at 0: no angle
        True
    """
    direction = np.asarray(_UP[check_choice(up, "up", tuple(_UP))])
    p = to_numpy(check_array(poses, "poses")).astype(np.float64)
    if p.ndim < 2:
        raise ValueError(f"poses: expected shape (..., 17, 3), got {p.shape}")
    check_shape(p, "poses", "(..., J, 3)", J=17)

    def limb(a: int, b: int, c: int) -> np.ndarray[Any, Any]:
        return 180.0 - _between(p[..., a, :] - p[..., b, :], p[..., c, :] - p[..., b, :])

    trunk = p[..., _THORAX, :] - p[..., _PELVIS, :]
    body_up = _unit(trunk)
    across = p[..., _L_HIP, :] - p[..., _R_HIP, :]
    left = _unit(across - np.sum(across * body_up, axis=-1, keepdims=True) * body_up)
    forward = np.cross(left, body_up)

    def sagittal(a: int, b: int) -> np.ndarray[Any, Any]:
        seg = p[..., b, :] - p[..., a, :]
        ok = np.linalg.norm(seg, axis=-1) > _EPS
        ang = np.degrees(np.arctan2(np.sum(seg * forward, axis=-1),
                                    -np.sum(seg * body_up, axis=-1)))
        return np.where(ok, ang, np.nan)

    return {
        "left_knee": limb(_L_HIP, _L_KNEE, _L_ANKLE),
        "right_knee": limb(_R_HIP, _R_KNEE, _R_ANKLE),
        "left_elbow": limb(_L_SHOULDER, _L_ELBOW, _L_WRIST),
        "right_elbow": limb(_R_SHOULDER, _R_ELBOW, _R_WRIST),
        "left_hip": sagittal(_L_HIP, _L_KNEE),
        "right_hip": sagittal(_R_HIP, _R_KNEE),
        "left_shoulder": sagittal(_L_SHOULDER, _L_ELBOW),
        "right_shoulder": sagittal(_R_SHOULDER, _R_ELBOW),
        "trunk_lean": _between(trunk, np.broadcast_to(direction, trunk.shape)),
    }
