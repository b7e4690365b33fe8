"""Write BVH files: any :class:`~poselift.data.bvh.BVH`, and H36M-17 sequences as animations.

:func:`poses_to_bvh` turns a sequence of H36M-17 joint positions (e.g. a lifted sequence,
root-relative or with its absolute trajectory) into a BVH animation that animation tools
(Blender, MotionBuilder, Maya) and BVH parsers load:

- **Skeleton**: one length per bone, the sequence's *median* bone length (lifted bones vary
  by a few millimetres from frame to frame; a BVH skeleton cannot). The rest pose is a
  T-pose, Y up, facing +Z, the body's left on +X. Joints with several children (pelvis,
  thorax) reach each child through a zero-length joint of its own (``RHipJoint``,
  ``LowerBack``, ``Neck``, ``LeftShoulder`` ... as in the CMU BVH files), so that every bone
  has a rotation and every joint position is reproduced exactly.
- **Rotations** from the bone directions: each joint's rotation is the smallest rotation
  (no twist) taking its bone's rest direction to the frame's direction, relative to the
  parent; the pelvis (``Hips``) and the thorax carry the orientation of the hips line and
  the shoulders line. ``Zrotation Xrotation Yrotation`` channels (``Rz @ Rx @ Ry``), degrees,
  unwrapped over time.
- **Root motion**: the ``Hips`` position channels carry the pelvis position of every frame
  (zero for root-relative poses; the absolute trajectory when there is one).

Positions are converted to the BVH's Y-up axes (``up`` names the input's up direction:
``"-y"`` for OpenCV camera coordinates, ``"y"`` or ``"z"`` for world coordinates) and
written in centimetres by default. Read back with :func:`~poselift.data.bvh.read_bvh` and
``bvh_to_h36m(bvh, "poselift")``, every joint is within float rounding of the input with
each bone at its median length and the same direction (:func:`rigid_poses`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import torch

from poselift._files import atomic_write
from poselift._validation import Array, check_array, check_choice, check_shape, to_numpy
from poselift.data.bvh import BVH, UNITS, register_bvh_mapping

__all__ = ["BVH_JOINTS", "UpAxis", "bvh_text", "poses_to_bvh", "rigid_poses", "write_bvh"]

UpAxis = Literal["-y", "y", "z"]
_UP: dict[str, np.ndarray[Any, Any]] = {  # input axes -> BVH axes (Y up), proper rotations
    "-y": np.diag([1.0, -1.0, -1.0]),
    "y": np.eye(3),
    "z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}

# name, parent node, H36M joint the node sits at, how it rotates:
#   ("aim", child H36M joint)  -> the bone from its joint to that joint
#   ("frame", (x_from, x_to), (y_from, y_to)) -> x along a line, y near another (root, thorax)
_NODES: tuple[tuple[str, int, int, tuple[Any, ...]], ...] = (
    ("Hips", -1, 0, ("frame", (1, 4), (0, 8))),
    ("RHipJoint", 0, 0, ("aim", 1)),
    ("RightUpLeg", 1, 1, ("aim", 2)),
    ("RightLeg", 2, 2, ("aim", 3)),
    ("LHipJoint", 0, 0, ("aim", 4)),
    ("LeftUpLeg", 4, 4, ("aim", 5)),
    ("LeftLeg", 5, 5, ("aim", 6)),
    ("LowerBack", 0, 0, ("aim", 7)),
    ("Spine", 7, 7, ("aim", 8)),
    ("Thorax", 8, 8, ("frame", (14, 11), (7, 8))),
    ("Neck", 9, 8, ("aim", 9)),
    ("Head", 10, 9, ("aim", 10)),
    ("LeftShoulder", 9, 8, ("aim", 11)),
    ("LeftArm", 12, 11, ("aim", 12)),
    ("LeftForeArm", 13, 12, ("aim", 13)),
    ("RightShoulder", 9, 8, ("aim", 14)),
    ("RightArm", 15, 14, ("aim", 15)),
    ("RightForeArm", 16, 15, ("aim", 16)),
)
_END_SITES = {3: 3, 6: 6, 11: 10, 14: 13, 17: 16}  # node -> H36M joint of its End Site
# rest directions (Y up, facing +Z, left = +X) of the bone from a joint to its child
_REST = {
    1: (-1, 0, 0), 2: (0, -1, 0), 3: (0, -1, 0),
    4: (1, 0, 0), 5: (0, -1, 0), 6: (0, -1, 0),
    7: (0, 1, 0), 8: (0, 1, 0), 9: (0, 1, 0), 10: (0, 1, 0),
    11: (1, 0, 0), 12: (1, 0, 0), 13: (1, 0, 0),
    14: (-1, 0, 0), 15: (-1, 0, 0), 16: (-1, 0, 0),
}
_H36M_PARENT = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

BVH_JOINTS: dict[str, int] = {
    "Hips": 0, "RightUpLeg": 1, "RightLeg": 2, "RightLeg_End": 3,
    "LeftUpLeg": 4, "LeftLeg": 5, "LeftLeg_End": 6, "Spine": 7, "Thorax": 8,
    "Head": 9, "Head_End": 10, "LeftArm": 11, "LeftForeArm": 12, "LeftForeArm_End": 13,
    "RightArm": 14, "RightForeArm": 15, "RightForeArm_End": 16,
}
"""BVH joint (or End Site) of a :func:`poses_to_bvh` file -> the H36M-17 joint it sits at."""


def _unit(v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out: np.ndarray[Any, Any] = v / np.where(n > 1e-12, n, 1.0)
    return out


def _swing(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``(F, 3, 3)`` smallest rotations taking unit ``a (3,)`` to unit ``b (F, 3)``."""
    v = np.cross(a, b)
    c = b @ a
    vx = np.zeros((*b.shape[:-1], 3, 3))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    near = c < -1.0 + 1e-9  # opposite directions: a half turn about an axis normal to a
    k = 1.0 / np.where(near, 1.0, 1.0 + c)
    out: np.ndarray[Any, Any] = np.eye(3) + vx + (vx @ vx) * k[..., None, None]
    if near.any():
        e = np.eye(3)[int(np.argmin(np.abs(a)))]
        axis = _unit(np.cross(a, e))
        out[near] = 2.0 * np.outer(axis, axis) - np.eye(3)
    return out


