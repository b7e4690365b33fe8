"""Inference copies: a lifting network with its BatchNorms folded in and dropout removed.

One pose through the shipped SR network is about 1 MFLOP, but its module-by-module eval
forward pass runs ~150 torch operations and ~40 module calls; on a CPU each costs
microseconds, so per-operation overhead, not arithmetic, sets the latency of one pose or of
one streaming push (docs/inference.md, "Speed"). :func:`fuse_for_inference` therefore
builds, once, an **inference copy** of a network (in the spirit of timm's
reparameterization and ``torch.ao``'s conv-BatchNorm fusion):

- every layer followed by an eval-mode ``BatchNorm1d`` becomes one layer with the BatchNorm
  folded into its weights (``y * scale + shift`` per output channel, exact in real
  arithmetic); the BatchNorm goes;
- dropout goes (it is the identity in eval mode);
- SR layers of the paper's configuration (``combine="mul"`` with H = 1, or no context) and
  dense ``nn.Linear`` / ``nn.Conv1d`` layers become a :class:`~poselift.nn.RowForm`: the
  layer as one map of rows (an SR layer's G group products written straight into one
  output, the context as one small product: ~G + 5 operations instead of ~4G + 4; a
  convolution's windows unfolded to rows). The other SR configurations (``"cat"``,
  ``"add"``, H > 1, the identity context) stay SR layers with the BatchNorm folded into
  their output weights and bias.

The copy is an ordinary module built once: it runs the network's own ``forward`` with the
replaced layers, holds no cache, checks nothing per call, and shares no storage with the
original (later changes to the original's weights are not seen: build a new copy). It
computes the eval-mode function of the original in another summation order: outputs agree
within float32 rounding (``tests/test_fuse.py``, every configuration of the model factory).
It is for inference only (no training: its BatchNorms and dropout are gone) and has no
strided twin of its own: fuse the original's twin (``fuse_for_inference(net.strided_twin())``).

:class:`poselift.core.LiftingCore` (under ``lift``, :class:`~poselift.StreamingLifter`)
builds the copy when it takes a model; the user's module itself stays plain PyTorch
(training, ``torch.compile``, ``torch.export``, ``torch.func.functional_call`` see nothing
of this). Measured with ``benchmarks/bench_lift.py`` (docs/inference.md): the copy halves
the bare forward pass of one pose and of one causal 27-frame window, and is no slower on
batches of thousands of frames.

Examples:
    >>> import torch, poselift
    >>> net = poselift.create_model("sr", hidden=64).eval()                  # untrained!
    >>> fast = fuse_for_inference(net)
    >>> x = torch.randn(3, 17, 2)
    >>> with torch.no_grad():
    ...     torch.allclose(fast(x), net(x), atol=1e-5)
    True
    >>> sum(isinstance(m, torch.nn.BatchNorm1d) for m in fast.modules())
    0
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from poselift.models.blend import TemporalBlend
from poselift.models.single_frame import SingleFrameNet
from poselift.models.temporal import TemporalNet
from poselift.nn import Dropout, RowForm, SRConv1d, SRLinear

__all__ = ["fuse_for_inference", "is_inference_copy"]

_MARK = "inference_copy"


def is_inference_copy(model: nn.Module) -> bool:
    """Whether ``model`` was built by :func:`fuse_for_inference`.

    Examples:
        >>> import poselift
        >>> net = poselift.create_model("fc", hidden=16)
        >>> is_inference_copy(net), is_inference_copy(fuse_for_inference(net))
        (False, True)
    """
    return bool(getattr(model, _MARK, False))


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """An eval-only copy of a lifting network with BatchNorm folded in and dropout removed.

    See the module docs. The networks of :func:`poselift.create_model` (single-frame and
    temporal, and the two parts of a :class:`~poselift.models.blend.TemporalBlend`) are
    fused; any other module, and a copy already fused, is returned as it is.
    ``model`` is not changed (its mode either: a model in training mode is copied in eval
    mode).

    Args:
        model: a lifting network.

    Returns:
        A new module with the same eval-mode outputs (within float32 rounding), the same
        ``config``, contract attributes and input checks.

    Examples:
        >>> import torch, poselift
        >>> tcn = poselift.create_model("sr_tcn", channels=32, filter_widths=(3, 3),
        ...                             causal=True)                       # training mode
        >>> fast = fuse_for_inference(tcn)
        >>> tcn.training, fast.training, fast.receptive_field
        (True, False, 9)
        >>> x = torch.randn(2, 12, 17, 2)
        >>> with torch.no_grad():
        ...     torch.allclose(fast(x), tcn.eval()(x), atol=1e-5)
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, TemporalBlend) and not is_inference_copy(model):
        blend = TemporalBlend(fuse_for_inference(model.temporal),
                              fuse_for_inference(model.single),
                              single_weight=model.single_weight, smoothing=model.smoothing,
                              min_limbs=model.min_limbs, flip=model.flip).eval()
        blend.config = getattr(model, "config", {})  # type: ignore[assignment]
        setattr(blend, _MARK, True)
        return blend
    if is_inference_copy(model) or not isinstance(model, SingleFrameNet | TemporalNet):
        return model
    # the layers, BatchNorms and dropout are built anew; the rest is deep-copied around them
    # (the memo maps each replaced module to its replacement: its weights are not copied)
    new: dict[int, nn.Module] = {}
    with torch.no_grad():
        if isinstance(model, SingleFrameNet):
            new[id(model.expand)] = _fuse_sequence(model.expand)
            for block in model.blocks:
                layers = block.layers
                assert isinstance(layers, nn.Sequential)
                new[id(layers)] = _fuse_sequence(layers)
            new[id(model.head)] = _fold(model.head, None)
        else:
            new[id(model.expand)] = _fold(model.expand, model.expand_bn)
            new[id(model.convs)] = nn.ModuleList(
                [_fold(c, n) for c, n in zip(model.convs, model.bns, strict=True)])
            new[id(model.shrink)] = _fold(model.shrink, None)
            new[id(model.expand_bn)] = nn.Identity()
            new[id(model.bns)] = nn.ModuleList([nn.Identity() for _ in model.bns])
            new[id(model.drop)] = nn.Identity()
    net = copy.deepcopy(model, memo=dict(new)).eval()
    for m in net.modules():  # each activation's input is a new tensor (a layer's output)
        if isinstance(m, nn.LeakyReLU):
            m.inplace = True
    setattr(net, _MARK, True)
    return net


