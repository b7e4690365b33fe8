"""Write the sample sequence bundled for ``poselift demo`` (src/poselift/assets/demo_bow.npz).

The sample is one held-out clip of the Bandai mocap (P1 test, never trained on):
``dataset-1_bow_old_001`` (172 frames, 30 fps, an elderly-style bow, a rare pose), seen by
camera 1 of the ``h36m-like`` rig (1000 x 1000 px). It holds what a 2D detector would give
for it, plus the mocap's 3D for checking:

- ``keypoints2d``: ``(T, 17, 3)`` COCO-17 pixels (eyes and ears synthesized, see
  poselift/data/coco_layout.py) with 2 px Gaussian noise and a detector-like score: 0.75-1.0
  for visible joints; the left wrist is "occluded" for frames 60-89 (score 0.05, position off
  by ~25 px), as detectors report a guessed joint;
- ``keypoints2d_h36m``: ``(T, 17, 2)`` H36M-17 pixels, the same noise;
- ``poses3d``: ``(T, 17, 3)`` the mocap H36M-17 joints in metres, camera coordinates, pelvis at
  the origin;
- ``image_size``, ``fps``, ``clip``, ``camera``, ``licence``, ``source``.

Data: Bandai-Namco-Research-Motiondataset (CC BY-NC 4.0): the sample is non-commercial too.

Usage:
    python tools/make_demo_sample.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from poselift.camera import project, rig_cameras, world_to_camera
from poselift.data import get_input_layout, load_bandai

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / "src" / "poselift" / "assets" / "demo_bow.npz"
CLIP, CAMERA, SEED = "dataset-1_bow_old_001", 1, 2020
OCCLUDED_JOINT, OCCLUDED_FRAMES = 9, slice(60, 90)  # COCO left wrist


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"directory holding bandai/ (default: {DEFAULT_DATA})")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    clip = load_bandai(args.data).to_y_up().select([CLIP]).clips[0]
    world = torch.from_numpy(clip.poses.astype(np.float64))  # (T, 17, 3)
    cams = rig_cameras(world[:, 0], "h36m-like")[CAMERA]  # follows the pelvis, (T,)
    cam = world_to_camera(world, cams)
    assert isinstance(cam, torch.Tensor)
    rng = np.random.default_rng(SEED)
    t = cam.shape[0]
    noise = rng.normal(0.0, 2.0, (t, 17, 2))
    uv_h36m = np.asarray(project(cam, cams)) + noise
    uv_coco = np.asarray(project(get_input_layout("coco")(cam), cams)) + noise
    scores = rng.uniform(0.75, 1.0, (t, 17))
    scores[OCCLUDED_FRAMES, OCCLUDED_JOINT] = 0.05
    uv_coco[OCCLUDED_FRAMES, OCCLUDED_JOINT] += rng.normal(0.0, 25.0, (30, 2))
    poses3d = (cam - cam[:, :1]).numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        keypoints2d=np.concatenate([uv_coco, scores[..., None]], -1).astype(np.float32),
        keypoints2d_h36m=uv_h36m.astype(np.float32),
        poses3d=poses3d.astype(np.float32),
        image_size=np.array(cams.image_size, np.int64),
        fps=np.float64(clip.fps),
        clip=np.str_(CLIP),
        camera=np.int64(CAMERA),
        licence=np.str_("CC BY-NC 4.0 (Bandai-Namco-Research-Motiondataset); non-commercial"),
        source=np.str_("https://github.com/BandaiNamcoResearchInc/"
                       "Bandai-Namco-Research-Motiondataset"),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes, {t} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
