r"""TRC marker files of H36M-17 sequences, as OpenSim and Pose2Sim read them.

A TRC file ("track row column", from Motion Analysis Corp.) is the marker-trajectory file of
OpenSim (scaling, inverse kinematics) and of Pose2Sim / Sports2D. :func:`write_trc` writes
the layout OpenSim's ``TRCFileAdapter`` parses and Pose2Sim's ``make_trc`` writes
(tab-separated):

.. code-block:: text

    PathFileType 4 (X/Y/Z) <file name>
    DataRate CameraRate NumFrames NumMarkers Units OrigDataRate OrigDataStartFrame OrigNumFrames
    30 30 172 17 m 30 1 172
    Frame#  Time  Hip  <tab><tab>  RHip ...
    <tab><tab>  X1  Y1  Z1  X2  Y2  Z2 ...
    <blank line>
    1  0.000000  x  y  z  x  y  z ...

- the second line holds exactly those eight keys (OpenSim rejects any other), the third their
  values; the marker names follow ``Frame#`` and ``Time``, each followed by two empty
  columns; the ``X<i> Y<i> Z<i>`` line starts with two empty columns;
- frames are numbered from 1, ``Time = (Frame# - 1) / DataRate`` seconds;
- **missing markers** (NaN joints) are written as ``NaN`` in all three fields: OpenSim
  parses the fields with ``std::stod`` (NaN; its own writer writes missing values as
  ``nan``) and pandas (Pose2Sim's reader) reads ``NaN`` as missing. Empty fields, the other
  form OpenSim accepts, are not used: OpenSim's tokenizer drops an empty field at the end of
  a row, so a missing last marker would make the row too short;
- **units** ``m`` (metres, as Pose2Sim writes) or ``mm``;
- **axes**: OpenSim is Y-up (X forward, Z right for a model facing +X). ``up`` names the
  vertical of the input: ``"-y"`` for poselift's camera coordinates (x right, y down, z
  forward), rotated by 180 deg about x to ``(x, -y, -z)`` (Y up, Z towards the camera: a
  proper rotation, so left and right are kept); ``"y"`` is written unchanged; ``"z"`` (Z-up
  world frames) becomes ``(x, z, -y)``. These are the rotations :mod:`poselift.data.bvh_export`
  applies for BVH. The subject faces the camera, i.e. along +Z of the file for a camera-facing
  person: rotate in OpenSim (or pass world coordinates) if a model expects +X.
- **marker names** are Pose2Sim's (its ``skeletons.py`` names for the same points): ``Hip``
  (the pelvis, midpoint of the hips), ``RHip``, ``RKnee``, ``RAnkle``, ``LHip``, ``LKnee``,
  ``LAnkle``, ``Spine``, ``Neck`` (the thorax, base of the neck), ``Nose``, ``Head`` (head
  top), ``LShoulder``, ``LElbow``, ``LWrist``, ``RShoulder``, ``RElbow``, ``RWrist``.

Root-relative poses (the default of :func:`poselift.lift`) give a pelvis fixed at the origin;
for a moving body pass absolute poses, e.g. ``poselift.lift_full(..., intrinsics=K,
root="camera").poses`` (pelvis trajectory included; see docs/absolute.md).

Sources for the format: OpenSim's ``TRCFileAdapter.cpp`` (reader and writer) and Pose2Sim's
``triangulation.py`` (``make_trc``).

Examples:
    >>> import numpy as np, tempfile
    >>> poses = np.zeros((2, 17, 3)); poses[1, 10] = [0.0, -1.7, 3.0]   # camera coordinates
    >>> path = write_trc(f"{tempfile.mkdtemp()}/walk.trc", poses, fps=30)
    >>> lines = path.read_text().splitlines()
    >>> lines[2].split("\t")
    ['30', '30', '2', '17', 'm', '30', '1', '2']
    >>> lines[3].split("\t")[:5]
    ['Frame#', 'Time', 'Hip', '', '']
    >>> lines[7].split("\t")[:2], lines[7].split("\t")[2 + 3 * 10:][:3]  # head top, Y up
    (['2', '0.033333'], ['0.000000', '1.700000', '-3.000000'])
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import IO

import numpy as np

from poselift._files import atomic_write
from poselift._validation import Array, check_array, check_choice, check_shape, to_numpy

__all__ = ["TRC_MARKERS", "write_trc"]

TRC_MARKERS = (
    "Hip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Neck", "Nose",
    "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)
"""The TRC marker name of each H36M-17 joint (Pose2Sim's names), in joint order."""

_AXES = {  # input axes -> TRC axes (Y up); proper rotations
    "-y": np.diag([1.0, -1.0, -1.0]),
    "y": np.eye(3),
    "z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}
_UNITS = {"m": 1.0, "mm": 1000.0}


def write_trc(
    path: str | os.PathLike[str],
    poses: Array,
    *,
    fps: float = 30.0,
    up: str = "-y",
    units: str = "m",
    markers: tuple[str, ...] | list[str] = TRC_MARKERS,
    decimals: int = 6,
) -> Path:
    """Write an H36M-17 sequence as a TRC marker file (atomically).

    Args:
        path: the ``.trc`` file; its directory must exist.
        poses: ``(T, 17, 3)`` joint positions in metres (numpy or torch), e.g. the output of
            :func:`poselift.lift` (camera coordinates, pelvis at the origin) or the absolute
            ``lift_full(..., root="camera").poses``; ``(17, 3)`` is one frame. NaN joints are
            written as missing (``NaN``).
        fps: frames per second (``DataRate``, ``CameraRate``, ``OrigDataRate``).
        up: the input's vertical axis: ``"-y"`` (camera coordinates, default), ``"y"`` or
            ``"z"`` (world frames); see the module docstring for the rotation to Y up.
        units: ``"m"`` (default, as Pose2Sim) or ``"mm"``.
        markers: 17 marker names (default :data:`TRC_MARKERS`); no tabs or blanks.
        decimals: digits after the point.

    Returns:
        The path written.

    Raises:
        ValueError: bad shape, infinite values, a non-positive ``fps``, an unknown ``up`` or
            ``units``, or bad marker names.
        FileNotFoundError: the directory does not exist.
    """
    rotation = _AXES[check_choice(up, "up", tuple(_AXES))]
    scale = _UNITS[check_choice(units, "units", tuple(_UNITS))]
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not (
            math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps: expected a positive number, got {fps!r}")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 12:
        raise ValueError(f"decimals: expected an int in [0, 12], got {decimals!r}")
    p = to_numpy(check_array(poses, "poses")).astype(np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3:
        raise ValueError(f"poses: expected shape (T, 17, 3) or (17, 3), got {p.shape}")
    check_shape(p, "poses", "(T, J, 3)", J=17)
    if p.shape[0] == 0:
        raise ValueError("poses: expected at least one frame, got 0")
    if np.isinf(p).any():
        raise ValueError("poses: infinite values (NaN marks a missing joint; inf is an error)")
    names = [str(m) for m in markers]
    if len(names) != 17 or any(not m or any(c.isspace() for c in m) for m in names):
        raise ValueError(f"markers: expected 17 non-empty names without blanks, got {names!r}")
    if len(set(names)) != 17:
        raise ValueError(f"markers: expected 17 distinct names, got {names!r}")
    out = (p @ rotation.T) * scale
    t, n = out.shape[0], 17
    rate = f"{fps:g}"
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
        "OrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{t}\t{n}\t{units}\t{rate}\t1\t{t}",
        "Frame#\tTime\t" + "\t".join(f"{m}\t\t" for m in names).rstrip("\t"),
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, n + 1)),
        "",
    ]
    fmt = f"{{:.{decimals}f}}"
    for f in range(t):
        row = [str(f + 1), f"{f / fps:.6f}"]
        for j in range(n):
            xyz = out[f, j]
            row += ["NaN"] * 3 if np.isnan(xyz).any() else [fmt.format(v) for v in xyz]
        lines.append("\t".join(row))
    payload = ("\n".join(lines) + "\n").encode("ascii")

    def write(file: IO[bytes]) -> None:
        file.write(payload)

    dest = Path(path)
    atomic_write(dest, write)
    return dest
