"""Evaluate trained checkpoints on Bandai protocols: JSON, markdown tables and plots.

For every checkpoint and protocol: MPJPE and P-MPJPE (mm), PCK@150 mm and AUC (%), a
per-content table, and MPJPE by occurrence decile (paper Fig. 5) on P1 (occurrence of each P1
test sample against P1 train, poselift.data.p1_test_occurrence, cached) and within the P3
subsets. Test-time flip averaging is on by default. Temporal models are evaluated at the
same samples as single-frame models, their windows gathered from every frame of the clip.

Examples:
    python examples/evaluate.py --checkpoint runs/sr_p1/checkpoint.pt --out runs/sr_p1/eval
    python examples/evaluate.py --checkpoint runs/fc/checkpoint.pt runs/sfs/checkpoint.pt \
        runs/sr/checkpoint.pt --labels FC SFS SR --protocol p1-style p3-rare10 --out runs/fig5
    python examples/evaluate.py --checkpoint runs/quick/checkpoint.pt --quick --out runs/quick/eval

Outputs in --out: <label>_<protocol>.json (the full evaluate() result plus provenance),
<label>_<protocol>.md, report.md (summary + every table), and, when matplotlib is
installed, deciles_<protocol>.png and content_<protocol>.png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import poselift
from poselift.data import PROTOCOLS, ProtocolData, base_protocol, load_protocol
from poselift.evaluation import (
    TestSet,
    evaluate,
    load_test_set,
    markdown_report,
    predict_test_set,
)
from poselift.models.inputs import InputContract

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate poselift checkpoints on Bandai protocols.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", type=Path, required=True,
                   help="checkpoint files written by train.py (poselift.save_model)")
    p.add_argument("--labels", nargs="+", default=None,
                   help="names for the checkpoints (default: model name + parent directory)")
    p.add_argument("--protocol", nargs="+", default=None, choices=PROTOCOLS,
                   help="protocols (default: the one each checkpoint was trained for)")
    p.add_argument("--data", type=Path, default=None,
                   help="directory holding bandai/ (default: the checkpoint's data root when "
                        f"it was synthetic, else {DEFAULT_DATA})")
    p.add_argument("--inputs", default=None, choices=("gt", "noisy"),
                   help="2D inputs (default: the checkpoint's training inputs)")
    p.add_argument("--frame-step", type=int, default=4, help="test frames 0, s, 2s, ...")
    p.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=True,
                   help="test-time flip averaging")
    p.add_argument("--deciles", action=argparse.BooleanOptionalAction, default=True,
                   help="MPJPE by occurrence decile on P1/P3")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True,
                   help="write PNG plots (needs matplotlib)")
    p.add_argument("--test-clips-every", type=int, default=None,
                   help="evaluate on every k-th test clip [1; quick: as the checkpoint's "
                        "training, else 20]")
    p.add_argument("--quick", action="store_true",
                   help="CI-sized: a slice of the test clips; occurrence deciles against a "
                        "slice of P1 train (not the protocol's reference)")
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    return p


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "model"


def data_root(args: argparse.Namespace, meta: dict[str, Any]) -> Path:
    if args.data is not None:
        return Path(args.data)
    if meta.get("synthetic") and meta.get("data_root"):
        return Path(meta["data_root"])
    return DEFAULT_DATA


def quick_occurrence(test: ProtocolData, root: Path, every: int) -> np.ndarray:
    """Occurrence of the test slice against a slice of P1 train (CI only)."""
    from poselift.data.protocols import P3_REFERENCE_STEP, P3_SIGMA
    from poselift.rarity import occurrence

    ref = load_protocol("p1-style", root, "train", frame_step=P3_REFERENCE_STEP)
    ref = ref.every_kth_clip(every)
    occ = occurrence(test.poses3d.astype(np.float64), ref.poses3d.astype(np.float64), P3_SIGMA)
    return np.asarray(occ, dtype=np.float64)


class TestSets:
    """Protocol test sets, loaded once per (root, protocol, inputs, layout, temporal) and
    shared by the checkpoints."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cache: dict[tuple[Any, ...], TestSet] = {}

    def get(self, root: Path, protocol: str, inputs: str, layout: str, temporal: bool
            ) -> TestSet:
        key = (root, protocol, inputs, layout, temporal)
        if key not in self.cache:
            a = self.args
            occurrence_wanted = (a.deciles and protocol in ("p1-style", "val-style")
                                 and not a.quick)
            test = load_test_set(protocol, root, inputs, layout=layout, temporal=temporal,
                                 frame_step=a.frame_step, clips_every=a.test_clips_every,
                                 with_occurrence=occurrence_wanted)
            if a.deciles and a.quick and protocol == "p1-style":
                samples = replace(test.samples, occurrence=quick_occurrence(
                    test.samples, root, a.test_clips_every))
                samples.info["occurrence_reference"] = "quick slice of P1 train"
                test = replace(test, samples=samples)
            self.cache[key] = test
        return self.cache[key]


