"""Measure the absolute-3D ingredients on the Bandai mocap (docs/absolute.md).

``ratio``: the standing height / height chain ratio (poselift.absolute.HEIGHT_PER_CHAIN) on
the upright frames of every clip: both legs straight (hip-ankle distance within 0.5% of the
leg's length), thorax within 5 degrees and head within 10 degrees of vertical, both ankles
on the floor (below 13 cm); the standing height is the head-top joint's height.

``depth``: held-out P1 test clips (never trained on) seen by random fixed cameras (3.5-8 m,
0.8-2.2 m high, focal 900-1500 px, 1920 x 1080), their COCO-17 keypoints with 2 px noise,
lifted with ``poselift.lift_full(..., intrinsics=K, root="camera")`` (shipped weights),
with the body's true standing height and without (the 1.70 m default). Reports per-clip
median pelvis depth errors and the absolute MPJPE relative to the distance.
``--scale-window 0`` measures the body's size by one median over each clip instead of the
default running median (``poselift.absolute.DEFAULT_SCALE_WINDOW`` frames).

Usage:
    python tools/absolute_check.py ratio [--data ../shared/data]
    python tools/absolute_check.py depth [--clips 40] [--weights sr_tcn.coco sr.coco]
                                            [--scale-window 31]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

import poselift
from poselift.absolute import (
    DEFAULT_HEIGHT,
    DEFAULT_SCALE_WINDOW,
    HEIGHT_PER_CHAIN,
    height_chain,
)
from poselift.camera import Camera, look_at, project, world_to_camera
from poselift.data import get_input_layout, load_bandai, protocol_motion

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))


def upright(p: np.ndarray) -> np.ndarray:
    """Frames of a (F, 17, 3) +Y-up clip in which the body stands upright on the floor."""
    def bone(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(p[:, a] - p[:, b], axis=-1)

    straight = (bone(1, 3) > 0.995 * (bone(1, 2) + bone(2, 3))) & (
        bone(4, 6) > 0.995 * (bone(4, 5) + bone(5, 6)))
    trunk = (p[:, 8] - p[:, 0])[:, 1] / bone(8, 0)
    head = (p[:, 10] - p[:, 8])[:, 1] / bone(10, 8)
    feet = np.maximum(p[:, 3, 1], p[:, 6, 1]) < 0.13
    ok: np.ndarray = (straight & (trunk > np.cos(np.radians(5)))
                      & (head > np.cos(np.radians(10))) & feet)
    return ok


def cmd_ratio(args: argparse.Namespace) -> None:
    ms = load_bandai(args.data).to_y_up()
    heights, ratios = [], []
    for clip in ms.clips:
        p = clip.poses.astype(np.float64)
        ok = upright(p)
        if ok.any():
            heights.append(p[ok, 10, 1])
            ratios.append(p[ok, 10, 1] / np.asarray(height_chain(p[ok])))
    h, r = np.concatenate(heights), np.concatenate(ratios)
    print(f"{len(h)} upright frames of {len(ms)} clips ({ms.num_frames} frames)")
    print(f"standing height (head-top joint above the floor): median {np.median(h):.3f} m, "
          f"IQR {np.percentile(h, 25):.3f}-{np.percentile(h, 75):.3f}")
    print(f"height / chain: median {np.median(r):.4f}, IQR {np.percentile(r, 25):.4f}-"
          f"{np.percentile(r, 75):.4f} (HEIGHT_PER_CHAIN = {HEIGHT_PER_CHAIN})")


def cmd_depth(args: argparse.Namespace) -> None:
    clips = protocol_motion("p1-style", args.data, "test").to_y_up().clips
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(clips), args.clips, replace=False)
    lay = get_input_layout("coco")
    scenes = []
    for i in chosen:
        w = clips[i].poses[: args.frames].astype(np.float64)
        c = w[:, 0].mean(0)
        az, dist = rng.uniform(0, 2 * np.pi), rng.uniform(3.5, 8.0)
        eye = c + np.array([dist * np.sin(az), 0.0, dist * np.cos(az)])
        eye[1] = rng.uniform(0.8, 2.2)
        R, t = look_at(eye, [c[0], 0.9, c[2]])
        f = rng.uniform(900.0, 1500.0)
        cam = Camera(R=R, t=t, focal=f, center=(960.0, 540.0), image_size=(1920, 1080))
        pc = np.asarray(world_to_camera(w, cam))
        kp = np.asarray(project(lay(torch.from_numpy(pc)), cam)) + rng.normal(0, 2.0, (
            len(w), 17, 2))
        ok = upright(w)
        true_h = float(np.median(w[ok, 10, 1])) if ok.any() else None
        scenes.append((clips[i].name, kp, pc, (f, f, 960.0, 540.0), true_h))
    known = [s[4] for s in scenes if s[4] is not None]
    fallback = float(np.median(known)) if known else DEFAULT_HEIGHT
    print(f"{len(scenes)} P1 test clips (up to {args.frames} frames each); true height: the "
          f"clip's median upright head-top height (else {fallback:.3f} m)")
    print("| weights | height | median depth error | p90 | max | signed median | "
          "abs. MPJPE / distance |")
    print("|---|---|---|---|---|---|---|")
    window = args.scale_window or None
    size = f"running median over {window} frames" if window else "one median per clip"
    print(f"body size: {size}")
    for weights in args.weights:
        temporal = None if get_weights_temporal(weights) else False
        lifter = poselift.Lifter(weights)
        relative = [lifter.lift(s[1], skeleton="coco", temporal=temporal) for s in scenes]
        for label in ("true", "default 1.70 m"):
            errs, signed, rel = [], [], []
            for (_, kp, pc, K, h), lifted in zip(scenes, relative, strict=True):
                height = (h if h is not None else fallback) if label == "true" else None
                # = poselift.lift_full(kp, ..., intrinsics=K, root="camera", height=height)
                res = poselift.to_absolute(lifted, kp, intrinsics=K, root="camera",
                                           height=height, scale_window=window, rarity=False)
                d = (np.asarray(res.trajectory)[:, 2] - pc[:, 0, 2]) / pc[:, 0, 2]
                errs.append(np.median(np.abs(d)))
                signed.append(np.median(d))
                rel.append(np.median(np.linalg.norm(np.asarray(res.poses) - pc, axis=-1)
                                     .mean(-1) / pc[:, 0, 2]))
            e = np.array(errs)
            print(f"| {weights} | {label} | {100 * np.median(e):.1f}% | "
                  f"{100 * np.percentile(e, 90):.1f}% | {100 * e.max():.1f}% | "
                  f"{100 * np.median(signed):+.1f}% | {100 * np.median(rel):.1f}% |")


def get_weights_temporal(name: str) -> bool:
    from poselift.models import get_model_entry, get_weights

    return bool(get_model_entry(get_weights(name).model).temporal)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("ratio", "depth"))
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"directory holding bandai/ (default: {DEFAULT_DATA})")
    p.add_argument("--clips", type=int, default=40)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", nargs="+", default=["sr_tcn.coco", "sr.coco"])
    p.add_argument("--scale-window", type=int, default=DEFAULT_SCALE_WINDOW,
                   help="frames of the running median of the body's size (0: whole clip)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"ratio": cmd_ratio, "depth": cmd_depth}[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
