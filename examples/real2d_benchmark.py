"""Score ``poselift.lift`` on real detector output of a real person, next to MediaPipe's own 3D.

The clip (``../shared/data/real2d``, from the Pose2Sim demo session, BSD-3-Clause, "Copyright
(c) 2022, perfanalytics"; Pagnon, Domalain, Reveret, JOSS 2022): one person balancing on one
leg, 100 frames at 60 fps, four calibrated cameras, a 3D reference triangulated from the four
views. Inputs: OpenPose (BODY_25B and its COCO-17 points) and MediaPipe Pose 0.10.21 in video
mode (its "full" and "heavy" models); MediaPipe's own 3D (world landmarks) is the peer.

Per input and lifter, per camera: P-MPJPE (per-frame similarity Procrustes) and root-relative
MPJPE on the pelvis and the 12 limb joints, limb-length std over time (8 limb bones), and the
checks that need no 3D (poselift.metrics): jitter (mean acceleration), motion ratio (output
against input motion), farthest joint from the pelvis, and the distance between the temporal
and the single-frame output.

Use it to measure and report, never to train on or to choose recipes by (100 frames of one
person: read differences of a few millimetres as noise).

With ``--detector-stats`` it prints instead how each detector's 2D departs from the
reprojected reference over time (the statistics behind the ``temporal`` training ingredient,
docs/real-world.md): noise and per-joint offset as factors of the COCO keypoint spread times
the person's size (``poselift.data.detector``'s size rule), the frame-to-frame correlation of
the noise, and MediaPipe's video-mode lag against its image mode.

With ``--upper-body`` every joint from the hips down (hips, knees, ankles, heels, toes) is
removed from the input (score 0), as with the legs out of frame at a desk or a webcam, and
the arms are scored: P-MPJPE on the shoulders, elbows and wrists (aligned on those joints),
the arms' length against the reference's (``arm_scale``) and against the single-frame
output's, the motion ratio of the arm joints, and the farthest joint from the pelvis.

Examples:
    python examples/real2d_benchmark.py --out runs/real2d.json
    python examples/real2d_benchmark.py --upper-body --out runs/real2d-upper.json
    python examples/real2d_benchmark.py --detector-stats
    python examples/real2d_benchmark.py --model runs/x/checkpoint.pt --label x --out runs/x.json

Writes OUT (JSON: every figure and the command) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import poselift
from poselift.evaluation import LIMB_JOINTS_13
from poselift.metrics import mean_acceleration, motion_ratio, mpjpe, p_mpjpe, root_distance
from poselift.wild import output_distance

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
ARM_JOINTS = (11, 12, 13, 14, 15, 16)
"""Shoulders, elbows and wrists of H36M-17."""
ARM_BONES = ((11, 12), (12, 13), (14, 15), (15, 16))
"""Upper arms and forearms of H36M-17."""
LOWER_BODY = ("hip", "knee", "ankle", "heel", "toe", "foot")
"""Joint-name parts removed by ``--upper-body``."""
LIMB_BONES = ((1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16))
"""Thighs, shins, upper arms and forearms of H36M-17 (the limb-length std)."""
MEDIAPIPE_TO_H36M = {1: 24, 2: 26, 3: 28, 4: 23, 5: 25, 6: 27, 11: 11, 12: 13, 13: 15,
                     14: 12, 15: 14, 16: 16}
"""H36M-17 limb joints from MediaPipe's 33 landmarks (the pelvis: the hips' midpoint)."""
INPUTS = ("openpose-coco17", "openpose-body25b", "mediapipe-full", "mediapipe-heavy")


def load_inputs(root: Path) -> tuple[dict[str, Any], dict[str, list[np.ndarray]],
                                     dict[str, list[np.ndarray]], list[np.ndarray]]:
    """Cameras, the 2D input per camera, MediaPipe's 3D per camera and the reference.

    Every sequence is cut to the frames it shares with the reference (MediaPipe's video frame
    t is the reference's frame t - 1) and its x scaled to the calibration's image width.
    """
    d = np.load(root / "real2d" / "pose2sim_balancing.npz")
    cams = {k: d[k] for k in ("cam_R", "cam_t", "cam_image_size", "cam_names")}
    ref_world = d["ref3d_h36m17_world"].astype(np.float64)
    refs = []
    for c in range(len(cams["cam_names"])):
        r = ref_world @ cams["cam_R"][c].T + cams["cam_t"][c]
        refs.append(r - r[:, :1])
    inputs: dict[str, list[np.ndarray]] = {
        "openpose-coco17": list(d["kp2d_coco17"]),
        "openpose-body25b": list(d["kp2d_body25b"]),
    }
    mp3d: dict[str, list[np.ndarray]] = {}
    for name, file in (("mediapipe-full", "mediapipe_balancing.npz"),
                       ("mediapipe-heavy", "mediapipe_heavy_balancing.npz")):
        m = np.load(root / "real2d" / file)
        lm = m["video_landmarks_px"][:, 1:].astype(np.float64)
        sx = cams["cam_image_size"][:, 0] / m["video_size"][:, 0]
        lm[..., 0] *= sx[:, None, None]
        inputs[name] = [np.concatenate([v[..., :2], v[..., 3:4]], -1) for v in lm]
        world = m["video_world_m"][:, 1:].astype(np.float64)
        mp3d[name] = [_mediapipe_h36m(w) for w in world]
    n = min(len(v) for v in inputs["mediapipe-full"])
    for k in ("openpose-coco17", "openpose-body25b"):
        inputs[k] = [v[:n] for v in inputs[k]]
    refs = [r[:n] for r in refs]
    return cams, inputs, mp3d, refs


def _mediapipe_h36m(world: np.ndarray) -> np.ndarray:
    out = np.full((*world.shape[:-2], 17, 3), np.nan)
    for h, m in MEDIAPIPE_TO_H36M.items():
        out[..., h, :] = world[..., m, :]
    out[..., 0, :] = (world[..., 23, :] + world[..., 24, :]) / 2
    return out - out[..., :1, :]


def scores(pred: np.ndarray, ref: np.ndarray, keypoints: np.ndarray | None = None
           ) -> dict[str, float]:
    """Figures of one lifted sequence against the reference, mm (checks need no reference)."""
    j13 = list(LIMB_JOINTS_13)
    p, r = pred[:, j13] * 1000, ref[:, j13] * 1000
    lengths = np.stack([np.linalg.norm(pred[:, a] - pred[:, b], axis=-1)
                        for a, b in LIMB_BONES], -1)
    out = {"p_mpjpe13": float(p_mpjpe(p, r)),
           "mpjpe13": float(mpjpe(p - p[:, :1], r - r[:, :1])),
           "limb_std": float(np.nanstd(lengths, 0).mean() * 1000),
           "jitter": float(mean_acceleration(pred[:, j13] * 1000)),
           "max_root_distance": float(np.nanmax(root_distance(pred)))}
    if keypoints is not None:
        out["motion_ratio"] = float(motion_ratio(pred, keypoints))
    return out


def arm_length(poses: np.ndarray) -> float:
    """Mean over frames of the four arm bones' summed length, metres."""
    return float(np.nanmean(sum(np.linalg.norm(poses[:, a] - poses[:, b], axis=-1)
                                for a, b in ARM_BONES)))


def arm_scores(pred: np.ndarray, ref: np.ndarray, keypoints: np.ndarray, skeleton: str
               ) -> dict[str, float]:
    """The arms of one upper-body sequence against the reference (checks need no reference)."""
    arms = list(ARM_JOINTS)
    names = poselift.get_skeleton(skeleton).joints
    arms2d = [i for i, n in enumerate(names)
              if n.split("_", 1)[-1] in ("shoulder", "elbow", "wrist")]
    return {"p_mpjpe_arms": float(p_mpjpe(pred[:, arms] * 1000, ref[:, arms] * 1000)),
            "arm_scale": arm_length(pred) / arm_length(ref),
            "motion_ratio": float(motion_ratio(pred[:, arms], keypoints[:, arms2d])),
            "jitter": float(mean_acceleration(pred[:, arms] * 1000)),
            "max_root_distance": float(np.nanmax(root_distance(pred)))}


def upper_body(keypoints: np.ndarray, skeleton: str) -> np.ndarray:
    """The keypoints with every joint from the hips down removed (score 0)."""
    names = poselift.get_skeleton(skeleton).joints
    out = keypoints.copy()
    out[:, [i for i, n in enumerate(names) if any(w in n for w in LOWER_BODY)], 2] = 0.0
    return out


def skeleton_of(name: str) -> str:
    return {"openpose-coco17": "coco", "openpose-body25b": "body_25b"}.get(name,
                                                                             "mediapipe_pose")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=INPUTS)
    p.add_argument("--model", nargs="*", default=[],
                   help="also score these weights names or checkpoints (temporal ones are "
                        "compared with the default single-frame lift)")
    p.add_argument("--label", nargs="*", default=None, help="names for --model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--upper-body", action="store_true",
                   help="remove every joint from the hips down and score the arms")
    p.add_argument("--detector-stats", action="store_true",
                   help="print the detectors' noise statistics instead (no lifting)")
    p.add_argument("--out", type=Path, default=None, help="JSON file of the figures")
    return p


