"""Speed of SRLinear vs a naive per-group loop and a dense layer; speed of a whole SR network;
and the gate-normalization study behind SRLinear's design.

Sections (all by default, or pick with --sections):

- ``layer``: forward+backward of one 1024-channel layer at batch 1024, 5 groups (hidden widths
  of the h36m-5 partition split in proportion to 4, 4, 5, 4, 4 joints): SRLinear vs a naive
  per-group loop computing the same function vs ``nn.Linear(1024, 1024)``, same process,
  interleaved rounds, best time of each. Also the group-map strategies that were considered.
- ``conv``: SRConv1d vs nn.Conv1d of the same width, strided training form and dilated form.
- ``small``: eval-mode inputs of 1-256 rows on one thread (one pose, a streaming window): the
  row form of the layers (``layer.row_form()``, what inference copies run:
  ``poselift.models.fuse_for_inference``) against the layers' own forward.
- ``network``: the single-frame SR network built from the layers (GroupGather -> SRLinear to
  1024 -> 2 residual blocks of two [SRLinear + BatchNorm + LeakyReLU + Dropout] -> SRLinear to
  3 coordinates per owned joint) and the same network with nn.Linear (FC): training samples/s
  (Adam step, batch 1024, L1 loss) and inference samples/s (batch 4096, eval, no_grad).
- ``gate``: small synthetic regression trained with the SR gate normalized in different ways;
  reports training-mode vs evaluation-mode loss and the largest output difference.
- ``profile``: one training step (forward, backward, Adam) of SRLinear, SRConv1d and the two
  shipped architectures, per operation (torch.profiler), on the training path and on the
  general path (the layers' ``_GroupRows`` off and ``nn.Dropout``: what training ran before
  issue 26).
- ``train``: training steps/s (batch 1024, Adam amsgrad, L1) and inference samples/s (batch
  4096) of the SR network against a dense MLP of the same width (an ``nn.Linear`` stack),
  its inference copy (``fuse_for_inference``: BatchNorm folded, dropout removed, the row
  forms; what ``poselift.lift`` runs; inference only), poselift FC and, with
  ``--official DIR``, the official SRNet code (SR and FC), for 1 and 2
  threads, interleaved rounds.
- ``recipes``: end-to-end samples/s of the shipped recipes' training loop (``sr.coco``,
  ``sr_tcn.coco-causal``: data + step, as examples/train.py runs them) with this tree's
  poselift and, with ``--baseline-src DIR``, an older one, in two worker processes
  (benchmarks/_recipe_worker.py) run in alternation; needs the Bandai data (``--data``).

Usage::

    python benchmarks/bench_layers.py            # full run (~5 minutes on 2 cores)
    python benchmarks/bench_layers.py --quick    # seconds-long smoke run
    python benchmarks/bench_layers.py --sections profile,train,recipes \
        --official /path/to/srnet-official --baseline-src /path/to/old/src

``--official`` is a folder holding the official code's ``common/`` (public repository
ailingzengzzz/Split-and-Recombine-Net; not part of poselift); without it that comparison is
skipped. On one thread, times are the process's CPU time (robust when other jobs share the
machine); on two threads, wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from _machine import cpu_name
from torch import nn

import poselift
from poselift.models import fuse_for_inference
from poselift.nn import Dropout, GroupGather, RowForm, SRConv1d, SRLinear, split_width

GROUPS = ((0, 1, 2, 3), (0, 4, 5, 6), (0, 7, 8, 9, 10), (0, 11, 12, 13), (0, 14, 15, 16))
OWNED = ((0, 1, 2, 3), (4, 5, 6), (7, 8, 9, 10), (11, 12, 13), (14, 15, 16))
SIZES = [len(g) for g in GROUPS]


# --------------------------------------------------------------------------------------------
# layer section
# --------------------------------------------------------------------------------------------

class NaiveSR(nn.Module):
    """The same function as an SRLinear(mul, H=1), written as a plain loop over the groups:
    take x_g and x_rest, context, gate, group map, concatenate.

    ``select="index"`` takes x_g / x_rest with index sets (as one writes it from the paper's
    joint sets); ``select="slice"`` with slices and a concatenation of the other slices.
    """

    def __init__(self, layer: SRLinear, select: str = "index") -> None:
        super().__init__()
        self.layer, self.select = layer, select
        starts = [sum(layer.in_groups[:g]) for g in range(layer.num_groups)]
        self.spans = [(s, s + w) for s, w in zip(starts, layer.in_groups, strict=True)]
        self.own = [torch.arange(a, b) for a, b in self.spans]
        self.rest = [torch.cat([torch.arange(0, a), torch.arange(b, layer.in_features)])
                     for a, b in self.spans]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lay = self.layer
        assert lay.context_weight is not None and lay.context_gain is not None
        assert lay.context_bias is not None and lay.bias is not None
        outs = []
        lo = 0
        for g, (a, b) in enumerate(self.spans):
            if self.select == "index":
                x_g, x_rest = x[:, self.own[g]], x[:, self.rest[g]]
                u = lay.context_weight[g:g + 1, self.rest[g]]
            else:
                x_g, x_rest = x[:, a:b], torch.cat([x[:, :a], x[:, b:]], dim=1)
                row = lay.context_weight[g:g + 1]
                u = torch.cat([row[:, :a], row[:, b:]], dim=1)
            u = u * (lay.context_gain[g] / u.norm())
            gate = torch.sigmoid(F.linear(x_rest, u, lay.context_bias[g:g + 1]))
            bias = lay.bias[lo:lo + lay.out_groups[g]]
            outs.append(F.linear(x_g * gate, lay.weights[g], bias))
            lo += lay.out_groups[g]
        return torch.cat(outs, dim=1)


class PaddedBmm(nn.Module):
    """Group maps as one batched matmul over zero-padded groups (gather in, gather out)."""

    def __init__(self, ins: tuple[int, ...], outs: tuple[int, ...]) -> None:
        super().__init__()
        self.ins, self.outs = ins, outs
        g, mi, mo = len(ins), max(ins), max(outs)
        d = sum(ins)
        self.weight = nn.Parameter(torch.randn(g, mi, mo) / mi ** 0.5)
        idx = torch.full((g, mi), d, dtype=torch.long)
        start = 0
        for i, w in enumerate(ins):
            idx[i, :w] = torch.arange(start, start + w)
            start += w
        self.idx = idx.reshape(-1)
        self.out_idx = torch.cat([torch.arange(o) + i * mo for i, o in enumerate(outs)])
        mask = torch.zeros(g, mi, mo)
        for i, (a, b) in enumerate(zip(ins, outs, strict=True)):
            mask[i, :a, :b] = 1
        self.mask = mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, g, mi = x.shape[0], len(self.ins), max(self.ins)
        xg = F.pad(x, (0, 1))[:, self.idx].reshape(n, g, mi).transpose(0, 1)
        y = torch.bmm(xg, self.weight * self.mask)
        return y.transpose(0, 1).reshape(n, -1)[:, self.out_idx]


class BlockDiag(nn.Module):
    """Group maps as one dense matmul with a block-diagonal weight (full dense FLOPs)."""

    def __init__(self, ins: tuple[int, ...], outs: tuple[int, ...]) -> None:
        super().__init__()
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(o, i) / i ** 0.5) for i, o in zip(ins, outs, strict=True)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, torch.block_diag(*self.weights))


class LoopMatmul(nn.Module):
    """Group maps as G matmuls on split views (what SRLinear does), without context."""

    def __init__(self, ins: tuple[int, ...], outs: tuple[int, ...]) -> None:
        super().__init__()
        self.ins = list(ins)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(o, i) / i ** 0.5) for i, o in zip(ins, outs, strict=True)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = torch.split(x, self.ins, dim=1)
        return torch.cat([F.linear(a, w) for a, w in zip(xs, self.weights, strict=True)], dim=1)


def time_fwd_bwd(fns: dict[str, Callable[[], torch.Tensor]], rounds: int,
                 iters: int) -> dict[str, list[float]]:
    """Seconds per forward+backward; rounds interleave the candidates to share the noise."""
    for fn in fns.values():  # warm-up
        for _ in range(2):
            fn().sum().backward()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(iters):
                y = fn()
                y.backward(torch.ones_like(y))
            times[name].append((time.perf_counter() - start) / iters)
    return times


def layer_section(args: argparse.Namespace) -> list[str]:
    torch.manual_seed(0)
    n, width = 1024, 1024
    rows = [f"### Layer: forward+backward, batch {n}, {width} channels, 5 groups", ""]
    layouts = {"proportional": split_width(width, SIZES),
               "proportional, multiple_of=8": split_width(width, SIZES, multiple_of=8)}
    x = torch.randn(n, width, requires_grad=True)
    dense = nn.Linear(width, width)
    fns: dict[str, Callable[[], torch.Tensor]] = {"nn.Linear(1024, 1024)": lambda: dense(x)}
    for label, widths in layouts.items():
        sr = SRLinear(widths, widths)
        fns[f"SRLinear {widths} ({label})"] = lambda sr=sr: sr(x)
        for select in ("index", "slice"):
            naive = NaiveSR(sr, select)
            torch.testing.assert_close(naive(x), sr(x), atol=1e-4, rtol=1e-4)
            fns[f"naive per-group loop, {select} {widths}"] = lambda naive=naive: naive(x)
    widths = layouts["proportional"]
    for name, mod in [("group maps only: loop of G matmuls (used)", LoopMatmul(widths, widths)),
                      ("group maps only: padded bmm", PaddedBmm(widths, widths)),
                      ("group maps only: block-diagonal dense", BlockDiag(widths, widths))]:
        fns[name] = lambda mod=mod: mod(x)
    times = time_fwd_bwd(fns, args.rounds, args.iters)
    best = {k: min(v) for k, v in times.items()}
    base = best["nn.Linear(1024, 1024)"]
    rows += ["| variant | best ms | median ms | / dense |", "|---|---|---|---|"]
    for k, v in times.items():
        rows.append(f"| {k} | {best[k] * 1e3:.2f} | {statistics.median(v) * 1e3:.2f} | "
                    f"{best[k] / base:.3f} |")
    rows.append("")
    for label, widths in layouts.items():
        sr_t = best[f"SRLinear {widths} ({label})"]
        index_t = best[f"naive per-group loop, index {widths}"]
        slice_t = best[f"naive per-group loop, slice {widths}"]
        rows.append(f"- {label} {widths}: SR / dense = {sr_t / base:.3f} (target <= 0.35); "
                    f"naive / SR = {index_t / sr_t:.2f}x with index sets, "
                    f"{slice_t / sr_t:.2f}x with slices (target >= 2)")
    return rows


def conv_section(args: argparse.Namespace) -> list[str]:
    torch.manual_seed(0)
    widths = split_width(1024, SIZES)
    rows = ["### SR convolution: forward+backward, 1024 channels, 5 groups, kernel 3", "",
            "| form | input (B, C, T) | nn.Conv1d ms | SRConv1d ms | SR / dense |",
            "|---|---|---|---|---|"]
    for label, batch, frames, kw in [("strided (training), stride 3", 256, 27, {"stride": 3}),
                                     ("dilated (inference), dilation 9", 16, 243,
                                      {"dilation": 9})]:
        x = torch.randn(batch, 1024, frames, requires_grad=True)
        dense = nn.Conv1d(1024, 1024, 3, **kw)
        sr = SRConv1d(widths, widths, 3, **kw)
        fns: dict[str, Callable[[], torch.Tensor]] = {
            "dense": lambda dense=dense, x=x: dense(x), "sr": lambda sr=sr, x=x: sr(x)}
        times = time_fwd_bwd(fns, args.rounds, max(1, args.iters // 2))
        d, s = min(times["dense"]), min(times["sr"])
        rows.append(f"| {label} | ({batch}, 1024, {frames}) | {d * 1e3:.1f} | {s * 1e3:.1f} | "
                    f"{s / d:.3f} |")
    return rows


def small_section(args: argparse.Namespace) -> list[str]:
    """Eval-mode small inputs on one thread: the row form against the general path."""
    torch.manual_seed(0)
    widths = split_width(1024, SIZES)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    linear = SRLinear(widths, widths, context_init="random").eval()
    strided = SRConv1d(widths, widths, 3, stride=3, context_init="random").eval()
    pointwise = SRConv1d(widths, widths, 1, context_init="random").eval()
    cases: list[tuple[str, nn.Module, torch.Tensor]] = [
        (f"SRLinear, {n} row(s)", linear, torch.randn(n, 1024)) for n in (1, 8, 32, 128, 256)]
    cases += [("SRConv1d k=3 stride 3, (1, 1024, 27)", strided, torch.randn(1, 1024, 27)),
              ("SRConv1d k=1, (1, 1024, 3)", pointwise, torch.randn(1, 1024, 3)),
              ("SRConv1d k=3 stride 3, (8, 1024, 27)", strided, torch.randn(8, 1024, 27))]
    rows = ["### Small eval inputs: row form vs general path (one thread, no_grad)", "",
            "Median of interleaved rounds; outputs compared (largest difference).", "",
            "| input | row form µs | general µs | general / row form | max diff |",
            "|---|---|---|---|---|"]
    reps = 20 if args.quick else 200
    for label, layer, x in cases:
        assert isinstance(layer, SRLinear | SRConv1d)
        form = layer.row_form()
        assert form is not None

        def run(form: RowForm = form, x: torch.Tensor = x,
                conv: bool = isinstance(layer, SRConv1d)) -> torch.Tensor:
            if conv:  # windows unfolded to rows, time-major
                return form.forward_time_major(x.transpose(1, 2)).transpose(1, 2)
            out: torch.Tensor = form(x)
            return out

        def general(layer: nn.Module = layer, x: torch.Tensor = x) -> torch.Tensor:
            return layer(x)

        times: dict[str, list[float]] = {"row": [], "general": []}
        with torch.no_grad():
            diff = float((run() - general()).abs().max())
            for _ in range(args.rounds):
                for name, fn in (("row", run), ("general", general)):
                    start = time.perf_counter()
                    for _ in range(reps):
                        fn()
                    times[name].append((time.perf_counter() - start) / reps)
        r, g = statistics.median(times["row"]), statistics.median(times["general"])
        rows.append(f"| {label} | {r * 1e6:.1f} | {g * 1e6:.1f} | {g / r:.2f} | {diff:.1e} |")
    torch.set_num_threads(saved_threads)
    return rows


# --------------------------------------------------------------------------------------------
# network section
# --------------------------------------------------------------------------------------------

def _linear_factory(kind: str) -> Callable[[tuple[int, ...], tuple[int, ...]], nn.Module]:
    if kind == "sr":
        return lambda ins, outs: SRLinear(ins, outs)
    return lambda ins, outs: nn.Linear(sum(ins), sum(outs))


class Block(nn.Module):
    def __init__(self, make: Callable[[tuple[int, ...], tuple[int, ...]], nn.Module],
                 widths: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [make(widths, widths), nn.BatchNorm1d(sum(widths)), nn.LeakyReLU(),
                       nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def build_network(kind: str, hidden: int = 1024, blocks: int = 2, dropout: float = 0.25,
                  multiple_of: int = 1) -> nn.Sequential:
    """Single-frame network: (B, 17*2) joint-major 2D -> (B, 17*3) in owned-group order."""
    make = _linear_factory(kind)
    gather = GroupGather(GROUPS, 2)
    widths = split_width(hidden, SIZES, multiple_of=multiple_of)
    outs = tuple(3 * len(g) for g in OWNED)
    return nn.Sequential(
        gather,
        make(gather.group_sizes, widths), nn.BatchNorm1d(hidden), nn.LeakyReLU(),
        nn.Dropout(dropout),
        *[Block(make, widths, dropout) for _ in range(blocks)],
        make(widths, outs),
    )


def network_section(args: argparse.Namespace) -> list[str]:
    rows = ["### Whole single-frame network (h36m-5, 1024 channels, 2 residual blocks, "
            "dropout 0.25)", "",
            "| network | params | train samples/s (batch 1024, Adam) | "
            "infer samples/s (batch 4096) |", "|---|---|---|---|"]
    results = {}
    nets = {"SR (SRLinear, mul, H=1)": build_network("sr"),
            "SR, widths multiple_of=8": build_network("sr", multiple_of=8),
            "SR, dropout 0 (for reference)": build_network("sr", dropout=0.0),
            "FC (nn.Linear)": build_network("fc")}
    x_train, y_train = torch.randn(1024, 34), torch.randn(1024, 51)
    x_infer = torch.randn(4096, 34)
    train_t: dict[str, list[float]] = {k: [] for k in nets}
    infer_t: dict[str, list[float]] = {k: [] for k in nets}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in nets.items()}
    for k, net in nets.items():  # warm-up
        net.train()
        for _ in range(3):
            loss = F.l1_loss(net(x_train), y_train)
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
    for _ in range(args.rounds):
        for k, net in nets.items():
            net.train()
            start = time.perf_counter()
            for _ in range(args.iters):
                loss = F.l1_loss(net(x_train), y_train)
                opts[k].zero_grad()
                loss.backward()
                opts[k].step()
            train_t[k].append((time.perf_counter() - start) / args.iters)
            net.eval()
            with torch.no_grad():
                net(x_infer)
                start = time.perf_counter()
                for _ in range(args.iters):
                    net(x_infer)
                infer_t[k].append((time.perf_counter() - start) / args.iters)
    for k, net in nets.items():
        params = sum(p.numel() for p in net.parameters())
        tr, inf = 1024 / min(train_t[k]), 4096 / min(infer_t[k])
        tr_med, inf_med = 1024 / statistics.median(train_t[k]), 4096 / statistics.median(infer_t[k])
        results[k] = (tr, inf)
        rows.append(f"| {k} | {params / 1e6:.2f}M | {tr:,.0f} (median {tr_med:,.0f}) | "
                    f"{inf:,.0f} (median {inf_med:,.0f}) |")
    sr_tr, sr_inf = results["SR (SRLinear, mul, H=1)"]
    rows += ["", f"- SR network: {sr_tr:,.0f} train samples/s (target >= 10,000; official 3,227), "
             f"{sr_inf:,.0f} infer samples/s (target >= 30,000; official 9,573)"]
    return rows


# --------------------------------------------------------------------------------------------
# gate normalization study
# --------------------------------------------------------------------------------------------

class PlainGate(SRLinear):
    """sigmoid(U x_rest + c): no normalization at all."""

    def effective_context_weight(self) -> torch.Tensor:
        assert self.context_weight is not None and self.context_mask is not None
        return self.context_weight * self.context_mask


class BatchNormGate(PlainGate):
    """sigmoid(BatchNorm(U x_rest)), BatchNorm over each group's one channel (official)."""

    def __init__(self, *a: object, eps: float = 1e-5, zero_init: bool = True,
                 **k: object) -> None:
        super().__init__(*a, **k)  # type: ignore[arg-type]
        self.norm = nn.BatchNorm1d(self.num_groups * self.context_dim, eps=eps, momentum=0.1)
        if zero_init:  # the official code initializes the context convolution to zero
            with torch.no_grad():
                assert self.context_weight is not None
                self.context_weight.zero_()

    def gate(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.norm(z))


