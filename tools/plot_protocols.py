"""Make the figures of docs/data.md from the real Bandai data.

- docs/img/rig_projections.png: a few P1 test poses in 3D (world, +Y up, with the four
  ``h36m-like`` cameras around them) beside their projections into the four cameras.
- docs/img/p1_occurrence_hist.png: the occurrence of every P1 test sample against the P1
  training samples (what P3 ranks), with the 10% / 20% cuts.

Run (needs matplotlib, ``pip install poselift[viz]``, and the data):

    python tools/plot_protocols.py [--root ../shared/data] [--out docs/img]

The occurrence comes from the on-disk cache when present (else it is computed: about a
minute and a half on 2 cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from poselift.camera import H36M_LIKE, rig_cameras
from poselift.data import load_bandai, load_protocol, p1_test_occurrence
from poselift.skeletons import get_skeleton

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
SKELETON = get_skeleton("h36m")
EXAMPLES = [("dataset-1_bow_old_001", 80), ("dataset-2_walk_elderly_001", 200),
            ("dataset-1_dash_childish_001", 40)]


def bone_color(child: int) -> str:
    name = SKELETON.joints[child]
    return "tab:red" if name.startswith("right_") else (
        "tab:blue" if name.startswith("left_") else "0.3")


def draw_2d(ax: plt.Axes, xy: np.ndarray, size: tuple[int, int]) -> None:
    for c, p in SKELETON.bones:
        ax.plot(xy[[c, p], 0], xy[[c, p], 1], color=bone_color(c), lw=2)
    ax.scatter(xy[:, 0], xy[:, 1], s=6, color="k", zorder=3)
    # zoom on the person but keep the pixel scale honest (same span in x and y)
    centre = xy.mean(0)
    half = 270.0
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)  # image y points down
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("0.96")


def draw_3d(ax: plt.Axes, pose: np.ndarray, cams: np.ndarray) -> None:
    """The pose (pelvis centred horizontally) with an arrow towards each rig camera."""
    centre = pose[0] * [1, 0, 1]
    p = pose - centre
    for ch, pa in SKELETON.bones:
        ax.plot(p[[ch, pa], 0], p[[ch, pa], 2], p[[ch, pa], 1], color=bone_color(ch), lw=2)
    for k, q in enumerate(cams - centre):
        d = q[[0, 2]] / np.linalg.norm(q[[0, 2]])
        ax.quiver(0.55 * d[0], 0.55 * d[1], 0.05, 0.35 * d[0], 0.35 * d[1], 0.0,
                  color="tab:green", lw=1.2, arrow_length_ratio=0.3)
        ax.text(0.95 * d[0], 0.95 * d[1], 0.05, f"cam {k}", fontsize=7, color="tab:green")
    ax.set_xlim(-0.9, 0.9)
    ax.set_ylim(-0.9, 0.9)
    ax.set_zlim(0, 1.8)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])
    ax.set_xlabel("x", fontsize=7, labelpad=-12)
    ax.set_ylabel("z", fontsize=7, labelpad=-12)
    ax.set_zlabel("y (up)", fontsize=7, labelpad=-12)
    ax.view_init(elev=15, azim=-60)


def rig_figure(root: Path, out: Path, occ: np.ndarray) -> Path:
    ms = load_bandai(root)
    test = load_protocol("p1-style", root, "test")
    rarest = int(np.argmin(occ))
    examples = [*EXAMPLES, (str(test.clip[rarest]), int(test.frame[rarest]))]
    fig = plt.figure(figsize=(12.5, 2.75 * len(examples)))
    for row, (name, frame) in enumerate(examples):
        pose = ms[name].poses[frame].astype(np.float64)
        positions = rig_cameras(pose[None, 0], H36M_LIKE).position[:, 0].numpy()
        ax3 = fig.add_subplot(len(examples), 5, 5 * row + 1, projection="3d")
        draw_3d(ax3, pose, positions)
        title = f"{name.removeprefix('dataset-')}\nframe {frame}"
        if row == len(examples) - 1:
            title += "  (rarest P1 test sample)"
        ax3.set_title(title, fontsize=8)
        sel = (test.clip == name) & (test.frame == frame)
        for k in range(4):
            ax = fig.add_subplot(len(examples), 5, 5 * row + 2 + k)
            xy = test.keypoints2d[sel & (test.camera == k)][0]
            draw_2d(ax, xy, test.image_size)
            if row == 0:
                ax.set_title(f"camera {k} ({H36M_LIKE.azimuths_deg[k]:.0f} deg)", fontsize=9)
    fig.suptitle("h36m-like rig: 3D pose (world, +Y up; arrows point to the cameras) and its "
                 "projections (540 px crops of the 1000 x 1000 images; blue = left, red = right)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.975))
    path = out / "rig_projections.png"
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def histogram(out: Path, occ: np.ndarray, datasets: np.ndarray) -> Path:
    order = np.sort(occ)
    cuts = {f"rarest {r}%": order[round(r / 100 * len(occ)) - 1] for r in (10, 20)}
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    bins = np.linspace(occ.min(), occ.max(), 80)
    ax.hist([occ[datasets == 2], occ[datasets == 1]], bins=bins, stacked=True,
            color=["tab:blue", "tab:orange"],
            label=[f"dataset 2 ({(datasets == 2).sum():,} samples)",
                   f"dataset 1 ({(datasets == 1).sum():,} samples)"])
    ax.set_yscale("log")
    top = ax.get_ylim()[1]
    for (label, cut), (ls, ha) in zip(cuts.items(), (("--", "right"), (":", "left")),
                                      strict=True):
        ax.axvline(cut, color="k", ls=ls, lw=1)
        ax.text(cut, top * 0.3, f" {label} (<= {cut:.3f}) ", fontsize=8, ha=ha,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax.set_xlabel("occurrence (paper Eq. 10; sigma = 0.1 m, vs P1 train every 5th frame)")
    ax.set_ylabel("P1 test samples (log)")
    ax.set_title(f"P1 test occurrence ({len(occ):,} samples, 4 cameras, every 4th frame)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = out / "p1_occurrence_hist.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    occ, status = p1_test_occurrence(args.root, progress=True)
    test = load_protocol("p1-style", args.root, "test")
    datasets = np.array([int(c.split("_")[0].removeprefix("dataset-")) for c in test.clip])
    for path in (rig_figure(args.root, args.out, occ), histogram(args.out, occ, datasets)):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    print(f"occurrence cache: {status}; range {occ.min():.4f} .. {occ.max():.4f}")


if __name__ == "__main__":
    main()
