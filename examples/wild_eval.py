"""Measure lifters in the wild: held-out motion under every test condition, through poselift.lift.

Each model (a shipped weights name or a checkpoint) lifts the P1 test clips (styles never seen
in training) rendered under each condition of ``poselift.data.wild.CONDITIONS``
(``poselift.wild.evaluate_conditions``) -- the rig,
rolled and high cameras, lenses and framing, other bodies, the face turned away or missing,
detector noise, occlusions, and all at once -- exactly as a user calls it: pixels with a
score (0 for lost joints), ``image_size=None``, sequences whole for temporal models, frames
independently for single-frame models. Scores (poselift.evaluation.evaluate_sequences): MPJPE
and P-MPJPE on all 17 joints and on the pelvis + 12 limb joints, and the reference-free checks
(bone-length steadiness, left/right symmetry).

Examples:
    python examples/wild_eval.py --model sr.coco sr_tcn.coco --out runs/wild
    python examples/wild_eval.py --model runs/x/checkpoint.pt --label x --clips-every 5 \\
        --conditions rig roll bodies --out runs/wild-probe
    python examples/wild_eval.py --model sr_tcn.coco --max-gap 0 5 15 none \\
        --conditions occlusion wild --clips-every 5 --out runs/max-gap

Writes OUT/<label>.json (every condition's scores and the command) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

import poselift
from poselift.data import protocol_motion
from poselift.data.wild import CONDITIONS, WildClip
from poselift.models.inputs import InputContract
from poselift.wild import evaluate_conditions

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
COLUMNS = ("mpjpe", "p_mpjpe", "mpjpe13", "p_mpjpe13", "p_mpjpe_arms", "bone_cv", "asymmetry",
           "jitter", "motion_ratio", "max_root_distance", "arm_scale", "to_reference")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", nargs="+", required=True,
                   help="shipped weights names or checkpoint files")
    p.add_argument("--label", nargs="*", default=None, help="names for the models")
    p.add_argument("--conditions", nargs="*", default=None, choices=sorted(CONDITIONS),
                   help="conditions (default: all that apply to the input skeleton)")
    p.add_argument("--protocol", default="p1-style", help="held-out motion: its test clips")
    p.add_argument("--clips-every", type=int, default=1, help="every k-th test clip")
    p.add_argument("--frame-step", type=int, default=4, help="score every s-th frame")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--max-gap", nargs="+", default=None, metavar="N|none",
                   help="evaluate each model with each Lifter(max_gap=N) (frames; 'none': no "
                        "limit); labels get a '@gapN' suffix")
    p.add_argument("--flip-test", action="store_true",
                   help="Lifter(flip_test=True): average with the mirrored input's mirrored "
                        "output; labels get a '+flip' suffix")
    p.add_argument("--no-fix-swaps", action="store_true",
                   help="Lifter(fix_swaps=False): keep the detector's left/right swaps; labels "
                        "get a '-swaps' suffix")
    p.add_argument("--reference", default=None, metavar="MODEL",
                   help="a second lifter (e.g. sr.coco beside temporal weights) run on the same "
                        "inputs: adds 'to reference', the mean distance (mm) between the outputs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    return p


_TWO = ("motion_ratio", "max_root_distance", "arm_scale")


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    conditions = list(dict.fromkeys(c for r in results.values() for c in r))
    lines = ["| condition | model | MPJPE | P-MPJPE | MPJPE-13 | P-MPJPE-13 | P-MPJPE arms | "
             "bone CV % | asymmetry % | jitter | motion ratio | max joint-pelvis (m) | "
             "arm scale | to reference |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cond in conditions:
        for label, per in results.items():
            if cond in per:
                r = per[cond]
                cells = " | ".join(f"{r.get(k, float('nan')):.{2 if k in _TWO else 1}f}"
                                   for k in COLUMNS)
                lines.append(f"| {cond} | {label} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.label and len(args.label) != len(args.model):
        raise SystemExit(f"--label: expected {len(args.model)} labels, got {len(args.label)}")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    motion = protocol_motion(args.protocol, args.data, "test")
    motion = motion.select(list(motion.names[:: args.clips_every]))
    rendered: dict[tuple[str, str], list[WildClip]] = {}
    results: dict[str, dict[str, dict[str, float]]] = {}
    command = shlex.join(["python", "examples/wild_eval.py", *(argv or sys.argv[1:])])
    gaps: list[int | str | None] = (["default"] if args.max_gap is None else
                                    [None if g.lower() == "none" else int(g)
                                     for g in args.max_gap])
    for k, ref, gap in ((k, ref, gap) for k, ref in enumerate(args.model) for gap in gaps):
        path = Path(ref)
        label = args.label[k] if args.label else (ref if not path.is_file() else path.parent.name)
        options: dict[str, Any] = {}
        if gap != "default":
            options["max_gap"] = gap
            label += f"@gap{gap if gap is not None else 'none'}"
        if args.flip_test:
            options["flip_test"] = True
            label += "+flip"
        if args.no_fix_swaps:
            options["fix_swaps"] = False
            label += "-swaps"
        model = poselift.load_model(path if path.is_file() else ref)
        contract = InputContract.of(model)
        t0 = time.perf_counter()

        def show(cond: str, r: dict[str, Any], label: str = label, t0: float = t0) -> None:
            print(f"{label} {cond:<10} MPJPE {r['mpjpe']:6.1f}  P-MPJPE {r['p_mpjpe']:6.1f}  "
                  f"MPJPE-13 {r['mpjpe13']:6.1f}  P-MPJPE-13 {r['p_mpjpe13']:6.1f}  bone CV "
                  f"{r['bone_cv']:4.1f}%  asym {r['asymmetry']:4.1f}%  ({r['frames']:,} frames, "
                  f"{time.perf_counter() - t0:.0f} s)", flush=True)

        per = evaluate_conditions(model, motion, args.conditions, frame_step=args.frame_step,
                                  rendered=rendered, report=show, lifter_options=options,
                                  reference=args.reference)
        per = {c: {k2: (round(v, 3) if isinstance(v, float) else v) for k2, v in r.items()}
               for c, r in per.items()}
        results[label] = per
        doc = {"label": label, "model": ref, "input_skeleton": contract.skeleton,
               "temporal": contract.temporal, "protocol": args.protocol,
               "clips_every": args.clips_every, "frame_step": args.frame_step,
               "lifter_options": options, "reference": args.reference,
               "command": command, "conditions": per,
               "descriptions": {c: CONDITIONS[c] for c in per}}
        (args.out / f"{label.replace('/', '_')}.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