def evaluate_one(model: nn.Module, test: TestSet, args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    pred = predict_test_set(model, test, batch_size=args.batch_size, flip_test=args.flip_test)
    seconds = time.perf_counter() - start
    samples = test.samples
    result = evaluate(pred, samples, occurrence=samples.occurrence if args.deciles else None)
    if not args.deciles:
        result["deciles"] = None
    result["predict_seconds"] = round(seconds, 3)
    result["samples_per_second"] = round(len(samples) / max(seconds, 1e-9), 1)
    return result


def plot(results: dict[str, dict[str, dict[str, Any]]], out: Path) -> list[Path]:
    """Decile lines and per-content bars per protocol; [] with a message without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping plots (pip install matplotlib)")
        return []
    written = []
    protocols = sorted({p for per in results.values() for p in per})
    for protocol in protocols:
        runs = {label: per[protocol] for label, per in results.items() if protocol in per}
        if any(r.get("deciles") for r in runs.values()):
            fig, ax = plt.subplots(figsize=(6, 4))
            for label, r in runs.items():
                if r.get("deciles"):
                    ax.plot([d["decile"] for d in r["deciles"]],
                            [d["mpjpe"] for d in r["deciles"]], marker="o", label=label)
            ax.set_xlabel("occurrence decile (1 = rarest)")
            ax.set_ylabel("MPJPE (mm)")
            ax.set_title(f"MPJPE by pose rarity, {protocol}")
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            path = out / f"deciles_{protocol}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
        contents = sorted({c for r in runs.values() for c in r.get("per_content", {})})
        if contents:
            fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(contents) * len(runs)), 4))
            width = 0.8 / max(len(runs), 1)
            for k, (label, r) in enumerate(runs.items()):
                vals = [r["per_content"].get(c, {}).get("mpjpe", np.nan) for c in contents]
                ax.bar(np.arange(len(contents)) + k * width, vals, width, label=label)
            ax.set_xticks(np.arange(len(contents)) + 0.4 - width / 2)
            ax.set_xticklabels(contents, rotation=60, ha="right")
            ax.set_ylabel("MPJPE (mm)")
            ax.set_title(f"MPJPE per content, {protocol}")
            ax.legend()
            fig.tight_layout()
            path = out / f"content_{protocol}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.test_clips_every is None:
        # --quick: the slice the (first) checkpoint's own training evaluated on, so that the
        # numbers compare (train.py --quick uses every 20th clip, every clip of synthetic data)
        recipe = poselift.models.load_checkpoint(args.checkpoint[0])["meta"].get("recipe", {})
        args.test_clips_every = int(recipe.get("test_clips_every") or 20) if args.quick else 1
    if args.labels is not None and len(args.labels) != len(args.checkpoint):
        raise SystemExit(f"--labels: expected {len(args.checkpoint)} labels, got "
                         f"{len(args.labels)}")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    sets = TestSets(args)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    sections: list[str] = []
    for k, path in enumerate(args.checkpoint):
        model = poselift.load_model(path).to(args.device)
        meta: dict[str, Any] = dict(getattr(model, "meta", {}))
        label = args.labels[k] if args.labels else slug(
            f"{model.config['name']}-{Path(path).resolve().parent.name}")  # type: ignore[index]
        root = data_root(args, meta)
        inputs = args.inputs or meta.get("inputs", "gt")
        protocols = args.protocol or [meta.get("protocol", "p1-style")]
        for protocol in protocols:
            # 2D in the model's input layout (e.g. COCO-17 synthesized from the mocap)
            contract = InputContract.of(model)
            test_set = sets.get(root, protocol, inputs, contract.skeleton, contract.temporal)
            test = test_set.samples
            result = evaluate_one(model, test_set, args)
            result.update(label=label, checkpoint=str(path), model_config=model.config,
                          trained=({k2: meta.get(k2) for k2 in ("command", "seed", "epoch",
                                                                "samples_seen", "wall_time",
                                                                "protocol", "inputs")}),
                          flip_test=args.flip_test, data_root=str(root),
                          occurrence_reference=test.info.get(
                              "occurrence_reference",
                              f"{base_protocol(protocol)} train (protocol)"),
                          quick=args.quick, test_clips_every=args.test_clips_every)
            results.setdefault(label, {})[protocol] = result
            stem = args.out / f"{slug(label)}_{protocol}"
            stem.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str) + "\n")
            md = markdown_report(result, title=f"{label} on {protocol} ({inputs} 2D)")
            stem.with_suffix(".md").write_text(md + "\n")
            sections.append(md)
            print(f"{label} {protocol}: MPJPE {result['mpjpe']:.1f} mm, P-MPJPE "
                  f"{result['p_mpjpe']:.1f} mm, PCK {result['pck']:.1f}%, AUC "
                  f"{result['auc']:.1f}% ({result['samples']} samples, "
                  f"{result['samples_per_second']:,.0f} samples/s)", flush=True)
    protocols_all = sorted({p for per in results.values() for p in per})
    head = "| model | " + " | ".join(f"{p} MPJPE / P-MPJPE" for p in protocols_all) + " |"
    rows = [head, "|---|" + "---|" * len(protocols_all)]
    for label, per in results.items():
        cells = [f"{per[p]['mpjpe']:.1f} / {per[p]['p_mpjpe']:.1f}" if p in per else "-"
                 for p in protocols_all]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    report = "# Evaluation\n\n" + "\n".join(rows) + "\n\n" + "\n\n".join(sections) + "\n"
    (args.out / "report.md").write_text(report)
    written = plot(results, args.out) if args.plots else []
    for path in written:
        print(f"wrote {path}")
    print(f"wrote {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
