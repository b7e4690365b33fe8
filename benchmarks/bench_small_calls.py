"""CPU time of the calling thread per small call, for comparing source trees back to back.

Three calls, each with the shipped default weights, on the demo clip's COCO frames:

- ``lift one``: ``Lifter().lift(pose, skeleton="coco")`` for one ``(17, 2)`` pose (a kept
  lifter: the single-frame default ``sr.coco``);
- ``push``: ``StreamingLifter("coco").push(frame)`` for one ``(17, 3)`` frame (x, y, score) of
  one track (the causal default ``sr_tcn.coco-causal``), the track's history full;
- ``poselift.lift``: the module-level ``poselift.lift(pose, skeleton="coco")`` (a new
  ``Lifter`` per call: the model is resolved and its inference copy found on every call).

Each is timed as ``rounds`` blocks of ``calls`` calls, the blocks of the three interleaved
with blocks of a fixed **reference** (``reference``: a 300 x 300 float32 matrix product
and 40 operations on ``(17, 2)`` tensors, the same code in every tree); the median block
gives the CPU time of the calling thread per call (``time.thread_time``: time the thread
waits for a core is not counted, so it moves much less than wall time on a shared machine),
the wall time, and the ratio of the two medians call / reference (``ratio``: what a shared
machine's load, which slows both, changes least). Only public API is used, so the same file
runs on an older tree: ``PYTHONPATH=<tree>/src python benchmarks/bench_small_calls.py``;
alternate the trees, one process each, to compare them (docs/inference.md).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_small_calls.py [--rounds 5] [--calls 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

import poselift
from poselift.demo import load_demo_sample


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--json", action="store_true", help="one JSON line")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    frames = np.asarray(load_demo_sample()["keypoints2d"], dtype=np.float64)  # x, y, score
    frames = np.concatenate([frames] * (1 + (60 + args.rounds * args.calls) // len(frames)))
    lifter = poselift.Lifter()
    with warnings.catch_warnings():  # (the single-frame fallback while no causal weights)
        warnings.simplefilter("ignore")
        stream = poselift.StreamingLifter("coco")
    a, b, small = torch.rand(300, 300), torch.rand(300, 300), torch.rand(17, 2)

    def reference(i: int) -> object:
        out = a @ b
        for _ in range(10):
            t = (small - small.mean(0)).abs().amax(0)
            out = out[:1] + t.sum() * 0.5
        return out

    cases: dict[str, Callable[[int], object]] = {
        "reference": reference,
        "lift one": lambda i: lifter.lift(frames[i, :, :2], skeleton="coco"),
        "push": lambda i: stream.push(frames[i]),
        "poselift.lift": lambda i: poselift.lift(frames[i, :, :2], skeleton="coco"),
    }
    for i in range(60):  # warm-up; the track's history full
        for call in cases.values():
            call(i)
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    wall: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(args.rounds):
        for name, call in cases.items():
            c0, w0 = time.thread_time(), time.perf_counter()
            for i in range(60 + r * args.calls, 60 + (r + 1) * args.calls):
                call(i)
            cpu[name].append((time.thread_time() - c0) / args.calls * 1e3)
            wall[name].append((time.perf_counter() - w0) / args.calls * 1e3)
    ref = statistics.median(cpu["reference"])
    res = {k: {"cpu_ms": round(statistics.median(cpu[k]), 3),
               "wall_ms": round(statistics.median(wall[k]), 3),
               "ratio": round(statistics.median(cpu[k]) / ref, 3)} for k in cases}
    if args.json:
        print(json.dumps({"poselift": poselift.__file__, **res}))
    else:
        print(f"poselift from {poselift.__file__}; median of {args.rounds} x {args.calls} calls, "
              "one thread")
        for k, v in res.items():
            print(f"  {k:14s} CPU {v['cpu_ms']:.3f} ms   wall {v['wall_ms']:.3f} ms per call"
                  f"   {v['ratio']:.3f} x reference")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
