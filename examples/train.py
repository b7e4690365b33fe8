"""Train any registered poselift model on a Bandai protocol with the paper's recipe.

Single-frame models train on FrameDataset-style samples, temporal models on windows of
``receptive_field`` frames through ``model.strided_twin()``. The defaults are the recipe of
the reference measurements (docs/results.md): Adam (amsgrad), lr 1e-3 x0.95 per epoch, batch
1024, L1 loss, flip augmentation, BatchNorm momentum 0.1 -> 0.001, 8 epochs of 302,928 P1
samples, seed 4321, test-time flip averaging; plus precise BatchNorm statistics after every epoch.

Examples:
    python examples/train.py --model sr --protocol p1-style --out runs/sr_p1
    python examples/train.py --model fc --protocol p3-rare10 --max-samples 2423424 --out runs/fc
    python examples/train.py --model sr_tcn --config "filter_widths=(3,3,3)" --out runs/srtcn
    python examples/train.py --model sr --quick --synthetic --out runs/quick      # CI-sized
    torchrun --nproc_per_node 2 examples/train.py --model sr --threads 1 --out runs/ddp

See docs/training.md for every flag, the log format, resuming and distributed training.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import poselift
from poselift import training
from poselift.data import (
    PROTOCOLS,
    Augmentation,
    AugmentationMix,
    base_protocol,
    list_input_layouts,
    load_protocol,
    protocol_motion,
)
from poselift.data.mocap import BANDAI_CREDIT
from poselift.data.synthetic import write_synthetic_bandai
from poselift.data.wild import RECIPES, training_augmentation
from poselift.evaluation import TestSet, evaluate, load_test_set, predict_test_set
from poselift.models import get_model_entry, list_models
from poselift.models.inputs import InputContract
from poselift.progress import ProgressBar

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))

# Options whose default depends on --quick (None in argparse means "not given").
NORMAL = {"epochs": 8, "batch_size": 1024, "frame_step": 4, "precise_bn": 20,
          "train_clips_every": 1, "test_clips_every": 1, "width": None}
QUICK = {"epochs": 2, "batch_size": 256, "frame_step": 8, "precise_bn": 4,
         "train_clips_every": 25, "test_clips_every": 20, "width": 128}
QUICK_SYNTHETIC = {**QUICK, "frame_step": 2, "train_clips_every": 1, "test_clips_every": 1}


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def parse_key_values(items: list[str], what: str) -> dict[str, Any]:
    """``["hidden=256", "partition=h36m-3"]`` -> ``{"hidden": 256, "partition": "h36m-3"}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"{what}: expected key=value, got {item!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare string such as partition=h36m-3
        out[key.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train a poselift model on a Bandai protocol (docs/training.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model", required=True, choices=list_models(), help="registered model")
    g.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                   help="model config values (Python literals), checked by create_model")
    g = p.add_argument_group("data")
    g.add_argument("--protocol", default="p1-style", choices=PROTOCOLS,
                   help="P3 trains on P1 train and tests on its rare subset")
    g.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="directory holding bandai/")
    g.add_argument("--synthetic", action="store_true",
                   help="generate a small synthetic Bandai-format set under OUT/synthetic-data "
                        "and train on it (no real data needed)")
    g.add_argument("--cameras", default="rig", choices=("rig", "random"),
                   help="rig: the fixed h36m-like evaluation rig, one of its 4 cameras per "
                        "sample (paper-style, ablations); random: RandomRig with bone/global "
                        "scale augmentation (robust shipped models)")
    g.add_argument("--recipe", default=None, choices=RECIPES,
                   help="a named training distribution (poselift.data.wild): rig, "
                        "rig+<ingredient>, wild, wild-mix; replaces --cameras (--augment "
                        "overrides apply to every part)")
    g.add_argument("--inputs", default="gt", choices=("gt", "noisy"),
                   help="noisy: 4 px Gaussian pixel noise, in training augmentation too")
    g.add_argument("--augment", nargs="*", default=[], metavar="KEY=VALUE",
                   help="recipe overrides: Augmentation fields (flip, bone_scale, "
                        "global_scale, pixel_noise, dropout, ...), dotted paths "
                        "(detector.face_kept=...), rig:/wild: prefixes and share= for "
                        "wild-mix (poselift.data.wild.training_augmentation)")
    g.add_argument("--frame-step", type=int, default=None,
                   help="train on frames 0, s, 2s, ... of every clip [4; quick 8]")
    g.add_argument("--test-frame-step", type=int, default=4,
                   help="test samples at frames 0, s, 2s, ... (4 = the protocol's)")
    g.add_argument("--pipeline", default="auto", choices=("auto", "fixed", "dataset"),
                   help="fixed: precomputed rig samples (every (frame, camera) pair once per "
                        "epoch; single-frame, rig, no bone/global scale); dataset: "
                        "FrameDataset/WindowDataset augmentation on the fly; auto: fixed "
                        "when possible")
    g.add_argument("--train-clips-every", type=int, default=None,
                   help="use every k-th training clip [1; quick 25]")
    g.add_argument("--test-clips-every", type=int, default=None,
                   help="evaluate on every k-th test clip [1; quick 20]")
    g = p.add_argument_group("recipe")
    g.add_argument("--epochs", type=int, default=None, help="epochs [8; quick 2]")
    g.add_argument("--batch-size", type=int, default=None, help="global batch [1024; quick 256]")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--lr-decay", type=float, default=0.95, help="lr factor per epoch")
    g.add_argument("--loss", default="l1", choices=("l1", "mpjpe"))
    g.add_argument("--bn-momentum", type=float, nargs=2, default=(0.1, 0.001),
                   metavar=("START", "END"),
                   help="BatchNorm momentum, decayed exponentially over the run")
    g.add_argument("--precise-bn", type=int, default=None, metavar="N",
                   help="recompute BatchNorm statistics on N training batches after every "
                        "epoch (0: off) [20; quick 4]")
    g.add_argument("--precise-bn-mode", choices=("train", "eval"), default="train",
                   help="network mode while precise BN collects statistics: train (dropout "
                        "active) or eval (dropout off, as the network is evaluated)")
    g.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=True,
                   help="test-time flip averaging")
    g.add_argument("--max-samples", type=int, default=None,
                   help="stop after this many training samples (equal-budget runs)")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop cleanly (with a checkpoint) once the wall time exceeds this")
    g.add_argument("--seed", type=int, default=4321)
    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-every", type=int, default=1,
                   help="evaluate every k epochs (the last epoch always)")
    g.add_argument("--eval-batch-size", type=int, default=4096)
    g = p.add_argument_group("run")
    g.add_argument("--out", type=Path, required=True, help="output directory")
    g.add_argument("--resume", action="store_true", help="continue from OUT's last checkpoint")
    g.add_argument("--init", metavar="WEIGHTS", help="start from trained weights (same config)")
    g.add_argument("--keep-epochs", action="store_true",
                   help="also keep OUT/epoch_NNN.pt after every epoch")
    g.add_argument("--threads", type=int, default=2, help="torch threads per process")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    g.add_argument("--progress", default="auto", choices=("auto", "tqdm", "lines", "none"),
                   help="auto: tqdm when installed and stderr is a terminal, else lines")
    g.add_argument("--log-every", type=int, default=50, help="batches between progress lines")
    g.add_argument("--quick", action="store_true",
                   help="tiny CI config: clip slice, width 128, 2 epochs, small eval set")
    return p


