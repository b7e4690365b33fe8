"""Evaluation protocols on the Bandai mocap (docs/protocols.md) and on Human3.6M.

:func:`load_protocol` builds the test (or training) samples of a protocol: every
``(frame, camera)`` pair of the selected clips, projected through the deterministic
``h36m-like`` rig (:data:`poselift.camera.H36M_LIKE`). Samples are ordered by clip (meta
TSV order), then frame, then camera.

========================  ===================================================================
protocol                  split
========================  ===================================================================
``p1-style``              test: style elderly/youthful (dataset 2) or old/childish (dataset 1);
                          train: every other clip
``p2-cross-set``          train: dataset 2; test: dataset 1
``p3-rare10/20``          train: P1 train; test: the 10%/20% of P1 test samples with the
                          lowest occurrence (paper Eq. 9-10)
``val-style``             validation inside P1 train (model selection without touching P1
                          test): test: style exhausted (dataset 2) or tired/sad (dataset 1);
                          train: the other P1 training clips
``val-rare10/20``         train: val-style train; test: the rarest 10%/20% of val-style test
========================  ===================================================================

Frame subsampling: frames ``0, s, 2s, ...`` of every clip (``s = frame_step``, default 4 for
both splits, as in the reference measurements), so a split has
``N = 4 * sum_clips ceil(frames / s)`` samples.

Occurrence (P3; val-rare likewise within val-style) is computed with :mod:`poselift.rarity`
on root-relative camera-coordinate 3D poses of the P1 test samples against the P1 training
samples at every 5th frame (``reference_step``) with all 4 cameras, ``sigma = 0.1`` m for
every joint, and cached on disk (``$POSELIFT_CACHE`` or ``~/.cache/poselift``) under a key
hashing every input that affects it (data file contents, frame steps, sigma, rig, code
version); a cache entry whose stored key differs is never used.

``inputs="noisy"`` adds Gaussian noise (4 px per coordinate) drawn from a generator seeded
by the clip name, so a sample's noise is the same on every run, at every ``frame_step`` and
in every protocol that contains it.

:func:`load_h36m_protocol` builds the Human3.6M protocols (Subject, Cross Action, Rare
Pose) from the preprocessed npz files with the real cameras.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from poselift._validation import check_choice
from poselift._version import __version__
from poselift.camera import Camera, RigSpec, get_rig, project, rig_cameras, world_to_camera
from poselift.data.h36m import h36m_cameras, load_h36m, load_h36m_2d
from poselift.data.layouts import InputLayout, get_input_layout
from poselift.data.mocap import (
    BANDAI_META,
    BANDAI_NPZ,
    Clip,
    DataError,
    MotionSet,
    find_bandai,
    load_bandai,
)
from poselift.models.inputs import InputContract, window_offsets
from poselift.progress import Progress, reporter
from poselift.skeletons import get_skeleton

__all__ = [
    "H36M_PROTOCOLS",
    "PROTOCOLS",
    "ProtocolData",
    "base_protocol",
    "load_h36m_protocol",
    "load_protocol",
    "p1_test_occurrence",
    "protocol_motion",
    "protocol_occurrence",
    "rare_percent",
]

PROTOCOLS = ("p1-style", "p2-cross-set", "p3-rare10", "p3-rare20", "val-style", "val-rare10",
             "val-rare20")
"""Names accepted by :func:`load_protocol`."""
H36M_PROTOCOLS = ("h36m-subject", "h36m-cross-action", "h36m-rare10", "h36m-rare20")
"""Names accepted by :func:`load_h36m_protocol`."""

DEFAULT_FRAME_STEP = 4
"""Default frame subsampling of the Bandai protocols (train and test)."""
P3_REFERENCE_STEP = 5
"""P3 occurrence reference: every 5th P1 training frame, all cameras (docs/protocols.md)."""
P3_SIGMA = 0.1
"""P3 occurrence falloff, metres, the same for every joint (docs/protocols.md)."""
NOISE_SIGMA = 4.0
"""Standard deviation of the ``"noisy"`` inputs, pixels per coordinate."""
NOISE_SEED = 6_2023
"""Base seed of the ``"noisy"`` inputs."""
CACHE_VERSION = 1
"""Bumped whenever the cached computation changes; part of every cache key."""

_P1_TEST_STYLES = {1: ("old", "childish"), 2: ("elderly", "youthful")}
_VAL_TEST_STYLES = {1: ("tired", "sad"), 2: ("exhausted",)}
"""Styles held out of P1 train by ``val-style`` (chosen to mirror P1 test: one or two styles
per dataset, a physical-state style in each; never a P1 test style)."""
_RARE_BASES = {"p3-": "p1-style", "val-rare": "val-style"}
_H36M_TRAIN = ("S1", "S5", "S6", "S7", "S8")
_H36M_TEST = ("S9", "S11")

Split = Literal["train", "test"]


@dataclass(frozen=True, eq=False)
class ProtocolData:
    """The samples of one protocol split (numpy arrays, one row per ``(frame, camera)``).

    Attributes:
        name: protocol name.
        split: ``"train"`` or ``"test"``.
        inputs: ``"gt"``, ``"noisy"`` (or a Human3.6M 2D source name).
        keypoints2d: ``(N, 17, 2)`` float32 pixels.
        poses3d: ``(N, 17, 3)`` float32 metres, camera coordinates, pelvis at the origin.
        clip: ``(N,)`` clip names.
        frame: ``(N,)`` int64 frame numbers within the clip.
        camera: ``(N,)`` int64 camera index within the rig.
        content: ``(N,)`` action (Bandai content, Human3.6M base action).
        style: ``(N,)`` style (empty for Human3.6M).
        image_size: ``(width, height)`` pixels of the rig (of the first camera for Human3.6M).
        image_sizes: ``(N, 2)`` int per-sample image size (differs only for Human3.6M).
        frame_step: the frame subsampling used.
        occurrence: ``(N,)`` float64 occurrence (P3, or when requested), else None.
        info: provenance: source, rig, sigma, reference step, cache status, build seconds.
    """

    name: str
    split: str
    inputs: str
    keypoints2d: np.ndarray[Any, Any]
    poses3d: np.ndarray[Any, Any]
    clip: np.ndarray[Any, Any]
    frame: np.ndarray[Any, Any]
    camera: np.ndarray[Any, Any]
    content: np.ndarray[Any, Any]
    style: np.ndarray[Any, Any]
    image_size: tuple[int, int]
    image_sizes: np.ndarray[Any, Any]
    frame_step: int
    occurrence: np.ndarray[Any, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.keypoints2d.shape[0])

    def __repr__(self) -> str:
        return (f"ProtocolData(name={self.name!r}, split={self.split!r}, inputs={self.inputs!r}, "
                f"samples={len(self)}, frame_step={self.frame_step}, "
                f"image_size={self.image_size}, occurrence={self.occurrence is not None})")

    def subset(self, index: np.ndarray[Any, Any] | Sequence[int]) -> ProtocolData:
        """The samples selected by an index array or boolean mask (same metadata).

        Examples:
            >>> d = _toy_protocol()
            >>> len(d), len(d.subset(d.camera == 0))
            (8, 2)
        """
        idx = np.asarray(index)
        occ = None if self.occurrence is None else self.occurrence[idx]
        return replace(
            self,
            keypoints2d=self.keypoints2d[idx], poses3d=self.poses3d[idx], clip=self.clip[idx],
            frame=self.frame[idx], camera=self.camera[idx], content=self.content[idx],
            style=self.style[idx], image_sizes=self.image_sizes[idx], occurrence=occ,
        )

    def every_kth_clip(self, k: int) -> ProtocolData:
        """The samples of every ``k``-th clip (clips in order of first appearance).

        Examples:
            >>> d = _toy_protocol()
            >>> len(d.every_kth_clip(1)), len(d.every_kth_clip(2))
            (8, 8)
        """
        k = _check_step(k, "k")
        if k == 1:
            return self
        _, first = np.unique(self.clip, return_index=True)
        keep = self.clip[np.sort(first)][::k]
        return self.subset(np.flatnonzero(np.isin(self.clip, keep)))

    @cached_property
    def _sequences(self) -> _SequenceTable:
        return _SequenceTable(self.clip, self.camera, self.frame)

    def sequences(self) -> list[np.ndarray[Any, Any]]:
        """Sample indices of every (clip, camera) sequence, each in frame order.

        Examples:
            >>> [s.tolist() for s in _toy_protocol().sequences()]
            [[0, 4], [1, 5], [2, 6], [3, 7]]
        """
        t = self._sequences
        return np.split(t.order, np.unique(t.start)[1:])

    def window_indices(self, receptive_field: int, *, causal: bool = False,
                       index: np.ndarray[Any, Any] | None = None) -> np.ndarray[Any, Any]:
        """``(N, R)`` sample indices of each sample's temporal window (edge-padded).

        Row ``i`` lists the samples of the same clip and camera at frames
        ``frame[i] - (R-1)//2 ... frame[i] + (R-1)//2`` (``R`` odd), or ending at
        ``frame[i]`` if ``causal``; frames beyond the clip repeat its first/last frame.
        Gather windows batch by batch: ``keypoints2d[idx[batch]]`` is ``(B, R, 17, 2)``.
        Needs every frame of every clip (load with ``frame_step=1``).

        Args:
            receptive_field: window length ``R``.
            causal: windows end at their sample.
            index: the rows to compute (default: every sample; ``(len(index), R)``).

        Raises:
            ValueError: frames are missing (``frame_step > 1`` or a subset was taken), or
                ``receptive_field`` is not a positive (odd, unless causal) int.

        Examples:
            >>> d = _toy_protocol()
            >>> d.window_indices(3)[d.camera == 0].tolist()
            [[0, 0, 4], [0, 4, 4]]
            >>> d.window_indices(3, causal=True, index=np.array([4])).tolist()
            [[0, 0, 4]]
        """
        offsets = window_offsets(receptive_field, causal)
        idx = np.arange(len(self)) if index is None else np.asarray(index, dtype=np.int64)
        return self._sequences.windows(idx, offsets)

    def model_inputs(self, contract: InputContract) -> np.ndarray[Any, Any]:
        """``(N, J, C)`` float32 inputs of a model for every sample, by its input contract.

        Pixels are normalized as :func:`poselift.lift` normalizes them for that model: by
        each sample's image size (``"screen"``), or by the keypoints' box (``"bbox"``: per
        frame for single-frame models, for temporal models the sliding median over each
        (clip, camera) sequence, which then must hold consecutive frames). Every joint is
        present (score 1 for models with a score channel).

        Examples:
            >>> from poselift.models.inputs import InputContract
            >>> d = _toy_protocol()
            >>> d.model_inputs(InputContract(in_features=3)).shape
            (8, 17, 3)
        """
        joints = get_skeleton(contract.skeleton).num_joints
        if self.keypoints2d.shape[1] != joints:
            raise ValueError(f"contract: the model takes {joints} joints ({contract.skeleton}), "
                             f"the ProtocolData has {self.keypoints2d.shape[1]}")
        kp = self.keypoints2d.astype(np.float64)
        sizes = self.image_sizes.astype(np.float64)
        if contract.input_norm == "screen" or not contract.temporal \
                or contract.receptive_field == 1:
            out = contract.prepare(kp[:, None], image_size=sizes, scale="frame")[:, 0]
            return np.asarray(out, dtype=np.float32)
        if not self._sequences.consecutive:
            raise ValueError("contract: a temporal model's inputs are normalized over "
                             "consecutive frames; load the protocol with frame_step=1")
        out = np.empty((*kp.shape[:-1], contract.in_features), np.float32)
        for part in self.sequences():
            out[part] = np.asarray(contract.prepare(kp[part], scale="window"))
        return out


class _SequenceTable:
    """Samples grouped into (clip, camera) sequences ordered by frame."""

    def __init__(self, clip: np.ndarray[Any, Any], camera: np.ndarray[Any, Any],
                 frame: np.ndarray[Any, Any]) -> None:
        n = len(clip)
        _, clip_id = np.unique(clip, return_inverse=True)
        cams = int(camera.max(initial=0)) + 1
        order = np.lexsort((frame, camera, clip_id))
        key = clip_id[order].astype(np.int64) * cams + camera[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.zeros(0, int)
        counts = np.diff(np.r_[starts, n])
        group = np.repeat(np.arange(len(starts)), counts)
        frames = frame[order]
        self.consecutive = bool(not n or np.array_equal(frames - frames[starts][group],
                                                         np.arange(n) - starts[group]))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        self.order = order
        self.rank = rank
        self.start = starts[group]
        self.count = counts[group]

    def windows(self, index: np.ndarray[Any, Any], offsets: np.ndarray[Any, Any]
                ) -> np.ndarray[Any, Any]:
        """``(B, R)`` sample indices of the edge-padded windows of samples ``index``."""
        if not self.consecutive:
            raise ValueError(
                "window_indices needs every frame of each clip and camera (consecutive "
                "frames); load the protocol with frame_step=1 and select the evaluated "
                "samples afterwards (e.g. predict_protocol(..., index=))"
            )
        p = self.rank[index]
        start = self.start[p][:, None]
        pos = (p - self.start[p])[:, None] + offsets[None, :]
        pos = np.clip(pos, 0, (self.count[p] - 1)[:, None])
        out: np.ndarray[Any, Any] = self.order[start + pos]
        return out


def _toy_protocol() -> ProtocolData:
    """A tiny hand-made ProtocolData for the doctests (2 frames x 4 cameras)."""
    n = 8
    return ProtocolData(
        name="toy", split="test", inputs="gt",
        keypoints2d=np.zeros((n, 17, 2), np.float32), poses3d=np.zeros((n, 17, 3), np.float32),
        clip=np.array(["a"] * n), frame=np.repeat(np.arange(2), 4), camera=np.tile(np.arange(4), 2),
        content=np.array(["walk"] * n), style=np.array(["normal"] * n), image_size=(1000, 1000),
        image_sizes=np.full((n, 2), 1000), frame_step=1,
    )


# --- helpers --------------------------------------------------------------------------------


def _check_step(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _is_p1_test(clip: Clip) -> bool:
    return clip.meta.get("style") in _P1_TEST_STYLES.get(int(clip.meta.get("dataset", 0)), ())


def _is_val_test(clip: Clip) -> bool:
    return clip.meta.get("style") in _VAL_TEST_STYLES.get(int(clip.meta.get("dataset", 0)), ())


def base_protocol(name: str) -> str:
    """The protocol whose clips a protocol uses (``p3-rare10`` -> ``p1-style``).

    ``p3-*`` -> ``p1-style``, ``val-rare*`` -> ``val-style``, any other protocol itself. A
    rare-pose protocol trains on its base's training split and tests on a subset of its base's
    test samples.

    Examples:
        >>> base_protocol("p3-rare10"), base_protocol("val-rare20")
        ('p1-style', 'val-style')
        >>> base_protocol("p2-cross-set")
        'p2-cross-set'
    """
    check_choice(name, "name", PROTOCOLS)
    for prefix, base in _RARE_BASES.items():
        if name.startswith(prefix):
            return base
    return name


def rare_percent(name: str) -> float | None:
    """The R of a rare-pose protocol (``p3-rare10`` -> 10.0), ``None`` for the others.

    Examples:
        >>> rare_percent("val-rare20"), rare_percent("p1-style")
        (20.0, None)
    """
    base = base_protocol(name)
    if base == name:
        return None
    return float(name.rsplit("rare", 1)[1])


def protocol_motion(name: str, root: str | Path, split: Split, *,
                    motion: MotionSet | None = None) -> MotionSet:
    """The world-coordinate clips of a Bandai protocol split (for training datasets).

    Args:
        name: one of :data:`PROTOCOLS` (P3 clips are the P1 clips: P3 test is a subset of
            P1 test *samples*, see :func:`load_protocol`; likewise val-rare and val-style).
        root: the directory holding ``bandai/``.
        split: ``"train"`` or ``"test"``.
        motion: an already loaded :func:`~poselift.data.load_bandai` result (skips reading).

    Returns:
        A :class:`~poselift.data.mocap.MotionSet`.

    Examples:
        >>> ms = protocol_motion("p1-style", "../shared/data", "train")  # doctest: +SKIP
        >>> len(ms)  # doctest: +SKIP
        2359
    """
    base = base_protocol(name)
    check_choice(split, "split", ("train", "test"))
    ms = load_bandai(root) if motion is None else motion
    if base == "p2-cross-set":
        want = 2 if split == "train" else 1
        return ms.filter(lambda c: int(c.meta.get("dataset", 0)) == want)
    if base == "val-style":
        if split == "test":
            return ms.filter(_is_val_test)
        return ms.filter(lambda c: not _is_p1_test(c) and not _is_val_test(c))
    if split == "test":
        return ms.filter(_is_p1_test)
    return ms.filter(lambda c: not _is_p1_test(c))


def _noise(clip_name: str, frames: int, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """Per-clip Gaussian pixel noise for all ``frames``, ``(frames, *shape)``."""
    rng = np.random.default_rng([NOISE_SEED, zlib.crc32(clip_name.encode())])
    return rng.standard_normal((frames, *shape)) * NOISE_SIGMA


def _rig_samples(
    motion: MotionSet, rig: RigSpec, frame_step: int, inputs: str,
    report: Callable[[str], None], layout: InputLayout | None = None,
) -> dict[str, Any]:
    """Project every sampled frame of ``motion`` through ``rig`` (clip, frame, camera order).

    ``layout`` (default: H36M-17 itself) gives the 2D keypoints' points; the 3D targets stay
    H36M-17.
    """
    c = rig.num_cameras
    frames = [np.arange(0, clip.num_frames, frame_step) for clip in motion.clips]
    counts = np.array([len(f) for f in frames])
    world = np.concatenate([clip.poses[f] for clip, f in zip(motion.clips, frames, strict=True)]
                           ) if len(motion) else np.zeros((0, 17, 3), np.float32)
    n = len(world)
    kp = np.empty((n, c, 17, 2), np.float32)
    p3 = np.empty((n, c, 17, 3), np.float32)
    chunk = 65536
    for s in range(0, n, chunk):
        w = torch.from_numpy(world[s : s + chunk].astype(np.float64))
        cams = rig_cameras(w[:, 0], rig)  # (C, n)
        cam = world_to_camera(w.unsqueeze(0), cams)
        assert isinstance(cam, torch.Tensor)
        uv = project(cam if layout is None else layout(cam), cams)
        assert isinstance(uv, torch.Tensor)
        kp[s : s + chunk] = uv.permute(1, 0, 2, 3).numpy()
        p3[s : s + chunk] = (cam - cam[..., :1, :]).permute(1, 0, 2, 3).numpy()
        report(f"projected {min(s + chunk, n)}/{n} frames x {c} cameras")
    if inputs == "noisy":
        start = 0
        for clip, f in zip(motion.clips, frames, strict=True):
            noise = _noise(clip.name, clip.num_frames, (c, 17, 2))[f]
            kp[start : start + len(f)] += noise.astype(np.float32)
            start += len(f)
    clip_idx = np.repeat(np.repeat(np.arange(len(motion)), counts), c)
    names = np.array(motion.names) if len(motion) else np.zeros(0, dtype=str)
    content = np.array([str(cl.meta.get("content", "")) for cl in motion.clips])
    style = np.array([str(cl.meta.get("style", "")) for cl in motion.clips])
    empty = np.zeros(0, dtype=str)
    return {
        "keypoints2d": kp.reshape(n * c, 17, 2),
        "poses3d": p3.reshape(n * c, 17, 3),
        "clip": names[clip_idx] if len(motion) else empty,
        "frame": np.repeat(np.concatenate(frames) if frames else np.zeros(0, np.int64), c
                           ).astype(np.int64),
        "camera": np.tile(np.arange(c), n).astype(np.int64),
        "content": content[clip_idx] if len(motion) else empty,
        "style": style[clip_idx] if len(motion) else empty,
    }


_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """Content hash of ``path`` (memoized per process on path, size, mtime and inode)."""
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if memo not in _DIGESTS:
        _DIGESTS[memo] = _hash_file(path)
    return _DIGESTS[memo]


def _hash_file(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _cache_dir(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("POSELIFT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "poselift"


def _cached(
    kind: str,
    key: dict[str, Any],
    compute: Callable[[], np.ndarray[Any, Any]],
    cache_dir: str | Path | None,
    report: Callable[[str], None],
) -> tuple[np.ndarray[Any, Any], str]:
    """Load ``compute()``'s array from the cache if the stored key matches, else compute+store."""
    text = json.dumps(key, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    folder = _cache_dir(cache_dir)
    path = folder / f"{kind}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == text:
                    report(f"cache hit: {path}")
                    return np.array(z["value"]), "hit"
        except (OSError, ValueError, KeyError, EOFError):
            pass
        report(f"cache entry {path} is stale or unreadable: recomputing")
    value = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.array(text), value=value)
        os.replace(tmp, path)
        report(f"cached: {path}")
    except OSError as exc:  # a read-only cache must not break loading
        report(f"could not write the cache {path}: {exc}")
    return value, "miss"


