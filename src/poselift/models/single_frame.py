"""Single-frame lifting networks: FC, GP, LF, ES, SFS and SR (paper Fig. 3, Table 1).

All six are one architecture, a residual MLP in the style of Martinez et al. (expand,
``num_blocks`` residual blocks of two layers with BatchNorm, activation and dropout, then an
output layer), in which each of the ``2 + 2 * num_blocks`` layers is one of:

- ``"dense"``: fully connected (paper Eq. 1);
- ``"group"``: group connected, no connection between groups (Eq. 4, M = Zero);
- ``"sr"``: split-and-recombine, low-dimensional context from the other groups (Eq. 5-6).

The models differ only in the per-layer kinds: ``fc`` all dense; ``gp`` all group; ``lf``
group before ``fuse_at`` then dense (Eq. 7); ``es`` dense before ``split_at`` then group
(Eq. 8); ``sfs`` group, ``link_layers`` dense layers in the middle, group; ``sr`` all SR.

Inputs are ``(B, J_in, 2)`` normalized screen coordinates in the input skeleton's order
(``(B, J_in, 3)`` with ``in_features=3``: x, y and a detection score, 0 for a missing joint);
each group's input joints are gathered (joints shared by several groups, such as the pelvis,
are repeated). Outputs are ``(B, J_out, 3)`` root-relative 3D joints: every output joint is
produced once, by its owner group in the output partition (see docs/partitions.md). The
hidden width (``hidden``, total over groups) is split across groups in proportion to their
input sizes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from poselift.models.registry import register_model
from poselift.nn import Dropout, GroupGather, SRLinear, norm_act_dropout, split_width
from poselift.partitions import Partition, get_partition
from poselift.skeletons import get_skeleton

__all__ = ["LayerKind", "SingleFrameNet", "matching_partition"]

LayerKind = Literal["dense", "group", "sr"]
EVAL_ROWS = 1024
"""Rows per block when an eval-mode network runs a larger batch (see ``forward``)."""


def matching_partition(partition: Partition, skeleton: str) -> Partition:
    """The partition of ``skeleton`` whose groups correspond to ``partition``'s, by name.

    Used when input and output skeletons differ (e.g. COCO-17 in, H36M-17 out): input group
    ``g`` feeds output group ``g``, matched by group names. A partition of ``skeleton``
    itself is returned unchanged.

    Examples:
        >>> matching_partition(get_partition("coco-5"), "h36m").name
        'h36m-5'
    """
    if partition.skeleton == get_skeleton(skeleton).name:
        return partition
    name = f"{skeleton}-{partition.num_groups}"
    try:
        out = get_partition(name)
    except ValueError:
        raise ValueError(
            f"partition: no partition {name!r} of the output skeleton matches input partition "
            f"{partition.name!r}; register one with the same group names"
        ) from None
    if out.group_names != partition.group_names:
        raise ValueError(
            f"partition: groups of {partition.name!r} {partition.group_names} do not match "
            f"those of {out.name!r} {out.group_names}"
        )
    return out


class _Layer(nn.Module):
    """One layer of the network: dense, group or SR, on group-after-group features.

    ``sr_layer`` builds the network's SR layers (SRLinear with its context settings bound);
    a group layer is an SR layer without context.
    """

    def __init__(
        self,
        kind: LayerKind,
        in_groups: Sequence[int],
        out_groups: Sequence[int],
        sr_layer: Callable[..., SRLinear],
    ) -> None:
        super().__init__()
        self.kind = kind
        if kind == "dense":
            self.op: nn.Module = nn.Linear(sum(in_groups), sum(out_groups))
        elif kind == "group":
            self.op = sr_layer(in_groups, out_groups, context_dim=0)
        else:
            self.op = sr_layer(in_groups, out_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x)
        return out


class _Stack(nn.Sequential):
    """``nn.Sequential`` whose BatchNorm -> activation -> dropout run as one operation.

    In training mode each ``nn.BatchNorm1d`` followed by its activation and dropout is
    computed by :func:`~poselift.nn.norm_act_dropout` (the same outputs, gradients and
    running statistics, fewer passes and saved tensors); otherwise (eval mode, an inference
    copy without BatchNorm) the modules run one after the other as in ``nn.Sequential``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            if type(m) is nn.BatchNorm1d and m.training and i + 2 < len(mods):
                x = norm_act_dropout(x, m, mods[i + 1], mods[i + 2])
                i += 3
            else:
                x = m(x)
                i += 1
        return x