def _fuse_sequence(seq: nn.Sequential) -> nn.Sequential:
    """Fold every BatchNorm into the layer before it; drop dropout."""
    out: list[nn.Module] = []
    for m in seq:
        if isinstance(m, Dropout | nn.Dropout):
            continue
        if isinstance(m, nn.BatchNorm1d) and out and _layer(out[-1]) is not None:
            out[-1] = _fold(out[-1], m)
        else:
            out.append(m)
    return nn.Sequential(*[_fold(m, None) if _layer(m) is not None else copy.deepcopy(m)
                           for m in out])


def _layer(m: nn.Module) -> nn.Module | None:
    """The linear map of ``m`` (a layer, or a wrapper holding one as ``op``), or None."""
    op = getattr(m, "op", m)
    kinds = (SRLinear, SRConv1d, nn.Linear, nn.Conv1d, RowForm)
    return op if isinstance(op, kinds) else None


def _fold(m: nn.Module, norm: nn.Module | None) -> nn.Module:
    """``m``'s layer followed by ``norm`` (an eval-mode BatchNorm1d, or None) as one layer."""
    op = _layer(m)
    if op is None:
        raise TypeError(f"cannot fold into {type(m).__name__}")
    affine = None if norm is None else _bn_affine(norm)
    if norm is not None and affine is None:  # batch statistics: not foldable, kept as is
        return nn.Sequential(_fold(m, None), copy.deepcopy(norm))
    form: RowForm | None
    if isinstance(op, SRLinear | SRConv1d):
        form = op.row_form()
        if form is None:  # a configuration without a row form: an SR layer, rescaled
            layer = copy.deepcopy(op)
            if affine is not None:
                _scale_outputs(layer, *affine)
            return layer
    elif isinstance(op, nn.Linear | nn.Conv1d):
        form = RowForm.dense(op)
    else:
        assert isinstance(op, RowForm)
        form = op
    return form if affine is None else form.with_affine(*affine)


def _bn_affine(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """An eval-mode ``BatchNorm1d`` as ``y * scale + shift``; None when it is not one."""
    if not isinstance(norm, nn.BatchNorm1d) or norm.running_mean is None or \
            norm.running_var is None:
        return None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return scale.detach(), shift.detach()


def _scale_outputs(layer: SRLinear | SRConv1d, scale: torch.Tensor, shift: torch.Tensor
                   ) -> None:
    """Make ``layer`` compute ``layer(x) * scale + shift`` per output channel (in place).

    Every output is a sum of products with rows of the group weights ``W_g`` (and, for
    ``"cat"`` and the identity context, of ``recombine_weight``) plus the bias; the gate of
    ``"mul"`` and the context of ``"add"`` (chunk sums of ``W_g``) scale along.
    """
    for w, s in zip(layer.weights, scale.split_with_sizes(list(layer.out_groups)),
                    strict=True):
        w.mul_(s.reshape(-1, *[1] * (w.dim() - 1)))
    if layer.recombine_weight is not None:
        r = layer.recombine_weight
        r.mul_(scale.reshape(-1, *[1] * (r.dim() - 1)))
    if layer.bias is None:
        layer.bias = nn.Parameter(shift.clone(), requires_grad=False)
    else:
        layer.bias.copy_(torch.addcmul(shift, layer.bias, scale))
