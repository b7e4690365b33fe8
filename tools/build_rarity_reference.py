"""Build the training-pose reference of the rarity flag (poselift/assets/rarity_reference.npz).

The reference: ``--poses`` poses drawn at random (seeded) from the P1 training split of the
Bandai mocap (``load_protocol("p1-style", DATA, "train", frame_step=5)``: every 5th frame,
the 4 cameras of the ``h36m-like`` rig, root-relative camera coordinates), scaled to the
training set's median height chain and stored as float16. The thresholds are the 10th
percentiles of the occurrence of the held-out P1 test poses (``frame_step=4``, the
candidates of the rare-pose protocol P3) against the stored reference: whole pose and each
``h36m-5`` group.

Measured and stored in the file's ``info`` (and printed):

- float16 storage: relative change of the occurrence of the P1 test poses;
- the compact reference against the full training reference (every 5th frame, all cameras,
  ~242k poses): relative error of the occurrence and how many of the rarest 10% (by the full
  reference) the compact reference flags.

Data: Bandai-Namco-Research-Motiondataset (CC BY-NC 4.0): the reference is CC BY-NC 4.0 too.

Usage:
    python tools/build_rarity_reference.py [--data ../shared/data] [--poses 5000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from poselift.absolute import height_chain
from poselift.data import load_protocol
from poselift.data.mocap import BANDAI_CREDIT
from poselift.rarity import occurrence
from poselift.rarity_flag import RarityReference, canonical_poses

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / "src" / "poselift" / "assets" / "rarity_reference.npz"
SEED = 2020
PERCENT = 10.0


def per_joint(q: np.ndarray, r: np.ndarray, sigma: float) -> np.ndarray:
    """(N, 17) per-joint mean kernel values (Eq. 10 before the mean over joints)."""
    return np.stack([np.asarray(occurrence(q[:, j : j + 1], r[:, j : j + 1], sigma))
                     for j in range(q.shape[1])], -1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"directory holding bandai/ (default: {DEFAULT_DATA})")
    p.add_argument("--poses", type=int, default=5000)
    p.add_argument("--sigma", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--skip-full", action="store_true",
                   help="do not measure against the full training reference (slow part)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    train = load_protocol("p1-style", args.data, "train", frame_step=5)
    test = load_protocol("p1-style", args.data, "test", frame_step=4)
    full = train.poses3d.astype(np.float64)
    chain = float(np.median(np.asarray(height_chain(full))))
    rng = np.random.default_rng(SEED)
    pick = np.sort(rng.choice(len(full), args.poses, replace=False))
    print(f"P1 train: {len(full)} poses, median height chain {chain:.4f} m; keeping "
          f"{len(pick)}; P1 test: {len(test)} poses")

    exact = RarityReference.from_poses(full[pick], sigma=args.sigma, chain=chain)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    exact.save(args.out)  # float16 on disk
    stored = RarityReference.load(args.out)
    queries = np.asarray(canonical_poses(test.poses3d.astype(np.float64), chain))
    pj16 = per_joint(queries, stored.poses, args.sigma)
    pj64 = per_joint(queries, exact.poses, args.sigma)
    occ16, occ64 = pj16.mean(-1), pj64.mean(-1)
    f16 = float(np.max(np.abs(occ16 / occ64 - 1)))
    part = stored.partition
    from poselift.partitions import get_partition

    groups = get_partition(part).groups
    g16 = np.stack([pj16[:, list(g)].mean(-1) for g in groups], -1)
    threshold = float(np.percentile(occ16, PERCENT))
    group_thr = tuple(float(np.percentile(g16[:, k], PERCENT)) for k in range(len(groups)))
    info = {
        "what": "rarity reference of poselift.rarity_flag: P1-train poses (Bandai mocap)",
        "licence": "CC BY-NC 4.0 (derived from the Bandai-Namco-Research-Motiondataset); "
                   "non-commercial",
        "credit": BANDAI_CREDIT,
        "source": "load_protocol('p1-style', DATA, 'train', frame_step=5): every 5th frame, "
                  "4 cameras of the h36m-like rig, root-relative camera coordinates",
        "train_poses": len(full),
        "poses": len(pick),
        "seed": SEED,
        "dtype": "float16 (root joint dropped: it is the origin)",
        "thresholds": f"{PERCENT:g}th percentile of the occurrence of the {len(test)} P1 test "
                      "poses (frame_step=4) against this reference",
        "float16_max_relative_change": f16,
        "command": "python tools/build_rarity_reference.py",
    }
    names = get_partition(part).group_names
    per_group = ", ".join(f"{n} {g:.4f}" for n, g in zip(names, group_thr, strict=True))
    print(f"thresholds: whole pose {threshold:.4f}; {per_group}")
    print(f"float16 storage: max relative change of the occurrence {f16:.2e}")
    if not args.skip_full:
        t0 = time.perf_counter()
        whole = np.asarray(canonical_poses(full, chain))
        occ_full = np.asarray(occurrence(queries, whole, args.sigma))
        rel = np.abs(occ16 / occ_full - 1)
        k = int(np.floor(len(occ_full) * PERCENT / 100 + 0.5))
        rare_full = np.argsort(occ_full, kind="stable")[:k]
        rare_small = np.argsort(occ16, kind="stable")[:k]
        agree = len(np.intersect1d(rare_full, rare_small)) / k
        info.update(full_reference_poses=len(whole),
                    relative_error_vs_full_median=float(np.median(rel)),
                    relative_error_vs_full_p99=float(np.percentile(rel, 99)),
                    relative_error_vs_full_max=float(rel.max()),
                    rarest10_agreement_with_full=agree)
        print(f"against the full reference ({len(whole)} poses, {time.perf_counter() - t0:.0f} "
              f"s): relative error median {np.median(rel):.4f}, p99 "
              f"{np.percentile(rel, 99):.4f}, max {rel.max():.4f}; rarest {PERCENT:g}% "
              f"agree {100 * agree:.1f}%")
    final = RarityReference(stored.poses, stored.sigma, stored.partition, stored.chain,
                            threshold, group_thr, info)
    final.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in "
          f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