def _occurrence(queries: np.ndarray[Any, Any], reference: np.ndarray[Any, Any], sigma: float,
                report: Callable[[str], None]) -> np.ndarray[Any, Any]:
    """Exact occurrence of ``queries`` in ``reference`` via :mod:`poselift.rarity`."""
    from poselift.rarity import OccurrenceScorer  # imported lazily: only P3 needs it

    report(f"occurrence of {len(queries)} queries against {len(reference)} reference poses "
           f"(sigma {sigma} m)")
    last = [time.perf_counter()]

    def tick(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 10.0 or done >= total:
            last[0] = now
            report(f"occurrence: {100.0 * done / max(total, 1):5.1f}%")

    scorer = OccurrenceScorer(sigma).fit(reference.astype(np.float64))
    occ = scorer.score(queries.astype(np.float64), progress=tick)
    return np.asarray(occ, dtype=np.float64)


def _rarest(occ: np.ndarray[Any, Any], percent: float) -> np.ndarray[Any, Any]:
    """Indices, in sample order, of the ``percent`` % lowest occurrences.

    Same selection as :func:`poselift.rarity.rarest`: ``floor(N * percent / 100 + 0.5)``
    samples, ties broken by sample order (stable sort).
    """
    k = max(0, min(len(occ), math.floor(len(occ) * percent / 100.0 + 0.5)))
    return np.sort(np.argsort(occ, kind="stable")[:k])


def protocol_occurrence(
    name: str,
    root: str | Path,
    *,
    frame_step: int = DEFAULT_FRAME_STEP,
    reference_step: int = P3_REFERENCE_STEP,
    sigma: float = P3_SIGMA,
    rig: str | RigSpec = "h36m-like",
    cache_dir: str | Path | None = None,
    progress: Progress = False,
    motion: MotionSet | None = None,
) -> tuple[np.ndarray[Any, Any], str]:
    """Occurrence of every test sample of a protocol against its training samples (cached).

    Queries: the test samples of ``name`` at ``frame_step`` (the order of
    ``load_protocol(name, root, "test", frame_step=frame_step)``); reference: its training
    frames ``0, r, 2r, ...`` (``r = reference_step``) seen by every rig camera. Both as
    root-relative camera-coordinate 3D poses in metres. This is what the rare-pose protocols
    select from: ``p3-rare*`` from ``"p1-style"``, ``val-rare*`` from ``"val-style"``.

    Args:
        name: ``"p1-style"`` or ``"val-style"``.
        root: the directory holding ``bandai/``.
        frame_step: frame subsampling of the queries.
        reference_step: frame subsampling of the reference.
        sigma: Gaussian falloff per joint, metres.
        rig: camera rig.
        cache_dir: cache directory (default ``$POSELIFT_CACHE`` or ``~/.cache/poselift``).
        progress: print progress to stderr (True) or pass messages to a callable.
        motion: an already loaded Bandai set (must be read from ``root``).

    Returns:
        ``(occurrence (N,) float64, cache status "hit" | "miss")``.

    Raises:
        ValueError: ``name`` has no rare-pose protocol, bad steps or sigma.
    """
    check_choice(name, "name", tuple(_RARE_BASES.values()))
    frame_step = _check_step(frame_step, "frame_step")
    reference_step = _check_step(reference_step, "reference_step")
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not sigma > 0:
        raise ValueError(f"sigma: expected a positive number of metres, got {sigma!r}")
    spec = get_rig(rig)
    report = reporter(progress)
    folder = find_bandai(root)
    key: dict[str, Any] = {
        "what": f"{name} test occurrence vs {name} train",
        "cache_version": CACHE_VERSION,
        "poselift": __version__,
        "data": {f: _file_digest(folder / f) for f in (BANDAI_NPZ, BANDAI_META)},
        "frame_step": frame_step,
        "reference_step": reference_step,
        "sigma": float(sigma),
        "rig": spec.as_dict(),
        "p1_test_styles": {str(k): list(v) for k, v in _P1_TEST_STYLES.items()},
    }
    if name == "val-style":
        key["val_test_styles"] = {str(k): list(v) for k, v in _VAL_TEST_STYLES.items()}

    def compute() -> np.ndarray[Any, Any]:
        ms = load_bandai(folder) if motion is None else motion
        test = _rig_samples(protocol_motion(name, folder, "test", motion=ms), spec,
                            frame_step, "gt", report)
        ref = _rig_samples(protocol_motion(name, folder, "train", motion=ms), spec,
                           reference_step, "gt", report)
        return _occurrence(test["poses3d"], ref["poses3d"], float(sigma), report)

    kind = "p1-occurrence" if name == "p1-style" else f"{name}-occurrence"
    return _cached(kind, key, compute, cache_dir, report)


def p1_test_occurrence(root: str | Path, **kwargs: Any) -> tuple[np.ndarray[Any, Any], str]:
    """Occurrence of every P1 test sample against the P1 training samples (cached).

    ``protocol_occurrence("p1-style", root, **kwargs)``, with the same keyword arguments
    (``frame_step``, ``reference_step``, ``sigma``, ``rig``, ``cache_dir``, ``progress``,
    ``motion``): see :func:`protocol_occurrence`.
    """
    return protocol_occurrence("p1-style", root, **kwargs)


def load_protocol(
    name: str,
    root: str | Path,
    split: Split,
    inputs: Literal["gt", "noisy"] = "gt",
    *,
    frame_step: int | None = None,
    reference_step: int = P3_REFERENCE_STEP,
    sigma: float = P3_SIGMA,
    with_occurrence: bool = False,
    cache_dir: str | Path | None = None,
    progress: Progress = False,
    layout: str | InputLayout = "h36m",
) -> ProtocolData:
    """Samples of a Bandai evaluation protocol (docs/protocols.md), through the ``h36m-like`` rig.

    Args:
        name: one of :data:`PROTOCOLS`: ``"p1-style"``, ``"p2-cross-set"``, ``"p3-rare10"``,
            ``"p3-rare20"``, or the validation split inside P1 train ``"val-style"``,
            ``"val-rare10"``, ``"val-rare20"`` (for model selection).
        root: the directory holding ``bandai/`` (e.g. ``../shared/data``).
        split: ``"train"`` or ``"test"``. P3 train is P1 train; val-rare train is
            val-style train.
        inputs: ``"gt"`` projected joints, or ``"noisy"`` (plus seeded 4 px Gaussian noise).
        frame_step: use frames ``0, s, 2s, ...`` of every clip (default 4). For P3 test it
            subsamples the P1 test candidates among which the rarest are chosen.
        reference_step: rare-pose protocols only: occurrence reference subsampling (default 5).
        sigma: rare-pose protocols only: occurrence falloff in metres (default 0.1).
        with_occurrence: P1 / val-style test only: also fill ``occurrence`` (computed as for
            the rare-pose protocols, cached).
        cache_dir: where P3 occurrence values are cached (default ``$POSELIFT_CACHE`` or
            ``~/.cache/poselift``).
        progress: print progress to stderr (True) or pass messages to a callable.
        layout: input layout of the 2D keypoints (:func:`~poselift.data.list_input_layouts`):
            ``"h36m"`` (default) or e.g. ``"coco"`` (COCO-17 points synthesized from the
            mocap, projected through the same cameras, same noise). Targets stay H36M-17.

    Returns:
        A :class:`ProtocolData` with ``N = 4 * sum_clips ceil(F / frame_step)`` samples
        (P3 test: ``floor(R% * N_P1_test + 0.5)`` of them, in sample order, with their occurrence).

    Raises:
        ValueError: unknown name/split/inputs, bad steps.
        FileNotFoundError: no Bandai data under ``root``.

    Examples:
        >>> test = load_protocol("p1-style", "../shared/data", "test")  # doctest: +SKIP
        >>> len(test), test.keypoints2d.shape[1:], test.image_size  # doctest: +SKIP
        (118440, (17, 2), (1000, 1000))
    """
    start = time.perf_counter()
    check_choice(name, "name", PROTOCOLS)
    check_choice(split, "split", ("train", "test"))
    check_choice(inputs, "inputs", ("gt", "noisy"))
    step = DEFAULT_FRAME_STEP if frame_step is None else _check_step(frame_step, "frame_step")
    report = reporter(progress)
    spec = get_rig("h36m-like")
    folder = find_bandai(root)
    report(f"reading {folder / BANDAI_NPZ}")
    ms = load_bandai(folder)
    base = base_protocol(name)
    percent = rare_percent(name)
    rare = percent is not None and split == "test"
    clips = protocol_motion(base, folder, split, motion=ms)
    lay = get_input_layout(layout)
    arrays = _rig_samples(clips, spec, step, inputs, report,
                          None if lay.name == "h36m" else lay)
    info: dict[str, Any] = {"source": str(folder), "rig": "h36m-like", "rig_spec": spec.as_dict(),
                            "clips": len(clips), "frames": int(clips.num_frames),
                            "layout": lay.name}
    if inputs == "noisy":
        info.update(noise_sigma_px=NOISE_SIGMA, noise_seed=NOISE_SEED)
    occ = None
    if rare or (with_occurrence and base in _RARE_BASES.values() and split == "test"):
        occ, status = protocol_occurrence(base, folder, frame_step=step,
                                      reference_step=reference_step, sigma=sigma,
                                      cache_dir=cache_dir, progress=report, motion=ms)
        info.update(occurrence_cache=status, reference_step=reference_step, sigma=sigma)
    data = ProtocolData(
        name=name, split=split, inputs=inputs, image_size=spec.image_size,
        image_sizes=np.tile(np.array(spec.image_size, np.int64), (len(arrays["frame"]), 1)),
        frame_step=step, occurrence=occ, info=info, **arrays,
    )
    if rare:
        assert occ is not None and percent is not None
        data = data.subset(_rarest(occ, percent))
        info.update(percent=percent, candidates=len(occ))
    info["seconds"] = round(time.perf_counter() - start, 3)
    report(f"{name} {split}: {len(data)} samples in {info['seconds']} s")
    return data


# --- Human3.6M --------------------------------------------------------------------------


def load_h36m_protocol(
    name: str,
    root: str | Path,
    split: Split,
    inputs: str = "gt",
    *,
    action: str | None = None,
    frame_step: int = 1,
    reference_step: int = 10,
    sigma: float = P3_SIGMA,
    cache_dir: str | Path | None = None,
    progress: Progress = False,
) -> ProtocolData:
    """Samples of a Human3.6M protocol from the preprocessed npz files.

    - ``h36m-subject``: train S1, S5, S6, S7, S8; test S9, S11.
    - ``h36m-cross-action``: train on one ``action`` of the training subjects; test on all
      actions of S9, S11 (Ci et al.; SRNet Table 7).
    - ``h36m-rare10`` / ``h36m-rare20``: train as Subject; test the 10% / 20% of the S9/S11
      samples (at ``frame_step``) with the lowest occurrence against the training samples
      at every ``reference_step``-th frame, all 4 cameras (cached like P3).

    3D targets are the 17 joints in each real camera's coordinates minus the pelvis;
    samples are ordered by sequence (subject, action), frame, camera.

    Args:
        name: one of :data:`H36M_PROTOCOLS`.
        root: directory holding ``data_3d_h36m.npz`` (and ``data_2d_h36m_<inputs>.npz``).
        split: ``"train"`` or ``"test"``.
        inputs: ``"gt"`` (the 3D joints projected through the calibrated cameras, with
            distortion), ``"noisy"`` (plus seeded 4 px noise), or a 2D source name read from
            ``data_2d_h36m_<inputs>.npz`` (e.g. ``"cpn_ft_h36m_dbb"``); when a 2D sequence is
            shorter than the mocap, the mocap is cut to its length (as VideoPose3D does).
        action: the training action of ``h36m-cross-action`` (e.g. ``"Walking"``).
        frame_step: frames ``0, s, 2s, ...`` of every sequence (default 1).
        reference_step: Rare Pose reference subsampling (default 10).
        sigma: Rare Pose occurrence falloff in metres.
        cache_dir: occurrence cache directory.
        progress: print progress to stderr (True) or pass messages to a callable.

    Returns:
        A :class:`ProtocolData` (``style`` is empty; ``clip`` is ``"<subject>/<action>"``).

    Raises:
        ValueError: unknown name, missing ``action`` for Cross Action, bad steps.
        DataError: malformed files.
    """
    start = time.perf_counter()
    check_choice(name, "name", H36M_PROTOCOLS)
    check_choice(split, "split", ("train", "test"))
    step = _check_step(frame_step, "frame_step")
    report = reporter(progress)
    root = Path(root)
    if name == "h36m-cross-action" and split == "train" and not action:
        raise ValueError("action: h36m-cross-action needs the training action, e.g. "
                         "action='Walking'")
    subjects = _H36M_TRAIN if split == "train" else _H36M_TEST
    path3d = root / "data_3d_h36m.npz"
    ms = load_h36m(path3d)
    present = [s for s in subjects if any(c.meta["subject"] == s for c in ms.clips)]
    clips = ms.filter(lambda c: c.meta["subject"] in subjects)
    if name == "h36m-cross-action" and split == "train":
        clips = clips.filter(lambda c: c.meta["content"] == action)
        if len(clips) == 0:
            known = sorted({c.meta["content"] for c in ms.clips})
            raise ValueError(f"action: no training sequence of {action!r}; actions: {known}")
    kp2d = None
    if inputs not in ("gt", "noisy"):
        kp2d = load_h36m_2d(root / f"data_2d_h36m_{inputs}.npz").positions
    arrays = _h36m_samples(clips, step, inputs, kp2d)
    info: dict[str, Any] = {"source": str(root), "subjects": present, "rig": "h36m-cameras"}
    if action is not None:
        info["action"] = action
    occ = None
    if name.startswith("h36m-rare") and split == "test":
        digests = {"data_3d_h36m.npz": _file_digest(path3d)}
        key = {"what": "h36m test occurrence vs train", "cache_version": CACHE_VERSION,
               "poselift": __version__, "data": digests, "frame_step": step,
               "reference_step": _check_step(reference_step, "reference_step"),
               "sigma": float(sigma), "train": list(_H36M_TRAIN), "test": list(_H36M_TEST)}

        def compute() -> np.ndarray[Any, Any]:
            ref = _h36m_samples(ms.filter(lambda c: c.meta["subject"] in _H36M_TRAIN),
                                reference_step, "gt", None)
            return _occurrence(arrays["poses3d"], ref["poses3d"], float(sigma), report)

        occ, status = _cached("h36m-occurrence", key, compute, cache_dir, report)
        info.update(occurrence_cache=status, reference_step=reference_step, sigma=sigma)
    sizes = arrays.pop("image_sizes")
    data = ProtocolData(name=name, split=split, inputs=inputs, image_size=(1000, 1002),
                        image_sizes=sizes, frame_step=step, occurrence=occ, info=info, **arrays)
    if occ is not None:
        percent = float(name.removeprefix("h36m-rare"))
        data = data.subset(_rarest(occ, percent))
        info.update(percent=percent, candidates=len(occ))
    info["seconds"] = round(time.perf_counter() - start, 3)
    return data


def _h36m_samples(
    clips: MotionSet, step: int, inputs: str,
    kp2d: dict[tuple[str, str], tuple[np.ndarray[Any, Any], ...]] | None,
) -> dict[str, Any]:
    """Per-camera samples of Human3.6M sequences, in (sequence, frame, camera) order."""
    parts: dict[str, list[np.ndarray[Any, Any]]] = {
        k: [] for k in ("keypoints2d", "poses3d", "clip", "frame", "camera", "content", "style",
                        "image_sizes", "order")}
    for ci, clip in enumerate(clips.clips):
        subject, action = clip.meta["subject"], clip.meta["action"]
        cams: tuple[Camera, ...] = h36m_cameras(subject)
        for k, cam in enumerate(cams):
            poses = clip.poses
            kp_src = None
            if kp2d is not None:
                if (subject, action) not in kp2d:
                    continue
                kp_src = kp2d[subject, action][k][..., :2]
                if len(kp_src) > len(poses):
                    raise DataError(f"2D sequence {subject}/{action} camera {k} has "
                                    f"{len(kp_src)} frames, the mocap only {len(poses)}")
                poses = poses[: len(kp_src)]
            frames = np.arange(0, len(poses), step)
            w = torch.from_numpy(poses[frames].astype(np.float64))
            pc = world_to_camera(w, cam)
            assert isinstance(pc, torch.Tensor)
            if kp_src is None:
                uv = project(pc, cam)
                assert isinstance(uv, torch.Tensor)
                kp = uv.numpy().astype(np.float32)
                if inputs == "noisy":
                    noise = _noise(f"{clip.name}#{k}", len(clip.poses), (17, 2))[frames]
                    kp = kp + noise.astype(np.float32)
            else:
                kp = kp_src[frames].astype(np.float32)
            n = len(frames)
            parts["keypoints2d"].append(kp)
            parts["poses3d"].append((pc - pc[:, :1]).numpy().astype(np.float32))
            parts["clip"].append(np.full(n, clip.name))
            parts["frame"].append(frames.astype(np.int64))
            parts["camera"].append(np.full(n, k, np.int64))
            parts["content"].append(np.full(n, str(clip.meta["content"])))
            parts["style"].append(np.full(n, ""))
            parts["image_sizes"].append(np.tile(np.array(cam.image_size, np.int64), (n, 1)))
            parts["order"].append(np.stack([np.full(n, ci), frames, np.full(n, k)], 1))
    if not parts["frame"]:
        raise ValueError("no Human3.6M samples for this protocol split (missing subjects?)")
    out = {k: np.concatenate(v) for k, v in parts.items()}
    order = out.pop("order")
    idx = np.lexsort((order[:, 2], order[:, 1], order[:, 0]))
    return {k: v[idx] for k, v in out.items()}
