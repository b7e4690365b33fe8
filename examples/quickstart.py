"""Quickstart: turn one COCO-17 detection into the Human3.6M-17 layout and show its body groups.

Run: python examples/quickstart.py
(This becomes `poselift demo`, which lifts a bundled sequence to 3D, once lifting lands.)
"""

from __future__ import annotations

import numpy as np

import poselift

# One person as a COCO-style detector reports it: x, y in pixels and a score per keypoint.
# The left ear was not detected (score 0).
COCO_DETECTION = np.array(
    [
        [500.0, 180.0, 0.98],  # nose
        [510.0, 170.0, 0.95],  # left_eye
        [490.0, 170.0, 0.96],  # right_eye
        [0.0, 0.0, 0.00],  # left_ear (missed)
        [470.0, 175.0, 0.90],  # right_ear
        [560.0, 250.0, 0.97],  # left_shoulder
        [440.0, 250.0, 0.97],  # right_shoulder
        [590.0, 340.0, 0.93],  # left_elbow
        [410.0, 340.0, 0.92],  # right_elbow
        [600.0, 420.0, 0.90],  # left_wrist
        [400.0, 420.0, 0.89],  # right_wrist
        [540.0, 450.0, 0.95],  # left_hip
        [460.0, 450.0, 0.95],  # right_hip
        [545.0, 590.0, 0.94],  # left_knee
        [455.0, 590.0, 0.93],  # right_knee
        [550.0, 720.0, 0.91],  # left_ankle
        [450.0, 720.0, 0.92],  # right_ankle
    ]
)


def main() -> None:
    h36m = poselift.get_skeleton("h36m")
    converted = poselift.convert_keypoints(COCO_DETECTION, "coco", "h36m")
    print(f"poselift {poselift.__version__}: COCO-17 detection -> Human3.6M-17 layout\n")
    print(f"{'joint':>15} {'x':>8} {'y':>8} {'score':>6}")
    for name, (x, y, s) in zip(h36m.joints, converted, strict=True):
        print(f"{name:>15} {x:8.1f} {y:8.1f} {s:6.2f}")
    partition = poselift.get_partition("h36m-5")
    groups = partition.num_groups
    print(f"\nThe paper's default body partition {partition.name!r} ({groups} groups):")
    print(partition.describe())


if __name__ == "__main__":
    main()