def _frame(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``(F, 3, 3)`` rotations with columns ``x``, ``y`` (orthogonalized), ``x cross y``."""
    ex = _unit(x)
    ey = _unit(y - (y * ex).sum(-1, keepdims=True) * ex)
    ez = np.cross(ex, ey)
    return np.stack([ex, ey, ez], -1)


def _euler_zxy(R: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Degrees ``(z, x, y)`` with ``R = Rz(z) @ Rx(x) @ Ry(y)``; ``(F, 3)``."""
    cx = np.hypot(R[..., 0, 1], R[..., 1, 1])  # |cos x|, accurate near +-90 degrees
    x = np.arctan2(R[..., 2, 1], cx)
    lock = cx < 1e-6  # gimbal lock: only z + y (or z - y) is defined; y = 0
    z = np.where(lock, np.arctan2(R[..., 1, 0], R[..., 0, 0]),
                 np.arctan2(-R[..., 0, 1], R[..., 1, 1]))
    y = np.where(lock, 0.0, np.arctan2(-R[..., 2, 0], R[..., 2, 2]))
    out: np.ndarray[Any, Any] = np.degrees(np.stack([z, x, y], -1))
    return out


def _check_sequence(poses: object) -> tuple[Array, np.ndarray[Any, Any]]:
    x = check_array(poses, "poses")
    check_shape(x, "poses", "(T, J, 3)", J=17)
    if x.shape[0] == 0:
        raise ValueError("poses: expected at least one frame, got shape (0, 17, 3)")
    p = to_numpy(x).astype(np.float64)
    if not np.isfinite(p).all():
        raise ValueError("poses: expected finite joint positions (no NaN/inf)")
    return x, p


def _bone_lengths(p: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``(17,)`` median length of the bone from each joint's parent to it (0 for the root)."""
    out = np.zeros(17)
    for j, parent in enumerate(_H36M_PARENT):
        if parent >= 0:
            out[j] = float(np.median(np.linalg.norm(p[:, j] - p[:, parent], axis=-1)))
    return out


def rigid_poses(poses: Array) -> Array:
    """The poses with every bone at the sequence's median length, directions kept.

    What a :func:`poses_to_bvh` file holds: the pelvis where it was, then each joint at its
    parent plus the median bone length along the frame's bone direction.

    Args:
        poses: ``(T, 17, 3)`` H36M-17 joint positions.

    Returns:
        ``(T, 17, 3)`` float64, same kind as ``poses``.

    Examples:
        >>> import numpy as np
        >>> from poselift.data.synthetic import rest_pose
        >>> p = np.stack([rest_pose()] * 3).astype(np.float64)
        >>> p[2, 3] = p[2, 2] + (p[2, 3] - p[2, 2]) * 1.5        # a stretched shin
        >>> rigid = rigid_poses(p)
        >>> float(np.abs(rigid - p[0]).max()) < 1e-6            # back to the median length
        True
    """
    x, p = _check_sequence(poses)
    length = _bone_lengths(p)
    out = np.empty_like(p)
    out[:, 0] = p[:, 0]
    for j, parent in enumerate(_H36M_PARENT):
        if parent >= 0:
            out[:, j] = out[:, parent] + length[j] * _unit(p[:, j] - p[:, parent])
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(out).to(x.device)
    return out


def poses_to_bvh(
    poses: Array,
    *,
    fps: float = 30.0,
    up: UpAxis = "-y",
    units: str = "cm",
) -> BVH:
    """A BVH animation of an H36M-17 sequence (see the module docstring for the rules).

    Args:
        poses: ``(T, 17, 3)`` joint positions in metres: root-relative (the pelvis stays at
            the origin) or absolute (the pelvis positions become the root motion).
        fps: frames per second of the sequence.
        up: the up direction of ``poses``' axes: ``"-y"`` (OpenCV camera coordinates, the
            default: ``(x, y, z)`` is written as ``(x, -y, -z)``), ``"y"`` (Y-up world, as
            is) or ``"z"`` (Z-up world such as Human3.6M's: ``(x, z, -y)``).
        units: length unit of the file: ``"cm"`` (default), ``"m"``, ``"mm"`` or ``"inch"``.

    Returns:
        A :class:`~poselift.data.bvh.BVH` (save it with :func:`write_bvh`).

    Raises:
        ValueError: bad shapes, non-finite positions, bad ``fps``/``up``/``units``.

    Examples:
        >>> import numpy as np
        >>> from poselift.data.synthetic import rest_pose
        >>> walk = np.stack([rest_pose() + [0.0, 0.0, 0.02 * f] for f in range(5)])
        >>> bvh = poses_to_bvh(walk, fps=25.0, up="y")
        >>> bvh.num_frames, bvh.fps, len(bvh.names)
        (5, 25.0, 23)
        >>> from poselift.data.bvh import bvh_to_h36m
        >>> back = bvh_to_h36m(bvh, "poselift", units="cm")
        >>> float(np.abs(back - walk).max()) < 1e-6
        True
    """
    _, p = _check_sequence(poses)
    check_choice(up, "up", tuple(_UP))
    unit = check_choice(units, "units", tuple(UNITS))
    if isinstance(fps, bool | np.bool_) or not isinstance(
            fps, int | float | np.integer | np.floating) or not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps: expected a positive number of frames per second, got {fps!r}")
    p = p @ _UP[up].T
    length = _bone_lengths(p)
    glob: list[np.ndarray[Any, Any]] = []
    local: list[np.ndarray[Any, Any]] = []
    offsets: list[tuple[float, float, float]] = []
    for _, parent, at, rule in _NODES:
        if rule[0] == "frame":
            (xa, xb), (ya, yb) = rule[1], rule[2]
            g = _frame(p[:, xb] - p[:, xa], p[:, yb] - p[:, ya])
        else:
            child = rule[1]
            want = _unit(p[:, child] - p[:, at])
            rest = np.asarray(_REST[child], dtype=np.float64)
            if parent < 0:
                g = _swing(rest, want)
            else:
                rel = np.einsum("fji,fj->fi", glob[parent], want)  # R_parent^T @ want
                g = glob[parent] @ _swing(rest, rel)
        glob.append(g)
        local.append(g if parent < 0 else np.swapaxes(glob[parent], -1, -2) @ g)
        if parent < 0 or _NODES[parent][2] == at:
            offsets.append((0.0, 0.0, 0.0))
        else:
            bone = length[at] * np.asarray(_REST[at], dtype=np.float64)
            offsets.append((float(bone[0]), float(bone[1]), float(bone[2])))
    names: list[str] = []
    parents: list[int] = []
    all_offsets: list[tuple[float, float, float]] = []
    channels: list[tuple[str, ...]] = []
    node_index: dict[int, int] = {}
    columns: list[np.ndarray[Any, Any]] = []
    rot = ("Zrotation", "Xrotation", "Yrotation")
    for k, (name, parent, _, _) in enumerate(_NODES):
        node_index[k] = len(names)
        names.append(name)
        parents.append(-1 if parent < 0 else node_index[parent])
        all_offsets.append(offsets[k])
        angles = np.unwrap(_euler_zxy(local[k]), period=360.0, axis=0)
        if parent < 0:
            channels.append(("Xposition", "Yposition", "Zposition", *rot))
            columns.append(p[:, 0])
        else:
            channels.append(rot)
        columns.append(angles)
        if k in _END_SITES:
            j = _END_SITES[k]
            bone = length[j] * np.asarray(_REST[j], dtype=np.float64)
            names.append(f"{name}_End")
            parents.append(node_index[k])
            all_offsets.append((float(bone[0]), float(bone[1]), float(bone[2])))
            channels.append(())
    scale = 1.0 / UNITS[unit]
    motion = np.concatenate(columns, axis=1)
    motion[:, :3] *= scale
    off = np.asarray(all_offsets) * scale
    return BVH(names=tuple(names), parents=tuple(parents), offsets=off,
               channels=tuple(channels), motion=motion, frame_time=1.0 / float(fps),
               path="<poses_to_bvh>")


def bvh_text(bvh: BVH, *, decimals: int = 6) -> str:
    """The BVH file text of a :class:`~poselift.data.bvh.BVH` (tabs, one line per frame).

    End Sites are the joints named ``"<parent>_End"`` without channels or children.

    Examples:
        >>> text = '''HIERARCHY
        ... ROOT hips
        ... { OFFSET 0 0 0
        ...   CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
        ...   End Site { OFFSET 0 -40 0 } }
        ... MOTION
        ... Frames: 1
        ... Frame Time: 0.04
        ... 1 2 3 0 90 0'''
        >>> print(bvh_text(BVH.parse(text), decimals=1))      # doctest: +NORMALIZE_WHITESPACE
        HIERARCHY
        ROOT hips
        {
            OFFSET 0.0 0.0 0.0
            CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
            End Site
            {
                OFFSET 0.0 -40.0 0.0
            }
        }
        MOTION
        Frames: 1
        Frame Time: 0.04
        1.0 2.0 3.0 0.0 90.0 0.0
    """
    if not isinstance(bvh, BVH):
        raise TypeError(f"bvh: expected a poselift.data.BVH, got {type(bvh).__name__}")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 12:
        raise ValueError(f"decimals: expected an int in [0, 12], got {decimals!r}")
    children: dict[int, list[int]] = {i: [] for i in range(len(bvh.names))}
    for j, parent in enumerate(bvh.parents):
        if parent >= 0:
            children[parent].append(j)
    fmt = f"{{:.{decimals}f}}"

    def num(v: float) -> str:
        s = fmt.format(float(v))
        return fmt.format(0.0) if float(s) == 0.0 else s  # no "-0.000000"

    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        name = bvh.names[j]
        parent = bvh.parents[j]
        end = (not bvh.channels[j] and not children[j] and parent >= 0
               and name == f"{bvh.names[parent]}_End")
        if end:
            lines.append(f"{pad}End Site")
        else:
            lines.append(f"{pad}{'ROOT' if parent < 0 else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {' '.join(num(v) for v in bvh.offsets[j])}")
        if not end:
            lines.append(f"{pad}\tCHANNELS {len(bvh.channels[j])} {' '.join(bvh.channels[j])}"
                         .rstrip())
        for c in children[j]:
            emit(c, depth + 1)
        lines.append(f"{pad}}}")

    roots = [j for j, parent in enumerate(bvh.parents) if parent < 0]
    if len(roots) != 1:
        raise ValueError(f"bvh: expected exactly one root joint, got {len(roots)}")
    emit(roots[0], 0)
    lines += ["MOTION", f"Frames: {bvh.num_frames}",
              f"Frame Time: {float(f'{bvh.frame_time:.10g}')!r}"]
    lines += [" ".join(num(v) for v in row) for row in bvh.motion]
    return "\n".join(lines) + "\n"


def write_bvh(path: str | os.PathLike[str], bvh: BVH, *, decimals: int = 6) -> Path:
    """Write ``bvh`` to ``path`` (atomically: a temporary file renamed into place).

    The file gets the permissions of the other outputs (:mod:`poselift._files`): those of
    the file it replaces, or ``0o666`` minus the umask for a new file.

    Args:
        path: the ``.bvh`` file to write; its directory must exist.
        bvh: a :class:`~poselift.data.bvh.BVH` (e.g. from :func:`poses_to_bvh`).
        decimals: digits after the decimal point (default 6: 1e-6 cm, 1e-6 degree).

    Returns:
        The path written.

    Raises:
        FileNotFoundError: the directory of ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.

    Examples:
        >>> import tempfile, numpy as np
        >>> from poselift.data import read_bvh
        >>> from poselift.data.synthetic import rest_pose
        >>> out = write_bvh(Path(tempfile.mkdtemp()) / "rest.bvh",
        ...                 poses_to_bvh(rest_pose()[None], up="y"))
        >>> read_bvh(out).num_frames
        1
    """
    target = Path(path)
    text = bvh_text(bvh, decimals=decimals).encode("ascii")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"{target}: directory {str(directory)!r} does not exist")

    def write(f: IO[bytes]) -> None:
        f.write(text)

    atomic_write(target, write)
    return target


def _poselift_mapping(bvh: BVH, pos: np.ndarray[Any, Any], rot: np.ndarray[Any, Any]
                      ) -> np.ndarray[Any, Any]:
    """A :func:`poses_to_bvh` file back to H36M-17 (the BVH's axes: Y up)."""
    del rot
    out = np.empty((pos.shape[0], 17, 3))
    for name, j in BVH_JOINTS.items():
        out[:, j] = pos[:, bvh.index(name)]
    return out


register_bvh_mapping("poselift", _poselift_mapping)
