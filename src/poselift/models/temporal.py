"""Temporal lifting networks: TCN (Pavllo et al. 2019) and SR-TCN (paper Sec. 3, "SR Convolution").

Both follow VideoPose3D's temporal convolutional model: an expanding convolution of width
``filter_widths[0]``, then one residual block per further width (a dilated convolution of
that width and a 1x1 convolution, each with BatchNorm, leaky ReLU and dropout; the residual
is the centre (or, causal, the end) of the block's input), then a 1x1 output convolution. The
receptive field is the product of the widths: (3, 3, 3) = 27 frames, (3, 3, 3, 3) = 81,
(3, 3, 3, 3, 3) = 243. In ``sr_tcn`` every convolution is an SR convolution over the body
partition's groups.

Input ``(B, T, J_in, 2)`` normalized keypoints (``(B, T, J_in, 3)`` with a score channel when
``in_features=3``), output ``(B, T - receptive_field + 1, J_out,
3)``. Output frame ``t`` is the centre of input frames ``t .. t + receptive_field - 1``, or
with ``causal=True`` their last frame (so it never looks at later frames).

Fast training form: :meth:`TemporalNet.strided_twin` returns a network that shares every
parameter and buffer with this one but replaces dilated convolutions by strided ones, so a
window of exactly ``receptive_field`` frames costs one output frame's work (VideoPose3D's
optimized 1-frame model). Its outputs are identical to the dilated form's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from poselift.models.registry import register_model
from poselift.models.single_frame import check_in_features, matching_partition
from poselift.nn import Dropout, GroupGather, RowForm, SRConv1d, norm_act_dropout, split_width
from poselift.partitions import get_partition
from poselift.skeletons import get_skeleton

__all__ = ["TemporalNet"]


class TemporalNet(nn.Module):
    """Dilated temporal convolutional network with dense or SR convolutions.

    Args:
        sr: use SR convolutions (``sr_tcn``) instead of dense ones (``tcn``).
        skeleton: input skeleton name.
        partition: input partition name (for ``tcn`` only the input gathering).
        out_skeleton: output skeleton name.
        filter_widths: odd convolution widths; their product is the receptive field.
        channels: total channels of every hidden layer.
        dropout: dropout probability.
        causal: align each output with the last frame of its window instead of the centre.
        context_dim: H of the SR convolutions.
        combine: how SR convolutions recombine the context.
        context_init: ``"zero"`` (SR convolutions start group-connected) or ``"random"``.
        strided: build the strided training form (see :meth:`strided_twin`).
        in_features: features per input joint: 2 (x, y) or 3 (x, y, score).

    Shapes:
        ``(B, T, J_in, in_features)`` -> ``(B, T - receptive_field + 1, J_out, 3)``.
    """

    def __init__(
        self,
        *,
        sr: bool,
        skeleton: str,
        partition: str,
        out_skeleton: str,
        filter_widths: Sequence[int],
        channels: int,
        dropout: float,
        causal: bool,
        context_dim: int = 1,
        combine: Literal["mul", "cat", "add"] = "mul",
        context_init: Literal["zero", "random"] = "zero",
        strided: bool = False,
        in_features: int = 2,
    ) -> None:
        super().__init__()
        in_features = check_in_features(in_features)
        widths = tuple(int(w) for w in filter_widths)
        if not widths or any(w < 1 or w % 2 == 0 for w in widths):
            raise ValueError(f"filter_widths: expected odd widths >= 1, got {filter_widths!r}")
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels: expected a positive int, got {channels!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self._args = dict(sr=sr, skeleton=skeleton, partition=partition,
                          out_skeleton=out_skeleton, filter_widths=widths, channels=channels,
                          dropout=dropout, causal=causal, context_dim=context_dim,
                          combine=combine, context_init=context_init,
                          in_features=in_features)
        part = get_partition(partition)
        if part.skeleton != get_skeleton(skeleton).name:
            raise ValueError(
                f"partition: {part.name!r} is a partition of skeleton {part.skeleton!r}, "
                f"but skeleton={skeleton!r}"
            )
        out_part = matching_partition(part, out_skeleton)
        self.in_joints = get_skeleton(skeleton).num_joints
        self.out_joints = get_skeleton(out_skeleton).num_joints
        self.filter_widths = widths
        self.causal = causal
        self.strided = strided
        self.receptive_field = 1
        for w in widths:
            self.receptive_field *= w
        self.in_features = in_features
        self.gather = GroupGather(part.groups, in_features)
        in_groups = self.gather.group_sizes
        hid = split_width(channels, in_groups)
        out_groups = tuple(3 * len(owned) for owned in out_part.owned)

        sr_conv = functools.partial(SRConv1d, context_dim=context_dim, combine=combine,
                                    context_init=context_init)

        def conv(i: Sequence[int], o: Sequence[int], k: int, d: int, bias: bool) -> nn.Module:
            """Dense or SR convolution of width k and dilation d (stride k when strided)."""
            dilation, stride = (1, k) if strided else (d, 1)
            if sr:
                return sr_conv(i, o, k, dilation=dilation, stride=stride, bias=bias)
            return nn.Conv1d(sum(i), sum(o), k, dilation=dilation, stride=stride, bias=bias)

        self.expand = conv(in_groups, hid, widths[0], 1, False)
        self.expand_bn = nn.BatchNorm1d(channels)
        self.act = nn.LeakyReLU(0.01)
        self.drop = Dropout(dropout)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        self._pads: list[int] = []
        self._shifts: list[int] = []
        dilation = widths[0]
        for w in widths[1:]:
            self._pads.append((w - 1) * dilation // 2)
            self._shifts.append((w // 2) * dilation if causal else 0)
            self.convs.append(conv(hid, hid, w, dilation, False))
            self.bns.append(nn.BatchNorm1d(channels))
            self.convs.append(conv(hid, hid, 1, 1, False))
            self.bns.append(nn.BatchNorm1d(channels))
            dilation *= w
        self.shrink = conv(hid, out_groups, 1, 1, True)
        order = [j for owned in out_part.owned for j in owned]
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        self.register_buffer("_out_order", inverse, persistent=False)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Lift ``(B, T, J_in, F)`` keypoint sequences to ``(B, T', J_out, 3)``."""
        if not isinstance(keypoints, torch.Tensor):
            raise TypeError(f"keypoints: expected a torch.Tensor, got {type(keypoints).__name__}"
                            " (poselift.lift takes numpy arrays of pixels)")
        if keypoints.dim() != 4 or keypoints.shape[2:] != (self.in_joints, self.in_features):
            raise ValueError(
                f"keypoints: expected shape (B, T, {self.in_joints}, {self.in_features}), "
                f"got {tuple(keypoints.shape)}"
            )
        frames = keypoints.shape[1]
        if frames < self.receptive_field or (self.strided and frames != self.receptive_field):
            need = "exactly" if self.strided else "at least"
            raise ValueError(
                f"keypoints: expected {need} {self.receptive_field} frames (the receptive "
                f"field), got {frames}"
            )
        # activations stay time-major (B, T, C): windows unfold to rows, BatchNorm runs on
        # (B*T, C) rows (the same statistics as over (B, C, T)), no layout change per layer
        x = self.gather(keypoints.flatten(2))
        x = self._stage(self.expand, self.expand_bn, x)
        convs, norms = list(self.convs), list(self.bns)  # (iterating: no index lookups)
        for i in range(len(self._pads)):
            res = self._residual(x, i, 1)
            x = self._stage(convs[2 * i], norms[2 * i], x)
            x = res + self._stage(convs[2 * i + 1], norms[2 * i + 1], x)
        y = _time_major(self.shrink, x)
        y = y.reshape(y.shape[0], y.shape[1], self.out_joints, 3)
        return y.index_select(2, self._buffers["_out_order"])  # type: ignore[arg-type]

    def _stage(self, conv: nn.Module, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Convolution, BatchNorm, activation and dropout on time-major ``(B, T, C)``.

        An inference copy (:func:`poselift.models.fuse_for_inference`) has the BatchNorm
        folded into the convolution and no dropout: ``nn.Identity`` there, not called.
        """
        y = _time_major(conv, x)
        if not isinstance(norm, nn.Identity):  # training: one operation (norm_act_dropout)
            rows = norm_act_dropout(y.reshape(-1, y.shape[2]), norm, self.act, self.drop)
            return rows.view(y.shape)
        y = self.act(y)
        out: torch.Tensor = y if isinstance(self.drop, nn.Identity) else self.drop(y)
        return out

    def _residual(self, x: torch.Tensor, i: int, time_axis: int) -> torch.Tensor:
        """Block i's residual: the frames of ``x`` its output frames belong to."""
        if self.strided:
            # one frame per window of w: its centre, or its last frame when causal
            w = self.filter_widths[i + 1]
            frames = slice(w - 1 if self.causal else w // 2, None, w)
            return x[(slice(None),) * time_axis + (frames,)]
        pad, shift = self._pads[i], self._shifts[i]
        return x.narrow(time_axis, pad + shift, x.shape[time_axis] - 2 * pad)

    def strided_twin(self) -> TemporalNet:
        """The strided training form, sharing every parameter and buffer with this network.

        Training the twin trains this network; it takes windows of exactly
        ``receptive_field`` frames and returns one frame, identical to this network's output.

        Raises:
            TypeError: this network is an inference copy
                (:func:`poselift.models.fuse_for_inference`: fuse the original's twin).
        """
        if getattr(self, "inference_copy", False):
            raise TypeError("strided_twin: an inference copy has no strided twin; fuse the "
                            "original network's: fuse_for_inference(net.strided_twin())")
        twin = TemporalNet(**self._args, strided=True)  # type: ignore[arg-type]
        for mine, theirs in zip(self.modules(), twin.modules(), strict=True):
            for key in list(theirs._parameters):
                theirs._parameters[key] = mine._parameters[key]
            for key in list(theirs._buffers):
                theirs._buffers[key] = mine._buffers[key]
        twin.train(self.training)
        return twin


def _time_major(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A dense or SR convolution on time-major frames: ``(B, T, C)`` -> ``(B, T', O)``.

    Also a convolution's :class:`~poselift.nn.RowForm` (an inference copy's,
    :func:`poselift.models.fuse_for_inference`).
    """
    if isinstance(conv, SRConv1d | RowForm):
        return conv.forward_time_major(x)
    assert isinstance(conv, nn.Conv1d)
    out: torch.Tensor = conv(x.transpose(1, 2)).transpose(1, 2)
    return out


def _partition_or_default(skeleton: str, partition: str | None, default: str) -> str:
    """``partition``, else ``"<skeleton>-<default>"`` (an unknown skeleton raises)."""
    sk = get_skeleton(skeleton).name
    return partition if partition is not None else f"{sk}-{default}"


@register_model(
    "tcn",
    temporal=True,
    paper="Pavllo et al. 2019 (VideoPose3D)",
    summary="temporal convolutional baseline (dilated, 27/81/243 frames)",
)
def tcn(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    filter_widths: tuple[int, ...] = (3, 3, 3),
    channels: int = 1024,
    dropout: float = 0.25,
    causal: bool = False,
    in_features: int = 2,
) -> nn.Module:
    """VideoPose3D's temporal model with dense convolutions."""
    return TemporalNet(sr=False, skeleton=skeleton,
                       partition=_partition_or_default(skeleton, partition, "1"),
                       out_skeleton=out_skeleton, filter_widths=filter_widths,
                       channels=channels, dropout=dropout, causal=causal,
                       in_features=in_features)


@register_model(
    "sr_tcn",
    temporal=True,
    paper='Sec. 3 "SR Convolution for Temporal Models", Fig. 2d',
    summary="SRNet temporal model (SR convolutions)",
)
def sr_tcn(
    *,
    skeleton: str = "h36m",
    partition: str | None = None,
    out_skeleton: str = "h36m",
    filter_widths: tuple[int, ...] = (3, 3, 3),
    channels: int = 1024,
    dropout: float = 0.25,
    causal: bool = False,
    context_dim: int = 1,
    combine: Literal["mul", "cat", "add"] = "mul",
    context_init: Literal["zero", "random"] = "zero",
    in_features: int = 2,
) -> nn.Module:
    """The temporal model with SR convolutions over the body partition's groups."""
    return TemporalNet(sr=True, skeleton=skeleton,
                       partition=_partition_or_default(skeleton, partition, "5"),
                       out_skeleton=out_skeleton, filter_widths=filter_widths,
                       channels=channels, dropout=dropout, causal=causal,
                       context_dim=context_dim, combine=combine, context_init=context_init,
                       in_features=in_features)