def _gate_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    fixed = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 34, generator=fixed), torch.randn(8, 51, generator=fixed)
    c = torch.randn(34, 51, generator=fixed) / 6
    latent = torch.randn(n, 8, generator=gen)
    x = torch.tanh(latent @ a / 2)
    return x, torch.sin(latent @ b / 2) + torch.tanh(x @ c)


def gate_section(args: argparse.Namespace) -> list[str]:
    variants: dict[str, Callable[..., nn.Module]] = {
        "weight norm, zero init (used)": SRLinear,
        "weight norm, random init": lambda i, o: SRLinear(i, o, context_init="random"),
        "none, random init": lambda i, o: PlainGate(i, o, context_init="random"),
        "BatchNorm eps=1e-5, zero init (official)": BatchNormGate,
        "BatchNorm eps=1e-3, random init": lambda i, o: BatchNormGate(i, o, eps=1e-3,
                                                                       zero_init=False),
    }
    steps, seeds = args.gate_steps, args.gate_seeds
    rows = [f"### Gate normalization study: {steps} Adam steps (lr 1e-3, batch 256), "
            f"{len(seeds)} seeds", "",
            "Task: 34 -> 51 synthetic regression (8-D latent, smooth nonlinear), SR stack "
            "GroupGather -> 3 x [SRLinear(256) + LeakyReLU] -> SRLinear(51), no other norm. "
            "Losses are L1 on 2,000 held-out samples at the end; the differences are over "
            "10 checkpoints.", "",
            "| gate | train-mode loss | eval-mode loss | max abs(train - eval) output | "
            "mean abs(train - eval) output |", "|---|---|---|---|---|"]
    x_test, y_test = _gate_data(2000, 999)
    hidden = split_width(256, SIZES)
    outs = [3 * len(g) for g in OWNED]
    for name, make in variants.items():
        finals_tr, finals_ev, max_d, mean_d = [], [], 0.0, []
        for seed in seeds:
            torch.manual_seed(seed)
            gather = GroupGather(GROUPS, 2)
            model = nn.Sequential(gather, make(gather.group_sizes, hidden), nn.LeakyReLU(),
                                  make(hidden, hidden), nn.LeakyReLU(), make(hidden, hidden),
                                  nn.LeakyReLU(), make(hidden, outs))
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            x_train, y_train = _gate_data(20000, seed + 10)
            gen = torch.Generator().manual_seed(seed)
            for step in range(1, steps + 1):
                model.train()
                idx = torch.randint(0, len(x_train), (256,), generator=gen)
                loss = F.l1_loss(model(x_train[idx]), y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step % max(1, steps // 10) == 0:
                    with torch.no_grad():
                        model.eval()
                        ev = model(x_test)
                        # train-mode output on test batches of 256 (BatchNorm uses their
                        # statistics); running statistics restored afterwards
                        saved = {k: v.clone() for k, v in model.state_dict().items()
                                 if "running" in k or "num_batches" in k}
                        model.train()
                        tr = torch.cat([model(x_test[i:i + 256]) for i in range(0, 2000, 256)])
                        model.load_state_dict(saved, strict=False)
                    max_d = max(max_d, (tr - ev).abs().max().item())
                    mean_d.append((tr - ev).abs().mean().item())
            finals_tr.append(F.l1_loss(tr, y_test).item())
            finals_ev.append(F.l1_loss(ev, y_test).item())
        rows.append(f"| {name} | {statistics.mean(finals_tr):.4f} | "
                    f"{statistics.mean(finals_ev):.4f} | {max_d:.2e} | "
                    f"{statistics.mean(mean_d):.2e} |")
    return rows


# --------------------------------------------------------------------------------------------
# training-step sections: profile, train, recipes
# --------------------------------------------------------------------------------------------

def _clock() -> Callable[[], float]:
    """CPU time of the process on one thread (robust on a shared machine), else wall time."""
    return time.process_time if torch.get_num_threads() == 1 else time.perf_counter


@contextlib.contextmanager
def general_path(net: nn.Module) -> Iterator[None]:
    """Run ``net`` as before issue 26: SR layers on the general path (autograd through every
    op), ``nn.Dropout``'s own mask."""
    swapped = [m for m in net.modules() if type(m) is Dropout]
    layers = [m for m in net.modules() if isinstance(m, SRLinear | SRConv1d)]
    for m in swapped:
        m.__class__ = nn.Dropout
    for m in layers:  # no row map with its own backward (_GroupRows)
        m._trains_rows = lambda x: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in swapped:
            m.__class__ = Dropout
        for m in layers:
            del m._trains_rows


def _step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
          y: torch.Tensor) -> None:
    loss = F.l1_loss(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _shipped(which: str, sr_input: str = "coco") -> tuple[nn.Module, nn.Module, torch.Tensor,
                                                          torch.Tensor]:
    """(model, network trained, inputs, targets) of a shipped architecture at batch 1024."""
    torch.manual_seed(0)
    config = dict(skeleton=sr_input, in_features=3, input_norm="bbox")
    if which == "sr":
        model = poselift.create_model("sr", **config)
        return model, model, torch.randn(1024, 17, 3), torch.randn(1024, 17, 3)
    model = poselift.create_model("sr_tcn", filter_widths=(3, 3, 3), causal=True, **config)
    return (model, model.strided_twin(), torch.randn(1024, 27, 17, 3),  # type: ignore[operator]
            torch.randn(1024, 1, 17, 3))


def profile_section(args: argparse.Namespace) -> list[str]:
    from torch.profiler import ProfilerActivity, profile

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    clock = _clock()
    widths = split_width(1024, SIZES)
    cases: list[tuple[str, Callable[[], tuple[nn.Module, nn.Module, torch.Tensor,
                                              torch.Tensor]]]] = [
        ("SRLinear 1024 -> 1024, batch 1024",
         lambda: (lambda m: (m, m, torch.randn(1024, 1024), torch.randn(1024, 1024)))(
             SRLinear(widths, widths, context_init="random"))),
        ("SRConv1d k=3 stride 3, (1024, 1024, 9)",
         lambda: (lambda m: (m, m, torch.randn(1024, 1024, 9), torch.randn(1024, 1024, 3)))(
             SRConv1d(widths, widths, 3, stride=3, context_init="random"))),
        ("sr (sr.coco architecture), batch 1024", lambda: _shipped("sr")),
        ("sr_tcn causal strided twin (sr_tcn.coco-causal), batch 1024",
         lambda: _shipped("sr_tcn")),
    ]
    rows = ["### One training step per operation (one thread, CPU time)", "",
            "Forward / backward / Adam (amsgrad) step in ms: median of interleaved rounds; "
            "then the operations taking most of the step (torch.profiler self time, share of "
            "the profiled steps).", ""]
    steps = 1 if args.quick else 3
    for label, make in cases:
        model, net, x, y = make()
        net.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
        parts: dict[str, list[tuple[float, float, float]]] = {"training path": [],
                                                                "general path": []}
        for _ in range(args.rounds):
            for name in parts:
                with general_path(net) if name == "general path" else contextlib.nullcontext():
                    _step(net, opt, x, y)
                    t0 = clock()
                    loss = F.l1_loss(net(x), y)
                    t1 = clock()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    t2 = clock()
                    opt.step()
                    parts[name].append((t1 - t0, t2 - t1, clock() - t2))
        rows += [f"#### {label}", "", "| path | forward ms | backward ms | Adam ms | step ms | "
                 "general / training |", "|---|---|---|---|---|---|"]
        totals = {k: statistics.median(sum(p) for p in v) for k, v in parts.items()}
        for name, v in parts.items():
            f, b, o = (statistics.median(c) * 1e3 for c in zip(*v, strict=True))
            rows.append(f"| {name} | {f:.1f} | {b:.1f} | {o:.1f} | {totals[name] * 1e3:.1f} | "
                        f"{totals['general path'] / totals[name]:.2f} |")
        for name in parts:
            with general_path(net) if name == "general path" else contextlib.nullcontext():
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    for _ in range(steps):
                        _step(net, opt, x, y)
            events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
            total = sum(e.self_cpu_time_total for e in events)
            top = [f"{e.key} {100 * e.self_cpu_time_total / total:.0f}%" for e in events[:8]]
            rows.append(f"\n{name}: " + ", ".join(top))
        rows.append("")
    torch.set_num_threads(saved)
    return rows


class DenseMLP(nn.Sequential):
    """The SR network's layers as a plain ``nn.Linear`` stack of the same width (no
    BatchNorm, no dropout, no residuals): 34 -> 1024 -> 4 x 1024 -> 51, LeakyReLU between."""

    def __init__(self, hidden: int = 1024, blocks: int = 2) -> None:
        layers: list[nn.Module] = [nn.Linear(34, hidden), nn.LeakyReLU()]
        for _ in range(2 * blocks):
            layers += [nn.Linear(hidden, hidden), nn.LeakyReLU()]
        super().__init__(*layers, nn.Linear(hidden, 51))


def _official(folder: str | None) -> dict[str, Callable[[], nn.Module]]:
    """The official SRNet single-frame models (SR and FC), imported from ``folder``."""
    if not folder:
        return {}
    sys.path.insert(0, str(Path(folder).resolve()))
    saved = sys.argv
    # the official modules parse the command line when imported
    sys.argv = ["srnet", "--split", "others", "--recombine", "multiply", "--group", "5"]
    try:
        from common.common_pytorch.model.fc_baseline import (  # type: ignore[import-not-found]
            TemporalModelOptimized1f as OfficialFC,
        )
        from common.common_pytorch.model.srnet import (  # type: ignore[import-not-found]
            TemporalModelOptimized1f as OfficialSR,
        )
    finally:
        sys.argv = saved
    return {"official SR": lambda: OfficialSR(17, 2, 17, filter_widths=[1, 1, 1], dropout=0.25,
                                              channels=1024),
            "official FC": lambda: OfficialFC(17, 2, 17, filter_widths=[1, 1, 1], dropout=0.25,
                                              channels=1024)}


COPY = "poselift SR, inference copy (fuse_for_inference, what lift runs)"


def train_section(args: argparse.Namespace) -> list[str]:
    import warnings

    warnings.filterwarnings("ignore", message="Using a non-full backward hook")
    saved = torch.get_num_threads()
    makers: dict[str, Callable[[], nn.Module]] = {
        "poselift SR": lambda: poselift.create_model("sr"),
        "poselift SR, general path": lambda: poselift.create_model("sr"),
        "dense MLP (nn.Linear stack)": DenseMLP,
        "poselift FC": lambda: poselift.create_model("fc"),
        **_official(args.official),
    }
    rows = ["### Training and inference: SR network vs a dense MLP, FC and the official code",
            "", "Single-frame h36m networks (17 x 2 in, 17 x 3 out, 1024 channels): training "
            "samples/s (batch 1024, Adam amsgrad, L1), inference samples/s (batch 4096, eval, "
            "no_grad); median of interleaved rounds. 'general path': the same SR network as "
            "trained before issue 26 (no _GroupRows, nn.Dropout).", ""]
    for threads in args.thread_list:
        torch.set_num_threads(threads)
        clock = _clock()
        nets, opts, inputs = {}, {}, {}
        for name, make in makers.items():
            torch.manual_seed(0)
            nets[name] = make()
            opts[name] = torch.optim.Adam(nets[name].parameters(), lr=1e-3, amsgrad=True)
            official = name.startswith("official")
            mlp = name.startswith("dense")
            shape = (1, 17, 2) if official else ((34,) if mlp else (17, 2))
            out = (1, 17, 3) if official else ((51,) if mlp else (17, 3))
            inputs[name] = (torch.randn(1024, *shape), torch.randn(1024, *out),
                            torch.randn(4096, *shape))
        train_t: dict[str, list[float]] = {k: [] for k in nets}
        infer_t: dict[str, list[float]] = {k: [] for k in nets}
        for r in range(args.rounds):
            for name, net in nets.items():
                x, y, xi = inputs[name]
                ctx = general_path(net) if name.endswith("general path") else \
                    contextlib.nullcontext()
                with ctx:
                    net.train()
                    if r == 0:
                        _step(net, opts[name], x, y)
                    start = clock()
                    for _ in range(args.iters):
                        _step(net, opts[name], x, y)
                    train_t[name].append((clock() - start) / args.iters)
                    net.eval()
                    with torch.no_grad():
                        if r == 0:
                            net(xi)
                        start = clock()
                        for _ in range(max(1, args.iters // 2)):
                            net(xi)
                        infer_t[name].append((clock() - start) / max(1, args.iters // 2))
                        if name == "poselift SR":  # what poselift.lift runs: the copy
                            fast = fuse_for_inference(net)
                            fast(xi)
                            start = clock()
                            for _ in range(max(1, args.iters // 2)):
                                fast(xi)
                            infer_t.setdefault(COPY, []).append(
                                (clock() - start) / max(1, args.iters // 2))
        tr = {k: 1024 / statistics.median(v) for k, v in train_t.items()}
        inf = {k: 4096 / statistics.median(v) for k, v in infer_t.items()}
        sr = "poselift SR"
        rows += [f"#### {threads} thread(s) ({'CPU' if threads == 1 else 'wall'} time)", "",
                 "| network | params | train samples/s | SR train / this | infer samples/s | "
                 "SR infer / this |", "|---|---|---|---|---|---|"]
        for k, net in nets.items():
            params = sum(p.numel() for p in net.parameters()) / 1e6
            rows.append(f"| {k} | {params:.2f}M | {tr[k]:,.0f} | {tr[sr] / tr[k]:.2f} | "
                        f"{inf[k]:,.0f} | {inf[sr] / inf[k]:.2f} |")
            if k == sr:
                rows.append(f"| {COPY} | | - | - | {inf[COPY]:,.0f} | "
                            f"{inf[sr] / inf[COPY]:.2f} |")
        if "official SR" in inf:
            official = inf["official SR"]
            rows.append(f"\nInference vs official SR: poselift SR {inf[sr] / official:.2f}x, "
                        f"its inference copy {inf[COPY] / official:.2f}x.")
        rows.append("")
    torch.set_num_threads(saved)
    return rows


def recipes_section(args: argparse.Namespace) -> list[str]:
    if not (Path(args.data) / "bandai").is_dir():
        return [f"### Recipes: skipped (no Bandai data under {args.data})"]
    worker = Path(__file__).with_name("_recipe_worker.py")
    here = Path(__file__).resolve().parents[1] / "src"
    trees = {"this tree": str(here)}
    if args.baseline_src:
        trees = {"baseline": str(Path(args.baseline_src).resolve()), **trees}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    batches = 2 if args.quick else args.recipe_batches
    rows = ["### End-to-end training loop of the shipped recipes (one thread, CPU time)", "",
            f"examples/train.py's loop (wild-mix, batch 1024, Adam amsgrad, L1: data + step), "
            f"{batches} batches per round, {args.recipe_rounds} interleaved rounds after one "
            "warm-up round; samples/s = samples / (data + step CPU seconds), median over "
            "rounds.", "", "| recipe | code | samples/s | data s per batch | step s per batch | "
            "vs baseline |", "|---|---|---|---|---|---|"]
    for recipe in ("sr.coco", "sr_tcn.coco-causal"):
        procs = {name: subprocess.Popen(
            [sys.executable, str(worker), recipe, str(args.data), "1",
             "plain" if name == "baseline" else "fused"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={**env, "PYTHONPATH": src})
            for name, src in trees.items()}
        for p in procs.values():
            assert p.stdout is not None
            json.loads(p.stdout.readline())  # ready
        results: dict[str, list[dict[str, float]]] = {k: [] for k in procs}

        def run(p: subprocess.Popen[str], k: int) -> dict[str, float]:
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write(f"run {k}\n")
            p.stdin.flush()
            out: dict[str, float] = json.loads(p.stdout.readline())
            return out

        for r in range(args.recipe_rounds + 1):
            for name, p in procs.items():
                res = run(p, 1 if r == 0 else batches)
                if r:
                    results[name].append(res)
        for p in procs.values():
            assert p.stdin is not None
            p.stdin.write("quit\n")
            p.stdin.flush()
            p.wait(timeout=60)
        rate = {k: statistics.median(x["samples"] / (x["data_cpu"] + x["step_cpu"]) for x in v)
                for k, v in results.items()}
        for name, v in results.items():
            data = statistics.median(x["data_cpu"] for x in v) / batches
            step = statistics.median(x["step_cpu"] for x in v) / batches
            ratio = f"{rate[name] / rate['baseline']:.2f}" if "baseline" in rate else "-"
            rows.append(f"| {recipe} | {name} | {rate[name]:,.0f} | {data:.3f} | {step:.3f} | "
                        f"{ratio} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--sections", default="layer,conv,small,network,gate",
                        help="comma-separated subset of: layer, conv, small, network, gate, "
                             "profile, train, recipes")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 7; quick 2)")
    parser.add_argument("--iters", type=int, default=None,
                        help="calls per round (default 10; quick 2)")
    parser.add_argument("--train-threads", default="1,2",
                        help="thread counts of the train section")
    parser.add_argument("--official", default=None, metavar="DIR",
                        help="folder holding the official SRNet code's common/ (train section)")
    parser.add_argument("--baseline-src", default=None, metavar="DIR",
                        help="an older poselift's src/ for the recipes section, e.g. "
                             "`git archive 7ace027 src | tar -x -C DIR/..`")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"),
                        help="directory holding bandai/ (recipes section)")
    parser.add_argument("--recipe-batches", type=int, default=4,
                        help="batches per round in the recipes section")
    parser.add_argument("--recipe-rounds", type=int, default=5,
                        help="interleaved rounds in the recipes section")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds, iters = (2, 2) if args.quick else (7, 10)
    args.rounds = args.rounds or rounds
    args.iters = args.iters or iters
    args.gate_steps = 30 if args.quick else 2000
    args.gate_seeds = (0,) if args.quick else (0, 1, 2)
    args.thread_list = [int(t) for t in args.train_threads.split(",") if t.strip()]
    if args.quick:
        args.recipe_rounds = 1
    sections = {"layer": layer_section, "conv": conv_section, "small": small_section,
                "network": network_section, "gate": gate_section,
                "profile": profile_section, "train": train_section,
                "recipes": recipes_section}
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in sections]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {list(sections)}")
    print(f"# bench_layers: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{cpu_name()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
          f"{' (quick)' if args.quick else ''}\n")
    for name in chosen:
        start = time.perf_counter()
        for line in sections[name](args):
            print(line)
        print(f"\n({name}: {time.perf_counter() - start:.0f} s, load average now "
              f"{os.getloadavg()[0]:.1f})\n", flush=True)


if __name__ == "__main__":
    main()
