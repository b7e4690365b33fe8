"""The plain motion-capture container every reader produces, and the Bandai reader.

A :class:`MotionSet` is a tuple of :class:`Clip` s: each clip holds world-coordinate poses
``(F, J, 3)`` in metres, its frame rate and a metadata dict (``dataset``, ``content``,
``style``, ``subject``, ... whatever the source provides). Readers for BVH files
(:mod:`poselift.data.bvh`) and Human3.6M (:mod:`poselift.data.h36m`) produce the same
container.

Bad data (a truncated file, wrong shapes, NaNs, a missing metadata row) raises
:class:`DataError` naming the file and the problem. With ``on_bad="skip"`` the reader drops
the bad item instead, warns once with the count, and records every reason in
:attr:`MotionSet.skipped`.
"""

from __future__ import annotations

import csv
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from poselift._validation import check_choice
from poselift.skeletons import get_skeleton

__all__ = [
    "BANDAI_CREDIT",
    "BANDAI_META",
    "BANDAI_NPZ",
    "Clip",
    "DataError",
    "MotionSet",
    "find_bandai",
    "load_bandai",
]

OnBad = Literal["raise", "skip"]

BANDAI_NPZ = "bandai_h36m17.npz"
"""File name of the Bandai poses (one ``(F, 17, 3)`` float32 array per clip)."""
BANDAI_META = "bandai_h36m17_meta.tsv"
"""File name of the Bandai metadata table (name, dataset, content, style, frames, fps)."""
BANDAI_CREDIT = ("Bandai-Namco-Research-Motiondataset (Kobayashi et al., arXiv 2306.08861), "
                 "CC BY-NC 4.0: weights trained on it are for non-commercial use")
"""Credit and licence of the Bandai mocap, for anything derived from it (weights, results)."""


class DataError(ValueError):
    """A data file is malformed; the message names the file and the problem.

    Examples:
        >>> raise DataError("clips.npz: clip 'a': expected shape (F, 17, 3), got (5, 3)")
        Traceback (most recent call last):
        ...
        poselift.data.mocap.DataError: clips.npz: clip 'a': expected shape (F, 17, 3), got (5, 3)
    """


@dataclass(frozen=True, eq=False)
class Clip:
    """One motion clip: world poses plus metadata.

    Args:
        name: unique clip name, e.g. ``"dataset-2_walk_normal_001"``.
        poses: ``(F, J, 3)`` world coordinates in metres (float32), frames in time order.
        fps: frames per second.
        meta: free-form metadata (``dataset``, ``content``, ``style``, ``subject``, ...).

    Examples:
        >>> import numpy as np
        >>> clip = Clip("c", np.zeros((5, 17, 3), np.float32), 30.0, {"content": "walk"})
        >>> clip.num_frames, clip.meta["content"]
        (5, 'walk')
    """

    name: str
    poses: np.ndarray[Any, Any]
    fps: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        """Number of frames ``F``."""
        return int(self.poses.shape[0])

    def __repr__(self) -> str:
        return (f"Clip(name={self.name!r}, frames={self.num_frames}, fps={self.fps}, "
                f"meta={dict(self.meta)!r})")


