"""Synthetic motion in the Bandai file layout: train and test without the real mocap.

Not real motion capture: joints swing sinusoidally about a fixed rest skeleton while the
body walks and turns. Enough to exercise every training, evaluation and protocol code path
in seconds (CI, ``examples/train.py --synthetic``, the tests), never for reported numbers.

Examples:
    >>> import tempfile
    >>> from poselift.data import load_bandai
    >>> root = write_synthetic_bandai(tempfile.mkdtemp(), seed=0)
    >>> ms = load_bandai(root)
    >>> len(ms), ms.clips[0].poses.shape[1:]
    (18, (17, 3))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from poselift.skeletons import get_skeleton

__all__ = ["rest_pose", "synthetic_clip", "write_synthetic_bandai"]

_REST_OFFSETS = np.array([  # H36M-17 bone offsets from the parent, metres, +Y up, facing +Z
    [0.0, 0.0, 0.0], [-0.12, 0.0, 0.0], [0.0, -0.42, 0.0], [0.0, -0.40, 0.0],
    [0.12, 0.0, 0.0], [0.0, -0.42, 0.0], [0.0, -0.40, 0.0], [0.0, 0.22, 0.0],
    [0.0, 0.25, 0.0], [0.0, 0.08, 0.09], [0.0, 0.15, -0.07], [0.16, 0.0, 0.0],
    [0.0, -0.27, 0.0], [0.0, -0.25, 0.0], [-0.16, 0.0, 0.0], [0.0, -0.27, 0.0],
    [0.0, -0.25, 0.0]])
_CONTENT = {2: ("walk", "run", "wave-both-hands"), 1: ("bow", "kick")}
_STYLES = {2: ("normal", "active", "elderly", "youthful"), 1: ("angry", "old", "childish")}


def rest_pose() -> np.ndarray[Any, Any]:
    """``(17, 3)`` H36M-17 rest pose in metres: standing, +Y up, facing +Z, pelvis 0.9 m up.

    Examples:
        >>> rest_pose()[4].tolist()     # left hip: +X is the body's left
        [0.12, 0.9, 0.0]
    """
    sk = get_skeleton("h36m")
    pos = np.zeros((17, 3))
    for j, parent in enumerate(sk.parents):
        pos[j] = (np.array([0.0, 0.9, 0.0]) if parent < 0 else pos[parent] + _REST_OFFSETS[j])
    out: np.ndarray[Any, Any] = pos.astype(np.float32)
    return out


def _rotation(axis: np.ndarray[Any, Any], angle: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Rodrigues: ``(T,)`` angles about a unit ``axis`` -> ``(T, 3, 3)``."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = angle[:, None, None]
    out: np.ndarray[Any, Any] = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)
    return out


def synthetic_clip(rng: np.random.Generator, frames: int, content: str
                   ) -> np.ndarray[Any, Any]:
    """``(F, 17, 3)`` world poses: sinusoidal joint swings, turning and walking (+Y up).

    Args:
        rng: numpy random generator.
        frames: number of frames (30 fps).
        content: ``"walk"``, ``"run"``, ``"wave-both-hands"``, ``"bow"`` or ``"kick"`` (sets
            the swing amplitude and walking speed).

    Examples:
        >>> synthetic_clip(np.random.default_rng(0), 12, "walk").shape
        (12, 17, 3)
    """
    sk = get_skeleton("h36m")
    t = np.arange(frames) / 30.0
    amp = {"walk": 0.5, "run": 0.9, "wave-both-hands": 0.3, "bow": 0.6, "kick": 1.0}[content]
    local = []
    for _ in range(17):
        swing = amp * rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t
                                                      + rng.uniform(0, 2 * np.pi))
        side = 0.3 * amp * rng.uniform(0, 1) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t)
        local.append(_rotation(np.array([1.0, 0, 0]), swing) @ _rotation(np.array([0, 0, 1.0]),
                                                                          side))
    if content == "bow":  # bend the spine forward
        local[7] = local[7] @ _rotation(np.array([1.0, 0, 0]), 0.8 * np.sin(np.pi * t / t[-1]))
    heading = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.8, 0.8) * t / max(t[-1], 1e-6)
    glob = _rotation(np.array([0, 1.0, 0]), heading)
    speed = {"walk": 1.2, "run": 3.0}.get(content, 0.2)
    step = speed / 30.0 * np.stack([np.sin(heading), np.zeros(frames), np.cos(heading)], 1)
    pelvis = np.cumsum(step, 0) + np.array([0.0, 0.9, 0.0])
    pelvis[:, 1] += 0.03 * np.sin(2 * np.pi * 2 * t)
    rot = [np.zeros((frames, 3, 3))] * 17
    pos = np.zeros((frames, 17, 3))
    for j in range(17):
        parent = sk.parents[j]
        if parent < 0:
            rot[j] = glob @ local[j]
            pos[:, j] = pelvis
        else:
            rot[j] = rot[parent] @ local[j]
            pos[:, j] = pos[:, parent] + rot[parent] @ _REST_OFFSETS[j]
    out: np.ndarray[Any, Any] = pos.astype(np.float32)
    return out


def write_synthetic_bandai(root: str | os.PathLike[str], *, seed: int = 0,
                           clips_per_pair: int = 1) -> Path:
    """Write a small synthetic set in the Bandai file layout under ``root/bandai``.

    Two "datasets" like Bandai's (contents walk/run/wave-both-hands in dataset 2, bow/kick in
    dataset 1) in styles that include the P1 test styles, ``clips_per_pair`` clips of 60-119
    frames per (content, style). An existing set is left as it is.

    Args:
        root: directory to create ``bandai/`` in (what :func:`~poselift.data.load_bandai` and
            :func:`~poselift.data.load_protocol` take as ``root``).
        seed: seed of the motion.
        clips_per_pair: clips per (content, style).

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    root = Path(root)
    folder = root / "bandai"
    npz = folder / "bandai_h36m17.npz"
    if npz.is_file() and (folder / "bandai_h36m17_meta.tsv").is_file():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    rows = ["name\tdataset\tcontent\tstyle\tframes\tfps"]
    for dataset in (1, 2):
        for content in _CONTENT[dataset]:
            for style in _STYLES[dataset]:
                for k in range(clips_per_pair):
                    name = f"dataset-{dataset}_{content}_{style}_{k + 1:03d}"
                    frames = int(rng.integers(60, 120))
                    arrays[name] = synthetic_clip(rng, frames, content)
                    rows.append(f"{name}\t{dataset}\t{content}\t{style}\t{frames}\t30")
    tmp = folder / f".tmp-{os.getpid()}.npz"
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    (folder / "bandai_h36m17_meta.tsv").write_text("\n".join(rows) + "\n")
    os.replace(tmp, npz)
    (folder / "README.md").write_text("Synthetic poses written by poselift.data.synthetic "
                                      "(not real motion capture).\n")
    return root