def _project(points: np.ndarray, d: Any, c: int) -> np.ndarray:
    """World points -> pixels of camera c (OpenCV model with k1, k2, p1, p2)."""
    x3 = points @ d["cam_R"][c].T + d["cam_t"][c]
    x, y = x3[..., 0] / x3[..., 2], x3[..., 1] / x3[..., 2]
    k1, k2, p1, p2 = d["cam_dist"][c]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    k = d["cam_K"][c]
    return np.stack([k[0, 0] * xd + k[0, 2], k[1, 1] * yd + k[1, 2]], -1)


def detector_statistics(root: Path) -> list[dict[str, Any]]:
    """Per camera and detector: noise, offset and correlation of the 2D against the reference."""
    from poselift.data.detector import KEYPOINT_SIGMAS, SIZE_PER_EXTENT
    from poselift.skeletons import get_skeleton

    d = np.load(root / "real2d" / "pose2sim_balancing.npz")
    sigma = np.array([KEYPOINT_SIGMAS[n] for n in get_skeleton("coco").joints])
    ref = d["ref3d_body25b_world"][:, :17].astype(np.float64)  # BODY_25B 0-16 = COCO-17
    mp = {name: np.load(root / "real2d" / file) for name, file in
          (("mediapipe-full", "mediapipe_balancing.npz"),
           ("mediapipe-heavy", "mediapipe_heavy_balancing.npz"))}

    def coco(m: Any, key: str, c: int) -> np.ndarray:
        lm = m[key][c][1:, m["mp_to_coco17"]].astype(np.float64)  # video frame t = ref t - 1
        lm[..., 0] *= d["cam_image_size"][c, 0] / m["video_size"][c, 0]
        return np.concatenate([lm[..., :2], lm[..., 3:4]], -1)

    rows = []
    for c in range(len(d["cam_names"])):
        uv = _project(ref, d, c)
        size = SIZE_PER_EXTENT * np.nanmedian((np.nanmax(uv, 1) - np.nanmin(uv, 1)).max(-1))
        inputs = {"openpose": d["kp2d_coco17"][c].astype(np.float64)}
        for name, m in mp.items():
            inputs[f"{name} video"] = coco(m, "video_landmarks_px", c)
            inputs[f"{name} image"] = coco(m, "image_landmarks_px", c)
        for name, kp in inputs.items():
            n = min(len(kp), len(uv))
            err = kp[:n, :, :2] - uv[:n]
            err[kp[:n, :, 2] < 0.3] = np.nan
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                offset = np.nanmean(err, 0)
                rest = err - offset
                a, b = rest[1:], rest[:-1]
                ok = np.isfinite(a) & np.isfinite(b)
                rows.append({
                    "camera": c, "detector": name,
                    "noise": float(np.nanmedian(np.nanstd(rest, 0) / (sigma[:, None] * size))),
                    "offset": float(np.nanmedian(np.linalg.norm(offset, axis=-1)
                                                 / (sigma * size))),
                    "correlation": float((a[ok] * b[ok]).sum()
                                         / np.sqrt((a[ok] ** 2).sum() * (b[ok] ** 2).sum()))})
        for name, m in mp.items():
            video, image = coco(m, "video_landmarks_px", c), coco(m, "image_landmarks_px", c)
            shift = [float(np.nanmean(np.linalg.norm(video[s:, :, :2] - image[:len(image) - s,
                                                                              :, :2], axis=-1)))
                     for s in range(4)]
            rows.append({"camera": c, "detector": f"{name} video vs image",
                         "lag_frames": int(np.argmin(shift)), "shift_px": shift})
    return rows