@dataclass(frozen=True, eq=False)
class MotionSet:
    """A set of clips in one joint layout and world frame (the common reader output).

    Args:
        clips: the clips, in a stable order.
        skeleton: joint layout name of every clip's poses (default ``"h36m"``).
        up: world up axis, ``"y"`` (Bandai, BVH) or ``"z"`` (Human3.6M).
        source: where the clips came from (for messages).
        skipped: one message per item dropped with ``on_bad="skip"``.

    Examples:
        >>> import numpy as np
        >>> ms = MotionSet((Clip("a", np.zeros((3, 17, 3), np.float32), 30.0),
        ...                 Clip("b", np.zeros((4, 17, 3), np.float32), 30.0)))
        >>> len(ms), ms.num_frames, ms["b"].num_frames, ms.names
        (2, 7, 4, ('a', 'b'))
    """

    clips: tuple[Clip, ...]
    skeleton: str = "h36m"
    up: str = "y"
    source: str = ""
    skipped: tuple[str, ...] = ()
    _by_name: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clips", tuple(self.clips))
        object.__setattr__(self, "skipped", tuple(self.skipped))
        check_choice(self.up, "up", ("y", "z"))
        j = get_skeleton(self.skeleton).num_joints
        names: dict[str, int] = {}
        for i, clip in enumerate(self.clips):
            if not isinstance(clip, Clip):
                raise TypeError(f"clips[{i}]: expected a Clip, got {type(clip).__name__}")
            shape = tuple(clip.poses.shape)
            if len(shape) != 3 or shape[1:] != (j, 3) or shape[0] < 1:
                raise ValueError(
                    f"clip {clip.name!r}: expected poses of shape (F, {j}, 3) with F >= 1 for "
                    f"skeleton {self.skeleton!r}, got {shape}"
                )
            if clip.name in names:
                raise ValueError(f"duplicate clip name {clip.name!r}")
            names[clip.name] = i
        object.__setattr__(self, "_by_name", names)

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        return (f"MotionSet({len(self.clips)} clips, {self.num_frames} frames, "
                f"skeleton={self.skeleton!r}, up={self.up!r}, source={self.source!r}, "
                f"skipped={self.num_skipped})")

    def __iter__(self) -> Iterator[Clip]:
        return iter(self.clips)

    def __getitem__(self, key: int | str) -> Clip:
        """A clip by position or by name."""
        if isinstance(key, str):
            if key not in self._by_name:
                raise KeyError(f"no clip named {key!r} in {self.source or 'this MotionSet'}")
            return self.clips[self._by_name[key]]
        return self.clips[key]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        """Clip names in order."""
        return tuple(c.name for c in self.clips)

    @property
    def num_frames(self) -> int:
        """Total number of frames over all clips."""
        return sum(c.num_frames for c in self.clips)

    @property
    def num_skipped(self) -> int:
        """Number of items dropped by ``on_bad="skip"``."""
        return len(self.skipped)

    def filter(self, predicate: Callable[[Clip], bool]) -> MotionSet:
        """The clips for which ``predicate(clip)`` is true (same order, same metadata).

        Examples:
            >>> import numpy as np
            >>> ms = MotionSet((Clip("a", np.zeros((1, 17, 3), np.float32), 30.0,
            ...                      {"style": "old"}),))
            >>> len(ms.filter(lambda c: c.meta["style"] != "old"))
            0
        """
        return replace(self, clips=tuple(c for c in self.clips if predicate(c)))

    def select(self, names: Sequence[str]) -> MotionSet:
        """The clips called ``names``, in that order (``KeyError`` for unknown names)."""
        return replace(self, clips=tuple(self[n] for n in names))

    def to_y_up(self) -> MotionSet:
        """The same set in a +Y-up world (a no-op when ``up == "y"``).

        A +Z-up world (Human3.6M) is rotated by -90 degrees about x:
        ``(x, y, z) -> (x, z, -y)`` (a proper rotation; handedness is kept).

        Examples:
            >>> import numpy as np
            >>> p = np.array([[[0.0, 0.0, 1.0]] * 17], np.float32)
            >>> ms = MotionSet((Clip("a", p, 50.0),), up="z").to_y_up()
            >>> ms.up, ms["a"].poses[0, 0].tolist()
            ('y', [0.0, 1.0, -0.0])
        """
        if self.up == "y":
            return self
        clips = tuple(
            replace(c, poses=np.stack([c.poses[..., 0], c.poses[..., 2], -c.poses[..., 1]], -1))
            for c in self.clips
        )
        return replace(self, clips=clips, up="y")


class BadDataCollector:
    """Collects problems under ``on_bad``: raise at once, or record and warn at the end."""

    def __init__(self, on_bad: str, what: str) -> None:
        self.on_bad = check_choice(on_bad, "on_bad", ("raise", "skip"))
        self.what = what
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        if self.on_bad == "raise":
            raise DataError(message)
        self.messages.append(message)

    def finish(self) -> tuple[str, ...]:
        if self.messages:
            warnings.warn(
                f"skipped {len(self.messages)} bad {self.what}(s); first: {self.messages[0]} "
                "(all reasons are in MotionSet.skipped)",
                RuntimeWarning,
                stacklevel=3,
            )
        return tuple(self.messages)


def check_poses(poses: object, where: str, joints: int) -> str | None:
    """The problem with a clip's pose array, or None if it is usable (private helper)."""
    if not isinstance(poses, np.ndarray):
        return f"{where}: expected a numpy array, got {type(poses).__name__}"
    if poses.ndim != 3 or poses.shape[1:] != (joints, 3) or poses.shape[0] < 1:
        return f"{where}: expected shape (F, {joints}, 3) with F >= 1, got {tuple(poses.shape)}"
    if not np.issubdtype(poses.dtype, np.floating):
        return f"{where}: expected floating-point poses, got dtype {poses.dtype}"
    bad = int((~np.isfinite(poses)).sum())
    if bad:
        frames = np.flatnonzero(~np.isfinite(poses).all(axis=(1, 2)))
        return (
            f"{where}: {bad} NaN/inf values in poses (frames {frames[:5].tolist()}"
            f"{'...' if len(frames) > 5 else ''})"
        )
    return None