def finalize_args(args: argparse.Namespace) -> argparse.Namespace:
    table = (QUICK_SYNTHETIC if args.synthetic else QUICK) if args.quick else NORMAL
    for key, value in table.items():
        if key != "width" and getattr(args, key) is None:
            setattr(args, key, value)
    args.quick_width = table["width"]
    for name in ("epochs", "batch_size", "frame_step", "test_frame_step", "train_clips_every",
                 "test_clips_every", "eval_every", "eval_batch_size", "threads", "log_every"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')}: expected a positive int, "
                             f"got {getattr(args, name)}")
    if args.precise_bn < 0:
        raise SystemExit(f"--precise-bn: expected >= 0, got {args.precise_bn}")
    if args.max_samples is not None and args.max_samples < 1:
        raise SystemExit(f"--max-samples: expected a positive int, got {args.max_samples}")
    return args


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


def make_augmentation(args: argparse.Namespace, contract: InputContract
                      ) -> Augmentation | AugmentationMix:
    name = args.recipe or {"rig": "paper", "random": "random"}[args.cameras]
    extra = ({"pixel_noise": 4.0} if args.inputs == "noisy" else {})
    extra.update(parse_key_values(args.augment, "--augment"))
    return _or_exit("--recipe/--augment", training_augmentation, name,
                    skeleton=contract.skeleton, normalize=contract.input_norm, overrides=extra)


