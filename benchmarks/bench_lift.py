"""Speed and memory of ``poselift.lift`` and ``poselift.StreamingLifter`` on this CPU.

Measures, with the shipped weights (or, before they exist / with ``--random``, the same
architectures with random weights -- speed does not depend on the weight values):

- ``single``: frames/s of ``lift(x, temporal=False)`` on a 10,000-frame COCO sequence with
  the single-frame model (target >= 20,000 frames/s);
- ``temporal``: frames/s of ``lift(x)`` on the same sequence with the temporal model, 27 frames
  (target >= 2,000 frames/s);
- ``one pose``: median latency of ``lift(pose)`` for one ``(17, 2)`` pose (target <= 1 ms);
- ``push``: median latency of ``StreamingLifter.push(frame)`` for one track with a causal
  SR-TCN of the shipped size (27 frames; random weights until causal weights are shipped),
  frames with detector-like scores, some joints missing (target <= 2 ms on one thread);
- ``memory``: peak resident memory of a fresh process lifting a 100,000- and a
  1,000,000-frame COCO sequence with the temporal model (target: 1M frames under 500 MB),
  against the same process's memory right before the call (torch, model and input loaded).

Two more rows compare the bare forward passes of the inference copies that ``lift`` and
``StreamingLifter`` run (:func:`poselift.models.fuse_for_inference`: BatchNorm folded into
each layer, one row map per layer, dropout removed) with the plain modules' own forward pass
in the same process.

Each time is also given as a ratio against the bare network forward pass on already
normalized inputs, measured in the same process right before (the cost of poselift's
preprocessing: validation, missing-joint handling, bounding-box normalization, padding);
for ``push`` the bare pass is the strided network on one prepared 27-frame window (both as
their inference copies, as poselift runs them). Rounds
are interleaved and the median is reported (the machines here are noisy). One pose and push
run on one intra-op thread by design (``poselift.prediction.small_call_threads``); the
bare passes are timed on one thread too, and for these the median CPU time of the calling
thread is given beside the wall time (it moves much less with the machine's load: time the
thread waits for a core is not counted).

Usage::

    python benchmarks/bench_lift.py [--threads 2] [--rounds 7] [--random] [--markdown]
                                    [--sections speed small memory]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _machine import cpu_name

import poselift
from poselift.inference import DEFAULT_WEIGHTS, Lifter
from poselift.models import fuse_for_inference
from poselift.models.inputs import InputContract

FRAMES = 10_000
MEMORY_FRAMES = (100_000, 1_000_000)


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
        return poselift.load_model(name).eval()
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
    return rows


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.2f} ms"


def timed_cpu(fn: Callable[[], object], cpu: list[float]) -> float:
    """Wall time of ``fn()``; its CPU time on this thread is appended to ``cpu``."""
    c0, start = time.thread_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    cpu.append(time.thread_time() - c0)
    return wall


def bench_small(single: torch.nn.Module, rounds: int) -> list[tuple[str, ...]]:
    """One pose through ``lift`` and one frame through ``StreamingLifter.push``."""
    from poselift.demo import load_demo_sample
    from poselift.prediction import small_call_threads

    rows = []
    frames = np.asarray(load_demo_sample()["keypoints2d"], dtype=np.float64)  # x, y, score
    frames = np.concatenate([frames] * 20)  # 3,440 frames, looped
    lifter = Lifter(single)
    one = torch.from_numpy(np.asarray(InputContract.of(single).prepare(
        frames[:1, None, :, :2]), dtype=np.float32))[:, 0]

    fused_one = fuse_for_inference(single)

    def bare_one() -> object:
        with torch.inference_mode(), small_call_threads(1):
            return fused_one(one)

    def modules_one() -> object:
        with torch.inference_mode(), small_call_threads(1):
            return single(one)

    # the causal SR-TCN of the shipped size, untrained: what StreamingLifter will run
    torch.manual_seed(0)
    causal = poselift.create_model("sr_tcn", skeleton="coco", in_features=3,
                                   input_norm="bbox", causal=True,
                                   filter_widths=(3, 3, 3)).eval()
    stream = poselift.StreamingLifter("coco", causal)
    contract = InputContract.of(causal)
    window = torch.from_numpy(np.asarray(contract.prepare(frames[:27, :, :2]),
                                         dtype=np.float32))[None]
    twin = causal.strided_twin()
    fused_twin = fuse_for_inference(twin)

    def bare_push() -> object:
        with torch.inference_mode(), small_call_threads(1):
            return fused_twin(window)

    def modules_push() -> object:
        with torch.inference_mode(), small_call_threads(1):
            return twin(window)
    for f in frames[:60]:  # warm-up, and the track's history full
        stream.push(f)
    lifter.lift(frames[0, :, :2], skeleton="coco")
    for fn in (bare_one, bare_push, modules_one, modules_push):
        fn()
    names = ("bare one", "lift one", "bare push", "push", "modules one", "modules push")
    t: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(max(rounds, 5)):
        for i in range(60 + 50 * r, 110 + 50 * r):
            pose, frame = frames[i, :, :2], frames[i]
            t["bare one"].append(timed_cpu(bare_one, cpu["bare one"]))
            t["lift one"].append(timed_cpu(lambda: lifter.lift(pose, skeleton="coco"),  # noqa: B023
                                           cpu["lift one"]))
            t["bare push"].append(timed_cpu(bare_push, cpu["bare push"]))
            t["push"].append(timed_cpu(lambda: stream.push(frame), cpu["push"]))  # noqa: B023
            t["modules one"].append(timed_cpu(modules_one, cpu["modules one"]))
            t["modules push"].append(timed_cpu(modules_push, cpu["modules push"]))

    def row(label: str, ours: str, bare: str, target: str) -> tuple[str, ...]:
        ratio = statistics.median(t[ours]) / statistics.median(t[bare])
        cpu_ratio = statistics.median(cpu[ours]) / statistics.median(cpu[bare])
        return (label, f"{median_ms(t[ours])} (CPU {median_ms(cpu[ours])})",
                f"{median_ms(t[bare])} (CPU {median_ms(cpu[bare])})",
                f"{ratio:.2f} (CPU {cpu_ratio:.2f})", target)

    rows.append(row("single-frame, one pose (batch 1)", "lift one", "bare one", "<= 1 ms"))
    rows.append(row("streaming push, 1 track (causal 27 frames)", "push", "bare push",
                    "<= 2 ms"))
    rows.append(row("one pose: bare forward, inference copy / plain module", "bare one",
                    "modules one", ""))
    rows.append(row("causal window: bare forward, inference copy / plain module",
                    "bare push", "modules push", ""))
    return rows


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_child(frames: int, random: bool) -> dict[str, float]:
    """In a fresh process: lift ``frames`` COCO frames (float32 x, y, score) once."""
    net = model(True, random)
    lifter = Lifter(net, batch_size=4096)
    base = sequence(1000)
    kp = np.empty((frames, 17, 3), np.float32)  # filled in place: no big temporaries
    for s in range(0, frames, 1000):
        e = min(frames, s + 1000)
        kp[s:e, :, :2] = base[: e - s]
    kp[..., 2] = 0.9
    kp[::37, 9, 2] = 0.1  # a wrist missing now and then: interpolated
    lifter.lift(kp[:100], skeleton="coco")  # warm-up
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak to the current size
        f.write("5")
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    out = lifter.lift(kp, skeleton="coco")
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    return {"frames": frames, "before_mb": before / 1024, "peak_mb": peak / 1024,
            "input_mb": kp.nbytes / 2**20, "output_mb": np.asarray(out).nbytes / 2**20,
            "seconds": seconds,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def bench_memory(random: bool, threads: int) -> list[tuple[str, ...]]:
    rows = []
    for frames in MEMORY_FRAMES:
        cmd = [sys.executable, __file__, "--memory-child", str(frames),
               "--threads", str(threads)] + (["--random"] if random else [])
        res = subprocess.run(cmd, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        m = json.loads(res.stdout.strip().splitlines()[-1])
        extra = m["peak_mb"] - m["before_mb"]
        rows.append((f"temporal, {frames:,} frames: memory of the call",
                     f"{extra:,.0f} MB (peak {m['peak_mb']:,.0f} MB)",
                     f"output {m['output_mb']:,.0f} MB, input {m['input_mb']:,.0f} MB",
                     f"{extra / m['output_mb']:.2f} x output",
                     "1M frames < 500 MB"))
        rows.append((f"temporal, {frames:,} frames: time", f"{frames / m['seconds']:,.0f} frames/s",
                     "", "", ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--random", action="store_true", help="random weights, same architectures")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.add_argument("--sections", nargs="+", default=["speed", "small", "memory"],
                   choices=["speed", "small", "memory"])
    p.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.random)))
        return 0
    x = sequence(FRAMES)
    rows = []
    if "speed" in args.sections:
        for temporal in (False, True):
            rows += bench_model(model(temporal, args.random), x, temporal, args.rounds)
    if "small" in args.sections:
        rows += bench_small(model(False, args.random), args.rounds)
    if "memory" in args.sections:
        rows += bench_memory(args.random, args.threads)
    weights = "random weights" if args.random else "shipped weights"
    load = os.getloadavg()
    print(f"poselift {poselift.__version__}, torch {torch.__version__}, {cpu_name()}, "
          f"{os.cpu_count()} cores, {args.threads} threads, {weights}, median of "
          f"{args.rounds} interleaved rounds; load average {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f} (1/5/15 min) at the end")
    header = ("case", "poselift", "bare forward", "poselift / bare", "target")
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