def _mean(rows: list[dict[str, float]]) -> dict[str, Any]:
    keys = rows[0].keys()
    return {k: float(np.mean([r[k] for r in rows])) for k in keys} | {
        "cameras": {k: [round(r[k], 2) for r in rows] for k in keys}}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if not (args.data / "real2d" / "pose2sim_balancing.npz").is_file():
        print(f"no real2d data under {args.data} (see docs/real-world.md)", file=sys.stderr)
        return 2
    if args.detector_stats:
        for row in detector_statistics(args.data):
            print(json.dumps(row))
        return 0
    if args.out is None:
        print("--out: required (or --detector-stats)", file=sys.stderr)
        return 2
    labels = args.label or [Path(m).name for m in args.model]
    if len(labels) != len(args.model):
        print("--label: expected one per --model", file=sys.stderr)
        return 2
    _, inputs, mp3d, refs = load_inputs(args.data)
    lifters: dict[str, dict[str, Any]] = {"lift": {"temporal": True},
                                          "lift(fix_swaps=False)": {"temporal": True,
                                                                    "fix_swaps": False},
                                          "lift(temporal=False)": {"temporal": False}}
    for label, model in zip(labels, args.model, strict=True):
        lifters[label] = {"model": model}
    results: dict[str, dict[str, Any]] = {}
    for name in args.inputs:
        sk = skeleton_of(name)
        per: dict[str, Any] = {}
        outs: dict[str, list[np.ndarray]] = {}
        seqs = [upper_body(kp, sk) for kp in inputs[name]] if args.upper_body else inputs[name]
        for label, kw in lifters.items():
            outs[label] = [np.asarray(poselift.lift(kp, skeleton=sk, **kw), dtype=np.float64)
                           for kp in seqs]
            per[label] = _mean([arm_scores(o, r, kp, sk) if args.upper_body else scores(o, r, kp)
                                for o, r, kp in zip(outs[label], refs, seqs, strict=True)])
        if args.upper_body:
            single = np.mean([arm_length(o) for o in outs["lift(temporal=False)"]])
            for label in lifters:
                per[label]["arm_scale_to_single_frame"] = float(
                    np.mean([arm_length(o) for o in outs[label]]) / single)
            results[name] = per
            print(f"{name}: " + ", ".join(f"{k} {v['p_mpjpe_arms']:.1f}"
                                          for k, v in per.items()), flush=True)
            continue
        for label in lifters:
            if label != "lift(temporal=False)":
                per[label]["to_single_frame"] = output_distance(
                    outs[label], outs["lift(temporal=False)"])
        if name in mp3d:
            per["MediaPipe 3D"] = _mean([scores(w, r) for w, r in
                                         zip(mp3d[name], refs, strict=True)])
        results[name] = per
        print(f"{name}: " + ", ".join(f"{k} {v['p_mpjpe13']:.1f}" for k, v in per.items()),
              flush=True)
    ref_std = math.nan if args.upper_body else float(
        np.mean([scores(r, r)["limb_std"] for r in refs]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"command": "python examples/real2d_benchmark.py " + shlex.join(argv or sys.argv[1:]),
           "poselift": poselift.__version__, "results": results}
    if not args.upper_body:  # (the arms' figures have no limb-length std)
        doc["reference_limb_std"] = ref_std
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(arm_table(results) if args.upper_body else table(results, ref_std))
    return 0


def arm_table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| input (hips and legs removed) | lifter | arms P-MPJPE (cameras) | arm scale | "
             "arm scale / single-frame | arms motion ratio | arms jitter | "
             "max joint-pelvis (m) |", "|---|---|---|---|---|---|---|---|"]
    for name, per in results.items():
        for label, r in per.items():
            cams = " / ".join(f"{v:.0f}" for v in r["cameras"]["p_mpjpe_arms"])
            lines.append(
                f"| {name} | {label} | {r['p_mpjpe_arms']:.1f} ({cams}) | "
                f"{r['arm_scale']:.2f} | {r['arm_scale_to_single_frame']:.2f} | "
                f"{r['motion_ratio']:.2f} | {r['jitter']:.1f} | "
                f"{r['max_root_distance']:.2f} |")
    lines.append("\nmm; arm scale: the four arm bones' length against the reference's.")
    return "\n".join(lines)


def table(results: dict[str, dict[str, Any]], ref_std: float) -> str:
    lines = ["| input | lifter | P-MPJPE-13 (cameras) | MPJPE-13 | limb std | jitter | "
             "motion ratio | max joint-pelvis (m) | to single-frame |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, per in results.items():
        for label, r in per.items():
            cams = " / ".join(f"{v:.0f}" for v in r["cameras"]["p_mpjpe13"])
            cells = [f"{r['p_mpjpe13']:.1f} ({cams})", f"{r['mpjpe13']:.1f}",
                     f"{r['limb_std']:.1f}", f"{r['jitter']:.1f}",
                     f"{r['motion_ratio']:.2f}" if "motion_ratio" in r else "-",
                     f"{r['max_root_distance']:.2f}",
                     f"{r['to_single_frame']:.1f}" if "to_single_frame" in r else "-"]
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    lines.append(f"\nmm; the reference's own limb-length std: {ref_std:.1f} mm.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
