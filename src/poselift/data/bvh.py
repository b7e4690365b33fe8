"""BVH motion files: parser, forward kinematics, and the Bandai -> H36M-17 mapping.

:func:`read_bvh` parses the HIERARCHY (``ROOT``/``JOINT``/``End Site``, ``OFFSET``,
``CHANNELS`` with any Euler order) and the MOTION section (``Frames``, ``Frame Time`` and
one line of channel values per frame) into a :class:`BVH`. :meth:`BVH.forward_kinematics`
gives every joint's global position and rotation per frame:

- a joint's local rotation is the product of its rotation channels in the order they are
  listed (``Zrotation Xrotation Yrotation`` -> ``Rz @ Rx @ Ry``), angles in degrees;
- its local translation is its ``OFFSET``, except that position channels, when present,
  replace the corresponding offset components;
- ``global = parent_global @ [local rotation | local translation]``.

Units: BVH files carry no unit; ``units`` (``"cm"`` by default, as in the Bandai data)
scales positions to metres.

Joint mappings turn a BVH skeleton into H36M-17 joints; the built-in ``"bandai"`` mapping
reproduces the shared Bandai npz (see ``../shared/data/bandai/README.md``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poselift._registry import Registry
from poselift._validation import check_choice
from poselift.data.mocap import BadDataCollector, Clip, DataError, MotionSet, OnBad, check_poses

__all__ = [
    "BVH",
    "BVHMapping",
    "bvh_to_h36m",
    "get_bvh_mapping",
    "list_bvh_mappings",
    "load_bvh",
    "read_bvh",
    "register_bvh_mapping",
]

UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254}
"""Scale from a BVH file's unit to metres."""

