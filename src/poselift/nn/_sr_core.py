"""The split-and-recombine computation shared by SRLinear and SRConv1d (private module).

Both layers hold the same parameters (with a trailing kernel dimension for the convolution)
and run the same combine logic on tensors whose channel axis is dim 1: ``(N, C)`` for the
linear layer (leading dims flattened) and ``(B, C, T)`` for the convolution. Only three
primitive maps differ and are supplied by the subclasses: the per-group map (``F.linear`` or
``F.conv1d``), the context map over all input channels (the same op) and a kernel-free
"pointwise" map used to recombine the context in output space.

Computation (G groups, H = context_dim, D = sum(in_groups)):

1. The context map M is a ``(G*H, D[, k])`` weight whose rows for group g have the columns of
   group g's own features masked to zero, so ``z[g*H:(g+1)*H] = M_g x_rest``. It is not run
   as a separate pass over x: its column block for group h is appended to ``W_h`` and group
   h's single product ``[W_h; M[:, cols_h]] x_h`` yields both ``W_h x_h`` and group h's
   contribution to every group's context; the contributions are summed over h (G*H numbers
   per sample). This is ~8% faster than a separate (masked) context product.
2. One matmul/convolution per group on its own block (a loop over the G groups, never over
   samples; ``torch.split`` views, no gathers), then the context is recombined in output
   space, which is exact because the group map is linear:

   - ``mul``:  ``W_g (x_g * gate) = gate * (W_g x_g)`` for H = 1; for H > 1 each of the H
     gates scales a contiguous chunk of x_g, i.e. ``sum_h gate_h * (W_g[:, c_h] x_g[c_h])``
     (this case runs the context as one separate masked product).
   - ``add``:  ``W_g (x_g + E a) = W_g x_g + (W_g E) a`` with E the chunk indicator
     (``W_g E`` = per-chunk row sums of ``W_g``, over taps too for the convolution).
   - ``cat``:  ``W_g [x_g; z_g] = W_g[:, own] x_g + R_g z_g``.

Benchmarked alternatives (benchmarks/bench_layers.py, docs/layers.md): a padded ``bmm`` over
groups needs a gather and a scatter of the activations and is ~2.4x slower than the loop of G
matmuls; a block-diagonal dense weight costs the full dense FLOPs.

The row form (:class:`RowForm`, :meth:`SRBase.row_form`): a forward pass over a few rows (one
pose, one streaming window) costs more in per-operation overhead than in arithmetic (one pose
through a 1024-channel SR layer is ~0.2 MFLOP). For the paper's configuration
(``combine="mul"`` with H = 1, or no context) a layer can therefore be snapshotted as a map of
rows with fewer operations, into which a following BatchNorm folds. The layers never switch
to it themselves: inference copies of whole networks use it
(:func:`poselift.models.fuse_for_inference`), training passes its arithmetic with a backward
of their own (:class:`_GroupRows`).

Derived weights (the masked, weight-normalized context map, the fused ``[W_g; M_g]`` blocks,
the ``add`` chunk sums, the masked identity recombination) are functions of the parameters
only. In eval mode without autograd (``torch.no_grad()`` / ``inference_mode``, or no parameter
requiring grad) they are built once and cached on the layer; the cache is keyed on every
parameter's and mask's identity, version counter (bumped by any in-place change such as an
optimizer step or ``load_state_dict``) and data pointer (``.to()``, ``p.data = ...``), and it
is dropped by ``train()`` / ``eval()``. Training mode, autograd through the parameters and
``torch.compile`` / ``torch.export`` tracing always rebuild them (inside the graph). A change
made through ``p.data`` in place (which does not bump the version counter) is not seen: call
``eval()`` again after one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple, Self, TypeAlias

import torch
import torch.nn.functional as F
from torch import nn

from poselift._validation import is_int
from poselift.nn.grouping import split_width

Combine: TypeAlias = Literal["mul", "cat", "add"]
Context: TypeAlias = Literal["learned", "identity"]
ContextInit: TypeAlias = Literal["zero", "random"]

COMBINES: tuple[str, ...] = ("mul", "cat", "add")
CONTEXTS: tuple[str, ...] = ("learned", "identity")
CONTEXT_INITS: tuple[str, ...] = ("zero", "random")
ADD_SLOPE = 0.01
"""Negative slope of the LeakyReLU applied to the context for ``combine="add"``."""
_NORM_EPS = 1e-12
_MANY_ROWS = 64
"""From this many rows on, :class:`RowForm` folds the context into the group products and
gates each group in place (fewer operations below: one pose, a streaming window)."""


class RowForm(nn.Module):
    """An eval-mode layer as one map of rows, for inference copies.

    (:func:`poselift.models.fuse_for_inference` builds them.)

    ``rows (N, D*k) -> (N, O)``, with D*k the input features (times the kernel taps of a
    convolution, flattened channel-major like the weights) and O the output features. Built
    from an SR layer (:meth:`SRBase.row_form`: ``"mul"`` with H = 1, or no context) or a
    dense ``nn.Linear`` / unpadded ``nn.Conv1d`` (:meth:`dense`); :meth:`with_affine` folds a
    following per-channel affine map (an eval-mode BatchNorm) into the weights.

    The G group products are joined by one ``cat``, the context is one skinny product with
    the row-major ``(G, D*k)`` map (the orientation the CPU BLAS runs fast) and the gate is
    expanded to the output channels by one ``index_select``: ~G + 6 operations instead of the
    layer's ~4G + 4. (Writing the products into column slices of one output, ``out=``, is
    slower at every size measured: 1.2x on one row, 1.3x on 4096.) From 64 rows on
    (``_MANY_ROWS``) the context map's columns are appended to each group's product instead
    (the rows are read once; the skinny product cost 2.3 ms per layer at 4096 rows) and each
    group is gated in place by its gate column. The same arithmetic as
    the layer in another order (float32 differences ~1e-7, tested). A plain module: its
    tensors are buffers (``.to()`` moves them, the constructor takes them as they are), it
    holds no cache and has no backward of its own (it is for inference; the layers train).

    A convolution's geometry (``frames`` = receptive field, ``stride``, ``dilation``) is kept
    for :meth:`forward_time_major`, which unfolds the windows to rows (:func:`unfold_rows`).
    """

    def __init__(self, own: Sequence[torch.Tensor], in_sizes: Sequence[int],
                 out_sizes: Sequence[int], context: torch.Tensor | None,
                 context_bias: torch.Tensor | None, expand: torch.Tensor | None,
                 bias: torch.Tensor | None,
                 gate: Callable[[torch.Tensor], torch.Tensor] = torch.sigmoid,
                 geometry: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        self.in_sizes = [int(d) for d in in_sizes]  # D_g*k per group
        self.out_sizes = [int(o) for o in out_sizes]  # O_g per group
        self.geometry = geometry  # (frames, stride, dilation) of a convolution
        self.gate = gate
        self._own = [f"own{g}" for g in range(len(own))]
        for name, w in zip(self._own, own, strict=True):  # W_g^T: (D_g*k, O_g), contiguous
            self.register_buffer(name, w)
        self.context: torch.Tensor | None  # M: (G, D*k), own-group columns zero; None: none
        self.context_bias: torch.Tensor | None  # (G,)
        self.expand: torch.Tensor | None  # (O,) the group of each output column
        self.bias: torch.Tensor | None  # (O,)
        for name, t in (("context", context), ("context_bias", context_bias),
                        ("expand", expand), ("bias", bias)):
            self.register_buffer(name, t)

    @classmethod
    def dense(cls, layer: nn.Linear | nn.Conv1d) -> RowForm:
        """A dense ``nn.Linear`` or unpadded, ungrouped ``nn.Conv1d`` as a row map.

        Raises:
            ValueError: a padded or grouped convolution (its windows are not rows).
        """
        w = layer.weight.detach().flatten(1)
        geometry = (1, 1, 1)
        if isinstance(layer, nn.Conv1d):
            if layer.groups != 1 or layer.padding not in ((0,), "valid"):
                raise ValueError("layer: expected an unpadded nn.Conv1d with groups=1, got "
                                 f"padding={layer.padding!r}, groups={layer.groups}")
            k, d = layer.kernel_size[0], layer.dilation[0]
            geometry = ((k - 1) * d + 1, layer.stride[0], d)
        bias = None if layer.bias is None else _copy(layer.bias)
        return cls([_copy(w.t())], [w.shape[1]], [w.shape[0]], None, None, None, bias,
                   geometry=geometry)

    def with_affine(self, scale: torch.Tensor, shift: torch.Tensor) -> RowForm:
        """This map followed by ``y * scale + shift`` per output column, folded in (a copy).

        Exact in real arithmetic for every form (the gate multiplies a group's product before
        its bias is added): an eval-mode BatchNorm after the layer costs nothing.
        """
        own = [w * s for w, s in  # new tensors: the copy shares no storage with this map
               zip(self.weights_t(), scale.split_with_sizes(self.out_sizes), strict=True)]
        bias = shift if self.bias is None else torch.addcmul(shift, self.bias, scale)
        return RowForm(own, self.in_sizes, self.out_sizes, self.context, self.context_bias,
                       self.expand, bias, self.gate, self.geometry)

    def weights_t(self) -> list[torch.Tensor]:
        """``W_g^T`` per group: ``(D_g*k, O_g)``."""
        return [self._buffers[name] for name in self._own]  # type: ignore[misc]

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``rows`` ``(N, D*k)``: ``(N, O)``."""
        table = self._buffers  # one dict, read directly: cheaper than attribute lookups
        own: list[torch.Tensor] = [table[name] for name in self._own]  # type: ignore[misc]
        bias, context = table["bias"], table["context"]
        if context is None and len(own) == 1:
            return torch.mm(rows, own[0]) if bias is None else torch.addmm(bias, rows, own[0])
        xs = rows.split_with_sizes(self.in_sizes, dim=1)
        context_bias, expand = table["context_bias"], table["expand"]
        if context is not None and rows.shape[0] >= _MANY_ROWS:
            return self._many_rows(xs, own, context, context_bias, bias)
        ys = [torch.mm(x_g, w_t) for x_g, w_t in zip(xs, own, strict=True)]
        if context is None:
            y = torch.cat(ys, dim=1) if len(ys) > 1 else ys[0]
            return y if bias is None else y.add_(bias)
        assert expand is not None
        z = (torch.mm(rows, context.t()) if context_bias is None
             else torch.addmm(context_bias, rows, context.t()))
        y = torch.cat(ys, dim=1) if len(ys) > 1 else ys[0]
        gates = self.gate(z).index_select(1, expand)
        return y.mul_(gates) if bias is None else torch.addcmul(bias, y, gates)

    def _many_rows(self, xs: Sequence[torch.Tensor], own: Sequence[torch.Tensor],
                   context: torch.Tensor, context_bias: torch.Tensor | None,
                   bias: torch.Tensor | None) -> torch.Tensor:
        """The context map's rows on many rows: folded into the group products.

        Group g's product takes ``[W_g^T | M[:, cols_g]^T]`` (built per call: small against
        the products at this size), so the rows are read once; its last G columns summed
        over the groups are the context pre-activation. Each group's output is then gated
        in place by its gate column (expanding the gates to all output columns with
        ``index_select`` is a slow gather at this size) and the groups are joined.
        """
        blocks = context.t().split_with_sizes(self.in_sizes, dim=0)
        sizes = self.out_sizes
        ys: list[torch.Tensor] = []
        z: torch.Tensor | None = None
        for x_g, w_t, u_t, o in zip(xs, own, blocks, sizes, strict=True):
            y_g, z_g = torch.mm(x_g, torch.cat([w_t, u_t], dim=1)).split_with_sizes(
                [o, u_t.shape[1]], dim=1)
            ys.append(y_g)
            z = z_g if z is None else z + z_g
        assert z is not None
        gates = self.gate(z if context_bias is None else z + context_bias)
        for g, y_g in enumerate(ys):
            y_g.mul_(gates[:, g:g + 1])
        y = torch.cat(ys, dim=1) if len(ys) > 1 else ys[0].contiguous()
        return y if bias is None else y.add_(bias)

    def forward_time_major(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution on time-major frames: ``(B, T, C)`` -> ``(B, T', O)``."""
        out = self.forward(unfold_rows(x, *self.geometry))
        return out.view(x.shape[0], -1, out.shape[1])

    def extra_repr(self) -> str:
        """Configuration shown by ``repr``."""
        frames, stride, dilation = self.geometry
        parts = [f"in_sizes={self.in_sizes}", f"out_sizes={self.out_sizes}",
                 f"context={self.context is not None}"]
        if self.geometry != (1, 1, 1):
            parts.append(f"frames={frames}, stride={stride}, dilation={dilation}")
        return ", ".join(parts)


def _copy(t: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of ``t`` outside autograd (a row map shares no storage with a layer)."""
    return t.detach().clone(memory_format=torch.contiguous_format)


def unfold_rows(x: torch.Tensor, frames: int, stride: int, dilation: int) -> torch.Tensor:
    """``(B, T, C)`` -> ``(B*T', C*k)``: each window of a convolution as one row.

    ``frames`` is the receptive field ``(k - 1) * dilation + 1``; a row holds the window's
    k taps channel-major (``c*k + j``), the flattening of a ``(O, C, k)`` weight.
    """
    if frames == 1 and stride == 1:
        return x.reshape(-1, x.shape[2])
    if dilation == 1 and stride == frames:  # windows side by side (the strided training form)
        count = x.shape[1] // frames
        if count * frames != x.shape[1]:
            x = x.narrow(1, 0, count * frames)
        # (B, T', k, C) -> (B, T', C, k): one transposing copy, whose backward is one too
        # (unfold's backward fills zeros and adds the windows back)
        return x.reshape(x.shape[0], count, frames, x.shape[2]).transpose(2, 3).reshape(
            -1, x.shape[2] * frames)
    windows = x.unfold(1, frames, stride)  # (B, T', C, frames): a view
    if dilation > 1:
        windows = windows[..., ::dilation]
    return windows.reshape(-1, windows.shape[2] * windows.shape[3])


class _GroupRows(torch.autograd.Function):
    """The row map of an SR layer (``"mul"`` with H = 1, or no context) with its own backward.

    ``rows (N, D*k) -> (N, O)``: the arithmetic of :class:`RowForm`, differentiable in the
    rows and in every weight, for training passes. Autograd through the general path records
    ~4G + 4 operations per layer (fused products split apart, per-group gates, ``cat``) and
    runs the backward of each; here the backward is written out:

    - ``dL/dW_g^T = x_g^T (grad_g * s_g)`` and ``dL/dx_g = (grad_g * s_g) W_g``;
    - through the gate: ``dL/ds_g = sum_cols(grad_g * W_g x_g)``, ``dL/dz = dL/ds * s (1 - s)``;
      then ``dL/dM = dL/dz^T rows`` and ``dL/drows += dL/dz M`` (one ``addmm_``).

    The context map arrives as the derived ``M`` (``(G, D*k)``, own-group columns zero): the
    masking and the weight normalization stay ordinary autograd ops on the parameters. The
    skinny products are taken in the orientation the CPU BLAS runs fast (``rows @ M^T`` with
    ``M`` row-major, ``dz^T @ rows``: 5-40x faster than the other orientations at 1024 rows),
    and the group products are written to their own tensors and joined by one ``cat``
    (writing them into column slices of a 1024-wide output is 30% slower: 4 KiB row strides
    alias in the cache). Non-tensor arguments: ``in_sizes``, ``out_sizes`` (per group).
    """

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, context: torch.Tensor | None,
                context_bias: torch.Tensor | None, bias: torch.Tensor | None,
                in_sizes: list[int], out_sizes: list[int],
                *weights_t: torch.Tensor) -> torch.Tensor:
        xs = rows.split_with_sizes(in_sizes, dim=1)
        ctx.sizes = (in_sizes, out_sizes)
        ctx.flags = (context is not None, context_bias is not None, bias is not None)
        biases = (bias.split_with_sizes(out_sizes) if bias is not None
                  else [None] * len(out_sizes))
        if context is None:
            ctx.save_for_backward(rows, *weights_t)
            ys = [torch.mm(x_g, w_t) if b_g is None else torch.addmm(b_g, x_g, w_t)
                  for x_g, w_t, b_g in zip(xs, weights_t, biases, strict=True)]
            return torch.cat(ys, dim=1) if len(ys) > 1 else ys[0]
        ys = [torch.mm(x_g, w_t) for x_g, w_t in zip(xs, weights_t, strict=True)]
        z = (torch.mm(rows, context.t()) if context_bias is None
             else torch.addmm(context_bias, rows, context.t()))
        gate = torch.sigmoid(z)
        outs = [y_g * gate[:, g:g + 1] if b_g is None
                else torch.addcmul(b_g, y_g, gate[:, g:g + 1])
                for g, (y_g, b_g) in enumerate(zip(ys, biases, strict=True))]
        ctx.save_for_backward(rows, context, gate, *ys, *weights_t)
        return torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        grad = grads[0]
        in_sizes, out_sizes = ctx.sizes
        has_context, has_cbias, has_bias = ctx.flags
        needs = ctx.needs_input_grad
        saved = ctx.saved_tensors
        count = len(in_sizes)
        grad_context = grad_cbias = grad_rows = dz = context = None
        grad_bias = grad.sum(0) if has_bias and needs[3] else None
        grads_own = list(grad.split_with_sizes(out_sizes, dim=1))
        if has_context:
            rows, context, gate = saved[:3]
            ys, weights_t = saved[3:3 + count], saved[3 + count:]
            # dL/ds_g: row sums of grad_g * (W_g x_g)
            ds = torch.stack([(g_g * y_g).sum(1) for g_g, y_g in
                              zip(grads_own, ys, strict=True)], dim=1)
            dz = ds.mul_(gate).mul_(1.0 - gate)
            if has_cbias and needs[2]:
                grad_cbias = dz.sum(0)
            if needs[1]:
                grad_context = torch.mm(dz.t(), rows)
            grads_own = [g_g * gate[:, g:g + 1] for g, g_g in enumerate(grads_own)]
        else:
            rows, weights_t = saved[0], saved[1:]
        xs = rows.split_with_sizes(in_sizes, dim=1)
        # (grad_g^T x_g)^T: the (O_g, N) x (N, D_g) orientation is ~14% faster here, and its
        # transpose is W_g's own layout (no copy when autograd hands it to W_g)
        grad_weights = [torch.mm(g_g.t(), x_g).t() if need else None
                        for x_g, g_g, need in zip(xs, grads_own, needs[6:], strict=True)]
        if needs[0]:
            parts = [torch.mm(g_g, w_t.t()) for g_g, w_t in zip(grads_own, weights_t,
                                                                strict=True)]
            grad_rows = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
            if dz is not None:
                assert context is not None
                grad_rows = grad_rows.addmm_(dz, context)
        return (grad_rows, grad_context, grad_cbias, grad_bias, None, None, *grad_weights)


class _Derived(NamedTuple):
    """Weights derived from the parameters for one forward pass (see the module docstring)."""

    fused: list[torch.Tensor]  # [W_g; M[:, cols_g]] per group (learned context, fused path)
    context: torch.Tensor | None  # the effective context map (H > 1 with "mul")
    recombine: list[torch.Tensor]  # "add": W_g E per group; "cat": R_g per group
    identity: torch.Tensor | None  # identity context: the masked recombination weight
    biases: list[torch.Tensor | None]  # b_g per group, shaped to broadcast over (N, O_g[, T])
    context_bias: torch.Tensor | None  # c, shaped to broadcast over (N, G*H[, T])


def _is_int(value: object) -> bool:
    return is_int(value)  # Python or numpy integers, not bools


def check_groups(groups: object, name: str) -> tuple[int, ...]:
    """Validate a sequence of positive group widths and return it as a tuple of ints.

    Python or numpy integers are accepted (``[np.int64(2), 3]``, a 1-d integer array).
    """
    if isinstance(groups, torch.Tensor | str | bytes) or not (
            isinstance(groups, Sequence) or getattr(groups, "ndim", None) == 1):
        raise TypeError(f"{name}: expected a sequence of positive integers, got "
                        f"{type(groups).__name__}")
    widths: tuple[object, ...] = tuple(groups)  # type: ignore[arg-type]
    ints = [int(w) for w in widths if is_int(w) and w > 0]
    if not widths or len(ints) != len(widths):
        raise ValueError(f"{name}: expected a non-empty sequence of positive integers, "
                         f"got {groups!r}")
    return tuple(ints)


def check_int(value: object, name: str, minimum: int) -> int:
    """Validate an integer argument ``>= minimum`` (0: non-negative, 1: positive)."""
    if not _is_int(value) or int(value) < minimum:  # type: ignore[call-overload]
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name}: expected {kind}, got {value!r}")
    return int(value)  # type: ignore[call-overload, no-any-return]


class SRBase(nn.Module):
    """Parameters, initialization and combine logic shared by SRLinear and SRConv1d."""

    bias: nn.Parameter | None
    context_weight: nn.Parameter | None
    context_bias: nn.Parameter | None
    context_gain: nn.Parameter | None
    recombine_weight: nn.Parameter | None
    context_mask: torch.Tensor | None
    recombine_mask: torch.Tensor | None

    def __init__(
        self,
        in_groups: Sequence[int],
        out_groups: Sequence[int],
        kernel: tuple[int, ...],
        *,
        context_dim: int,
        combine: str,
        context: str,
        context_init: str,
        bias: bool,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        ins = check_groups(in_groups, "in_groups")
        outs = check_groups(out_groups, "out_groups")
        if len(ins) != len(outs):
            raise ValueError(
                f"out_groups: expected {len(ins)} groups like in_groups={ins}, got "
                f"{len(outs)} ({outs})"
            )
        h = check_int(context_dim, "context_dim", 0)
        if not isinstance(bias, bool):
            raise TypeError(f"bias: expected a bool, got {type(bias).__name__} ({bias!r})")
        if combine not in COMBINES:
            raise ValueError(f"combine: expected one of 'mul', 'cat', 'add', got {combine!r}")
        if context not in CONTEXTS:
            raise ValueError(f"context: expected one of 'learned', 'identity', got {context!r}")
        if context_init not in CONTEXT_INITS:
            raise ValueError(f"context_init: expected one of 'zero', 'random', got "
                             f"{context_init!r}")
        if context == "identity":
            if combine != "cat":
                raise ValueError(
                    f"combine: context='identity' passes the other groups' features through "
                    f"unchanged, which only makes sense with combine='cat', got {combine!r}"
                )
            if h == 0:
                raise ValueError("context_dim: 0 (no context) contradicts context='identity'")
        elif combine in ("mul", "add") and h > min(ins):
            raise ValueError(
                f"context_dim: combine={combine!r} applies each of the H context numbers to a "
                f"contiguous chunk of a group's features, so H must be <= the smallest group "
                f"width min(in_groups)={min(ins)}, got {h}"
            )
        self.in_groups: tuple[int, ...] = ins
        self.out_groups: tuple[int, ...] = outs
        self.num_groups = len(ins)
        self.in_features = sum(ins)
        self.out_features = sum(outs)
        self.context_dim = h
        self.combine: Combine = combine  # type: ignore[assignment]
        self.context: Context = context  # type: ignore[assignment]
        self.context_init: ContextInit = context_init  # type: ignore[assignment]
        self._kernel = kernel
        self._learned = context == "learned" and h > 0
        chunked = self._learned and combine in ("mul", "add")
        self._chunks = tuple(split_width(w, [1] * h) for w in ins) if chunked else ()
        g_count, d = self.num_groups, self.in_features

        def param(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(shape, device=device, dtype=dtype))

        def ones(*shape: int) -> torch.Tensor:
            return torch.ones((*shape, *[1] * len(kernel)), device=device, dtype=dtype)

        self.weights = nn.ParameterList(
            [param(o, i, *kernel) for i, o in zip(ins, outs, strict=True)])
        self.bias = param(sum(outs)) if bias else None
        for name in ("context_weight", "context_bias", "context_gain", "recombine_weight"):
            self.register_parameter(name, None)
        for name in ("context_mask", "recombine_mask"):
            self.register_buffer(name, None, persistent=False)
        if self._learned:
            self.context_weight = param(g_count * h, d, *kernel)
            mask = ones(g_count * h, d)
            for g, (lo, hi) in enumerate(self._spans(ins)):
                mask[g * h:(g + 1) * h, lo:hi] = 0
            self.register_buffer("context_mask", mask, persistent=False)
            if bias:
                self.context_bias = param(g_count * h)
            if combine == "mul":
                self.context_gain = param(g_count * h)
            if combine == "cat":
                self.recombine_weight = param(sum(outs), h)
        elif context == "identity":
            self.recombine_weight = param(sum(outs), d, *kernel)
            mask = ones(sum(outs), d)
            for (lo, hi), (olo, ohi) in zip(self._spans(ins), self._spans(outs), strict=True):
                mask[olo:ohi, lo:hi] = 0
            self.register_buffer("recombine_mask", mask, persistent=False)
        self._derived_cache: tuple[list[tuple[Any, int, int]], _Derived] | None = None
        self.reset_parameters()

    @staticmethod
    def _spans(widths: Sequence[int]) -> list[tuple[int, int]]:
        edges = [0]
        for w in widths:
            edges.append(edges[-1] + w)
        return list(itertools.pairwise(edges))

    def reset_parameters(self) -> None:
        """Initialize like ``nn.Linear`` applied to each group's full input.

        Group g's map ``W_g`` (own features, plus the H context columns for ``cat`` or all
        other features for ``identity``) and its bias are uniform in ``+-1/sqrt(fan_in)``;
        the context rows of group g are uniform in ``+-1/sqrt(D - D_g)`` (times the kernel
        size for the convolution) with the masked entries zero. The gate's gain starts at 1
        and its bias at 0, so the gate starts centred at ``sigmoid(0) = 0.5``.

        With ``context_init="zero"`` (the default) the map that carries the other groups'
        features then starts at zero, as in the official SRNet code (its context convolutions
        are initialized to zero): the gain of the ``"mul"`` gate (its direction stays random,
        for the weight normalization), the context weight ``U`` of ``"cat"`` / ``"add"``, or
        the recombination weight of the identity context. The layer then starts as the
        group-connected layer (every output depends on its own group only) and learns its
        global context during training. ``"random"`` keeps the random map.
        """
        taps = math.prod(self._kernel)
        h, d = self.context_dim, self.in_features
        out_spans = self._spans(self.out_groups)
        with torch.no_grad():
            for g, (w, d_g) in enumerate(zip(self.weights, self.in_groups, strict=True)):
                if self.context == "identity":
                    fan_in = d * taps
                elif self.combine == "cat" and self._learned:
                    fan_in = d_g * taps + h
                else:
                    fan_in = d_g * taps
                bound = 1.0 / math.sqrt(fan_in)
                w.uniform_(-bound, bound)
                lo, hi = out_spans[g]
                if self.bias is not None:
                    self.bias[lo:hi].uniform_(-bound, bound)
                if self.recombine_weight is not None:
                    self.recombine_weight[lo:hi].uniform_(-bound, bound)
                if self.context_weight is not None:
                    rest = (d - d_g) * taps
                    cbound = 1.0 / math.sqrt(rest) if rest else 0.0
                    self.context_weight[g * h:(g + 1) * h].uniform_(-cbound, cbound)
                    if self.context_bias is not None:
                        if self.combine == "mul":
                            self.context_bias[g * h:(g + 1) * h].zero_()
                        else:
                            self.context_bias[g * h:(g + 1) * h].uniform_(-cbound, cbound)
            if self.context_weight is not None and self.context_mask is not None:
                self.context_weight.mul_(self.context_mask)
            if self.recombine_weight is not None and self.recombine_mask is not None:
                self.recombine_weight.mul_(self.recombine_mask)
            if self.context_gain is not None:
                self.context_gain.fill_(1.0)
            if self.context_init == "zero":
                if self.context_gain is not None:
                    self.context_gain.zero_()
                elif self.context_weight is not None:
                    self.context_weight.zero_()
                elif self.recombine_weight is not None:
                    self.recombine_weight.zero_()

    # primitives supplied by the subclasses -------------------------------------------------
    def _map(self, x: torch.Tensor, weight: torch.Tensor,
             bias: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _pointwise(self, z: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``(N, H[, T'])`` x ``(O, H)`` -> ``(N, O[, T'])``."""
        if weight.shape[1] == 1:
            return z * weight.reshape(weight.shape[0], *([1] * (z.dim() - 2)))
        if z.dim() == 2:
            return F.linear(z, weight)
        return F.conv1d(z, weight.unsqueeze(-1))

    # the context -----------------------------------------------------------------------------
    def effective_context_weight(self) -> torch.Tensor:
        """The context map M actually applied: ``(G*H, D[, k])``, own-group columns zero.

        For ``combine="mul"`` the rows are weight-normalized: ``gain * U / ||U||`` (the
        norm over each row's unmasked entries), see docs/layers.md for why.
        """
        assert self.context_weight is not None and self.context_mask is not None
        u = self.context_weight * self.context_mask
        if self.context_gain is None:
            return u
        norm = u.flatten(1).norm(dim=1).clamp_min(_NORM_EPS)
        scale: torch.Tensor = self.context_gain / norm
        return u * scale.reshape(-1, *([1] * (u.dim() - 1)))

    def gate(self, z: torch.Tensor) -> torch.Tensor:
        """Gate for ``combine="mul"`` from the context pre-activation: ``sigmoid(z)``."""
        return torch.sigmoid(z)

    def context_preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """``z = M x_rest (+ bias)`` for all groups at once: ``(N, G*H[, T'])``."""
        return self._map(x, self.effective_context_weight(), self.context_bias)

    # derived weights and their cache ------------------------------------------------------------
    def _derive(self) -> _Derived:
        """Build the derived weights from the parameters (differentiable)."""
        weights = list(self.weights)
        fused: list[torch.Tensor] = []
        context: torch.Tensor | None = None
        recombine: list[torch.Tensor] = []
        identity: torch.Tensor | None = None
        if not self._learned:
            if self.recombine_weight is not None and self.recombine_mask is not None:
                identity = self.recombine_weight * self.recombine_mask
        elif self.combine == "mul" and self.context_dim > 1:
            context = self.effective_context_weight()
        else:
            u_blocks = torch.split(self.effective_context_weight(), list(self.in_groups), dim=1)
            fused = [torch.cat([w, u], dim=0) for w, u in zip(weights, u_blocks, strict=True)]
            if self.combine == "add":
                recombine = [self._chunk_sums(w, g) for g, w in enumerate(weights)]
            elif self.combine == "cat":
                assert self.recombine_weight is not None
                recombine = list(torch.split(self.recombine_weight, list(self.out_groups)))
        trail = [1] * len(self._kernel)  # the time axis of the convolution
        biases: list[torch.Tensor | None] = [None] * self.num_groups
        if self.bias is not None:
            biases = [b.reshape(-1, *trail)
                      for b in torch.split(self.bias, list(self.out_groups))]
        c_bias = (None if self.context_bias is None
                  else self.context_bias.reshape(-1, *trail))
        return _Derived(fused, context, recombine, identity, biases, c_bias)

    def _cache_state(self) -> list[tuple[Any, int, int]] | None:
        """(tensor, version, data pointer) of every parameter and mask; None: do not cache."""
        if self.training or torch.compiler.is_compiling():
            return None
        tensors = [*self._parameters.values(), *self.weights._parameters.values(),
                   *self._buffers.values()]
        grad = torch.is_grad_enabled()
        state = []
        try:
            for t in tensors:
                if t is None:
                    continue
                if grad and t.requires_grad:
                    return None  # autograd through the parameters: build inside the graph
                state.append((t, t._version, t.data_ptr()))
        except RuntimeError:  # tensors without storage (functorch transforms, fakes)
            return None
        return state

    def _derived(self) -> _Derived:
        """The derived weights: cached in eval mode without autograd, else built fresh."""
        state = self._cache_state()
        if state is None:
            return self._derive()
        cached = self._derived_cache
        if cached is not None and len(cached[0]) == len(state) and all(
                a[0] is b[0] and a[1] == b[1] and a[2] == b[2]
                for a, b in zip(cached[0], state, strict=True)):
            return cached[1]
        with torch.inference_mode(False), torch.no_grad():
            derived = self._derive()
        self._derived_cache = (state, derived)
        return derived

    def train(self, mode: bool = True) -> Self:
        """Set the mode (see ``nn.Module.train``); drops the cached derived weights."""
        self._derived_cache = None
        return super().train(mode)

    def row_form(self) -> RowForm | None:
        """The layer as a :class:`RowForm` (a snapshot of its weights now), or None.

        None for the configurations the row form does not cover (``"cat"``, ``"add"``, H > 1
        with ``"mul"``, the identity context). Used to build inference copies
        (:func:`poselift.models.fuse_for_inference`); the layer itself always runs its own
        forward.
        """
        if self.context == "identity" or (self._learned and (
                self.combine != "mul" or self.context_dim != 1)):
            return None
        with torch.no_grad():
            taps = math.prod(self._kernel)
            own = [_copy(w.flatten(1).t()) for w in self.weights]
            context = context_bias = expand = None
            if self._learned:
                context = _copy(self.effective_context_weight().flatten(1))
                context_bias = None if self.context_bias is None else _copy(self.context_bias)
                expand = torch.repeat_interleave(  # output_size: no sync, works on meta
                    torch.arange(self.num_groups, device=context.device),
                    torch.tensor(self.out_groups, device=context.device),
                    output_size=self.out_features)
            # a subclass's own gate (the library's is the sigmoid, called directly: faster)
            gate = torch.sigmoid if type(self).gate is SRBase.gate else self.gate
            bias = None if self.bias is None else _copy(self.bias)
            return RowForm(own, [d * taps for d in self.in_groups], list(self.out_groups),
                           context, context_bias, expand, bias, gate, self._geometry())

    def _geometry(self) -> tuple[int, int, int]:
        """``(frames, stride, dilation)`` of a convolution's windows (a linear layer: 1s)."""
        return (1, 1, 1)

    def _trains_rows(self, x: torch.Tensor) -> bool:
        """Whether a pass over ``x`` runs :class:`_GroupRows` (training or autograd).

        Configurations of the row form with the library's sigmoid gate, on real (not meta or
        functorch-wrapped) tensors, outside ``torch.compile`` / ``torch.export`` / JIT
        tracing (which record the general path).
        """
        if self.context == "identity" or (self._learned and (
                self.combine != "mul" or self.context_dim != 1)):
            return False
        if self._learned and type(self).gate is not SRBase.gate:
            return False
        tracing = torch.jit.is_tracing()  # type: ignore[attr-defined, no-untyped-call]
        if torch.compiler.is_compiling() or tracing or x.device.type == "meta":
            return False
        try:
            x.data_ptr()
        except RuntimeError:  # functorch transforms, fake tensors
            return False
        return True

    def _uses_group_rows(self, x: torch.Tensor) -> bool:
        """Training or autograd through the parameters, on a configuration of the row form."""
        return ((self.training or torch.is_grad_enabled())
                and self._cache_state() is None and self._trains_rows(x))

    def _rows_map(self, rows: torch.Tensor) -> torch.Tensor:
        """The layer on ``rows`` ``(N, D*k)`` through :class:`_GroupRows`: ``(N, O)``."""
        weights_t = [w.flatten(1).t() for w in self.weights]
        taps = math.prod(self._kernel)
        context = self.effective_context_weight().flatten(1) if self._learned else None
        out: torch.Tensor = _GroupRows.apply(  # type: ignore[no-untyped-call]
            rows, context, self.context_bias if self._learned else None, self.bias,
            [d * taps for d in self.in_groups], list(self.out_groups), *weights_t)
        return out

    # forward ---------------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor, derived: _Derived) -> torch.Tensor:
        """The general path: channels on dim 1, ``(N, D)`` or ``(B, D, T)``."""
        # split_with_sizes: the C++ op directly (torch.split's Python wrapper costs more than
        # the op itself on a single pose)
        xs = x.split_with_sizes(self.in_groups, dim=1)
        g_count, h = self.num_groups, self.context_dim
        biases = derived.biases
        if not self._learned:
            ys = [self._map(x_g, w, None if b is None else b.reshape(-1))
                  for x_g, w, b in zip(xs, self.weights, biases, strict=True)]
            y = torch.cat(ys, dim=1) if g_count > 1 else ys[0]
            if derived.identity is not None:
                y = y + self._map(x, derived.identity, None)
            return y
        ys = []
        if self.combine == "mul" and h > 1:
            # each gate scales a chunk of x_g: the group maps run per chunk, the context apart
            assert derived.context is not None
            z = self._map(x, derived.context, None)
            if derived.context_bias is not None:
                z = z + derived.context_bias
            gates = self.gate(z).split_with_sizes([h] * g_count, dim=1)
            for g, w in enumerate(self.weights):
                x_chunks = xs[g].split_with_sizes(self._chunks[g], dim=1)
                w_chunks = w.split_with_sizes(self._chunks[g], dim=1)
                y_g = self._map(x_chunks[0], w_chunks[0], None) * gates[g][:, :1]
                for c in range(1, h):
                    y_g = y_g + self._map(x_chunks[c], w_chunks[c], None) * gates[g][:, c:c + 1]
                b = biases[g]
                ys.append(y_g if b is None else y_g + b)
            return torch.cat(ys, dim=1) if g_count > 1 else ys[0]
        own, z = self._fused_maps(xs, derived.fused, derived.context_bias)
        if self.combine == "mul":
            gates = self.gate(z).split_with_sizes([1] * g_count, dim=1)
            for g in range(g_count):
                b = biases[g]
                ys.append(own[g] * gates[g] if b is None else torch.addcmul(b, own[g], gates[g]))
        else:
            if self.combine == "add":
                contexts = F.leaky_relu(z, ADD_SLOPE).split_with_sizes([h] * g_count, dim=1)
            else:
                contexts = z.split_with_sizes([h] * g_count, dim=1)
            recombine = derived.recombine
            for g in range(g_count):
                y_g = own[g] + self._pointwise(contexts[g], recombine[g])
                b = biases[g]
                ys.append(y_g if b is None else y_g + b)
        return torch.cat(ys, dim=1) if g_count > 1 else ys[0]

    def _fused_maps(self, xs: Sequence[torch.Tensor], fused: Sequence[torch.Tensor],
                    context_bias: torch.Tensor | None,
                    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Group maps and the context in one product per group.

        Group g's product uses ``fused[g] = [W_g; U[:, cols_g]]``: its first ``out_g`` outputs
        are ``W_g x_g``, the last G*H are group g's features' contribution to every group's
        context (zero for its own, masked). Summing the latter over g gives ``M x_rest``, the
        same as one product with the masked ``(G*H, D)`` weight, without a second pass over x.
        """
        gh = self.num_groups * self.context_dim
        own: list[torch.Tensor] = []
        z: torch.Tensor | None = None
        for x_g, w_u, o in zip(xs, fused, self.out_groups, strict=True):
            # split (not two slices): its backward assembles the gradient in one pass
            p_own, p_ctx = self._map(x_g, w_u, None).split_with_sizes([o, gh], dim=1)
            own.append(p_own)
            z = p_ctx if z is None else z + p_ctx
        assert z is not None
        if context_bias is not None:
            z = z + context_bias
        return own, z

    def _chunk_sums(self, weight: torch.Tensor, g: int) -> torch.Tensor:
        """``W_g E``: (out_g, H) sums of W_g over each input chunk (and all taps)."""
        if self.context_dim == 1:
            return weight.flatten(1).sum(dim=1, keepdim=True)
        chunks = torch.split(weight, list(self._chunks[g]), dim=1)
        return torch.stack([c.flatten(1).sum(dim=1) for c in chunks], dim=1)

    def extra_repr(self) -> str:
        """Configuration shown by ``repr``."""
        parts = [f"in_groups={self.in_groups}", f"out_groups={self.out_groups}"]
        if self._kernel:
            parts.append(f"kernel_size={self._kernel[0]}")
        parts += [f"context_dim={self.context_dim}", f"combine={self.combine!r}"]
        if self.context != "learned":
            parts.append(f"context={self.context!r}")
        if self.context_init != "zero":
            parts.append(f"context_init={self.context_init!r}")
        if self.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)