class _Block(nn.Module):
    """Two layers with BatchNorm, activation and dropout, plus the residual connection."""

    def __init__(
        self,
        kinds: tuple[LayerKind, LayerKind],
        groups: Sequence[int],
        sr_layer: Callable[..., SRLinear],
        dropout: float,
        negative_slope: float,
    ) -> None:
        super().__init__()
        width = sum(groups)
        self.layers = _Stack(
            _Layer(kinds[0], groups, groups, sr_layer),
            nn.BatchNorm1d(width),
            nn.LeakyReLU(negative_slope),
            Dropout(dropout),
            _Layer(kinds[1], groups, groups, sr_layer),
            nn.BatchNorm1d(width),
            nn.LeakyReLU(negative_slope),
            Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.layers(x)
        return out


class SingleFrameNet(nn.Module):
    """Residual MLP whose layers are dense, group-connected or split-and-recombine.

    Args:
        kinds: kind of each of the ``2 + 2 * num_blocks`` layers.
        partition: input partition (of ``skeleton``).
        out_skeleton: skeleton of the output joints.
        hidden: total hidden width, split across groups.
        context_dim: H of the SR layers.
        combine: how SR layers recombine the context (``"mul"``, ``"cat"``, ``"add"``).
        context_init: ``"zero"`` (SR layers start group-connected) or ``"random"``.
        dropout: dropout probability after each hidden layer.
        negative_slope: of the leaky ReLU.
        in_features: features per input joint: 2 (x, y) or 3 (x, y, score).

    Shapes:
        ``(B, J_in, in_features)`` -> ``(B, J_out, 3)``.
    """

    receptive_field = 1
    _out_order: torch.Tensor

    def __init__(
        self,
        kinds: Sequence[LayerKind],
        partition: Partition,
        out_skeleton: str,
        *,
        hidden: int,
        context_dim: int,
        combine: Literal["mul", "cat", "add"],
        dropout: float,
        negative_slope: float = 0.01,
        in_features: int = 2,
        context_init: Literal["zero", "random"] = "zero",
    ) -> None:
        super().__init__()
        check_in_features(in_features)
        if len(kinds) < 2 or len(kinds) % 2:
            raise ValueError(f"kinds: expected 2 + 2 * num_blocks layer kinds, got {len(kinds)}")
        out_part = matching_partition(partition, out_skeleton)
        self.in_joints = get_skeleton(partition.skeleton).num_joints
        self.out_joints = get_skeleton(out_skeleton).num_joints
        self.kinds = tuple(kinds)
        self.in_features = in_features
        self.gather = GroupGather(partition.groups, in_features)
        in_groups = self.gather.group_sizes
        hid_groups = split_width(hidden, in_groups)
        out_groups = tuple(3 * len(owned) for owned in out_part.owned)
        sr_layer = functools.partial(SRLinear, context_dim=context_dim, combine=combine,
                                     context_init=context_init)
        self.expand = _Stack(
            _Layer(kinds[0], in_groups, hid_groups, sr_layer),
            nn.BatchNorm1d(hidden),
            nn.LeakyReLU(negative_slope),
            Dropout(dropout),
        )
        self.blocks = nn.Sequential(
            *(
                _Block((kinds[i], kinds[i + 1]), hid_groups, sr_layer, dropout, negative_slope)
                for i in range(1, len(kinds) - 1, 2)
            )
        )
        self.head = _Layer(kinds[-1], hid_groups, out_groups, sr_layer)
        order = [j for owned in out_part.owned for j in owned]
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        self.register_buffer("_out_order", inverse, persistent=False)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Lift ``(B, J_in, F)`` normalized keypoints to ``(B, J_out, 3)`` root-relative 3D."""
        if not isinstance(keypoints, torch.Tensor):
            raise TypeError(f"keypoints: expected a torch.Tensor, got {type(keypoints).__name__}"
                            " (poselift.lift takes numpy arrays of pixels)")
        if keypoints.dim() != 3 or keypoints.shape[1:] != (self.in_joints, self.in_features):
            raise ValueError(
                f"keypoints: expected shape (B, {self.in_joints}, {self.in_features}), "
                f"got {tuple(keypoints.shape)}"
            )
        x = self.gather(keypoints.flatten(1))
        # (the cheap checks first: one pose pays three calls; no shape guard when traced)
        if self._may_split() and x.shape[0] > EVAL_ROWS and self._on_running_statistics():
            # blocks of rows: each block's activations stay in the CPU's cache from layer to
            # layer (1.2-1.5x faster at 4096 rows than one pass over the batch, 1 thread)
            y = torch.cat([self._rows(block) for block in x.split(EVAL_ROWS)])
        else:
            y = self._rows(x)
        out: torch.Tensor = y.view(keypoints.shape[0], self.out_joints, 3).index_select(
            1, self._out_order)
        return out

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        """The layers on gathered rows: ``(N, D)`` -> ``(N, 3 * J_out)`` in owned-group order."""
        out: torch.Tensor = self.head(self.blocks(self.expand(x)))
        return out

    def _may_split(self) -> bool:
        """Eval mode, and not ``torch.compile`` / ``torch.export`` / JIT tracing.

        (A traced graph is one graph: no split of the batch, no guard on its size.)
        """
        return not (self.training or torch.compiler.is_compiling()
                    or torch.compiler.is_exporting()
                    or torch.jit.is_tracing())  # type: ignore[attr-defined, no-untyped-call]

    def _on_running_statistics(self) -> bool:
        """Whether every BatchNorm normalizes with running statistics.

        Then each output row depends on its input row only and a batch can be split (dropout
        is the identity in eval mode, elementwise anyway).
        """
        return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) and (
            m.training or m.running_mean is None) for m in self.modules())


def check_in_features(in_features: object) -> int:
    """``in_features`` if it is 2 (x, y) or 3 (x, y, score), else ``ValueError``.

    Examples:
        >>> check_in_features(3)
        3
    """
    if not isinstance(in_features, int) or isinstance(in_features, bool) or in_features not in (
            2, 3):
        raise ValueError(
            f"in_features: expected 2 (x, y) or 3 (x, y, score), got {in_features!r}"
        )
    return in_features


def _layer_kinds(num_blocks: int, rule: str, at: int = 0) -> list[LayerKind]:
    n = 2 + 2 * num_blocks
    if rule == "lf":
        if not 0 <= at <= n:
            raise ValueError(f"fuse_at: expected 0..{n} (number of layers), got {at}")
        return ["group" if i < at else "dense" for i in range(n)]
    if rule == "es":
        if not 0 <= at <= n:
            raise ValueError(f"split_at: expected 0..{n} (number of layers), got {at}")
        return ["dense" if i < at else "group" for i in range(n)]
    if rule == "sfs":
        if not 0 <= at <= n - 2:
            raise ValueError(f"link_layers: expected 0..{n - 2} (all but first and last), got {at}")
        start = (n - at) // 2
        return ["dense" if start <= i < start + at else "group" for i in range(n)]
    kind: LayerKind = {"fc": "dense", "gp": "group", "sr": "sr"}[rule]  # type: ignore[assignment]
    return [kind] * n


def _build(
    rule: str,
    *,
    skeleton: str,
    partition: str | None,
    out_skeleton: str,
    hidden: int,
    num_blocks: int,
    dropout: float,
    context_dim: int = 1,
    combine: Literal["mul", "cat", "add"] = "mul",
    at: int = 0,
    in_features: int = 2,
    context_init: Literal["zero", "random"] = "zero",
) -> SingleFrameNet:
    if not isinstance(num_blocks, int) or num_blocks < 0:
        raise ValueError(f"num_blocks: expected an int >= 0, got {num_blocks!r}")
    if not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden: expected a positive int, got {hidden!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
    sk = get_skeleton(skeleton)
    part = get_partition(partition if partition is not None else f"{sk.name}-5")
    if part.skeleton != sk.name:
        raise ValueError(
            f"partition: {part.name!r} is a partition of skeleton {part.skeleton!r}, "
            f"but skeleton={sk.name!r}"
        )
    return SingleFrameNet(
        _layer_kinds(num_blocks, rule, at),
        part,
        get_skeleton(out_skeleton).name,
        hidden=hidden,
        context_dim=context_dim,
        combine=combine,
        dropout=dropout,
        in_features=check_in_features(in_features),
        context_init=context_init,
    )


@register_model(
    "fc",
    paper="Sec. 3 Eq. 1, Fig. 3 FC; Martinez et al. 2017",
    summary="fully connected residual MLP baseline",
)
def fc(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    hidden: int = 1024,
    num_blocks: int = 2,
    dropout: float = 0.25,
    in_features: int = 2,
) -> nn.Module:
    """Fully connected baseline (partition only decides the input gathering; default: one group)."""
    sk = get_skeleton(skeleton).name
    return _build("fc", skeleton=sk, partition=partition or f"{sk}-1", out_skeleton=out_skeleton,
                  hidden=hidden, num_blocks=num_blocks, dropout=dropout,
                  in_features=in_features)


@register_model("gp", paper="Sec. 3 Eq. 4, Fig. 3 GP", summary="group connected, no context")
def gp(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    hidden: int = 1024,
    num_blocks: int = 2,
    dropout: float = 0.25,
    in_features: int = 2,
) -> nn.Module:
    """Group-connected network: every layer is group connected (M = Zero)."""
    return _build("gp", skeleton=skeleton, partition=partition, out_skeleton=out_skeleton,
                  hidden=hidden, num_blocks=num_blocks, dropout=dropout,
                  in_features=in_features)


@register_model("lf", paper="Sec. 3 Eq. 7, Fig. 3 LF", summary="late fusion: group, then dense")
def lf(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    hidden: int = 1024,
    num_blocks: int = 2,
    dropout: float = 0.25,
    fuse_at: int = 3,
    in_features: int = 2,
) -> nn.Module:
    """Late fusion: layers before ``fuse_at`` are group connected, the rest dense."""
    return _build("lf", skeleton=skeleton, partition=partition, out_skeleton=out_skeleton,
                  hidden=hidden, num_blocks=num_blocks, dropout=dropout, at=fuse_at,
                  in_features=in_features)


@register_model("es", paper="Sec. 3 Eq. 8, Fig. 3 ES", summary="early split: dense, then group")
def es(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    hidden: int = 1024,
    num_blocks: int = 2,
    dropout: float = 0.25,
    split_at: int = 3,
    in_features: int = 2,
) -> nn.Module:
    """Early split: layers before ``split_at`` are dense, the rest group connected."""
    return _build("es", skeleton=skeleton, partition=partition, out_skeleton=out_skeleton,
                  hidden=hidden, num_blocks=num_blocks, dropout=dropout, at=split_at,
                  in_features=in_features)


@register_model("sfs", paper="Sec. 3, Fig. 3 SFS", summary="split-fuse-split")
def sfs(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    hidden: int = 1024,
    num_blocks: int = 2,
    dropout: float = 0.25,
    link_layers: int = 2,
    in_features: int = 2,
) -> nn.Module:
    """Split-fuse-split: ``link_layers`` dense layers in the middle, group layers around."""
    return _build("sfs", skeleton=skeleton, partition=partition, out_skeleton=out_skeleton,
                  hidden=hidden, num_blocks=num_blocks, dropout=dropout, at=link_layers,
                  in_features=in_features)


@register_model("sr", paper="Sec. 3 Eq. 5-6, Fig. 3 SR", summary="SRNet: split-and-recombine")
def sr(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    hidden: int = 1024,
    num_blocks: int = 2,
    dropout: float = 0.25,
    context_dim: int = 1,
    combine: Literal["mul", "cat", "add"] = "mul",
    context_init: Literal["zero", "random"] = "zero",
    in_features: int = 2,
) -> nn.Module:
    """SRNet: every layer (incl. the output layer) is split-and-recombine."""
    return _build("sr", skeleton=skeleton, partition=partition, out_skeleton=out_skeleton,
                  hidden=hidden, num_blocks=num_blocks, dropout=dropout,
                  context_dim=context_dim, combine=combine, context_init=context_init,
                  in_features=in_features)
