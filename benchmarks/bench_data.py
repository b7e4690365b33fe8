"""Throughput of the training data pipeline vs a model training step; protocol build times.

Sections (all by default, or pick with --sections):

- ``pipeline``: augmented batches per second from the real Bandai P1 training clips
  (random rig camera, flip, bone/global scale, 1 px noise, 5% dropout with a score channel):
  ``FrameDataset.batches(1024)`` (the fast path), ``DataLoader(FrameDataset, batch_size=1024)``
  (PyTorch's batched ``__getitems__`` + default collate, no workers), and
  ``WindowDataset`` windows of 27 and 243 frames (batch 256). Against the training step of a
  stand-in model measured in the same process, interleaved: a 4-layer 1024-wide MLP
  (34 -> 1024 -> 1024 -> 1024 -> 51, ReLU), Adam, L1 loss, batch 1024. The ratio says how
  much of a training step the data takes (data must not be the bottleneck).
- ``protocols``: wall time of ``load_protocol`` for P1/P2 train/test (no cache is involved)
  and for P3 from the occurrence cache (if the cache is cold the P3 time is the full
  occurrence computation; see the report's note).

Usage::

    python benchmarks/bench_data.py                   # everything (~1-2 minutes + P3)
    python benchmarks/bench_data.py --quick           # fewer rounds
    python benchmarks/bench_data.py --sections pipeline

Needs the shared data (``../shared/data`` or ``--root``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from _machine import cpu_name
from torch import nn
from torch.utils.data import DataLoader

from poselift.data import (
    Augmentation,
    FrameDataset,
    WindowDataset,
    load_bandai,
    load_protocol,
    protocol_motion,
)

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


def rate(fn: Callable[[], int], rounds: int, min_time: float) -> float:
    """Best samples/s over ``rounds`` rounds of at least ``min_time`` seconds each."""
    best = 0.0
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while True:
            n += fn()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = max(best, n / elapsed)
    return best


def cycle(make: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]) -> Callable[[], int]:
    it = make()

    def step() -> int:
        nonlocal it
        try:
            x, _ = next(it)
        except StopIteration:
            it = make()
            x, _ = next(it)
        return int(x.shape[0])

    return step


def mlp_step(batch: int) -> Callable[[], int]:
    model = nn.Sequential(
        nn.Linear(34, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
        nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 51),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 34), torch.randn(batch, 51)

    def step() -> int:
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).abs().mean()
        loss.backward()
        opt.step()
        return batch

    return step


def pipeline(root: Path, rounds: int, min_time: float) -> None:
    ms = load_bandai(root)
    train = protocol_motion("p1-style", root, "train", motion=ms)
    aug = Augmentation(pixel_noise=1.0, dropout=0.05)
    frames = FrameDataset(train, augmentation=aug, with_scores=True, seed=0)
    loader = DataLoader(frames, batch_size=1024, shuffle=True)
    w27 = WindowDataset(train, 27, augmentation=aug, seed=0)
    w243 = WindowDataset(train, 243, augmentation=aug, seed=0)
    cases: dict[str, Callable[[], int]] = {
        "FrameDataset.batches(1024)": cycle(lambda: frames.batches(1024)),
        "DataLoader(FrameDataset, 1024)": cycle(lambda: iter(loader)),
        "WindowDataset(27).batches(256)": cycle(lambda: w27.batches(256)),
        "WindowDataset(243).batches(256)": cycle(lambda: w243.batches(256)),
        "MLP 4x1024 train step, batch 1024": mlp_step(1024),
    }
    for fn in cases.values():  # warm-up
        fn()
    best = {k: 0.0 for k in cases}
    for _ in range(rounds):  # interleaved rounds, best of each
        for name, fn in cases.items():
            best[name] = max(best[name], rate(fn, 1, min_time))
    model = best["MLP 4x1024 train step, batch 1024"]
    print(f"P1 train: {len(frames)} frames from {len(train)} clips")
    print("| what | samples/s | data time per model step |")
    print("|---|---|---|")
    for name, r in best.items():
        share = "" if name.startswith("MLP") else f"{model / r:.1%}"
        print(f"| {name} | {r:,.0f} | {share} |")
    both = 1.0 / (1.0 / best["FrameDataset.batches(1024)"] + 1.0 / model)
    print(f"\nserial data + step (FrameDataset fast path): {both:,.0f} samples/s "
          f"(the step alone: {model:,.0f})")


def protocols(root: Path) -> None:
    print("| protocol | split | inputs | samples | seconds | occurrence cache |")
    print("|---|---|---|---|---|---|")
    for name, split, inputs in [
        ("p1-style", "train", "gt"), ("p1-style", "test", "gt"), ("p1-style", "test", "noisy"),
        ("p2-cross-set", "train", "gt"), ("p2-cross-set", "test", "gt"),
        ("p3-rare10", "test", "gt"), ("p3-rare20", "test", "gt"), ("p3-rare10", "test", "noisy"),
    ]:
        start = time.perf_counter()
        d = load_protocol(name, root, split, inputs)
        sec = time.perf_counter() - start
        print(f"| {name} | {split} | {inputs} | {len(d):,} | {sec:.2f} | "
              f"{d.info.get('occurrence_cache', '-')} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--sections", nargs="+", default=["pipeline", "protocols"],
                    choices=["pipeline", "protocols"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# bench_data: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load:.2f} at start\n")
    rounds, min_time = (2, 0.5) if args.quick else (5, 2.0)
    if "pipeline" in args.sections:
        pipeline(args.root, rounds, min_time)
        print()
    if "protocols" in args.sections:
        protocols(args.root)


if __name__ == "__main__":
    main()
