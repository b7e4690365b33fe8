"""Benchmark of poselift.rarity.occurrence: fast (lattice, error-bounded) vs dense (exact).

Default run (about 10 minutes on 2 cores, most of it the dense baseline):

    python benchmarks/bench_rarity.py

1. Main setting: 100,000 query poses x 200,000 reference poses, 17 joints, sigma = 0.1 m.
   Real Bandai poses in root-relative camera coordinates when ../shared/data/bandai is present
   (queries: P1 test, every 4th frame; references: P1 train, every 5th frame; 4 cameras of the
   docs/protocols.md rig; random subsets of the requested sizes), else synthetic poses.
   Both methods are timed in the same process; the fast result is compared with the dense one
   on every query, and the dense one with a plain float64 loop on a few hundred queries.
2. P3 setting (docs/protocols.md): 118,440 queries (P1 test, every 4th frame x 4 cameras) x 64,136
   references (P1 train, every 20th frame x 4 cameras), as measured in docs/results.md.

Options: --queries/--references sizes, --skip-dense (fast only), --skip-p3, --p3-dense
(also time the dense P3 run, ~3 min), --threads, --seed.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from poselift.rarity import occurrence, rarest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bandai"
TEST_STYLES = {"elderly", "youthful", "old", "childish"}


def rig_rotations() -> np.ndarray:
    """World -> camera rotations of the docs/protocols.md rig (OpenCV axes, world +Y up).

    Camera k sits at (pelvis.x + 5 sin a_k, 1.6, pelvis.z + 5 cos a_k) and looks at
    (pelvis.x, 0.9, pelvis.z); only the rotation matters for root-relative poses.
    """
    rots = []
    for a in np.deg2rad([45.0, 135.0, 225.0, 315.0]):
        eye = np.array([5.0 * np.sin(a), 1.6, 5.0 * np.cos(a)])
        target = np.array([0.0, 0.9, 0.0])
        z = target - eye
        z /= np.linalg.norm(z)
        up = np.array([0.0, 1.0, 0.0])
        y = -(up - up.dot(z) * z)  # image y points down
        y /= np.linalg.norm(y)
        x = np.cross(y, z)
        rots.append(np.stack([x, y, z]))
    return np.stack(rots)


def bandai_poses(test_step: int, train_step: int) -> tuple[np.ndarray, np.ndarray]:
    """(P1 test every test_step-th frame, P1 train every train_step-th frame), 4 cameras each,
    root-relative camera coordinates in metres, float64, shape (F * 4, 17, 3)."""
    arrays = np.load(DATA / "bandai_h36m17.npz")
    with open(DATA / "bandai_h36m17_meta.tsv", newline="") as f:
        meta = list(csv.DictReader(f, delimiter="\t"))
    test, train = [], []
    for row in meta:
        clip = arrays[row["name"]].astype(np.float64)
        clip = clip - clip[:, :1]
        if row["style"] in TEST_STYLES:
            test.append(clip[::test_step])
        else:
            train.append(clip[::train_step])
    rots = rig_rotations()

    def cams(parts: list[np.ndarray]) -> np.ndarray:
        poses = np.concatenate(parts)
        return np.einsum("kab,fjb->kfja", rots, poses).reshape(-1, 17, 3)

    return cams(test), cams(train)


def synthetic_poses(num: int, rng: np.random.Generator) -> np.ndarray:
    """Root-relative poses with a realistic spread: a standing template, random heading,
    per-joint random limb displacements growing along the kinematic chain (std 2-25 cm)."""
    template = np.array([
        [0, 0, 0], [-0.1, 0, 0], [-0.1, 0.42, 0], [-0.1, 0.84, 0], [0.1, 0, 0], [0.1, 0.42, 0],
        [0.1, 0.84, 0], [0, -0.23, 0], [0, -0.46, 0], [0, -0.56, -0.08], [0, -0.68, 0],
        [0.17, -0.45, 0], [0.2, -0.2, 0], [0.22, 0.05, 0], [-0.17, -0.45, 0], [-0.2, -0.2, 0],
        [-0.22, 0.05, 0],
    ])
    spread = np.array([0, .02, .1, .18, .02, .1, .18, .02, .04, .07, .08, .05, .15, .25, .05,
                       .15, .25])
    poses = template + rng.normal(size=(num, 17, 3)) * spread[:, None]
    poses[:, 0] = 0.0
    heading = rng.uniform(0, 2 * np.pi, num)
    c, s = np.cos(heading), np.sin(heading)
    rot = np.zeros((num, 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1, -s, c
    return np.einsum("nab,njb->nja", rot, poses)


def naive(queries: np.ndarray, reference: np.ndarray, sigma: float) -> np.ndarray:
    """Plain float64 loop over queries (the independent reference)."""
    return np.array([
        np.mean(np.exp(-((q - reference) ** 2).sum(-1) / (2 * sigma * sigma))) for q in queries
    ])


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--references", type=int, default=200_000)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--skip-dense", action="store_true")
    parser.add_argument("--skip-p3", action="store_true")
    parser.add_argument("--p3-dense", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true", help="ignore the real data")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    real = DATA.is_dir() and not args.synthetic
    print(f"# bench_rarity: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average at start {os.getloadavg()[0]:.2f}")
    if real:
        test, train = bandai_poses(4, 5)
        source = f"Bandai P1 test ({len(test)}) / train every 5th frame ({len(train)}), 4 cameras"
        queries = test[rng.choice(len(test), min(args.queries, len(test)), replace=False)]
        reference = train[rng.choice(len(train), min(args.references, len(train)), replace=False)]
    else:
        source = "synthetic poses"
        queries = synthetic_poses(args.queries, rng)
        reference = synthetic_poses(args.references, rng)
    print(f"data: {source}; queries {queries.shape}, references {reference.shape}, "
          f"sigma {args.sigma} m")

    fast, t_fast = timed(occurrence, queries, reference, args.sigma, method="fast")
    print(f"fast : {t_fast:8.2f} s")
    check = rng.choice(len(queries), 200, replace=False)
    ref_loop, t_loop = timed(naive, queries[check], reference, args.sigma)
    err_loop = np.max(np.abs(fast[check] - ref_loop) / ref_loop)
    print(f"fast vs float64 loop on 200 queries: max relative error {err_loop:.2e} "
          f"(loop took {t_loop:.1f} s)")
    if not args.skip_dense:
        dense, t_dense = timed(occurrence, queries, reference, args.sigma, method="dense")
        err = np.max(np.abs(fast - dense) / dense)
        err_dense = np.max(np.abs(dense[check] - ref_loop) / ref_loop)
        print(f"dense: {t_dense:8.2f} s   speed-up fast/dense: {t_dense / t_fast:.1f}x")
        print(f"fast vs dense on all {len(queries)} queries: max relative error {err:.2e}; "
              f"dense vs loop: {err_dense:.2e}")
        print(f"occurrence range {dense.min():.4f} .. {dense.max():.4f}")

    if real and not args.skip_p3:
        test4, train20 = bandai_poses(4, 20)
        print(f"\nP3 setting: {len(test4)} queries x {len(train20)} references, sigma 0.1 m")
        occ_fast, t_p3 = timed(occurrence, test4, train20, 0.1, method="fast")
        print(f"fast : {t_p3:8.2f} s")
        check = rng.choice(len(test4), 200, replace=False)
        loop = naive(test4[check], train20, 0.1)
        print(f"fast vs float64 loop on 200 queries: max relative error "
              f"{np.max(np.abs(occ_fast[check] - loop) / loop):.2e}")
        if args.p3_dense:
            occ_dense, t_p3d = timed(occurrence, test4, train20, 0.1, method="dense")
            print(f"dense: {t_p3d:8.2f} s   speed-up {t_p3d / t_p3:.1f}x; max relative error "
                  f"{np.max(np.abs(occ_fast - occ_dense) / occ_dense):.2e}")
            for pct in (10, 20):
                a = set(rarest(test4, train20, pct, 0.1, method="fast").tolist())
                k = len(a)
                b = set(np.argsort(occ_dense, kind="stable")[:k].tolist())
                print(f"rare {pct}%: {k} samples, {len(a ^ b) // 2} differ from the dense cut")
        print(f"occurrence range {occ_fast.min():.4f} .. {occ_fast.max():.4f}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
