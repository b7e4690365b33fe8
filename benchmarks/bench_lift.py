"""Speed of ``poselift.lift`` on this CPU: long sequences and one pose.

Measures, with the shipped weights (or, before they exist / with ``--random``, the same
architectures with random weights -- speed does not depend on the weight values):

- ``single``: frames/s of ``lift(x, temporal=False)`` on a 10,000-frame COCO sequence with
  the single-frame model (target >= 20,000 frames/s);
- ``temporal``: frames/s of ``lift(x)`` on the same sequence with the temporal model, 27 frames
  (target >= 2,000 frames/s);
- ``one pose``: median latency of ``lift(pose)`` for one ``(17, 2)`` pose (target < 2 ms).

Each is also given as a ratio against the bare network forward pass on already normalized
inputs, measured in the same process right before (the cost of poselift's preprocessing:
validation, missing-joint handling, bounding-box normalization, padding). Rounds are
interleaved and the median is reported (the machines here are noisy).

Usage::

    python benchmarks/bench_lift.py [--threads 2] [--rounds 7] [--random] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _machine import cpu_name

import poselift
from poselift.inference import DEFAULT_WEIGHTS, Lifter

FRAMES = 10_000


def sequence(frames: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """A plausible COCO pixel sequence: the demo sample looped, with a little noise."""
    from poselift.demo import load_demo_sample

    kp = load_demo_sample()["keypoints2d"][..., :2]
    reps = -(-frames // kp.shape[0])
    x = np.concatenate([kp] * reps)[:frames]
    return x + np.random.default_rng(seed).normal(0, 0.5, x.shape).astype(np.float32)


def model(temporal: bool, random: bool) -> torch.nn.Module:
    name = DEFAULT_WEIGHTS[("coco", temporal)]
    if not random and name in poselift.list_weights():
        return poselift.create_model(name.split(".")[0], weights=name).eval()
    if temporal:
        return poselift.create_model("sr_tcn", skeleton="coco", in_features=3,
                                     filter_widths=(3, 3, 3)).eval()
    return poselift.create_model("sr", skeleton="coco", in_features=3).eval()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_model(net: torch.nn.Module, x: np.ndarray[Any, Any], temporal: bool, rounds: int
                ) -> list[tuple[str, ...]]:
    """Table rows for one network: the long sequence and (single-frame) one pose."""
    label = "temporal" if temporal else "single-frame"
    lifter = Lifter(net)
    norm = torch.from_numpy((x - 500.0) / 500.0).float()
    feats = torch.cat([norm, torch.ones(*norm.shape[:-1], 1)], -1)
    r = int(getattr(net, "receptive_field", 1))
    pad = torch.cat([feats[:1].expand(r // 2, -1, -1), feats,
                     feats[-1:].expand(r // 2, -1, -1)])[None]

    def bare() -> object:
        with torch.no_grad():
            if temporal:
                return net(pad)
            return torch.cat([net(feats[s : s + 4096]) for s in range(0, FRAMES, 4096)])

    def full() -> object:
        return lifter.lift(x, skeleton="coco", temporal=temporal)

    full()
    bare()  # warm-up
    t_bare, t_lift = [], []
    for _ in range(rounds):
        t_bare.append(timed(bare))
        t_lift.append(timed(full))
    lift_s, bare_s = statistics.median(t_lift), statistics.median(t_bare)
    rows = [(f"{label}, {FRAMES:,}-frame sequence", f"{FRAMES / lift_s:,.0f} frames/s",
             f"{FRAMES / bare_s:,.0f} frames/s", f"{lift_s / bare_s:.2f}",
             ">= 2,000 frames/s" if temporal else ">= 20,000 frames/s")]
    if temporal:
        return rows
    pose, one = x[0], feats[:1]

    def bare_one() -> object:
        with torch.no_grad():
            return net(one)

    def lift_one() -> object:
        return lifter.lift(pose, skeleton="coco")

    bare_one()
    lift_one()
    b1, l1 = [], []
    for _ in range(max(rounds, 5)):
        b1.append(min(timed(bare_one) for _ in range(20)))
        l1.append(min(timed(lift_one) for _ in range(20)))
    lo, bo = statistics.median(l1), statistics.median(b1)
    rows.append(("single-frame, one pose (batch 1)", f"{lo * 1000:.2f} ms", f"{bo * 1000:.2f} ms",
                 f"{lo / bo:.2f}", "< 2 ms"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--random", action="store_true", help="random weights, same architectures")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x = sequence(FRAMES)
    rows = []
    for temporal in (False, True):
        rows += bench_model(model(temporal, args.random), x, temporal, args.rounds)
    weights = "random weights" if args.random else "shipped weights"
    print(f"poselift {poselift.__version__}, torch {torch.__version__}, {cpu_name()}, "
          f"{args.threads} threads, {weights}, median of {args.rounds} interleaved rounds")
    header = ("case", "poselift.lift", "bare forward", "lift / bare time", "target")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in rows:
            print("  " + "  ".join(f"{c:<34}" if i == 0 else f"{c:>18}"
                                   for i, c in enumerate(row)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
