"""Training building blocks of the paper's recipe (``examples/train.py`` is a thin CLI on them).

- Sample sources with one interface (``epoch_size`` and ``batch(index, generator)``):
  :class:`RigSamples` (the fixed rig's precomputed samples, flipped, noised and dropped per
  batch: the paper's setting) and :class:`AugmentedSamples` (a
  :class:`~poselift.data.FrameDataset` / :class:`~poselift.data.WindowDataset`, augmented on
  the fly); :func:`make_dataset` picks the dataset a model needs.
- BatchNorm: :func:`bn_momentum` (the decaying schedule), :func:`set_bn_momentum`,
  :func:`precise_bn` (statistics recomputed with the final weights).
- :class:`Distributed`: torch.distributed state for DDP runs (one process without torchrun),
  :func:`sync_buffers`, :func:`tensor_digest`.
- :class:`RunFiles`: a run directory's checkpoint (the model, as :func:`poselift.save_model`
  writes it), optimizer/scheduler/RNG state and per-epoch log: :meth:`RunFiles.save` and
  :meth:`RunFiles.resume` make a stopped run continue exactly where it stopped.
- :func:`seed_of`: stable seeds from plain parts, so that every batch of a run (and of a
  resumed run) draws the same augmentation.

Every input goes through the model's input contract
(:class:`~poselift.models.inputs.InputContract`), as in :func:`poselift.lift`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from poselift.camera import get_rig
from poselift.data.augment import Augmentation, AugmentationMix
from poselift.data.datasets import FrameDataset, WindowDataset
from poselift.data.mocap import MotionSet
from poselift.data.protocols import ProtocolData
from poselift.models.checkpoint import atomic_save, load_checkpoint, save_model
from poselift.models.factory import create_model, load_model
from poselift.models.inputs import InputContract
from poselift.models.registry import UNIVERSAL_CONFIG
from poselift.skeletons import flip_poses

__all__ = [
    "AugmentedSamples",
    "Distributed",
    "RigSamples",
    "RunFiles",
    "batchnorms",
    "bn_momentum",
    "git_commit",
    "init_from",
    "make_dataset",
    "precise_bn",
    "replica_check",
    "seed_of",
    "set_bn_momentum",
    "sync_buffers",
    "tensor_digest",
    "train_step",
]


def git_commit(path: str | os.PathLike[str] = ".") -> str:
    """The git commit checked out at ``path`` (``"unknown"`` outside a git checkout).

    Recorded with a run, so that its weights can be traced to the code that trained them.
    """
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def init_from(model: nn.Module, source: str | os.PathLike[str]) -> None:
    """Start training from trained weights: load ``source`` into ``model`` (fine-tuning).

    Args:
        model: the freshly built model.
        source: a checkpoint file or a shipped weights name, of a model with the same config.

    Raises:
        ValueError: the source holds another model config.
    """
    path = Path(source)
    if path.is_file():
        trained = load_model(path)
    else:
        trained = create_model(str(getattr(model, "config", {}).get("name")), weights=str(source))
    mine, theirs = dict(getattr(model, "config", {})), dict(getattr(trained, "config", {}))
    if {**UNIVERSAL_CONFIG, **theirs} != {**UNIVERSAL_CONFIG, **mine}:
        raise ValueError(f"init: {str(source)!r} holds config {theirs}, the model has {mine}")
    model.load_state_dict(trained.state_dict())


def seed_of(*parts: object) -> int:
    """A 63-bit seed from any plain parts (stable across runs, processes and machines).

    Examples:
        >>> seed_of(4321, 0, "precise-bn") == seed_of(4321, 0, "precise-bn")
        True
    """
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


# --------------------------------------------------------------------------------------------
# sample sources
# --------------------------------------------------------------------------------------------


class RigSamples:
    """Precomputed rig samples: every (frame, camera) pair of a split once per epoch.

    Per batch only the flip (mirrored inputs and targets, exact for the rig since its
    principal point is the image centre), fresh pixel noise and keypoint dropout of the
    augmentation are applied. For single-frame models on ``"screen"`` inputs without a score
    channel (the paper's setting).

    Args:
        data: the training split (:func:`~poselift.data.load_protocol`).
        augmentation: only its ``flip``, ``pixel_noise`` and ``dropout`` are used.
        contract: the model's input contract.
        device: where batches are put.
    """

    def __init__(self, data: ProtocolData, augmentation: Augmentation, contract: InputContract,
                 device: torch.device | str = "cpu") -> None:
        rig = get_rig("h36m-like")
        if tuple(rig.center) != (rig.image_size[0] / 2, rig.image_size[1] / 2):
            raise ValueError("data: RigSamples needs a rig whose principal point is the centre")
        if contract.temporal or contract.has_scores or contract.input_norm != "screen":
            raise ValueError("contract: RigSamples serves single-frame 'screen' models without a "
                             "score channel")
        self.contract = contract
        self.device = torch.device(device)
        self.x = torch.from_numpy(data.model_inputs(contract)).to(self.device)
        self.y = torch.from_numpy(data.poses3d).to(self.device)
        self.epoch_size = len(data)
        self.aug = augmentation
        self.noise = 2.0 * augmentation.pixel_noise / rig.image_size[0]

    def batch(self, index: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, targets)`` of samples ``index``, augmented with generator ``g``."""
        idx = index.to(self.device)
        x, y = self.x[idx], self.y[idx]
        if self.aug.flip > 0:
            f = (torch.rand(len(idx), generator=g) < self.aug.flip).to(self.device)
            fx = self.contract.flip_inputs(x)
            fy = flip_poses(y, self.contract.out_skeleton)
            assert isinstance(fx, torch.Tensor) and isinstance(fy, torch.Tensor)
            x = torch.where(f[:, None, None], fx, x)
            y = torch.where(f[:, None, None], fy, y)
        if self.noise > 0:
            x = x + self.noise * torch.randn(x.shape, generator=g).to(self.device)
        if self.aug.dropout > 0:
            keep = torch.rand(x.shape[:-1], generator=g) >= self.aug.dropout
            x = x * keep.unsqueeze(-1).to(x.dtype).to(self.device)
        return x, y


class AugmentedSamples:
    """A dataset augmented on the fly; an epoch sees every sample ``passes`` times.

    Args:
        dataset: a :class:`~poselift.data.FrameDataset` or
            :class:`~poselift.data.WindowDataset`.
        device: where batches are put.
        passes: epoch length in passes over the dataset (default 4: one per rig camera, so
            that an epoch has as many samples as the rig split).
    """

    def __init__(self, dataset: FrameDataset | WindowDataset, device: torch.device | str = "cpu",
                 passes: int = 4) -> None:
        self.ds = dataset
        self.epoch_size = len(dataset) * passes
        self.device = torch.device(device)

    def batch(self, index: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, targets)`` of samples ``index`` (modulo the dataset size)."""
        x, y = self.ds.make_batch(index % len(self.ds), g)
        return x.to(self.device), y.to(self.device)


def make_dataset(model: nn.Module, motion: MotionSet,
                 augmentation: Augmentation | AugmentationMix, *, frame_step: int = 1,
                 seed: int = 0) -> FrameDataset | WindowDataset:
    """The training dataset a model needs: frames, or windows of its receptive field.

    Examples:
        >>> import poselift
        >>> from poselift.data import load_bandai
        >>> from poselift.data.synthetic import write_synthetic_bandai
        >>> import tempfile
        >>> ms = load_bandai(write_synthetic_bandai(tempfile.mkdtemp()))
        >>> tcn = poselift.create_model("sr_tcn", channels=16, filter_widths=(3, 3))
        >>> make_dataset(tcn, ms, Augmentation()).receptive_field
        9
    """
    contract = InputContract.of(model)
    if contract.temporal:
        return WindowDataset(motion, contract.receptive_field, causal=contract.causal,
                             augmentation=augmentation, contract=contract,
                             frame_step=frame_step, seed=seed)
    return FrameDataset(motion, augmentation=augmentation, contract=contract,
                        frame_step=frame_step, seed=seed)


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               targets: torch.Tensor, loss: str = "l1") -> tuple[float, float]:
    """One optimization step; returns (loss, mean per-joint error in mm) of the batch.

    Args:
        net: the network in training mode (a temporal model's strided twin, or its DDP wrapper).
        optimizer: the optimizer.
        inputs: a batch of model inputs.
        targets: the matching ``(..., J, 3)`` targets in metres.
        loss: ``"l1"`` (mean absolute coordinate error, the reference recipe) or ``"mpjpe"``
            (mean per-joint distance).
    """
    pred = net(inputs)
    diff = pred - targets
    value = diff.abs().mean() if loss == "l1" else diff.norm(dim=-1).mean()
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    optimizer.step()
    with torch.no_grad():
        err = float(diff.norm(dim=-1).mean()) * 1000.0
    return float(value.detach()), err


# --------------------------------------------------------------------------------------------
# BatchNorm
# --------------------------------------------------------------------------------------------


def batchnorms(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``net``."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def bn_momentum(start: float, end: float, fraction: float) -> float:
    """The BatchNorm momentum ``fraction`` (0..1) of the way through a run.

    Decayed exponentially from ``start`` to ``end`` (the reference recipe: 0.1 -> 0.001).

    Examples:
        >>> bn_momentum(0.1, 0.001, 0.0), round(bn_momentum(0.1, 0.001, 0.5), 6)
        (0.1, 0.01)
    """
    return float(start * (end / start) ** min(1.0, max(0.0, fraction)))


def set_bn_momentum(net: nn.Module, momentum: float) -> None:
    """Set the momentum of every BatchNorm layer of ``net``."""
    for m in batchnorms(net):
        m.momentum = momentum


def precise_bn(net: nn.Module, source: RigSamples | AugmentedSamples, batches: int,
               batch_size: int, seed: int, epoch: int, world: Distributed | None = None,
               mode: str = "train") -> None:
    """Recompute BatchNorm running statistics with the current weights (precise BN).

    Args:
        net: the network as trained (a temporal model's strided twin).
        source: the training samples.
        batches: batches to average over (0: nothing happens).
        batch_size: global batch size (split over the ranks).
        seed: run seed; with ``epoch`` it seeds the batches drawn.
        epoch: epoch number.
        world: the distributed state (statistics averaged over ranks), or None.
        mode: ``"train"``: every module in training mode (dropout active while the statistics
            are collected); ``"eval"``: dropout off, so the statistics are those of the network
            as it is evaluated (only BatchNorm collects in training mode).
    """
    bns = batchnorms(net)
    if not bns or batches == 0:
        return
    rank, size = (world.rank, world.world) if world is not None else (0, 1)
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    was_training = net.training
    net.train()
    if mode == "eval":
        for module in net.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.eval()
    g = torch.Generator().manual_seed(seed_of(seed, epoch, "precise-bn", rank))
    torch.manual_seed(seed_of(seed, epoch, "precise-bn-dropout", rank))
    per_rank = max(2, batch_size // size)
    with torch.no_grad():
        for _ in range(batches):
            idx = torch.randint(source.epoch_size, (per_rank,), generator=g)
            x, _ = source.batch(idx, g)
            net(x)
    for m, mom in zip(bns, momenta, strict=True):
        m.momentum = mom
        if size > 1:
            for buf in (m.running_mean, m.running_var):
                assert buf is not None
                dist.all_reduce(buf)
                buf /= size
    net.train(was_training)


# --------------------------------------------------------------------------------------------
# distributed
# --------------------------------------------------------------------------------------------


class Distributed:
    """torch.distributed state (a single process when not launched by torchrun).

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    """

    def __init__(self, device: str = "auto") -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and self.world > 1:
            device = f"cuda:{local}"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        """True on rank 0 (the one that writes files and logs)."""
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over the ranks."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return [float(v) for v in t.tolist()]

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group."""
        if self.world > 1:
            dist.destroy_process_group()


def sync_buffers(net: nn.Module, world: Distributed) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics)."""
    if world.world > 1:
        for buf in net.buffers():
            dist.broadcast(buf, 0)


def tensor_digest(tensors: Iterable[torch.Tensor]) -> str:
    """SHA-256 of the tensors' bytes, in order (to check that replicas agree).

    Examples:
        >>> tensor_digest([torch.zeros(2)]) == tensor_digest([torch.zeros(2)])
        True
    """
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def replica_check(model: nn.Module, world: Distributed) -> dict[str, Any]:
    """Digests of every rank's parameters and buffers, and whether they all agree (DDP).

    Returns ``{}`` for a single process.
    """
    if world.world == 1:
        return {}
    mine = (tensor_digest(model.parameters()), tensor_digest(model.buffers()))
    gathered: list[Any] = [None] * world.world
    dist.all_gather_object(gathered, mine)
    return {"param_digests": [g[0] for g in gathered], "buffer_digests": [g[1] for g in gathered],
            "replicas_identical": len({tuple(g) for g in gathered}) == 1}


# --------------------------------------------------------------------------------------------
# run directories
# --------------------------------------------------------------------------------------------


class RunFiles:
    """The files of a training run's directory, and saving/resuming its state.

    - ``checkpoint.pt``: the model (:func:`poselift.save_model`) with the run's meta;
    - ``train_state.pt``: optimizer, scheduler, torch RNG and the progress dict;
    - ``log.jsonl``: one JSON line per epoch; ``summary.json``, ``args.json``.

    Examples:
        >>> import tempfile, poselift, torch
        >>> files = RunFiles(tempfile.mkdtemp())
        >>> model = poselift.create_model("fc", hidden=8)
        >>> opt = torch.optim.Adam(model.parameters())
        >>> sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)
        >>> files.save(model, opt, sched, {"epoch": 1}, note="doc")
        >>> files.resume(model, opt, sched)["epoch"]
        1
    """

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.checkpoint = self.out / "checkpoint.pt"
        self.state = self.out / "train_state.pt"
        self.log = self.out / "log.jsonl"
        self.summary = self.out / "summary.json"
        self.args = self.out / "args.json"

    def save(self, model: nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler, progress: dict[str, Any], *,
             keep_as: str | None = None, **meta: Any) -> None:
        """Write the checkpoint (with ``meta``) and the training state, each atomically.

        ``keep_as``: also keep a copy of the checkpoint as ``<out>/<keep_as>``.
        """
        save_model(model, self.checkpoint, **meta)
        atomic_save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "rng": torch.get_rng_state(), "progress": progress}, self.state)
        if keep_as is not None:
            save_model(model, self.out / keep_as, **meta)

    def resume(self, model: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
        """Load the saved weights and states into the given objects; returns the progress.

        Raises:
            FileNotFoundError: nothing saved yet.
            ValueError: the checkpoint holds another model config.
        """
        if not self.state.is_file():
            raise FileNotFoundError(f"out: no training state in {str(self.out)!r}")
        saved = torch.load(self.state, map_location="cpu", weights_only=True)
        payload = load_checkpoint(self.checkpoint)
        config = getattr(model, "config", {})
        if {**UNIVERSAL_CONFIG, **payload["config"]} != config:  # older files lack them
            raise ValueError(f"out: {self.checkpoint} holds config {payload['config']}, the "
                             f"model has {config}")
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        progress: dict[str, Any] = dict(saved["progress"])
        return progress

    def append_log(self, line: dict[str, Any]) -> None:
        """Add one epoch's line to ``log.jsonl``."""
        with self.log.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def trim_log(self, epoch: int) -> None:
        """Drop the log lines of epochs after ``epoch`` (those a resumed checkpoint lacks)."""
        if self.log.exists():
            keep = [ln for ln in self.log.read_text().splitlines()
                    if ln.strip() and json.loads(ln)["epoch"] <= epoch]
            self.log.write_text("".join(k + "\n" for k in keep))
