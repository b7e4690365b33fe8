"""BatchNorm, LeakyReLU and dropout of a hidden layer as one training-mode operation.

Every hidden layer of the lifting networks is followed by ``BatchNorm1d -> LeakyReLU ->
Dropout``. Run as three modules in training mode, autograd keeps three 4 MiB tensors per
1024 x 1024 activation (the BatchNorm input, its output for the LeakyReLU, the dropout mask)
and the forward pass writes three new ones (BatchNorm output, activation, dropped); fresh
allocations of that size cost page faults on a CPU (the allocator returns them to the
system), which were a visible share of a training step.

:func:`norm_act_dropout` computes ``dropout(act(norm(x)))`` with the modules' own
parameters and buffers through one ``autograd.Function``: the BatchNorm's native kernel
(the same kernel ``nn.BatchNorm1d`` calls, so the same output and the same update of the
running statistics), then the activation and the dropout mask applied in place on its
output. It saves only the input, the mask and the output (the activation's gradient is
read from the sign of the output: a dropped entry has a zero gradient anyway, a kept one has
the sign of its pre-activation, and an exact zero takes the slope, as ``LeakyReLU`` does),
and its backward runs the same three kernels autograd would (mask, ``leaky_relu_backward``,
``native_batch_norm_backward``). Outputs and gradients are the modules' bit for bit, for the
same dropout mask (the dropout draws from the global generator exactly as
:class:`~poselift.nn.Dropout` does).

Anything else runs the three modules as they are: eval mode, a BatchNorm in eval mode or not
a plain ``nn.BatchNorm1d`` on ``(N, C)`` rows, another activation or a negative slope,
another dropout module, one row (BatchNorm's own error), ``torch.compile`` / ``torch.export``
/ JIT tracing, ``torch.func`` transforms. The function is differentiable once (its backward
is not itself differentiable: second derivatives need the modules).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from poselift.nn.dropout import Dropout, keep_mask

__all__ = ["norm_act_dropout"]


class _NormActDrop(torch.autograd.Function):
    """``(leaky_relu(batch_norm(x)) * mask)`` in training mode, with its own backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor | None,
                bias: torch.Tensor | None, running_mean: torch.Tensor | None,
                running_var: torch.Tensor | None, momentum: float, eps: float,
                slope: float, p: float) -> torch.Tensor:
        out, mean, invstd = torch.native_batch_norm(x, weight, bias, running_mean,
                                                    running_var, True, momentum, eps)
        torch.nn.functional.leaky_relu_(out, slope)
        mask = None
        if p > 0.0:
            mask = keep_mask(out.shape, p, out.dtype, out.device)
            out.mul_(mask)
        ctx.eps, ctx.slope = eps, slope
        ctx.flags = (weight is not None, bias is not None)
        ctx.save_for_backward(x, weight, mean, invstd, out, mask)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        x, weight, mean, invstd, out, mask = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g = grad if mask is None else grad * mask
        # the output has the pre-activation's sign where kept (the mask is > 0) and is 0
        # where dropped (g is 0 there): the activation's gradient from the output is exact
        g = torch.ops.aten.leaky_relu_backward(g, out, ctx.slope, True)
        has_weight, has_bias = ctx.flags
        dx, dw, db = torch.ops.aten.native_batch_norm_backward(
            g, x, weight, None, None, mean, invstd, True, ctx.eps,
            [needs[0], has_weight and needs[1], has_bias and needs[2]])
        return dx, dw, db, None, None, None, None, None, None


def _fusable(x: torch.Tensor, norm: nn.Module, act: nn.Module, drop: nn.Module) -> bool:
    """Whether :class:`_NormActDrop` computes exactly what the three modules would."""
    if torch.compiler.is_compiling() or torch.compiler.is_exporting() or \
            torch.jit.is_tracing():  # type: ignore[attr-defined, no-untyped-call]
        return False  # (before any look at the shape: no guard on it in a traced graph)
    try:
        x.data_ptr()
    except RuntimeError:  # functorch transforms, fake tensors
        return False
    if type(norm) is not nn.BatchNorm1d or not norm.training or x.dim() != 2 \
            or x.shape[0] < 2 or x.shape[1] != norm.num_features:
        return False
    if type(act) is not nn.LeakyReLU or not act.negative_slope >= 0.0:
        return False
    if type(drop) is not Dropout or (drop.training and not 0.0 <= drop.p < 1.0):
        return False
    return x.is_floating_point()


def norm_act_dropout(x: torch.Tensor, norm: nn.Module, act: nn.Module,
                     drop: nn.Module) -> torch.Tensor:
    """``drop(act(norm(x)))``, in one operation when ``norm`` is a training-mode BatchNorm.

    See the module docs: a training-mode ``nn.BatchNorm1d`` on ``(N, C)`` rows followed by
    an ``nn.LeakyReLU`` (slope >= 0) and a :class:`~poselift.nn.Dropout` runs as one
    ``autograd.Function`` with the same outputs, gradients and running statistics as the
    three modules; anything else calls the modules.

    Args:
        x: ``(N, C)`` activations (any shape the modules take when they run as modules).
        norm: the BatchNorm (its parameters and running statistics are used and updated).
        act: the activation.
        drop: the dropout (its mode and ``p`` decide the mask).

    Returns:
        The modules' output, same shape as ``x``.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from poselift.nn import Dropout
        >>> norm, act, drop = nn.BatchNorm1d(8), nn.LeakyReLU(0.01), Dropout(0.25)
        >>> x = torch.randn(16, 8)
        >>> _ = torch.manual_seed(0)
        >>> y = norm_act_dropout(x, norm, act, drop)
        >>> _ = torch.manual_seed(0)
        >>> torch.equal(y, drop(act(nn.BatchNorm1d(8)(x))))
        True
        >>> int(norm.num_batches_tracked)
        1
    """
    if not _fusable(x, norm, act, drop):
        out: torch.Tensor = drop(act(norm(x)))
        return out
    assert isinstance(norm, nn.BatchNorm1d) and isinstance(act, nn.LeakyReLU) and \
        isinstance(drop, Dropout)
    # nn.BatchNorm1d.forward's bookkeeping: the momentum, or the cumulative average
    momentum = 0.0 if norm.momentum is None else norm.momentum
    tracked = norm.num_batches_tracked
    if norm.track_running_stats and isinstance(tracked, torch.Tensor):
        tracked.add_(1)
        if norm.momentum is None:
            momentum = 1.0 / float(tracked)
    stats = norm.track_running_stats
    p = float(drop.p) if drop.training else 0.0
    result: torch.Tensor = _NormActDrop.apply(  # type: ignore[no-untyped-call]
        x, norm.weight, norm.bias, norm.running_mean if stats else None,
        norm.running_var if stats else None, momentum, norm.eps,
        float(act.negative_slope), p)
    return result
