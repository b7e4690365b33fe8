"""Check the rarity flag: lift error by occurrence decile of the *lifted* pose (no ground truth).

Like the paper's Fig. 5b, but the occurrence is that of the pose the network produced
(:func:`poselift.rarity_flag.pose_rarity` against the shipped training-pose reference), so
it is available at inference time. For each set it prints the MPJPE (mm) of each decile of
the lifted poses' occurrence (rarest first), of the poses flagged rare and of the others, and
writes a figure.

Sets: the rare-pose protocol ``p3-rare10`` (the 10% rarest P1 test poses by ground-truth
occurrence) and the whole P1 test split (``p1-style``, frame step 4), through the
``h36m-like`` rig with ground-truth 2D, lifted frame by frame with the shipped single-frame
weights through :func:`poselift.lift`.

Usage:
    python tools/rarity_check.py [--data ../shared/data] [--weights sr.coco sr.h36m]
                                    [--png docs/img/lifted_rarity_deciles.png]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import poselift
from poselift.data import load_protocol
from poselift.models import get_weights
from poselift.rarity_flag import pose_rarity

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))


def deciles(occ: np.ndarray, err: np.ndarray) -> list[float]:
    """Mean error per decile of ``occ``, rarest first."""
    rank = np.argsort(np.argsort(occ, kind="stable"), kind="stable")
    dec = rank * 10 // len(occ)
    return [float(err[dec == d].mean()) for d in range(10)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"directory holding bandai/ (default: {DEFAULT_DATA})")
    p.add_argument("--weights", nargs="+", default=["sr.coco", "sr.h36m"])
    p.add_argument("--sets", nargs="+", default=["p3-rare10", "p1-style"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--png", type=Path, default=REPO / "docs" / "img" /
                   "lifted_rarity_deciles.png")
    p.add_argument("--no-png", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    curves: dict[str, list[float]] = {}
    for name in args.sets:
        for weights in args.weights:
            start = time.perf_counter()
            skeleton = get_weights(weights).meta.get("input_skeleton", "h36m")
            data = load_protocol(name, args.data, "test", frame_step=4, layout=skeleton)
            pred = poselift.lift(data.keypoints2d, skeleton=skeleton, model=weights,
                                 temporal=False)
            err = 1000.0 * np.linalg.norm(pred - data.poses3d, axis=-1).mean(-1)
            rar = pose_rarity(pred)
            occ = np.asarray(rar.occurrence)
            rare = np.asarray(rar.rare)
            group = np.asarray(rar.rare_groups).any(-1)
            dec = deciles(occ, err)
            curves[f"{name} / {weights}"] = dec
            rows.append((name, weights, len(err), float(err.mean()), float(rare.mean()),
                         float(err[rare].mean()) if rare.any() else float("nan"),
                         float(err[~rare].mean()) if (~rare).any() else float("nan"), dec,
                         float(group.mean()), float(err[group].mean()),
                         float(err[~group].mean()), float((rare & ~group).sum() / max(
                             rare.sum(), 1)), time.perf_counter() - start))
    print(f"rarity threshold {rar.threshold:.4f} (whole pose)")
    print("| set | weights | poses | MPJPE | flagged rare | MPJPE flagged | MPJPE others | "
          "MPJPE by decile of the lifted pose's occurrence, rarest first |")
    print("|---|---|---|---|---|---|---|---|")
    for name, weights, n, mean, frac, e_rare, e_rest, dec, *_ in rows:
        print(f"| {name} | {weights} | {n} | {mean:.1f} | {100 * frac:.1f}% | {e_rare:.1f} | "
              f"{e_rest:.1f} | {' / '.join(f'{d:.1f}' for d in dec)} |")
    print()
    print("| set | weights | a group flagged | MPJPE group flagged | MPJPE others | "
          "flagged as a whole with no group flagged |")
    print("|---|---|---|---|---|---|")
    for name, weights, *_, g_frac, e_group, e_nogroup, whole_only, _ in rows:
        print(f"| {name} | {weights} | {100 * g_frac:.1f}% | {e_group:.1f} | {e_nogroup:.1f} | "
              f"{100 * whole_only:.1f}% |")
    if not args.no_png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7.5, 4.0))
        x = np.arange(1, 11)
        for label, dec in curves.items():
            ax.plot(x, dec, marker="o", label=label)
        ax.set_xticks(x)
        ax.set_xlabel("decile of the lifted pose's occurrence (1 = rarest 10%)")
        ax.set_ylabel("MPJPE (mm)")
        ax.set_title("Lift error by how rare the lifted pose is (no ground truth needed)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        args.png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.png, dpi=110)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
