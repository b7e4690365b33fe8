"""Worked example of docs/absolute.md: detector output + intrinsics -> trajectory and BVH.

1. Make a "detector output": a held-out Bandai clip (P1 test, never trained on; an elderly
   walk with a left turn) seen by a fixed camera of known intrinsics (1920 x 1080, focal
   1400 px, 6 m away, 1.5 m high), as a COCO keypoint result file with a ``track_id``:
   2 px noise, detector-like scores, a wrongly placed right wrist in 6% of the frames and
   the left leg occluded for 20 frames (low scores).
2. Lift it with the command line, as a user would::

       poselift lift walk_coco.json -o walk.npz --intrinsics 1400 1400 960 540 \\
           --root camera --height 1.58 --bvh walk.bvh

3. Plot the pelvis trajectory against the mocap's (top view and depth over time, frames
   flagged rare marked) with matplotlib, and print the errors.

Data: Bandai-Namco-Research-Motiondataset (CC BY-NC 4.0). Usage:
    python examples/absolute_example.py [--data ../shared/data] [--out OUT_DIR]
                                        [--png docs/img/absolute_trajectory.png]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

import poselift
from poselift.camera import Camera, look_at, project, world_to_camera
from poselift.cli import main as poselift_cli
from poselift.data import get_input_layout, load_bandai

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
CLIP = "dataset-2_walk-turn-left_elderly_001"
FOCAL, SIZE, SEED = 1400.0, (1920, 1080), 17


def make_detections(data: Path, out: Path) -> tuple[Path, np.ndarray, Camera]:
    clip = load_bandai(data).to_y_up().select([CLIP]).clips[0]
    world = clip.poses.astype(np.float64)
    mid = world[:, 0].mean(0)
    eye = mid + np.array([4.2, 0.0, 4.3])
    eye[1] = 1.5
    R, t = look_at(eye, [mid[0], 0.9, mid[2]])
    cam = Camera(R=R, t=t, focal=FOCAL, center=(SIZE[0] / 2, SIZE[1] / 2), image_size=SIZE)
    pc = np.asarray(world_to_camera(world, cam))
    kp = np.asarray(project(get_input_layout("coco")(torch.from_numpy(pc)), cam))
    rng = np.random.default_rng(SEED)
    kp += rng.normal(0.0, 2.0, kp.shape)
    score = rng.uniform(0.7, 1.0, kp.shape[:-1])
    wrong = rng.random(len(kp)) < 0.06  # right wrist (COCO 10) confidently misplaced
    kp[wrong, 10] += rng.normal(0.0, 80.0, (int(wrong.sum()), 2))
    score[wrong, 10] = 0.6
    score[60:80, [11, 13, 15]] = 0.1  # left hip, knee, ankle occluded
    entries = [{"image_id": f, "track_id": 1, "score": 0.9,
                "keypoints": np.c_[kp[f], score[f]].round(3).ravel().tolist()}
               for f in range(len(kp))]
    path = out / "walk_coco.json"
    path.write_text(json.dumps(entries))
    return path, pc, cam


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"directory holding bandai/ (default: {DEFAULT_DATA})")
    p.add_argument("--out", type=Path, default=Path("poselift-absolute"))
    p.add_argument("--png", type=Path, default=REPO / "docs" / "img" / "absolute_trajectory.png")
    p.add_argument("--height", type=float, default=1.58,
                   help="the actor's standing height (the Bandai skeleton: 1.58 m)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    dets, truth, cam = make_detections(args.data, args.out)
    npz, bvh = args.out / "walk.npz", args.out / "walk.bvh"
    cmd = ["lift", str(dets), "-o", str(npz), "--intrinsics", str(FOCAL), str(FOCAL),
           str(SIZE[0] / 2), str(SIZE[1] / 2), "--root", "camera", "--height",
           str(args.height), "--bvh", str(bvh)]
    print("poselift " + " ".join(cmd))
    if poselift_cli(cmd) != 0:
        return 1
    with np.load(npz) as z:
        poses = z["poses3d_0"]
    # the same in Python, for the trajectory details and the rarity flags
    entries = json.loads(dets.read_text())
    kp = np.array([e["keypoints"] for e in entries]).reshape(-1, 17, 3)
    res = poselift.lift_full(kp, intrinsics=np.asarray(cam.K), root="camera",
                             height=args.height)
    assert np.allclose(res.poses, poses, atol=1e-4)
    dz = (np.asarray(res.trajectory)[:, 2] - truth[:, 0, 2]) / truth[:, 0, 2]
    mpjpe = np.linalg.norm(np.asarray(res.poses) - truth, axis=-1).mean(-1)
    rare = np.asarray(res.rarity.rare)
    print(f"{len(kp)} frames; pelvis depth error: median {100 * np.median(np.abs(dz)):.1f}%, "
          f"max {100 * np.abs(dz).max():.1f}%; absolute MPJPE median "
          f"{1000 * np.median(mpjpe):.0f} mm at {np.median(truth[:, 0, 2]):.1f} m; median "
          f"reprojection error {np.nanmedian(res.reprojection_px):.1f} px; "
          f"{int(rare.sum())} frame(s) flagged rare; BVH: {bvh}")
    # the design choice of docs/absolute.md: the body's size by one median over the clip
    # instead of the running median
    whole = poselift.to_absolute(poselift.lift(kp), kp, intrinsics=np.asarray(cam.K),
                                 root="camera", height=args.height, scale_window=None,
                                 rarity=False)
    dz1 = (np.asarray(whole.trajectory)[:, 2] - truth[:, 0, 2]) / truth[:, 0, 2]
    print(f"with one median of the body's size over the clip instead: depth error median "
          f"{100 * np.median(np.abs(dz1)):.1f}%, max {100 * np.abs(dz1).max():.1f}%")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, depth) = plt.subplots(1, 2, figsize=(10, 4))
    tr, pr = truth[:, 0], np.asarray(res.trajectory)
    top.plot(tr[:, 0], tr[:, 2], "k-", lw=2, label="mocap")
    top.plot(pr[:, 0], pr[:, 2], "C0-", label="lifted (root='camera')")
    top.set_xlabel("x (m, right of the optical axis)")
    top.set_ylabel("z (m, distance along the optical axis)")
    top.set_title("pelvis trajectory, top view (camera at 0, 0)")
    top.set_aspect("equal", adjustable="datalim")
    top.legend(fontsize=8)
    frames = np.arange(len(tr))
    depth.plot(frames, tr[:, 2], "k-", lw=2, label="mocap")
    depth.plot(frames, pr[:, 2], "C0-", label="lifted")
    if rare.any():
        depth.plot(frames[rare], pr[rare, 2], "C3o", ms=3, label="flagged rare")
    depth.axvspan(60, 80, color="0.9", label="left leg occluded")
    depth.set_xlabel("frame (30 fps)")
    depth.set_ylabel("pelvis depth z (m)")
    depth.set_title("depth over time")
    depth.legend(fontsize=8)
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=100)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
