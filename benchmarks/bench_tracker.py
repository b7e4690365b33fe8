"""Benchmark of poselift.detections.track: the similarity matrix of many people (issue 29).

    python benchmarks/bench_tracker.py [--people 400] [--frames 2] [--repeats 3]

``track`` builds, in every frame, the keypoint similarity of every open track with every
detection (module docstring of :mod:`poselift.detections`). Baseline, in the same process:
the same tracker with the similarity computed pair by pair in Python (the implementation
before issue 29, copied below); the two must give identical tracks. Prints the best of
``--repeats`` runs of each and their ratio.
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from unittest import mock

import numpy as np

import poselift.detections as det


def _pairwise(tracks: list[Any], frame: int, kp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The previous implementation: one Python call per (track, detection) pair."""
    out = np.zeros((len(tracks), len(kp)))
    for r, t in enumerate(tracks):
        pred = t.predict(frame)
        pts = t.last[t.valid]
        size = max(float((pts.max(0) - pts.min(0)).max()), 1.0)
        for c in range(len(kp)):
            both = t.valid & valid[c]
            if not both.any():
                continue
            either = int((t.valid | valid[c]).sum())
            d2 = ((pred[both] - kp[c, both, :2]) ** 2).sum(-1)
            out[r, c] = np.exp(-d2 / (2 * (det.KAPPA * size) ** 2)).sum() / either
    return out


def crowd(people: int, frames: int, seed: int = 0) -> det.Detections:
    """``people`` walkers spread over a large image, listed in a new order every frame."""
    rng = np.random.default_rng(seed)
    body = rng.uniform(0, 40, (17, 2))
    where = rng.uniform(0, 20000, (people, 2))
    per = []
    for f in range(frames):
        kp = np.concatenate([body[None] + where[:, None] + 2.0 * f,
                             np.ones((people, 17, 1))], -1)
        per.append(kp[rng.permutation(people)])
    return det.Detections.from_frames(per, "coco")


def best(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=400)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    dets = crowd(args.people, args.frames)
    t_new, new = best(lambda: det.track(dets, min_length=1), args.repeats)
    with mock.patch.object(det, "_similarities", _pairwise):
        t_old, old = best(lambda: det.track(dets, min_length=1), 1)
    same = len(new) == len(old) and all(
        np.array_equal(a.frames, b.frames) and np.array_equal(a.keypoints, b.keypoints,
                                                              equal_nan=True)
        for a, b in zip(new, old, strict=True))
    print(f"{args.people} people x {args.frames} frames: pair by pair {t_old:.3f} s, "
          f"vectorized {t_new:.3f} s, {t_old / t_new:.1f}x; identical tracks: {same}")


if __name__ == "__main__":
    main()
