"""Which model should a detector layout go through? Measure both routes on held-out mocap.

Keypoints in a detector layout (``body_25``, ``body_25b``, ``coco_18``, ``halpe_26``,
``mediapipe_pose``) can be lifted by the COCO-input weights (converted to COCO-17 by joint
name: every COCO point is copied) or by the H36M-input weights (converted to H36M-17: pelvis
from the hips, thorax from a ``neck`` point or the shoulders, head top from a ``head_top``
point or the centre of the eyes and ears, spine from pelvis and thorax). This script renders
the P1 test clips (styles never seen in training) as each layout, under some test conditions of
``poselift.data.wild``, and lifts them through ``poselift.lift`` with each route:

- ``coco``: ``model="sr.coco"`` / ``"sr_tcn.coco"`` (conversion inside ``lift``);
- ``h36m``: ``model="sr.h36m"`` / ``"sr_tcn.h36m"`` (conversion inside ``lift``);
- ``h36m-nospine``: as ``h36m`` but the spine given as missing (score 0) instead of the
  mean of pelvis and thorax.

How each layout's points are synthesized from the H36M-17 mocap (approximations, stated so
that the numbers can be judged): COCO points as the ``"coco"`` input layout (eyes and ears
synthesized); OpenPose's ``neck`` = mean of the shoulders and ``mid_hip`` = mean of the hips
(exactly how OpenPose's training data builds them from COCO annotations:
openpose_caffe_train, ``LMDB_TO_OPENPOSE_KEYPOINTS``, ``{5,6}`` and ``{11,12}``); BODY_25B's
and Halpe's ``head_top`` = the mocap head top; Halpe's ``neck`` = the mocap thorax (Halpe
annotates the base of the neck); points no model uses (feet, hands, mouth, inner/outer eye
corners, upper neck) sit on a nearby joint. The face points are lost when turned away only
under the ``face`` and ``wild`` conditions.

Examples:
    python tools/layout_routes.py --clips-every 20 --out runs/layout-routes

Writes OUT/layout_routes.json (every number and the command) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

import poselift
from poselift.data import protocol_motion
from poselift.data.coco_layout import FACE_NORMALS, synthesize_coco_from_h36m
from poselift.data.layouts import InputLayout, list_input_layouts, register_input_layout
from poselift.data.wild import CONDITIONS, WildClip, render_condition
from poselift.evaluation import evaluate_sequences

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
LAYOUTS = ("body_25", "body_25b", "coco_18", "halpe_26", "mediapipe_pose")
ROUTES = ("coco", "h36m", "h36m-nospine")
H36M = poselift.get_skeleton("h36m")
COCO = poselift.get_skeleton("coco")
NEAR = {  # points no model uses: put them on a nearby joint (they only need to be finite)
    "big_toe": "ankle", "small_toe": "ankle", "heel": "ankle", "foot_index": "ankle",
    "pinky": "wrist", "index": "wrist", "thumb": "wrist", "eye_inner": "eye", "eye_outer": "eye",
}


def synthesize(layout: str, h36m: torch.Tensor) -> torch.Tensor:
    """``(..., 17, 3)`` H36M-17 joints -> ``(..., J, 3)`` points of a detector layout."""
    coco = synthesize_coco_from_h36m(h36m)
    pt = {name: coco[..., i, :] for i, name in enumerate(COCO.joints)}
    h = {name: h36m[..., i, :] for i, name in enumerate(H36M.joints)}
    openpose = layout in ("body_25", "coco_18")
    pt["neck"] = (pt["left_shoulder"] + pt["right_shoulder"]) / 2 if openpose or \
        layout == "mediapipe_pose" else h["thorax"]
    pt["mid_hip"] = (pt["left_hip"] + pt["right_hip"]) / 2
    pt["head_top"] = h["head_top"]
    pt["upper_neck"] = (h["thorax"] + h["nose"]) / 2
    pt["left_mouth"] = pt["right_mouth"] = pt["nose"]
    out = []
    for name in poselift.get_skeleton(layout).joints:
        if name not in pt:
            side, part = name.split("_", 1)
            pt[name] = pt[f"{side}_{NEAR[part]}"]
        out.append(pt[name])
    return torch.stack(out, dim=-2)


def register(layout: str) -> str:
    """Register the input layout ``detector-<layout>`` (face points: nose, eyes, ears)."""
    name = f"detector-{layout}"
    if name not in list_input_layouts():
        sk = poselift.get_skeleton(layout)
        face = tuple(sk.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear",
                                            "right_ear"))
        register_input_layout(InputLayout(name, layout, lambda p: synthesize(layout, p),
                                          face=face, face_anchor=face[0],
                                          face_normals=FACE_NORMALS))
    return name


def lift_route(clip: WildClip, layout: str, route: str, temporal: bool) -> np.ndarray:
    """Lift one rendered clip through one route (shipped weights)."""
    kind = "sr_tcn" if temporal else "sr"
    kp = clip.keypoints
    if route == "h36m-nospine":  # convert here, then drop the spine
        h = np.asarray(poselift.convert_keypoints(kp, layout, "h36m"))
        h[..., H36M.index("spine"), 2] = 0.0
        return np.asarray(poselift.lift(h, skeleton="h36m", model=f"{kind}.h36m",
                                        temporal=temporal))
    return np.asarray(poselift.lift(kp, skeleton=layout, model=f"{kind}.{route}",
                                    temporal=temporal))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    p.add_argument("--conditions", nargs="+", default=["rig", "noise", "bodies", "wild"],
                   choices=sorted(CONDITIONS))
    p.add_argument("--clips-every", type=int, default=20, help="every k-th P1 test clip")
    p.add_argument("--frame-step", type=int, default=4, help="score every s-th frame")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    motion = protocol_motion("p1-style", args.data, "test")
    motion = motion.select(list(motion.names[:: args.clips_every]))
    rows: list[dict[str, object]] = []
    for layout in args.layouts:
        name = register(layout)
        for cond in args.conditions:
            t0 = time.perf_counter()
            clips = render_condition(motion, cond, layout=name)
            for temporal in (False, True):
                for route in ROUTES:
                    preds = [lift_route(c, layout, route, temporal) for c in clips]
                    r = evaluate_sequences(preds, [c.targets for c in clips],
                                           frame_step=args.frame_step)
                    rows.append({"layout": layout, "condition": cond, "temporal": temporal,
                                 "route": route, "mpjpe": round(r["mpjpe"], 2),
                                 "p_mpjpe": round(r["p_mpjpe"], 2), "frames": r["frames"]})
                    print(f"{layout:<15} {cond:<7} {'temporal' if temporal else 'single':<8} "
                          f"{route:<13} MPJPE {r['mpjpe']:6.1f}  P-MPJPE {r['p_mpjpe']:6.1f}",
                          flush=True)
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    command = shlex.join(["python", "tools/layout_routes.py", *(argv or sys.argv[1:])])
    doc = {"command": command, "clips": len(motion), "rows": rows}
    (args.out / "layout_routes.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = ["| layout | condition | model | " + " | ".join(ROUTES) + " |",
             "|---|---|---|" + "---|" * len(ROUTES)]
    for layout in args.layouts:
        for cond in args.conditions:
            for temporal in (False, True):
                cells = [next(f"{r['mpjpe']:.1f}" for r in rows
                              if (r["layout"], r["condition"], r["temporal"], r["route"])
                              == (layout, cond, temporal, route)) for route in ROUTES]
                kind = "temporal" if temporal else "single-frame"
                lines.append(f"| {layout} | {cond} | {kind} | " + " | ".join(cells) + " |")
    print("\nMPJPE (mm), P1 test clips\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