def make_model(args: argparse.Namespace) -> nn.Module:
    config = parse_key_values(args.config, "--config")
    entry = get_model_entry(args.model)
    if args.quick_width is not None:
        for key in ("hidden", "channels"):
            if key in entry.defaults and key not in config:
                config[key] = args.quick_width
    return _or_exit("--config", poselift.create_model, args.model, **config)


def _or_exit(option: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)``; a bad value ends the run with one line naming ``option``."""
    try:
        return func(*args, **kwargs)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as err:
        raise SystemExit(f"{option}: {err}") from None


def say(rank0: bool, message: str) -> None:
    if rank0:
        print(message, flush=True)


def run_eval(model: nn.Module, test: TestSet, args: argparse.Namespace
             ) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    pred = predict_test_set(model, test, batch_size=args.eval_batch_size, flip_test=args.flip_test)
    return evaluate(pred, test.samples), time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# the run, step by step: start -> model -> data -> optimizer and state -> loop -> summary
# --------------------------------------------------------------------------------------------


def start_run(args: argparse.Namespace) -> tuple[training.Distributed, training.RunFiles, Path]:
    """Set up the process (device, threads, ranks), the output folder and the data root.

    ``--synthetic`` writes the synthetic Bandai-format set under OUT/synthetic-data and trains
    on it. A folder that already holds a run needs ``--resume``.
    """
    d = training.Distributed(args.device)
    torch.set_num_threads(args.threads)
    out: Path = args.out
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
    d.barrier()
    files = training.RunFiles(out)
    if not args.resume and files.state.exists():
        raise SystemExit(f"{out} already holds a run: pass --resume to continue it or choose "
                         "another --out")
    root: Path = args.data
    if args.synthetic:
        root = out / "synthetic-data"
        if d.main:
            write_synthetic_bandai(root, seed=args.seed)
        d.barrier()
    return d, files, root


def build_model(args: argparse.Namespace) -> nn.Module:
    """The model to train: ``--model`` with ``--config`` (seeded), started from ``--init``."""
    torch.manual_seed(training.seed_of(args.seed, "init"))
    model = make_model(args)
    if args.init is not None:  # fine-tuning (a resumed run then loads its own checkpoint)
        _or_exit("--init", training.init_from, model, args.init)
    return model


@dataclass
class Data:
    """What a run trains and is tested on (:func:`load_data`)."""

    root: Path
    aug: Augmentation | AugmentationMix
    pipeline: str  # "fixed" (precomputed rig samples) or "dataset" (augmented on the fly)
    clips: int  # training clips
    source: training.RigSamples | training.AugmentedSamples
    test: TestSet | None  # on the main process only


def load_data(args: argparse.Namespace, model: nn.Module, root: Path, d: training.Distributed
              ) -> Data:
    """Training samples and test set in the model's input contract.

    The contract's skeleton is the input layout of the mocap's 2D (e.g. COCO-17 synthesized
    from H36M-17), its score channel marks the joints dropped. The ``fixed`` pipeline needs the
    paper's setting (rig cameras, single-frame h36m input without scores or scale
    augmentation); ``auto`` takes it when possible.
    """
    contract = InputContract.of(model)
    aug = make_augmentation(args, contract)
    layout = contract.skeleton
    if layout not in list_input_layouts():
        raise SystemExit(f"--config skeleton={layout!r}: no input layout of that name to make "
                         f"training inputs from (layouts: {list_input_layouts()})")
    fixed_ok = (args.cameras == "rig" and args.recipe is None and isinstance(aug, Augmentation)
                and not contract.temporal and aug.bone_scale is None and aug.global_scale is None
                and layout == "h36m" and not contract.has_scores and aug.normalize == "screen")
    pipeline = ("fixed" if fixed_ok else "dataset") if args.pipeline == "auto" else args.pipeline
    if pipeline == "fixed" and not fixed_ok:
        raise SystemExit("--pipeline fixed needs --cameras rig, a single-frame h36m-input model "
                         "without a score channel and no bone_scale/global_scale augmentation")
    base = base_protocol(args.protocol)
    train_motion = protocol_motion(base, root, "train")
    if args.train_clips_every > 1:
        train_motion = train_motion.select(list(train_motion.names[:: args.train_clips_every]))
    source: training.RigSamples | training.AugmentedSamples
    if pipeline == "fixed":
        assert isinstance(aug, Augmentation)
        train = load_protocol(base, root, "train", "gt", frame_step=args.frame_step)
        train = train.every_kth_clip(args.train_clips_every)
        source = training.RigSamples(train, aug, contract, d.device)
    else:
        dataset = training.make_dataset(model, train_motion, aug, frame_step=args.frame_step,
                                        seed=args.seed)
        source = training.AugmentedSamples(dataset, d.device)
    test = None
    if d.main:
        test = load_test_set(args.protocol, root, args.inputs, layout=layout,
                             temporal=contract.temporal, frame_step=args.test_frame_step,
                             clips_every=args.test_clips_every)
    return Data(root, aug, pipeline, len(train_motion), source, test)


def run_metadata(args: argparse.Namespace, command: str, data: Data, d: training.Distributed
                 ) -> dict[str, Any]:
    """What every checkpoint records besides its progress: the command, the recipe (every
    argument), the data, the versions and the commit."""
    return {
        "command": command, "seed": args.seed, "protocol": args.protocol, "inputs": args.inputs,
        "cameras": args.cameras, "pipeline": data.pipeline, "data_root": str(data.root.resolve()),
        "synthetic": bool(args.synthetic), "epoch_size": data.source.epoch_size,
        "recipe": {k: (str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple)
                                                            else v))
                   for k, v in vars(args).items()},
        "augmentation": repr(data.aug),
        "world_size": d.world, "torch": str(torch.__version__),
        "poselift": str(poselift.__version__), "commit": training.git_commit(REPO),
        "training_data": "synthetic" if args.synthetic else BANDAI_CREDIT,
    }


class Trainer:
    """The training loop of one run (optimizer, schedule and progress ``state``).

    Every epoch: batches of a seeded permutation (each rank trains on its shard), then precise
    BatchNorm statistics, the lr decay, an evaluation, a checkpoint and a log line. The run
    stops at ``--epochs``, ``--max-samples`` or ``--time-budget`` (mid-epoch: a checkpoint of
    the exact position, continued by ``--resume``).
    """

    def __init__(self, args: argparse.Namespace, d: training.Distributed,
                 files: training.RunFiles, model: nn.Module, net: nn.Module, data: Data,
                 meta: dict[str, Any]) -> None:
        self.args, self.d, self.files, self.model, self.net = args, d, files, model, net
        self.source, self.test, self.meta = data.source, data.test, meta
        # fused: one kernel for all parameters (CPU and CUDA; the same update to float
        # rounding), ~4x cheaper than the per-parameter loop on a CPU
        self.optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, amsgrad=True,
                                          fused=d.device.type in ("cpu", "cuda"))
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer,
                                                                gamma=args.lr_decay)
        self.state = self.resume()
        self.train_net: nn.Module = net
        if d.world > 1:
            self.train_net = nn.parallel.DistributedDataParallel(
                net, device_ids=[d.device.index] if d.device.type == "cuda" else None)
        epoch_size = self.source.epoch_size
        self.planned = args.epochs * epoch_size
        if args.max_samples is not None:
            self.planned = min(self.planned, args.max_samples)
        self.momentum = args.bn_momentum[0]
        self.stop_reason: str | None = None
        self.last_metrics: dict[str, Any] | None = None
        self.run_start = 0.0

    def resume(self) -> dict[str, Any]:
        """The progress to start from: OUT's checkpoint with ``--resume``, else a fresh one."""
        args, d, files = self.args, self.d, self.files
        state: dict[str, Any] = {"epoch": 0, "batch": 0, "samples_seen": 0, "wall_time": 0.0,
                                 "epoch_sums": [0.0, 0.0, 0.0], "finished": False}
        if args.resume and files.state.exists():
            state = _or_exit("--resume", files.resume, self.model, self.optimizer,
                             self.scheduler)
            state["finished"] = state["epoch"] >= args.epochs or (
                args.max_samples is not None
                and args.max_samples - state["samples_seen"] < 2 * d.world)
            say(d.main, f"resumed {args.out} at epoch {state['epoch'] + 1} batch "
                        f"{state['batch']} ({state['samples_seen']:,} samples seen)")
            if d.main:  # drop log lines of epochs the checkpoint lacks
                files.trim_log(state["epoch"])
        elif args.resume:
            say(d.main, f"--resume: no checkpoint in {args.out}, starting afresh")
        return state

    def save(self, metrics: dict[str, Any] | None, tag: str | None) -> None:
        """Checkpoint model, optimizer, schedule and progress (``epoch_<tag>.pt`` kept too)."""
        if self.d.main:
            p = self.state
            self.files.save(self.model, self.optimizer, self.scheduler, p,
                            keep_as=(f"epoch_{tag}.pt" if tag is not None and
                                     self.args.keep_epochs else None),
                            **self.meta, epoch=p["epoch"], samples_seen=p["samples_seen"],
                            wall_time=round(p["wall_time"], 2), metrics=metrics or {})

    def run(self) -> None:
        """Train epoch after epoch until the run is finished or stopped."""
        self.run_start = time.perf_counter() - self.state["wall_time"]
        if self.state["finished"]:
            say(self.d.main,
                "the run is already finished; raise --epochs or --max-samples to continue")
        while self.state["epoch"] < self.args.epochs and not self.state["finished"]:
            stats = self.train_epoch(self.state["epoch"])
            if stats is None or not self.end_epoch(stats):
                break

    def _out_of_samples(self) -> bool:
        """The sample budget is spent: fewer samples remain than one usable batch needs."""
        return (self.args.max_samples is not None
                and self.args.max_samples - self.state["samples_seen"] < 2 * self.d.world)

    def train_epoch(self, epoch: int) -> dict[str, Any] | None:
        """One epoch's batches (from ``state["batch"]`` on a resumed run); None when the time
        budget stopped it mid-epoch (then its exact position is checkpointed)."""
        args, d, state, source = self.args, self.d, self.state, self.source
        epoch_size, batch_size = source.epoch_size, args.batch_size
        num_batches = math.ceil(epoch_size / batch_size)
        perm = torch.randperm(epoch_size, generator=torch.Generator().manual_seed(
            training.seed_of(args.seed, epoch)))
        self.train_net.train()
        loss_sum, err_sum, count = state["epoch_sums"]
        data_time = 0.0
        t_epoch = time.perf_counter()
        seen_epoch = 0
        bar = ProgressBar(num_batches, f"epoch {epoch + 1}", unit="batch", enabled=d.main,
                          mode=args.progress, every=args.log_every, initial=state["batch"],
                          stream=sys.stdout)
        b = state["batch"]
        budget_hit = False
        m0, m1 = args.bn_momentum
        while b < num_batches:
            idx = perm[b * batch_size : (b + 1) * batch_size]
            if args.max_samples is not None:
                idx = idx[: max(0, args.max_samples - state["samples_seen"])]
            if len(idx) < 2 * d.world:  # BatchNorm needs > 1 sample per rank
                break
            shard = idx[d.rank :: d.world]
            t0 = time.perf_counter()
            g = torch.Generator().manual_seed(training.seed_of(args.seed, epoch, b, d.rank))
            x, y = source.batch(shard, g)
            data_time += time.perf_counter() - t0
            torch.manual_seed(training.seed_of(args.seed, epoch, b, d.rank, "dropout"))
            self.momentum = training.bn_momentum(m0, m1, state["samples_seen"] / self.planned)
            training.set_bn_momentum(self.model, self.momentum)
            loss_value, err_mm = training.train_step(self.train_net, self.optimizer, x, y,
                                                     args.loss)
            loss_sum += loss_value * len(shard)
            err_sum += err_mm * len(shard)
            count += len(shard)
            state["samples_seen"] += len(idx)
            seen_epoch += len(idx)
            b += 1
            bar.update(1, loss=loss_value,
                       samples_s=seen_epoch / max(time.perf_counter() - t_epoch, 1e-9))
            if args.time_budget is not None and (d.world == 1 or b % 10 == 0):
                budget_hit = d.any(time.perf_counter() - self.run_start > args.time_budget)
                if budget_hit and b < num_batches:
                    break
            if self._out_of_samples():
                break
        bar.close()
        train_seconds = time.perf_counter() - t_epoch
        state["wall_time"] = time.perf_counter() - self.run_start
        complete = b >= num_batches
        if complete and args.time_budget is not None:
            budget_hit = d.any(time.perf_counter() - self.run_start > args.time_budget)
        done_samples = self._out_of_samples()
        if budget_hit and not complete and not done_samples:
            state.update(batch=b, epoch_sums=[loss_sum, err_sum, count])
            training.sync_buffers(self.model, d)
            self.save(self.last_metrics, None)
            self.stop_reason = "time-budget"
            say(d.main, f"time budget of {args.time_budget} s reached in epoch {epoch + 1} "
                        f"(batch {b}/{num_batches}); checkpoint saved, continue with --resume")
            return None
        return {"sums": [loss_sum, err_sum, count], "seen": seen_epoch, "data_time": data_time,
                "train_seconds": train_seconds, "budget_hit": budget_hit,
                "done_samples": done_samples}

    def end_epoch(self, stats: dict[str, Any]) -> bool:
        """Precise BN, lr decay, evaluation, checkpoint and log line after an epoch (or the
        sample budget); False when the run ends here."""
        args, d, state = self.args, self.d, self.state
        epoch = state["epoch"]
        t_pbn = time.perf_counter()
        training.precise_bn(self.net, self.source, args.precise_bn, args.batch_size, args.seed,
                            epoch, d, args.precise_bn_mode)
        training.sync_buffers(self.model, d)
        pbn_seconds = time.perf_counter() - t_pbn
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        sums = d.sum(stats["sums"])
        epoch += 1
        finished = epoch >= args.epochs or stats["done_samples"]
        state.update(epoch=epoch, batch=0, epoch_sums=[0.0, 0.0, 0.0], finished=finished)
        metrics: dict[str, Any] = {}
        eval_seconds = 0.0
        if d.main and (epoch % args.eval_every == 0 or finished or stats["budget_hit"]):
            assert self.test is not None
            result, eval_seconds = run_eval(self.model, self.test, args)
            metrics = {k: result[k] for k in ("samples", "mpjpe", "p_mpjpe", "pck", "auc")}
            self.last_metrics = metrics
        d.barrier()
        state["wall_time"] = time.perf_counter() - self.run_start
        self.save(metrics or self.last_metrics, f"{epoch:03d}")
        if d.main:
            self.log_epoch(epoch, stats, sums, lr, metrics, pbn_seconds, eval_seconds)
        if stats["done_samples"]:
            self.stop_reason = "max-samples"
        if stats["budget_hit"] and not finished:
            self.stop_reason = "time-budget"
            say(d.main, f"time budget reached after epoch {epoch}; continue with --resume")
            return False
        return not finished

    def log_epoch(self, epoch: int, stats: dict[str, Any], sums: list[float], lr: float,
                  metrics: dict[str, Any], pbn_seconds: float, eval_seconds: float) -> None:
        """Append the epoch's line to OUT/log.jsonl and print a summary of it."""
        train_seconds, seen, data_time = stats["train_seconds"], stats["seen"], stats["data_time"]
        line = {
            "epoch": epoch, "epoch_fraction": round(seen / self.source.epoch_size, 6),
            "samples_seen": self.state["samples_seen"],
            "train_loss": sums[0] / max(sums[2], 1),
            "train_mpjpe_mm": sums[1] / max(sums[2], 1),
            "lr": lr, "bn_momentum": self.momentum,
            "test": metrics or None, "train_seconds": round(train_seconds, 3),
            "data_seconds": round(data_time, 3),
            "samples_per_second": round(seen / max(train_seconds, 1e-9), 1),
            "precise_bn_seconds": round(pbn_seconds, 3),
            "eval_seconds": round(eval_seconds, 3),
            "wall_time": round(self.state["wall_time"], 3), "threads": torch.get_num_threads(),
        }
        self.files.append_log(line)
        test_txt = (f"test MPJPE {metrics['mpjpe']:.1f} mm P-MPJPE {metrics['p_mpjpe']:.1f} mm "
                    f"(eval {eval_seconds:.1f} s)" if metrics else "no eval")
        print(f"epoch {epoch}: train loss {line['train_loss']:.4f} "
              f"({line['train_mpjpe_mm']:.1f} mm), {line['samples_per_second']:,.0f} "
              f"samples/s (data {data_time:.1f} s of {train_seconds:.1f} s), {test_txt}",
              flush=True)

    def summary(self, data_seconds: float) -> dict[str, Any]:
        """OUT/summary.json: progress, stop reason, last metrics and the replica check."""
        summary: dict[str, Any] = {
            "epochs_done": self.state["epoch"], "samples_seen": self.state["samples_seen"],
            "wall_time": round(time.perf_counter() - self.run_start, 3),
            "stopped": self.stop_reason, "metrics": self.last_metrics,
            "data_load_seconds": round(data_seconds, 3), "world_size": self.d.world}
        summary.update(training.replica_check(self.model, self.d))
        if "replicas_identical" in summary:
            say(self.d.main, f"replicas identical: {summary['replicas_identical']}")
        if self.d.main:
            self.files.summary.write_text(json.dumps(summary, indent=1) + "\n")
            say(True, f"done: {json.dumps(summary)}")
        return summary


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build the model, load the data, train, write the summary."""
    args = finalize_args(build_parser().parse_args(argv))
    d, files, root = start_run(args)
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)
    t_data = time.perf_counter()
    model = build_model(args)
    data = load_data(args, model, root, d)
    data_seconds = time.perf_counter() - t_data
    n_test = len(data.test.samples) if data.test is not None else 0
    say(d.main, f"model {args.model} {model.config} ({sum(p.numel() for p in model.parameters()):,}"
                f" parameters, receptive field {model.receptive_field})")
    say(d.main, f"data {root}: {data.clips} training clips, {data.source.epoch_size:,} samples "
                f"per epoch ({data.pipeline} pipeline, cameras {args.cameras}), {n_test:,} test "
                f"samples; loaded in {data_seconds:.1f} s")
    model.to(d.device)
    net: nn.Module = model.strided_twin() if InputContract.of(model).temporal else model
    trainer = Trainer(args, d, files, model, net, data, run_metadata(args, command, data, d))
    if d.main:
        files.args.write_text(json.dumps(trainer.meta["recipe"], indent=1) + "\n")
    trainer.run()
    trainer.summary(data_seconds)
    # release the DDP wrapper (its reducer holds the process group) before the group: a
    # wrapper destroyed after destroy_process_group() can abort the process at exit
    del trainer
    gc.collect()
    d.barrier()
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
