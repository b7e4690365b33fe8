"""Ship a trained run as package weights: checkpoint, model card, golden outputs.

    python tools/ship_weights.py ship --run runs/weights-sr-coco --name sr.coco
    python tools/ship_weights.py check sr.coco [--clips-every 20]   # recompute the card
    python tools/ship_weights.py compare --run runs/weights-sr-coco-zero --name sr.coco
    python tools/ship_weights.py golden sr.coco sr_tcn.coco    # rewrite golden outputs

``ship`` writes ``src/poselift/weights/<name>.pt`` (float16 storage when no output moves by
more than 0.1 mm from the float32 run's, else float32), measures the model-card metrics
**through** :func:`poselift.lift` (pixels in, as users call it, ``image_size=None``: bounding-box
normalization) on the Bandai protocols -- P1/P2 with GT and noisy 2D, P3 rare 20 %/10 %, P1 with
1 and 2 random joints per frame missing (score 0) -- and writes the card into
``src/poselift/weights/cards.json`` and golden outputs for the bundled demo sample into
``tests/data/golden/<name>.npz`` (plain, with missing joints, with flip averaging; ``golden``
rewrites them for shipped weights, keeping stored arrays that still agree to 0.01 mm
bit-identical). ``check`` recomputes the metrics of a shipped card (optionally
on every k-th test clip, as CI does) and compares them with the card. ``compare`` measures a
run's checkpoint in the same settings and prints it next to a shipped card (a candidate
replacement, before ``ship`` overwrites the card).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import poselift
from poselift import training
from poselift.data import ProtocolData, load_protocol
from poselift.demo import load_demo_sample
from poselift.evaluation import evaluate, load_test_set, missing_scores
from poselift.inference import DEFAULT_WEIGHTS, Lifter
from poselift.models import load_model, save_model
from poselift.models.zoo import CARDS_FILE, LICENCE, WEIGHTS_DIR, load_cards

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "data" / "golden"
DEMO = REPO / "src" / "poselift" / "assets" / "demo_bow.npz"
DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
MAX_FP16_MM = 0.1
GOLDEN_FRAMES = 40
SETTINGS: tuple[tuple[str, str, int, bool], ...] = (
    # (protocol, inputs, joints missing per frame, pass image_size instead of None)
    ("p1-style", "gt", 0, False), ("p1-style", "noisy", 0, False),
    ("p1-style", "gt", 1, False), ("p1-style", "gt", 2, False),
    ("p1-style", "gt", 0, True),
    ("p2-cross-set", "gt", 0, False), ("p2-cross-set", "noisy", 0, False),
    ("p3-rare20", "gt", 0, False), ("p3-rare10", "gt", 0, False),
)


def setting_key(protocol: str, inputs: str, missing: int, image_size: bool) -> str:
    """``"<protocol>/<inputs>[/missing<k>][/image_size]"``."""
    return (f"{protocol}/{inputs}" + (f"/missing{missing}" if missing else "")
            + ("/image_size" if image_size else ""))


# ---------------------------------------------------------------------------------------------
# metrics through poselift.lift
# ---------------------------------------------------------------------------------------------


def lift_protocol(lifter: Lifter, skeleton: str, temporal: bool, protocol: str, inputs: str,
                  missing: int, *, use_image_size: bool = False, root: Path = DATA,
                  clips_every: int = 1) -> tuple[np.ndarray, ProtocolData]:
    """Predictions of ``lifter`` for a protocol's test samples, lifted from pixels.

    Single-frame: every sample on its own. Temporal: every (clip, camera) sequence at full
    frame rate, lifted whole; the test samples are read off it. Missing joints (score 0) are
    drawn per frame with a fixed seed. ``use_image_size``: pass the rig's image size instead
    of ``image_size=None``.
    """
    ts = load_test_set(protocol, root, inputs, layout=skeleton, temporal=temporal,
                       clips_every=clips_every)
    test = ts.samples
    if not temporal:
        scores = missing_scores(len(test), test.keypoints2d.shape[1], missing)
        size = test.image_size if use_image_size else None
        pred = lifter.lift(test.keypoints2d, skeleton=skeleton, scores=scores, temporal=False,
                           image_size=size)
        return np.asarray(pred), test
    full = ts.frames
    assert full is not None and ts.index is not None
    size = full.image_size if use_image_size else None
    scores = missing_scores(len(full), full.keypoints2d.shape[1], missing)
    out = np.empty((len(full), 17, 3), np.float32)
    for seq in full.sequences():
        out[seq] = np.asarray(lifter.lift(full.keypoints2d[seq], skeleton=skeleton,
                                          scores=scores[seq], temporal=True,
                                          image_size=size))
    return out[ts.index], test


OTHER_BODIES_SEED = 11
OTHER_BODIES = {
    # beyond the training ranges (bones 0.85-1.15, body 0.85-1.2, focal 900-1400 px in a
    # 1000 px image, distance 3.5-7 m, principal point +-30 px): other people, other cameras
    "bone_scale": (0.8, 1.25), "global_scale": (0.75, 1.25),
    "distance": (2.5, 10.0), "focal": (800.0, 2400.0), "center_offset": (-400.0, 400.0),
    "image_size": (1920, 1080),
}


def other_bodies(lifter: Lifter, skeleton: str, temporal: bool, *, root: Path = DATA,
                 clips_every: int = 1) -> dict[str, float]:
    """MPJPE on P1 test clips re-rendered with other body proportions and other cameras.

    Every P1 test clip (every 4th frame kept for single-frame models) gets one random
    bone-length/body scale and one random 1920 x 1080 camera that follows the pelvis
    (:data:`OTHER_BODIES`, wider than the training ranges, the person off-centre); pixels are
    lifted with ``image_size=(1920, 1080)`` and compared with the rescaled 3D.
    """
    from poselift.camera import RandomRig, unnormalize_screen
    from poselift.data import Augmentation, protocol_motion
    from poselift.metrics import mpjpe, p_mpjpe

    o = OTHER_BODIES
    aug = Augmentation(
        camera=RandomRig(distance=o["distance"], focal=o["focal"],
                         center_offset=o["center_offset"], image_size=o["image_size"]),
        flip=0.0, bone_scale=o["bone_scale"], global_scale=o["global_scale"])
    g = torch.Generator().manual_seed(OTHER_BODIES_SEED)
    motion = protocol_motion("p1-style", root, "test").to_y_up()
    clips = motion.clips[::clips_every]
    preds, targets = [], []
    w, h = o["image_size"]
    for clip in clips:
        world = torch.from_numpy(clip.poses.astype(np.float64))[None]  # (1, T, 17, 3)
        xy, y = aug(world, generator=g, layout=skeleton)
        px = np.asarray(unnormalize_screen(xy[0], w, h))
        pred = np.asarray(lifter.lift(px, skeleton=skeleton, image_size=(w, h),
                                      temporal=temporal))
        keep = slice(None, None, 4)
        preds.append(pred[keep])
        targets.append(y[0].numpy()[keep])
    p, t = np.concatenate(preds), np.concatenate(targets)
    return {"mpjpe": round(float(np.asarray(mpjpe(p, t)).mean()) * 1000, 2),
            "p_mpjpe": round(float(np.asarray(p_mpjpe(p, t)).mean()) * 1000, 2),
            "samples": len(p)}


def measure(lifter: Lifter, skeleton: str, temporal: bool, *, root: Path = DATA,
            clips_every: int = 1,
            settings: tuple[tuple[str, str, int, bool], ...] = SETTINGS,
            other: bool = True, log: bool = True) -> dict[str, dict[str, float]]:
    """``{setting_key(...): {mpjpe, p_mpjpe[, pck, auc], samples}}``."""
    metrics: dict[str, dict[str, float]] = {}
    for protocol, inputs, missing, use_size in settings:
        t0 = time.perf_counter()
        pred, test = lift_protocol(lifter, skeleton, temporal, protocol, inputs, missing,
                                   use_image_size=use_size, root=root, clips_every=clips_every)
        r = evaluate(pred, test)
        key = setting_key(protocol, inputs, missing, use_size)
        m = {"mpjpe": round(float(r["mpjpe"]), 2), "p_mpjpe": round(float(r["p_mpjpe"]), 2),
             "samples": int(r["samples"])}
        if protocol == "p2-cross-set":
            m.update(pck=round(float(r["pck"]), 2), auc=round(float(r["auc"]), 2))
        metrics[key] = m
        if log:
            print(f"  {key:<28} MPJPE {m['mpjpe']:6.2f} mm  P-MPJPE {m['p_mpjpe']:6.2f} mm  "
                  f"({m['samples']:,} samples, {time.perf_counter() - t0:.0f} s)", flush=True)
    if other:
        t0 = time.perf_counter()
        m = other_bodies(lifter, skeleton, temporal, root=root, clips_every=clips_every)
        metrics["p1-style/other-bodies-cameras"] = m
        if log:
            print(f"  {'p1-style/other-bodies-cameras':<28} MPJPE {m['mpjpe']:6.2f} mm  "
                  f"P-MPJPE {m['p_mpjpe']:6.2f} mm  ({m['samples']:,} samples, "
                  f"{time.perf_counter() - t0:.0f} s)", flush=True)
    return metrics


WILD_CLIPS_EVERY = 5


WILD_KEYS = ("mpjpe", "p_mpjpe", "mpjpe13", "p_mpjpe13", "bone_cv", "asymmetry", "jitter",
             "motion_ratio", "max_root_distance", "far_frames", "to_reference", "frames")
"""What a card keeps of each wild condition: scores against the truth, then the checks that
need no 3D (jitter, motion ratio, farthest joint from the pelvis, frames with a joint beyond
1.5 m, and for temporal weights the distance to the single-frame weights' output)."""

WILD_NOTE = ("docs/wild.md: every {k}th P1 test clip under each test condition, lifted through "
             "poselift.lift; MPJPE / P-MPJPE on 17 and on the pelvis + 12 limb joints (mm), "
             "bone-length CV and left/right asymmetry (%) of the lifted sequences; checks that "
             "need no 3D: jitter (mean acceleration, mm/frame^2), motion ratio (output motion "
             "/ input motion), max_root_distance (m) and far_frames (frames with a joint beyond "
             "1.5 m of the pelvis), to_reference (temporal weights: mean distance in mm to the "
             "output of {ref})")


def wild_reference(skeleton: str, temporal: bool) -> str | None:
    """The single-frame weights a temporal card is compared with (no 3D needed)."""
    return DEFAULT_WEIGHTS[(skeleton, False)] if temporal else None


def measure_wild(model: torch.nn.Module, *, root: Path = DATA,
                 clips_every: int = WILD_CLIPS_EVERY, log: bool = True,
                 reference: str | None = None) -> dict[str, dict[str, float]]:
    """The wild evaluation (docs/wild.md) of a model: every test condition on every k-th P1
    test clip, lifted through ``lift``; rounded scores per condition (:data:`WILD_KEYS`)."""
    from poselift.data import protocol_motion
    from poselift.wild import evaluate_conditions

    motion = protocol_motion("p1-style", root, "test")
    motion = motion.select(list(motion.names[::clips_every]))

    def show(cond: str, r: dict[str, Any]) -> None:
        if log:
            print(f"  wild/{cond:<22} MPJPE {r['mpjpe']:6.2f} mm  P-MPJPE-13 "
                  f"{r['p_mpjpe13']:6.2f} mm  motion ratio {r['motion_ratio']:.2f}", flush=True)

    scores = evaluate_conditions(model, motion, report=show, reference=reference)
    return {c: {k: (int(r[k]) if k in ("frames", "far_frames") else round(float(r[k]), 3))
                for k in WILD_KEYS if k in r}
            for c, r in scores.items()}


# ---------------------------------------------------------------------------------------------
# golden outputs on the demo sample
# ---------------------------------------------------------------------------------------------


def golden_inputs(skeleton: str) -> np.ndarray:
    """The first frames of the bundled demo sample in ``skeleton`` layout, pixels."""
    with np.load(DEMO) as z:
        if skeleton == "coco":
            return np.asarray(z["keypoints2d"][:GOLDEN_FRAMES])  # (T, 17, 3) with scores
        return np.asarray(z["keypoints2d_h36m"][:GOLDEN_FRAMES])


def golden_outputs(name: str, skeleton: str, temporal: bool) -> np.ndarray:
    x = golden_inputs(skeleton)
    return np.asarray(poselift.lift(x, skeleton=skeleton, model=name, temporal=temporal))


GOLDEN_MISSING = {
    # joint name -> frames where it is missing; "never": not visible in any frame
    "coco": {"left_wrist": range(10, 20), "right_knee": range(25, 28), "left_ear": "never"},
    "h36m": {"left_wrist": range(10, 20), "right_knee": range(25, 28), "head_top": "never"},
}


def golden_missing_inputs(skeleton: str) -> np.ndarray:
    """:func:`golden_inputs` with joints missing: NaN coordinates, and for inputs with a score
    channel also a score below the 0.3 threshold (the left wrist, as the demo's occluded one);
    one joint is missing in every frame (temporal models get it as ``(0, 0)``, score 0)."""
    x = golden_inputs(skeleton).copy()
    sk = poselift.get_skeleton(skeleton)
    for joint, frames in GOLDEN_MISSING[skeleton].items():
        j = sk.index(joint)
        rows = slice(None) if frames == "never" else list(frames)
        if joint == "left_wrist" and x.shape[-1] == 3:
            x[rows, j, 2] = 0.1
        else:
            x[rows, j, :2] = np.nan
    return x


def golden_arrays(name: str, skeleton: str, temporal: bool) -> dict[str, np.ndarray]:
    """Inputs and outputs of the golden file of weights ``name``: plain, with missing joints,
    and with flip averaging."""
    x, holed = golden_inputs(skeleton), golden_missing_inputs(skeleton)

    def run(inputs: np.ndarray, flip: bool = False) -> np.ndarray:
        return np.asarray(poselift.lift(inputs, skeleton=skeleton, model=name, temporal=temporal,
                                        flip_test=flip))

    return {"inputs": x, "outputs": run(x), "inputs_missing": holed,
            "outputs_missing": run(holed), "outputs_flip": run(x, flip=True)}


def write_golden(name: str, skeleton: str, temporal: bool) -> Path:
    """Write ``tests/data/golden/<name>.npz``; arrays of an existing file that agree with the
    recomputed ones to 1e-5 (0.01 mm, the golden test's tolerance) are kept bit-identical."""
    arrays = golden_arrays(name, skeleton, temporal)
    gold = GOLDEN_DIR / f"{name}.npz"
    if gold.exists():
        with np.load(gold) as old:
            for key in old.files:
                new = arrays.get(key)
                if new is not None and old[key].shape == new.shape and np.allclose(
                        old[key], new, rtol=0.0, atol=1e-5, equal_nan=True):
                    arrays[key] = old[key]
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(gold, **arrays)
    return gold


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def record_demo(name: str) -> float:
    """MPJPE (mm) of ``lift`` with these weights on the bundled demo clip, stored in the card.

    The demo's input in the weights' skeleton (``keypoints2d`` COCO-17 or ``keypoints2d_h36m``),
    lifted whole (temporal weights) or frame by frame, against the clip's mocap.
    """
    card = poselift.models.weights_card(name)
    sample = load_demo_sample()
    kp = sample["keypoints2d" if card["input_skeleton"] == "coco" else "keypoints2d_h36m"]
    pred = Lifter(name).lift(kp, skeleton=card["input_skeleton"], temporal=card["temporal"])
    err = float(np.linalg.norm(np.asarray(pred) - sample["poses3d"], axis=-1).mean() * 1000)
    cards = load_cards()
    cards[name]["demo_mpjpe_mm"] = round(err, 3)
    CARDS_FILE.write_text(json.dumps(cards, indent=1, sort_keys=True) + "\n")
    return err


def _max_diff_mm(a: torch.nn.Module, b: torch.nn.Module, skeleton: str, temporal: bool,
                 root: Path) -> float:
    """Largest output difference (mm) between two models: the whole demo sample and (single
    frame) 20,000 P1 test poses, lifted from pixels."""
    with np.load(DEMO) as z:
        demo = np.asarray(z["keypoints2d"] if skeleton == "coco" else z["keypoints2d_h36m"])
    inputs = [demo]
    if not temporal:
        test = load_protocol("p1-style", root, "test", layout=skeleton)
        inputs.append(test.keypoints2d[:: max(1, len(test) // 20000)])
    worst = 0.0
    for x in inputs:
        pa = np.asarray(poselift.lift(x, skeleton=skeleton, model=a, temporal=temporal))
        pb = np.asarray(poselift.lift(x, skeleton=skeleton, model=b, temporal=temporal))
        worst = max(worst, float(np.abs(pa - pb).max()) * 1000)
    return worst


def _portable(command: str) -> str:
    """The training command as a user would type it: ``python examples/train.py ...``."""
    words = shlex.split(command)
    if (words and words[0].endswith(("python", "python3"))) or "python3." in (words or [""])[0]:
        words[0] = "python"
    return shlex.join(w for w in words if w != "--resume")


def cmd_ship(args: argparse.Namespace) -> int:
    run: Path = args.run
    fp32 = load_model(run / "checkpoint.pt").eval()
    meta = dict(getattr(fp32, "meta", {}))
    summary = json.loads((run / "summary.json").read_text())
    if summary.get("stopped"):
        raise SystemExit(f"{run}: the run stopped early ({summary['stopped']}); finish it first")
    config: dict[str, Any] = dict(fp32.config)  # type: ignore[arg-type]
    model_name, skeleton = str(config["name"]), str(config["skeleton"])
    if not args.name.startswith(model_name + "."):
        raise SystemExit(f"--name: expected '{model_name}.<tag>' for a {model_name} run")
    temporal = poselift.models.get_model_entry(model_name).temporal
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    path = WEIGHTS_DIR / f"{args.name}.pt"
    card_meta = {"weights": args.name, "licence": LICENCE, "non_commercial": True}
    save_model(fp32, path, storage_dtype=torch.float16, **card_meta)
    fp16_diff = _max_diff_mm(fp32, load_model(path).eval(), skeleton, temporal, args.data)
    dtype = "float16"
    if fp16_diff > MAX_FP16_MM:  # float16 moves outputs too much: store float32
        dtype = "float32"
        save_model(fp32, path, **card_meta)
    shipped = load_model(path).eval()
    diff = _max_diff_mm(fp32, shipped, skeleton, temporal, args.data)
    print(f"{path}: {path.stat().st_size:,} bytes {dtype}; float16 storage would move outputs "
          f"by up to {fp16_diff:.4f} mm (limit {MAX_FP16_MM} mm); shipped vs run: {diff:.4f} mm",
          flush=True)
    assert diff <= MAX_FP16_MM
    print("metrics through poselift.lift (image_size=None):", flush=True)
    if args.clips_every > 1:
        print(f"  (every {args.clips_every}th test clip)", flush=True)
    metrics = measure(Lifter(shipped), skeleton, temporal, root=args.data,
                      clips_every=args.clips_every)
    print("the wild evaluation (docs/wild.md):", flush=True)
    reference = wild_reference(skeleton, temporal)
    wild = measure_wild(shipped, root=args.data, reference=reference)
    params = sum(p.numel() for p in shipped.parameters())
    kind = ("single-frame " if not temporal else
            "causal temporal " if config.get("causal") else "temporal ")
    card = {
        "file": path.name,
        "model": model_name,
        "config": config,
        "summary": (f"{kind}{model_name.upper()} "
                    f"({shipped.receptive_field} frames), {skeleton.upper()}-17 input -> H36M-17, "
                    f"{params / 1e6:.2f}M params"),
        "input_skeleton": skeleton,
        "output_skeleton": "h36m",
        "temporal": temporal,
        "receptive_field": int(shipped.receptive_field),
        "parameters": params,
        "licence": LICENCE,
        "non_commercial": True,
        "data": ("Bandai-Namco-Research-Motiondataset 1 and 2 (CC BY-NC 4.0), P1 train split "
                 "(styles other than elderly/youthful/old/childish); 2D made by projecting the "
                 "mocap through random cameras" + (", COCO-17 eyes/ears synthesized"
                                                    if skeleton == "coco" else "")
                 + (f"; training recipe {recipe!r} (poselift.data.wild, docs/wild.md)"
                    if (recipe := meta.get("recipe", {}).get("recipe")) else "")),
        "training": {
            # a resumed run is the same run as the command without --resume: every batch,
            # augmentation and dropout draw is seeded by (seed, epoch, batch)
            "command": _portable(str(meta.get("command", ""))),
            "seed": meta.get("seed"),
            "epochs": summary.get("epochs_done"),
            "samples_seen": summary.get("samples_seen"),
            "wall_time_s": summary.get("wall_time"),
            "machine": f"{platform.machine()} CPU, 2 cores, torch {torch.__version__}",
            "commit": meta.get("commit") or training.git_commit(REPO),
        },
        "storage": {"dtype": dtype, "bytes": path.stat().st_size,
                    "float16_max_output_diff_mm": round(fp16_diff, 4),
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
        "metrics": metrics,
        **({"metrics_clips_every": args.clips_every, "check_metrics": metrics,
            "check_clips_every": args.clips_every} if args.clips_every > 1 else {}),
        "wild": wild,
        "wild_note": WILD_NOTE.format(k=WILD_CLIPS_EVERY, ref=reference),
        "metrics_note": ("MPJPE/P-MPJPE in mm through poselift.lift (pixels, image_size=None: "
                         "bounding-box normalization, except '/image_size': the rig's "
                         "1000 x 1000), flip averaging off; 'missing<k>': k random joints per "
                         "frame with score 0; P2 test (dataset 1) "
                         "shares performers and actions with P1 train, so P2 is not held out "
                         "for these weights (the held-out P2 figures are in docs/results.md)"),
        "command": (f"python tools/ship_weights.py ship --run {run} --name {args.name}"
                    + (f" --clips-every {args.clips_every}" if args.clips_every > 1 else "")),
    }
    cards = load_cards()
    cards[args.name] = card
    CARDS_FILE.write_text(json.dumps(cards, indent=1, sort_keys=True) + "\n")
    # golden outputs (the card is registered on next import)
    poselift.models.register_weights(poselift.models.WeightsEntry(args.name, path, card),
                                     overwrite=True)
    gold = write_golden(args.name, skeleton, temporal)
    demo = record_demo(args.name)
    print(f"wrote the card to {CARDS_FILE} and golden outputs to {gold}; demo clip MPJPE "
          f"{demo:.1f} mm")
    return 0


def cmd_wild(args: argparse.Namespace) -> int:
    """Re-measure the wild section of shipped cards (the weights are not touched)."""
    cards = load_cards()
    for name in args.names:
        if name not in cards:
            raise SystemExit(f"{name}: no such shipped weights (have {', '.join(sorted(cards))})")
    for name in args.names:
        card = cards[name]
        skeleton, temporal = str(card["input_skeleton"]), bool(card["temporal"])
        reference = wild_reference(skeleton, temporal)
        print(f"{name}: the wild evaluation (docs/wild.md)", flush=True)
        shipped = load_model(WEIGHTS_DIR / str(card["file"])).eval()
        card["wild"] = measure_wild(shipped, root=args.data, reference=reference)
        card["wild_note"] = WILD_NOTE.format(k=WILD_CLIPS_EVERY, ref=reference)
        cards = load_cards() | {name: card}  # another process may have written meanwhile
        CARDS_FILE.write_text(json.dumps(cards, indent=1, sort_keys=True) + "\n")
    return 0


def measure_like_card(lifter: Lifter, card: dict[str, Any], args: argparse.Namespace
                      ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """``lifter`` measured in the card's settings (``--only``, ``--clips-every``), and the card's
    metrics to compare with: ``metrics`` on full test sets, else its ``check_metrics`` slice."""
    settings = tuple(s for s in SETTINGS if args.only is None or setting_key(*s) in args.only)
    got = measure(lifter, card["input_skeleton"], card["temporal"], root=args.data,
                  clips_every=args.clips_every, settings=settings, other=args.only is None)
    reference = card["metrics"] if args.clips_every == 1 else card.get("check_metrics", {})
    return got, reference


def cmd_check(args: argparse.Namespace) -> int:
    card = poselift.models.weights_card(args.name)
    got, reference = measure_like_card(Lifter(args.name), card, args)
    worst = 0.0
    for key, m in got.items():
        if key in reference:
            worst = max(worst, abs(m["mpjpe"] - reference[key]["mpjpe"]))
    print(f"largest MPJPE difference from the card: {worst:.3f} mm")
    if args.record:
        cards = load_cards()
        cards[args.name]["check_metrics"] = got
        cards[args.name]["check_clips_every"] = args.clips_every
        CARDS_FILE.write_text(json.dumps(cards, indent=1, sort_keys=True) + "\n")
        print(f"recorded check_metrics (every {args.clips_every}th clip) in {CARDS_FILE}")
    return 0 if worst <= 0.05 or args.record else 1


def comparison_table(got: dict[str, dict[str, float]],
                     card: dict[str, dict[str, float]], label: str, name: str) -> str:
    """Markdown table: MPJPE of ``got`` next to the card's for every setting of ``got``."""
    rows = [f"| setting | {label} MPJPE (mm) | {name} MPJPE (mm) | difference (mm) |",
            "|---|---|---|---|"]
    for key, m in got.items():
        ref = card.get(key, {}).get("mpjpe")
        shipped = "-" if ref is None else f"{ref:.1f}"
        diff = "-" if ref is None else f"{m['mpjpe'] - ref:+.1f}"
        rows.append(f"| {key} | {m['mpjpe']:.1f} | {shipped} | {diff} |")
    return "\n".join(rows)


def cmd_compare(args: argparse.Namespace) -> int:
    card = poselift.models.weights_card(args.name)
    model = load_model(args.run / "checkpoint.pt").eval()
    skeleton = str(model.config["skeleton"])  # type: ignore[index]
    temporal = poselift.models.get_model_entry(str(model.config["name"])).temporal  # type: ignore[index]
    if (skeleton, temporal) != (card["input_skeleton"], card["temporal"]):
        raise SystemExit(f"--run: {args.run} is a {'temporal' if temporal else 'single-frame'} "
                         f"{skeleton} model; {args.name} is a "
                         f"{'temporal' if card['temporal'] else 'single-frame'} "
                         f"{card['input_skeleton']} model")
    got, reference = measure_like_card(Lifter(model), card, args)
    print(comparison_table(got, reference, str(args.run), args.name))
    return 0


def cmd_golden(args: argparse.Namespace) -> int:
    for name in args.names:
        card = poselift.models.weights_card(name)
        gold = write_golden(name, card["input_skeleton"], card["temporal"])
        with np.load(gold) as z:
            print(f"{gold}: {', '.join(f'{k} {z[k].shape}' for k in z.files)}")
        print(f"{name}: demo clip MPJPE {record_demo(name):.1f} mm (recorded in the card)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("ship", help="package weights + card + golden outputs from a run")
    s.add_argument("--run", type=Path, required=True, help="a train.py output directory")
    s.add_argument("--name", required=True, help="weights name '<model>.<tag>'")
    s.add_argument("--data", type=Path, default=DATA)
    s.add_argument("--clips-every", type=int, default=1,
                   help="card metrics on every k-th test clip (k > 1: also the CI slice); "
                        "temporal lifts of whole test sets take about an hour on one CPU")
    s.add_argument("--threads", type=int, default=2)
    s.set_defaults(func=cmd_ship)
    c = sub.add_parser("check", help="recompute a shipped card's metrics through poselift.lift")
    c.add_argument("name")
    c.add_argument("--data", type=Path, default=DATA)
    c.add_argument("--clips-every", type=int, default=1)
    c.add_argument("--only", nargs="*", help="settings such as p1-style/gt")
    c.add_argument("--record", action="store_true",
                   help="store the result as the card's check_metrics (CI slice)")
    c.set_defaults(func=cmd_check)
    m = sub.add_parser("compare", help="measure a run's checkpoint like a shipped card and "
                                       "print both (before shipping it in place of the card)")
    m.add_argument("--run", type=Path, required=True, help="a train.py output directory")
    m.add_argument("--name", required=True, help="the shipped weights to compare with")
    m.add_argument("--data", type=Path, default=DATA)
    m.add_argument("--clips-every", type=int, default=1,
                   help="every k-th test clip; k > 1 compares with the card's check_metrics")
    m.add_argument("--only", nargs="*", help="settings such as p1-style/gt")
    m.set_defaults(func=cmd_compare)
    g = sub.add_parser("golden", help="rewrite the golden outputs of shipped weights (plain, "
                                      "missing joints, flip test) and the demo clip's MPJPE; "
                                      "no data needed")
    g.add_argument("names", nargs="+", help="shipped weights, e.g. sr.coco")
    g.set_defaults(func=cmd_golden)
    w = sub.add_parser("wild", help="re-measure the wild section of shipped cards (with the "
                                    "checks that need no 3D); the weights are not touched")
    w.add_argument("names", nargs="+", help="shipped weights, e.g. sr_tcn.coco")
    w.add_argument("--data", type=Path, default=DATA)
    w.add_argument("--threads", type=int, default=2)
    w.set_defaults(func=cmd_wild)
    args = p.parse_args(argv)
    torch.set_num_threads(getattr(args, "threads", 2))
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
