"""SRConv1d: split-and-recombine temporal convolution ("SR convolution", paper Sec. 3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from poselift.nn._sr_core import (
    Combine,
    Context,
    ContextInit,
    SRBase,
    check_int,
    unfold_rows,
)
from poselift.nn.sr_linear import SRLinear

__all__ = ["SRConv1d"]


class SRConv1d(SRBase):
    r"""Split-and-recombine 1D convolution over time (paper Sec. 3 "SR Convolution", Fig. 2d).

    :class:`SRLinear` with every linear map replaced by a valid (unpadded) temporal
    convolution, as in VideoPose3D's TemporalModel. Channels are laid out group after group.
    For output frame ``t'`` the window ``x[:, :, t'*stride + j*dilation]``, ``j < k``, is the
    layer's input; for group g:

    .. code-block:: text

        z_g(t') = conv(U_g, x_rest)(t') (+ c_g)     H numbers per output frame
        y_g(t') = conv(W_g, x_g)(t')  o  z_g(t')    recombined per output frame

    The context map is a convolution with the same kernel size, dilation and stride over the
    other groups' channels, giving H numbers per output frame (not per tap). It is recombined
    with the whole window: ``"mul"`` scales every entry of the window's chunk by the gate
    (so ``y_g = gate * conv(W_g, x_g) + b_g`` for H = 1), ``"add"`` adds the number to every
    entry of the chunk, ``"cat"`` appends the H numbers to the window (``R_g z_g`` added to
    the output). With ``kernel_size=1`` this is exactly :class:`SRLinear` at every frame
    (:meth:`from_linear` copies a linear layer's weights).

    Output length ``T' = (T - (kernel_size - 1) * dilation - 1) // stride + 1``. The same
    weights serve the dilated model (stride 1) and the strided single-output training form:
    output ``i`` with ``stride=s`` equals output ``i*s`` with ``stride=1``.

    Alignment: output frame ``i`` belongs to input frame ``i*stride + pad_left``. With
    ``causal=False`` that is the window's centre (``pad_left = (receptive_field - 1) // 2``);
    with ``causal=True`` it is the window's *last* frame (``pad_left = receptive_field - 1``,
    ``pad_right = 0``), so an output never depends on frames after the one it belongs to.
    Padding the input by ``(pad_left, pad_right)`` frames (e.g. replicating the edge frames)
    aligns output ``i`` with input ``i*stride``. The convolution itself is the same in both
    modes: ``causal`` only fixes how a model must align outputs, residuals and padding.

    Args:
        in_groups: (G,) input channels per group.
        out_groups: (G,) output channels per group.
        kernel_size: k, taps per window.
        dilation: spacing between taps (frames).
        stride: step between output frames (frames).
        context_dim: H, context numbers per group and output frame; 0 for none.
        combine: ``"mul"``, ``"cat"`` or ``"add"`` (see :class:`SRLinear`).
        context: ``"learned"`` or ``"identity"``.
        context_init: ``"zero"`` (default, the layer starts group-connected) or
            ``"random"``, as for :class:`SRLinear`.
        bias: learn the output (and context) biases.
        causal: align outputs with the last frame of their window instead of its centre.
        device: parameter device.
        dtype: parameter dtype.

    Attributes:
        kernel_size, dilation, stride, causal: as given.
        receptive_field: ``(kernel_size - 1) * dilation + 1`` input frames per output frame.
        pad_left, pad_right: frames of padding that align output ``i`` with input ``i*stride``.
        weights: G tensors ``(out_groups[g], in_groups[g], k)``; ``context_weight``
            ``(G*H, in_features, k)``; other parameters as in :class:`SRLinear`.

    Shape:
        - input: ``(B, sum(in_groups), T)`` with ``T >= receptive_field``
        - output: ``(B, sum(out_groups), T')``

    Examples:
        >>> import torch
        >>> conv = SRConv1d([6, 4], [8, 8], kernel_size=3, dilation=3)
        >>> conv(torch.randn(2, 10, 27)).shape
        torch.Size([2, 16, 21])
        >>> conv.receptive_field, conv.pad_left, conv.pad_right
        (7, 3, 3)
        >>> causal = SRConv1d([6, 4], [8, 8], kernel_size=3, dilation=3, causal=True)
        >>> causal.pad_left, causal.pad_right
        (6, 0)
        >>> linear = SRLinear([6, 4], [8, 8])
        >>> frames = torch.randn(2, 10, 5)
        >>> y = SRConv1d.from_linear(linear)(frames)
        >>> torch.allclose(y, linear(frames.transpose(1, 2)).transpose(1, 2), atol=1e-6)
        True
    """

    def __init__(
        self,
        in_groups: Sequence[int],
        out_groups: Sequence[int],
        kernel_size: int,
        *,
        dilation: int = 1,
        stride: int = 1,
        context_dim: int = 1,
        combine: Combine = "mul",
        context: Context = "learned",
        context_init: ContextInit = "zero",
        bias: bool = True,
        causal: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        k = check_int(kernel_size, "kernel_size", 1)
        self.dilation = check_int(dilation, "dilation", 1)
        self.stride = check_int(stride, "stride", 1)
        if not isinstance(causal, bool):
            raise TypeError(f"causal: expected a bool, got {type(causal).__name__}")
        super().__init__(
            in_groups, out_groups, (k,), context_dim=context_dim, combine=combine,
            context=context, context_init=context_init, bias=bias, device=device, dtype=dtype,
        )
        self.kernel_size = k
        self.causal = causal
        self.receptive_field = (k - 1) * self.dilation + 1
        span = self.receptive_field - 1
        self.pad_left = span if causal else span // 2
        self.pad_right = span - self.pad_left

    @classmethod
    def from_linear(cls, layer: SRLinear) -> SRConv1d:
        """A ``kernel_size=1`` SRConv1d with a copy of ``layer``'s configuration and weights.

        Args:
            layer: the :class:`SRLinear` to copy.

        Returns:
            An SRConv1d (same device and dtype) whose output at every frame equals
            ``layer`` applied to that frame's channels.

        Examples:
            >>> conv = SRConv1d.from_linear(SRLinear([2, 3], [4, 4], combine="cat"))
            >>> conv.weights[0].shape, conv.combine
            (torch.Size([4, 2, 1]), 'cat')
        """
        if not isinstance(layer, SRLinear):
            raise TypeError(f"layer: expected an SRLinear, got {type(layer).__name__}")
        ref = layer.weights[0]
        conv = cls(
            layer.in_groups, layer.out_groups, 1, context_dim=layer.context_dim,
            combine=layer.combine, context=layer.context, bias=layer.bias is not None,
            device=ref.device, dtype=ref.dtype,
        )
        state = {}
        for name, value in layer.state_dict().items():
            own = conv.state_dict()[name]
            state[name] = value.reshape(own.shape)
        conv.load_state_dict(state)
        return conv

    def output_frames(self, num_frames: int) -> int:
        """Output length ``T'`` for an input of ``num_frames`` frames (0 if too short).

        Examples:
            >>> SRConv1d([2], [2], 3, dilation=9).output_frames(243)
            225
        """
        return max(0, (num_frames - self.receptive_field) // self.stride + 1)

    def _map(self, x: torch.Tensor, weight: torch.Tensor,
             bias: torch.Tensor | None) -> torch.Tensor:
        return F.conv1d(x, weight, bias, stride=self.stride, dilation=self.dilation)

    def _check_input(self, input: object, time_axis: int) -> torch.Tensor:
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"input: expected a torch.Tensor, got {type(input).__name__}")
        layout = "(B, {c}, T)" if time_axis == 2 else "(B, T, {c})"
        if input.dim() != 3 or input.shape[3 - time_axis] != self.in_features:
            raise ValueError(
                f"input: expected shape {layout.format(c=self.in_features)} (channels = "
                f"sum(in_groups) = {self.in_features}), got {tuple(input.shape)}"
            )
        if input.shape[time_axis] < self.receptive_field:
            raise ValueError(
                f"input: expected at least receptive_field = {self.receptive_field} frames "
                f"(kernel_size={self.kernel_size}, dilation={self.dilation}), got "
                f"T = {input.shape[time_axis]}"
            )
        return input

    def forward_time_major(self, input: torch.Tensor) -> torch.Tensor:
        """Apply the layer to time-major frames: ``(B, T, sum(in_groups))`` -> ``(B, T', O)``.

        The same function as :meth:`forward` on ``input.transpose(1, 2)``, transposed back.
        A network that keeps its activations time-major (each frame's channels contiguous)
        saves the layout changes around every layer: in training the windows unfold to rows
        with one copy and the output rows are the next layer's frames as they are, and a
        BatchNorm over ``(B*T', C)`` rows has the same statistics as over ``(B, C, T')``.

        Examples:
            >>> import torch
            >>> conv = SRConv1d([6, 4], [8, 8], kernel_size=3, stride=3)
            >>> x = torch.randn(2, 9, 10)
            >>> y = conv.forward_time_major(x)
            >>> y.shape
            torch.Size([2, 3, 16])
            >>> torch.allclose(y, conv(x.transpose(1, 2)).transpose(1, 2), atol=1e-6)
            True
        """
        self._check_input(input, 1)
        batch, frames = input.shape[0], self.output_frames(input.shape[1])
        if self._uses_group_rows(input):
            rows = unfold_rows(input, self.receptive_field, self.stride, self.dilation)
            return self._rows_map(rows).view(batch, frames, self.out_features)
        return self._forward(input.transpose(1, 2), self._derived()).transpose(1, 2)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Apply the layer: ``(B, sum(in_groups), T)`` -> ``(B, sum(out_groups), T')``."""
        self._check_input(input, 2)
        batch, frames = input.shape[0], self.output_frames(input.shape[2])
        if self._uses_group_rows(input):  # training / autograd: the rows' own backward
            rows = unfold_rows(input.transpose(1, 2), self.receptive_field, self.stride,
                               self.dilation)
            y = self._rows_map(rows)
            return y.view(batch, frames, self.out_features).transpose(1, 2)
        return self._forward(input, self._derived())

    def _geometry(self) -> tuple[int, int, int]:
        """``(frames, stride, dilation)`` of the windows (:meth:`row_form`)."""
        return (self.receptive_field, self.stride, self.dilation)

    def extra_repr(self) -> str:
        """Configuration shown by ``repr``."""
        extra = []
        if self.dilation != 1:
            extra.append(f"dilation={self.dilation}")
        if self.stride != 1:
            extra.append(f"stride={self.stride}")
        if self.causal:
            extra.append("causal=True")
        return ", ".join([super().extra_repr(), *extra])
