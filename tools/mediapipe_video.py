"""Run MediaPipe Pose on a video and save its 2D landmarks in pixels (a maintainer's tool).

Real detector output without a 3D reference, for the checks that need none
(docs/real-world.md, "Other real videos"). Needs ``mediapipe==0.10.21`` (its wheel bundles
the "full" pose model) and OpenCV, which are not poselift dependencies: install them in a
separate environment. Video mode (tracking between frames), one person.

Usage::

    python tools/mediapipe_video.py VIDEO --out OUT.npz [--complexity 1]

Writes ``keypoints2d`` ``(T, 33, 3)`` (x, y pixels, visibility; NaN and 0 where nobody was
found), ``fps``, ``image_size`` ``(W, H)``, ``source`` (the video's path as given).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--complexity", type=int, default=1, choices=(0, 1, 2),
                   help="0 lite, 1 full (bundled in the wheel), 2 heavy (downloaded)")
    args = p.parse_args(argv)
    try:
        import cv2
        import mediapipe as mp
    except ImportError as e:
        print(f"needs mediapipe==0.10.21 and OpenCV: {e}", file=sys.stderr)
        return 2
    cap = cv2.VideoCapture(str(args.video))
    if not cap.isOpened():
        print(f"{args.video}: cannot open the video", file=sys.stderr)
        return 1
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    size = (0, 0)
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=args.complexity,
                                smooth_landmarks=True) as pose:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            size = (w, h)
            res = pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None:
                frames.append(np.tile([np.nan, np.nan, 0.0], (33, 1)))
            else:
                frames.append(np.array([(m.x * w, m.y * h, m.visibility)
                                        for m in res.pose_landmarks.landmark]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, keypoints2d=np.array(frames), fps=fps,
                        image_size=np.array(size), source=str(args.video))
    print(f"{args.out}: {len(frames)} frames at {fps:g} fps, {size[0]} x {size[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