_AXES = {"X": 0, "Y": 1, "Z": 2}
_CHANNEL = re.compile(r"^([XYZ])(position|rotation)$", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class BVH:
    """A parsed BVH file (values in the file's own units).

    Args:
        names: joint names in file order (parents before children). End sites are joints
            named ``"<parent>_End"`` without channels.
        parents: parent index per joint, ``-1`` for the root.
        offsets: ``(J, 3)`` ``OFFSET`` of each joint.
        channels: channel names of each joint, e.g. ``("Xposition", ..., "Yrotation")``.
        motion: ``(F, C)`` float64 channel values, ``C = sum(len(c) for c in channels)``.
        frame_time: seconds per frame.
        path: the file it was read from (for messages).

    Examples:
        >>> text = '''HIERARCHY
        ... ROOT hips
        ... { OFFSET 0 0 0
        ...   CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
        ...   JOINT knee { OFFSET 0 -40 0 CHANNELS 3 Zrotation Xrotation Yrotation
        ...     End Site { OFFSET 0 -40 0 } } }
        ... MOTION
        ... Frames: 1
        ... Frame Time: 0.04
        ... 0 90 0 0 0 0 90 0 0'''
        >>> bvh = BVH.parse(text)
        >>> bvh.names, bvh.num_frames, bvh.fps
        (('hips', 'knee', 'knee_End'), 1, 25.0)
        >>> pos, rot = bvh.forward_kinematics(units="cm")
        >>> pos[0].round(6).tolist()     # the knee bends 90 degrees about z: foot points +x
        [[0.0, 0.9, 0.0], [0.0, 0.5, 0.0], [0.4, 0.5, 0.0]]
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray[Any, Any]
    channels: tuple[tuple[str, ...], ...]
    motion: np.ndarray[Any, Any]
    frame_time: float
    path: str = "<string>"

    @property
    def num_frames(self) -> int:
        """Number of frames ``F``."""
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        """Frames per second: ``1 / frame_time`` rounded to 0.001 (0.0333333 s -> 30.0)."""
        return round(1.0 / self.frame_time, 3)

    def index(self, name: str) -> int:
        """Index of joint ``name``; ``KeyError`` listing the joints if unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"{self.path}: no joint {name!r}; joints: {', '.join(self.names)}"
                           ) from None

    @classmethod
    def parse(cls, text: str, path: str = "<string>") -> BVH:
        """Parse BVH text (see :func:`read_bvh`); raises :class:`DataError` naming ``path``."""
        return _parse(text, path)

    def forward_kinematics(
        self, *, units: str | float = "cm"
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Global joint positions and rotations for every frame.

        Args:
            units: the file's length unit (``"m"``, ``"cm"``, ``"mm"``, ``"inch"``) or the
                scale factor to metres.

        Returns:
            ``(positions, rotations)``: ``(F, J, 3)`` metres and ``(F, J, 3, 3)`` global
            rotation matrices (float64).
        """
        scale = _scale(units)
        f = self.num_frames
        n = len(self.names)
        pos = np.zeros((f, n, 3))
        rot = np.zeros((f, n, 3, 3))
        start = 0
        for j in range(n):
            chans = self.channels[j]
            values = self.motion[:, start : start + len(chans)]
            start += len(chans)
            local_t = np.broadcast_to(self.offsets[j], (f, 3)).copy()
            local_r = np.broadcast_to(np.eye(3), (f, 3, 3))
            for c, name in enumerate(chans):
                axis, kind = _channel(name)
                if kind == "position":
                    local_t[:, axis] = values[:, c]
                else:
                    local_r = local_r @ _axis_rotation(axis, np.deg2rad(values[:, c]))
            p = self.parents[j]
            if p < 0:
                rot[:, j] = local_r
                pos[:, j] = local_t
            else:
                rot[:, j] = rot[:, p] @ local_r
                pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", rot[:, p], local_t)
        return pos * scale, rot


def _scale(units: str | float) -> float:
    if isinstance(units, str):
        return UNITS[check_choice(units, "units", tuple(UNITS))]
    if isinstance(units, bool) or not isinstance(units, int | float) or not units > 0:
        raise ValueError(f"units: expected one of {tuple(UNITS)} or a positive scale, "
                         f"got {units!r}")
    return float(units)


def _channel(name: str) -> tuple[int, str]:
    m = _CHANNEL.match(name)
    assert m is not None  # validated by the parser
    return _AXES[m.group(1).upper()], m.group(2).lower()


def _axis_rotation(axis: int, angle: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``(F, 3, 3)`` right-handed rotations by ``angle`` (radians) about ``axis``."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((*angle.shape, 3, 3))
    i, k = [a for a in range(3) if a != axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., k, k] = c
    # about x: (y, z); about y: (z, x); about z: (x, y) -- keep the cyclic order
    if axis == 1:
        i, k = k, i
    out[..., i, k] = -s
    out[..., k, i] = s
    return out


class _Tokens:
    """Whitespace tokens of the HIERARCHY section with their line numbers."""

    def __init__(self, lines: Sequence[str], path: str) -> None:
        self.items: list[tuple[str, int]] = []
        for n, line in enumerate(lines, start=1):
            for tok in line.replace("{", " { ").replace("}", " } ").split():
                self.items.append((tok, n))
        self.pos = 0
        self.path = path

    def fail(self, message: str) -> DataError:
        line = self.items[min(self.pos, len(self.items) - 1)][1] if self.items else 0
        return DataError(f"{self.path}: line {line}: {message}")

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise DataError(f"{self.path}: unexpected end of the hierarchy, expected {what}"
                            " (truncated file?)")
        tok = self.items[self.pos][0]
        self.pos += 1
        return tok

    def expect(self, word: str) -> None:
        tok = self.next(repr(word))
        if tok.upper() != word.upper():
            self.pos -= 1
            raise self.fail(f"expected {word!r}, got {tok!r}")

    def number(self, what: str) -> float:
        tok = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            self.pos -= 1
            raise self.fail(f"expected a number for {what}, got {tok!r}") from None
        if not math.isfinite(value):  # "nan", "inf" parse as floats but are no offsets
            self.pos -= 1
            raise self.fail(f"expected a finite number for {what}, got {tok!r}")
        return value


def _parse(text: str, path: str) -> BVH:
    lines = text.splitlines()
    motion_at = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise DataError(f"{path}: no MOTION section (truncated or not a BVH file?)")
    tok = _Tokens(lines[:motion_at], path)
    try:
        tok.expect("HIERARCHY")
    except DataError:
        raise DataError(f"{path}: not a BVH file (it must start with HIERARCHY)") from None
    names: list[str] = []
    parents: list[int] = []
    offsets: list[tuple[float, float, float]] = []
    channels: list[tuple[str, ...]] = []

    def joint(parent: int, end_site: bool) -> None:
        if end_site:
            if parent < 0:
                raise tok.fail("End Site outside a joint")
            name = names[parent] + "_End"
        else:
            name = tok.next("a joint name")
        if name in names:
            raise tok.fail(f"duplicate joint name {name!r}")
        index = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append((0.0, 0.0, 0.0))
        channels.append(())
        tok.expect("{")
        tok.expect("OFFSET")
        offsets[index] = (tok.number("OFFSET x"), tok.number("OFFSET y"), tok.number("OFFSET z"))
        while True:
            word = tok.next("CHANNELS, JOINT, End Site or '}'")
            key = word.upper()
            if key == "}":
                return
            if key == "CHANNELS" and not end_site:
                count = tok.number("the channel count")
                if count != int(count) or count < 0:
                    raise tok.fail(f"bad channel count {count}")
                chans = tuple(tok.next("a channel name") for _ in range(int(count)))
                bad = [c for c in chans if not _CHANNEL.match(c)]
                if bad:
                    raise tok.fail(f"unknown channel(s) {bad} of joint {name!r}")
                channels[index] = chans
            elif key == "JOINT" and not end_site:
                joint(index, False)
            elif key == "END" and not end_site:
                tok.expect("Site")
                joint(index, True)
            else:
                tok.pos -= 1
                raise tok.fail(f"unexpected {word!r} in joint {name!r}")

    tok.expect("ROOT")
    joint(-1, False)
    if tok.pos != len(tok.items):
        raise tok.fail(f"unexpected {tok.items[tok.pos][0]!r} after the root joint")

    # MOTION section
    rest = [(i + 1, ln) for i, ln in enumerate(lines[motion_at + 1 :], start=motion_at + 1)
            if ln.strip()]
    if len(rest) < 2:
        raise DataError(f"{path}: MOTION section lacks 'Frames:' and 'Frame Time:' (truncated?)")
    m_frames = re.match(r"^\s*Frames\s*:\s*(\d+)\s*$", rest[0][1], re.IGNORECASE)
    m_time = re.match(r"^\s*Frame\s+Time\s*:\s*(\S+)\s*$", rest[1][1], re.IGNORECASE)
    if m_frames is None:
        raise DataError(f"{path}: line {rest[0][0]}: expected 'Frames: N', got {rest[0][1]!r}")
    if m_time is None:
        raise DataError(f"{path}: line {rest[1][0]}: expected 'Frame Time: T', "
                        f"got {rest[1][1]!r}")
    n_frames = int(m_frames.group(1))
    try:
        frame_time = float(m_time.group(1))
    except ValueError:
        frame_time = float("nan")
    if not frame_time > 0 or not np.isfinite(frame_time):
        raise DataError(f"{path}: line {rest[1][0]}: bad frame time {m_time.group(1)!r}")
    data = rest[2:]
    n_chan = sum(len(c) for c in channels)
    if len(data) < n_frames:
        raise DataError(f"{path}: MOTION declares {n_frames} frames but has {len(data)} data "
                        "lines (truncated file?)")
    if len(data) > n_frames:
        raise DataError(f"{path}: line {data[n_frames][0]}: MOTION declares {n_frames} frames "
                        f"but has {len(data)} data lines")
    try:
        values = np.array(" ".join(ln for _, ln in data).split(), dtype=np.float64)
    except ValueError:
        values = None
    if values is None or values.size != n_frames * n_chan or not np.isfinite(values).all():
        for line_no, ln in data:  # find the first offending line for the message
            toks = ln.split()
            if len(toks) != n_chan:
                raise DataError(f"{path}: line {line_no}: expected {n_chan} channel values, "
                                f"got {len(toks)}")
            try:
                row = np.array(toks, dtype=np.float64)
            except ValueError:
                bad = next(t for t in toks if not _is_float(t))
                raise DataError(f"{path}: line {line_no}: not a number: {bad!r}") from None
            if not np.isfinite(row).all():
                raise DataError(f"{path}: line {line_no}: NaN/inf channel values")
    assert values is not None
    return BVH(
        names=tuple(names),
        parents=tuple(parents),
        offsets=np.array(offsets, dtype=np.float64).reshape(-1, 3),
        channels=tuple(channels),
        motion=values.reshape(n_frames, n_chan),
        frame_time=frame_time,
        path=path,
    )


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_bvh(path: str | Path) -> BVH:
    """Read and parse a BVH file.

    Args:
        path: the ``.bvh`` file.

    Returns:
        The parsed :class:`BVH` (values in the file's units).

    Raises:
        DataError: the file is truncated or garbled; the message names the file, the line
            and the problem.
        FileNotFoundError: no such file.

    Examples:
        >>> read_bvh("missing.bvh")
        Traceback (most recent call last):
        ...
        FileNotFoundError: ...
    """
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc})") from None
    return _parse(text, str(path))


# --- mappings to H36M-17 ------------------------------------------------------------------

BVHMapping = Callable[[BVH, np.ndarray[Any, Any], np.ndarray[Any, Any]], np.ndarray[Any, Any]]
"""``mapping(bvh, positions (F, J, 3) m, rotations (F, J, 3, 3)) -> (F, 17, 3)`` metres."""

_MAPPINGS: Registry[BVHMapping] = Registry("BVH mapping")


def register_bvh_mapping(name: str, mapping: BVHMapping, *, overwrite: bool = False
                         ) -> BVHMapping:
    """Register a function turning BVH forward kinematics into H36M-17 joints.

    Examples:
        >>> def pelvis_only(bvh, pos, rot):
        ...     return np.repeat(pos[:, :1], 17, axis=1)
        >>> _ = register_bvh_mapping("doc-pelvis", pelvis_only)
        >>> "doc-pelvis" in list_bvh_mappings()
        True
    """
    return _MAPPINGS.register(name, mapping, overwrite=overwrite)


def get_bvh_mapping(name: str) -> BVHMapping:
    """The mapping registered as ``name`` (built in: ``"bandai"``).

    Examples:
        >>> callable(get_bvh_mapping("bandai"))
        True
    """
    return _MAPPINGS.get(name)


def list_bvh_mappings() -> list[str]:
    """Names of the registered BVH -> H36M-17 mappings.

    Examples:
        >>> "bandai" in list_bvh_mappings()
        True
    """
    return _MAPPINGS.names()


# H36M-17 joint -> Bandai BVH joint (single joints); the rest are built below.
_BANDAI_DIRECT = {
    1: "UpperLeg_R", 2: "LowerLeg_R", 3: "Foot_R",
    4: "UpperLeg_L", 5: "LowerLeg_L", 6: "Foot_L",
    8: "Neck",
    11: "UpperArm_L", 12: "LowerArm_L", 13: "Hand_L",
    14: "UpperArm_R", 15: "LowerArm_R", 16: "Hand_R",
}
# Points fixed in the Head joint's frame (x up the neck, y forward, z left), metres.
_BANDAI_NOSE = np.array([0.06, 0.09, 0.0])
_BANDAI_HEAD_TOP = np.array([0.17, 0.02, 0.0])


def _bandai(bvh: BVH, pos: np.ndarray[Any, Any], rot: np.ndarray[Any, Any]
            ) -> np.ndarray[Any, Any]:
    """The Bandai-Namco-Research-Motiondataset skeleton -> H36M-17 (README's exact recipe)."""
    out = np.empty((pos.shape[0], 17, 3))
    for h, name in _BANDAI_DIRECT.items():
        out[:, h] = pos[:, bvh.index(name)]
    out[:, 0] = 0.5 * (pos[:, bvh.index("UpperLeg_L")] + pos[:, bvh.index("UpperLeg_R")])
    out[:, 7] = 0.5 * (pos[:, bvh.index("Spine")] + pos[:, bvh.index("Chest")])
    head = bvh.index("Head")
    out[:, 9] = pos[:, head] + rot[:, head] @ _BANDAI_NOSE
    out[:, 10] = pos[:, head] + rot[:, head] @ _BANDAI_HEAD_TOP
    return out


register_bvh_mapping("bandai", _bandai)


def bvh_to_h36m(bvh: BVH, mapping: str | BVHMapping = "bandai", *, units: str | float = "cm"
                ) -> np.ndarray[Any, Any]:
    """H36M-17 world joints of every frame of a BVH.

    Args:
        bvh: a parsed file (:func:`read_bvh`).
        mapping: a registered mapping name (``"bandai"``) or a mapping function.
        units: the file's length unit or scale to metres (Bandai: ``"cm"``).

    Returns:
        ``(F, 17, 3)`` float32 world coordinates in metres (the BVH's world axes; Bandai: +Y up).

    Raises:
        DataError: the BVH lacks a joint the mapping needs.
    """
    fn = get_bvh_mapping(mapping) if isinstance(mapping, str) else mapping
    pos, rot = bvh.forward_kinematics(units=units)
    try:
        out = fn(bvh, pos, rot)
    except KeyError as exc:
        raise DataError(f"{bvh.path}: the {mapping!r} mapping needs a joint the file lacks "
                        f"({exc.args[0]})") from None
    return np.asarray(out, dtype=np.float32)


_BANDAI_NAME = re.compile(r"^dataset-(\d+)_(.+)_([^_]+)_(\d+)$")


def load_bvh(
    paths: str | Path | Sequence[str | Path],
    *,
    mapping: str | BVHMapping = "bandai",
    units: str | float = "cm",
    on_bad: OnBad = "raise",
) -> MotionSet:
    """Read BVH files into a :class:`MotionSet` of H36M-17 world poses.

    The clip name is the file stem. With the ``"bandai"`` mapping, names of the form
    ``dataset-<d>_<content>_<style>_<nnn>`` fill ``meta`` with ``dataset``, ``content`` and
    ``style`` (like :func:`~poselift.data.load_bandai`).

    Args:
        paths: a ``.bvh`` file, a directory (all ``*.bvh`` in it, sorted) or a list of files.
        mapping: the joint mapping (see :func:`bvh_to_h36m`).
        units: the files' length unit.
        on_bad: ``"raise"`` or ``"skip"`` (bad files are counted, warned about and listed
            in ``MotionSet.skipped``).

    Returns:
        A :class:`MotionSet` (skeleton ``"h36m"``, up ``"y"``).

    Examples:
        >>> load_bvh([], on_bad="skip").num_frames
        0
    """
    if isinstance(paths, str | Path):
        p = Path(paths)
        files = sorted(p.glob("*.bvh")) if p.is_dir() else [p]
    else:
        files = [Path(x) for x in paths]
    bad = BadDataCollector(on_bad, "BVH file")
    clips: list[Clip] = []
    for file in files:
        try:
            bvh = read_bvh(file)
            poses = bvh_to_h36m(bvh, mapping, units=units)
        except (DataError, FileNotFoundError) as exc:
            bad(str(exc))
            continue
        problem = check_poses(poses, str(file), 17)
        if problem is not None:
            bad(problem)
            continue
        meta: dict[str, Any] = {"subject": "", "source": str(file)}
        m = _BANDAI_NAME.match(file.stem)
        if mapping == "bandai" and m is not None:
            meta.update(dataset=int(m.group(1)), content=m.group(2), style=m.group(3))
        clips.append(Clip(file.stem, poses, bvh.fps, meta))
    return MotionSet(tuple(clips), "h36m", "y", ", ".join(map(str, files)), bad.finish())