def find_bandai(root: str | Path) -> Path:
    """The directory holding the Bandai npz and meta TSV, from ``root`` or ``root/bandai``.

    Raises:
        FileNotFoundError: neither ``root`` nor ``root/bandai`` holds the two files.

    Examples:
        >>> find_bandai("/nonexistent")
        Traceback (most recent call last):
        ...
        FileNotFoundError: Bandai data not found: expected bandai_h36m17.npz and ...
    """
    root = Path(root)
    for d in (root, root / "bandai"):
        if (d / BANDAI_NPZ).is_file() and (d / BANDAI_META).is_file():
            return d
    raise FileNotFoundError(
        f"Bandai data not found: expected {BANDAI_NPZ} and {BANDAI_META} in {root} or "
        f"{root / 'bandai'}"
    )


_META_COLUMNS = ("name", "dataset", "content", "style", "frames", "fps")


def read_bandai_meta(path: str | Path) -> dict[str, dict[str, Any]]:
    """Rows of the Bandai meta TSV by clip name (private helper; raises :class:`DataError`)."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f, delimiter="\t")
            header = next(reader, None)
            if header is None or tuple(header[: len(_META_COLUMNS)]) != _META_COLUMNS:
                raise DataError(f"{path}: expected the header columns {_META_COLUMNS}, "
                                f"got {header!r}")
            rows: dict[str, dict[str, Any]] = {}
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) < len(_META_COLUMNS):
                    raise DataError(f"{path}: line {line}: expected {len(_META_COLUMNS)} columns,"
                                    f" got {len(row)}")
                name, dataset, content, style, frames, fps = row[: len(_META_COLUMNS)]
                if name in rows:
                    raise DataError(f"{path}: line {line}: duplicate clip {name!r}")
                try:
                    rows[name] = {
                        "dataset": int(dataset), "content": content, "style": style,
                        "frames": int(frames), "fps": float(fps),
                    }
                except ValueError as exc:
                    raise DataError(f"{path}: line {line}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc})") from None
    return rows


def load_bandai(
    root: str | Path,
    *,
    names: Sequence[str] | None = None,
    on_bad: OnBad = "raise",
) -> MotionSet:
    """Read the Bandai mocap (npz + meta TSV) as a :class:`MotionSet`.

    Every clip gets ``meta = {"dataset": 1 | 2, "content", "style", "subject": "",
    "source": "bandai"}`` from its TSV row, and is checked: shape ``(F, 17, 3)``, finite,
    ``F`` equal to the TSV's ``frames``. Clips come in the TSV's order.

    Args:
        root: directory holding ``bandai/`` (e.g. ``../shared/data``) or the ``bandai``
            directory itself.
        names: read only these clips (default: all in the TSV).
        on_bad: ``"raise"`` (default) raises :class:`DataError` on the first problem;
            ``"skip"`` drops bad clips, warns with the count and lists them in ``skipped``.

    Returns:
        A :class:`MotionSet` (skeleton ``"h36m"``, up ``"y"``).

    Raises:
        FileNotFoundError: the files are not there.
        DataError: a clip without a TSV row (or vice versa), wrong shape, NaNs, frame count
            mismatch, or an unreadable file.

    Examples:
        >>> ms = load_bandai("../shared/data", names=["dataset-2_walk_normal_001"])
        ... # doctest: +SKIP
        >>> ms["dataset-2_walk_normal_001"].poses.shape  # doctest: +SKIP
        (273, 17, 3)
    """
    folder = find_bandai(root)
    npz_path, meta_path = folder / BANDAI_NPZ, folder / BANDAI_META
    meta = read_bandai_meta(meta_path)
    bad = BadDataCollector(on_bad, "clip")
    clips: list[Clip] = []
    try:
        archive = np.load(npz_path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{npz_path}: cannot read the npz archive ({exc})") from None
    with archive:
        stored = set(archive.files)
        for name in stored - set(meta):
            if names is None or name in names:
                bad(f"{meta_path}: no row for clip {name!r} of {npz_path}")
        wanted = list(meta) if names is None else list(names)
        for name in wanted:
            where = f"{npz_path}: clip {name!r}"
            if name not in meta:
                if name in stored:
                    continue  # already reported above
                raise KeyError(f"no clip named {name!r} in {meta_path}")
            if name not in stored:
                bad(f"{where}: listed in {meta_path.name} but missing from the npz")
                continue
            try:
                poses = archive[name]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                bad(f"{where}: cannot read the array ({exc})")
                continue
            problem = check_poses(poses, where, 17)
            row = meta[name]
            if problem is None and poses.shape[0] != row["frames"]:
                problem = (f"{where}: has {poses.shape[0]} frames but {meta_path.name} says "
                           f"{row['frames']}")
            if problem is not None:
                bad(problem)
                continue
            info = {k: row[k] for k in ("dataset", "content", "style")}
            info.update(subject="", source="bandai")
            clips.append(Clip(name, poses.astype(np.float32, copy=False), row["fps"], info))
    return MotionSet(tuple(clips), "h36m", "y", str(folder), bad.finish())
