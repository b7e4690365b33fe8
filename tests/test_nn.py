"""Tests for poselift.nn: SRLinear, SRConv1d, GroupGather/GroupScatter, split_width.

The references below are written independently of the layers' implementation: they loop over
samples (and output frames) and groups, build each group's own features and ``x_rest`` from
explicit index sets, and recombine in *input* space (``W_g @ (x_g o z_g)``), whereas the layers
recombine in output space with masked weights.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from poselift.nn import GroupGather, GroupScatter, SRConv1d, SRLinear, split_width

H36M5 = ((0, 1, 2, 3), (0, 4, 5, 6), (0, 7, 8, 9, 10), (0, 11, 12, 13), (0, 14, 15, 16))
H36M5_OWNED = ((0, 1, 2, 3), (4, 5, 6), (7, 8, 9, 10), (11, 12, 13), (14, 15, 16))
F64 = torch.float64

# (in_groups, out_groups): equal, unequal, a single group, a one-feature group.
PARTITIONS = [
    ((4, 4, 4), (3, 3, 3)),
    ((3, 5, 7, 4), (6, 2, 5, 4)),
    ((6,), (5,)),
    ((1, 6, 3), (2, 4, 3)),
]


def _randomize(layer: nn.Module, seed: int = 0) -> None:
    """Random values in every parameter, including entries the layer must mask."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _chunk_of(width: int, h: int) -> list[int]:
    """Chunk index of each of ``width`` features split into h near-equal contiguous chunks
    (the first ``width % h`` chunks one larger), written without torch.split."""
    base, extra = divmod(width, h)
    out: list[int] = []
    for c in range(h):
        out += [c] * (base + (1 if c < extra else 0))
    return out


def _ref_group(layer, g, x_g, x_rest, rest_cols, taps=1):
    """One group's output for one sample (or one output frame), Eq. 5-6 in input space.

    ``x_g``: (D_g * taps,) the group's own features (channel-major, taps innermost);
    ``x_rest``: (D_rest * taps,) the other groups' features; ``rest_cols``: the channel
    indices of ``x_rest`` in the full input (for picking context-weight columns).
    """
    h = layer.context_dim
    out_lo = sum(layer.out_groups[:g])
    rows = slice(out_lo, out_lo + layer.out_groups[g])
    w_g = layer.weights[g].reshape(layer.out_groups[g], -1)
    b_g = layer.bias[rows] if layer.bias is not None else 0.0
    if h == 0:
        return w_g @ x_g + b_g
    if layer.context == "identity":
        r = layer.recombine_weight[rows][:, rest_cols].reshape(layer.out_groups[g], -1)
        return torch.cat([w_g, r], dim=1) @ torch.cat([x_g, x_rest]) + b_g
    u = layer.context_weight[g * h:(g + 1) * h][:, rest_cols].reshape(h, -1)
    c = layer.context_bias[g * h:(g + 1) * h] if layer.context_bias is not None else 0.0
    if layer.combine == "mul":
        u = u * (layer.context_gain[g * h:(g + 1) * h] / u.norm(dim=1))[:, None]
    z = u @ x_rest + c
    chunk = torch.tensor(
        [k for k in _chunk_of(layer.in_groups[g], h) for _ in range(taps)], dtype=torch.long
    )
    if layer.combine == "mul":
        xt = x_g * torch.sigmoid(z)[chunk]
    elif layer.combine == "add":
        xt = x_g + F.leaky_relu(z, 0.01)[chunk]
    else:
        return torch.cat([w_g, layer.recombine_weight[rows]], dim=1) @ torch.cat([x_g, z]) + b_g
    return w_g @ xt + b_g


def reference_linear(layer: SRLinear, x: torch.Tensor) -> torch.Tensor:
    """Loop over samples and groups; x: (N, D)."""
    starts = [sum(layer.in_groups[:g]) for g in range(layer.num_groups)]
    out = []
    for n in range(x.shape[0]):
        ys = []
        for g in range(layer.num_groups):
            own = list(range(starts[g], starts[g] + layer.in_groups[g]))
            rest = [i for i in range(layer.in_features) if i not in own]
            ys.append(_ref_group(layer, g, x[n, own], x[n, rest], rest))
        out.append(torch.cat(ys))
    return torch.stack(out)


def reference_conv(layer: SRConv1d, x: torch.Tensor) -> torch.Tensor:
    """Loop over samples, output frames and groups on explicit windows; x: (B, C, T)."""
    k, d, s = layer.kernel_size, layer.dilation, layer.stride
    t_out = (x.shape[2] - (k - 1) * d - 1) // s + 1
    starts = [sum(layer.in_groups[:g]) for g in range(layer.num_groups)]
    out = torch.zeros(x.shape[0], layer.out_features, t_out, dtype=x.dtype)
    for n in range(x.shape[0]):
        for t in range(t_out):
            frames = [t * s + j * d for j in range(k)]
            window = x[n][:, frames]  # (C, k)
            ys = []
            for g in range(layer.num_groups):
                own = list(range(starts[g], starts[g] + layer.in_groups[g]))
                rest = [i for i in range(layer.in_features) if i not in own]
                ys.append(_ref_group(layer, g, window[own].reshape(-1),
                                     window[rest].reshape(-1), rest, taps=k))
            out[n, :, t] = torch.cat(ys)
    return out


CONFIGS = [
    dict(context_dim=0),
    dict(combine="mul", context_dim=1),
    dict(combine="mul", context_dim=3),
    dict(combine="add", context_dim=1),
    dict(combine="add", context_dim=2),
    dict(combine="cat", context_dim=1),
    dict(combine="cat", context_dim=4),
    dict(combine="cat", context="identity"),
]


def _ok(config, ins):
    h = config.get("context_dim", 1)
    return not (config.get("combine", "mul") in ("mul", "add")
                and config.get("context") != "identity" and h > min(ins))


# SRLinear vs the naive reference ---------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("groups", PARTITIONS, ids=lambda p: "-".join(map(str, p[0])))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_srlinear_matches_naive_reference(config, groups, bias):
    ins, outs = groups
    if not _ok(config, ins):  # H larger than a group: a clear error instead
        with pytest.raises(ValueError, match="smallest group width"):
            SRLinear(ins, outs, bias=bias, dtype=F64, **config)
        return
    layer = SRLinear(ins, outs, bias=bias, dtype=F64, **config)
    _randomize(layer)
    x = torch.randn(5, sum(ins), dtype=F64)
    expected = reference_linear(layer, x)
    torch.testing.assert_close(layer(x), expected, atol=1e-6, rtol=0)
    # arbitrary leading dims and a single vector
    torch.testing.assert_close(layer(x.reshape(5, 1, -1))[:, 0], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(layer(x[2]), expected[2], atol=1e-6, rtol=0)


def reference_joint_sets(layer: SRLinear, x: torch.Tensor, groups, f: int) -> torch.Tensor:
    """SR layer on joint index sets, straight from joint-major x (N, J*f): x_g holds the
    joints of group g, x_rest the joints of every other group (shared joints repeated)."""
    def feats(sample, joints):
        return torch.cat([sample[j * f:(j + 1) * f] for j in joints])

    out = []
    for n in range(x.shape[0]):
        ys = []
        for g, joints in enumerate(groups):
            x_g = feats(x[n], joints)
            x_rest = torch.cat([feats(x[n], other) for h, other in enumerate(groups) if h != g])
            lo = sum(len(gr) * f for gr in groups[:g])
            rest_cols = [i for i in range(layer.in_features)
                         if not lo <= i < lo + len(joints) * f]
            ys.append(_ref_group(layer, g, x_g, x_rest, rest_cols))
        out.append(torch.cat(ys))
    return torch.stack(out)


@pytest.mark.parametrize("groups", [H36M5, ((2, 0), (0, 1, 3, 4), (4, 2, 5, 6, 7, 1))],
                         ids=["h36m-5", "overlapping-unequal"])
@pytest.mark.parametrize("config", CONFIGS[1:], ids=lambda c: "-".join(map(str, c.values())))
def test_gather_then_srlinear_matches_joint_set_reference(groups, config):
    gather = GroupGather(groups, features_per_joint=2)
    outs = [3 + g for g in range(len(groups))]
    layer = SRLinear(gather.group_sizes, outs, dtype=F64, **config)
    _randomize(layer, seed=1)
    x = torch.randn(4, gather.in_features, dtype=F64)
    expected = reference_joint_sets(layer, x, groups, 2)
    torch.testing.assert_close(layer(gather(x)), expected, atol=1e-6, rtol=0)


# the defining property: rank of d y_g / d x_rest <= H --------------------------------------

def _rest_jacobians(layer: SRLinear, x: torch.Tensor) -> list[torch.Tensor]:
    jac = torch.autograd.functional.jacobian(layer, x)  # (out, in)
    blocks = []
    lo_in = lo_out = 0
    for d_g, o_g in zip(layer.in_groups, layer.out_groups, strict=True):
        rest = [i for i in range(layer.in_features) if not lo_in <= i < lo_in + d_g]
        blocks.append(jac[lo_out:lo_out + o_g][:, rest])
        lo_in += d_g
        lo_out += o_g
    return blocks


@pytest.mark.parametrize("combine", ["mul", "add", "cat"])
@pytest.mark.parametrize("h", [1, 3])
def test_jacobian_wrt_other_groups_has_rank_h(combine, h):
    ins, outs = (6, 7, 5, 8), (9, 6, 8, 7)
    layer = SRLinear(ins, outs, context_dim=h, combine=combine, dtype=F64)
    _randomize(layer, seed=h)
    x = torch.randn(sum(ins), dtype=F64)
    dense = SRLinear(ins, outs, context="identity", combine="cat", dtype=F64)
    _randomize(dense)
    for block, dense_block in zip(_rest_jacobians(layer, x), _rest_jacobians(dense, x),
                                  strict=True):
        assert torch.linalg.matrix_rank(block).item() == h  # <= H, and H is reached
        assert torch.linalg.matrix_rank(dense_block).item() > h  # the test can fail


def test_jacobian_wrt_other_groups_is_zero_without_context():
    layer = SRLinear((6, 7, 5), (4, 6, 5), context_dim=0, dtype=F64)
    _randomize(layer)
    x = torch.randn(18, dtype=F64)
    for block in _rest_jacobians(layer, x):
        assert torch.count_nonzero(block) == 0


def test_identity_context_represents_any_dense_map():
    ins, outs = (3, 5, 4), (4, 2, 6)
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(sum(outs), sum(ins), generator=gen, dtype=F64)
    b = torch.randn(sum(outs), generator=gen, dtype=F64)
    layer = SRLinear(ins, outs, context="identity", combine="cat", dtype=F64)
    with torch.no_grad():
        lo_in = lo_out = 0
        for g, (d_g, o_g) in enumerate(zip(ins, outs, strict=True)):
            layer.weights[g].copy_(a[lo_out:lo_out + o_g, lo_in:lo_in + d_g])
            lo_in += d_g
            lo_out += o_g
        layer.recombine_weight.copy_(a)  # the diagonal blocks are masked: any value works
        layer.bias.copy_(b)
    x = torch.randn(7, sum(ins), dtype=F64)
    torch.testing.assert_close(layer(x), x @ a.T + b, atol=1e-10, rtol=0)


def test_masked_entries_get_no_gradient_and_have_no_effect():
    layer = SRLinear((3, 4, 5), (2, 3, 4), context_dim=2, combine="cat", dtype=F64)
    x = torch.randn(6, 12, dtype=F64)
    layer(x).square().sum().backward()
    grad = layer.context_weight.grad
    for g, (lo, hi) in enumerate([(0, 3), (3, 7), (7, 12)]):
        assert torch.count_nonzero(grad[2 * g:2 * g + 2, lo:hi]) == 0
        assert torch.count_nonzero(grad[2 * g:2 * g + 2, :lo]) > 0 or lo == 0
    before = layer(x)
    with torch.no_grad():
        layer.context_weight[0:2, 0:3] += 100.0
    torch.testing.assert_close(layer(x), before)


# SRConv1d -------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_srconv_matches_naive_window_reference(config):
    ins, outs = (3, 5, 4), (4, 3, 5)
    layer = SRConv1d(ins, outs, 3, dilation=2, stride=2, dtype=F64, **config)
    _randomize(layer, seed=2)
    x = torch.randn(2, sum(ins), 13, dtype=F64)
    y = layer(x)
    assert y.shape == (2, sum(outs), 5)  # (13 - 5) // 2 + 1
    torch.testing.assert_close(y, reference_conv(layer, x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_srconv_kernel1_equals_srlinear_at_every_frame(config, bias):
    ins, outs = (3, 5, 4), (4, 3, 5)
    linear = SRLinear(ins, outs, bias=bias, dtype=F64, **config)
    _randomize(linear, seed=4)
    conv = SRConv1d.from_linear(linear)
    assert conv.kernel_size == 1 and conv.weights[0].dtype == F64
    assert set(conv.state_dict()) == set(linear.state_dict())
    x = torch.randn(3, sum(ins), 6, dtype=F64)
    per_frame = torch.stack([linear(x[:, :, t]) for t in range(6)], dim=2)
    torch.testing.assert_close(conv(x), per_frame, atol=1e-10, rtol=0)


@pytest.mark.parametrize("combine", ["mul", "cat", "add"])
@pytest.mark.parametrize("stride", [2, 3])
def test_strided_output_equals_dilated_output_at_multiples_of_stride(combine, stride):
    ins, outs = (4, 6), (5, 5)
    dilated = SRConv1d(ins, outs, 3, dilation=2, combine=combine, dtype=F64)
    strided = SRConv1d(ins, outs, 3, dilation=2, stride=stride, combine=combine, dtype=F64)
    _randomize(dilated, seed=5)
    strided.load_state_dict(dilated.state_dict())
    x = torch.randn(2, 10, 20, dtype=F64)
    full, sub = dilated(x), strided(x)
    assert sub.shape[2] == strided.output_frames(20) == (20 - 5) // stride + 1
    torch.testing.assert_close(sub, full[:, :, ::stride], atol=1e-10, rtol=0)


def test_two_layer_strided_training_form_equals_dilated_model():
    """VideoPose3D's equivalence: (k=3, d=1) then (k=3, d=3) over all frames equals
    (k=3, stride=3) then (k=3) on each 9-frame receptive field."""
    ins, hid, outs = (4, 6), (6, 6), (3, 3)
    a1 = SRConv1d(ins, hid, 3, dtype=F64)
    a2 = SRConv1d(hid, outs, 3, dilation=3, dtype=F64)
    b1 = SRConv1d(ins, hid, 3, stride=3, dtype=F64)
    b2 = SRConv1d(hid, outs, 3, dtype=F64)
    _randomize(a1, 6)
    _randomize(a2, 7)
    b1.load_state_dict(a1.state_dict())
    b2.load_state_dict(a2.state_dict())
    x = torch.randn(2, 10, 15, dtype=F64)
    dilated = a2(a1(x))  # (2, 6, 15 - 8)
    for t in range(dilated.shape[2]):
        single = b2(b1(x[:, :, t:t + 9]))
        assert single.shape[2] == 1
        torch.testing.assert_close(single[:, :, 0], dilated[:, :, t], atol=1e-10, rtol=0)


@pytest.mark.parametrize("causal", [True, False])
def test_causal_outputs_never_depend_on_later_frames(causal):
    layer = SRConv1d((4, 6), (5, 5), 3, dilation=2, causal=causal, dtype=F64)
    _randomize(layer, 8)
    x = torch.randn(1, 10, 16, dtype=F64)
    y = layer(x)
    changed_any = False
    for i in range(y.shape[2]):
        aligned = i * layer.stride + layer.pad_left
        x2 = x.clone()
        x2[:, :, aligned + 1:] += torch.randn_like(x2[:, :, aligned + 1:])
        unchanged = torch.equal(layer(x2)[:, :, :i + 1], y[:, :, :i + 1])
        if causal:
            assert unchanged, f"output {i} looked past input frame {aligned}"
        changed_any |= not unchanged
    assert changed_any != causal  # the centred layer does look ahead


def test_alignment_attributes():
    for k, d, causal, left, right in [(3, 1, False, 1, 1), (3, 3, False, 3, 3),
                                      (3, 3, True, 6, 0), (2, 1, False, 0, 1),
                                      (1, 1, True, 0, 0), (4, 2, False, 3, 3)]:
        layer = SRConv1d((2, 2), (2, 2), k, dilation=d, causal=causal)
        assert (layer.pad_left, layer.pad_right) == (left, right)
        assert layer.receptive_field == (k - 1) * d + 1
        # padding by (pad_left, pad_right) keeps the length at stride 1
        x = torch.randn(1, 4, 11)
        assert layer(F.pad(x, (layer.pad_left, layer.pad_right))).shape[2] == 11


# gradients and compilation ----------------------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_gradcheck_float64(config):
    ins, outs = (3, 4, 3), (2, 3, 2)
    if not _ok(config, ins):
        pytest.skip("H larger than a group")
    linear = SRLinear(ins, outs, dtype=F64, **config)
    conv = SRConv1d(ins, outs, 2, dilation=2, dtype=F64, **config)
    x = torch.randn(2, 10, dtype=F64, requires_grad=True)
    xt = torch.randn(1, 10, 5, dtype=F64, requires_grad=True)
    lin_params = tuple(linear.parameters())
    conv_params = tuple(conv.parameters())

    def lin(x, *params):
        return torch.func.functional_call(
            linear, dict(zip([n for n, _ in linear.named_parameters()], params, strict=True)),
            (x,))

    def cnv(x, *params):
        return torch.func.functional_call(
            conv, dict(zip([n for n, _ in conv.named_parameters()], params, strict=True)), (x,))

    lp = tuple(p.detach().clone().requires_grad_() for p in lin_params)
    cp = tuple(p.detach().clone().requires_grad_() for p in conv_params)
    assert torch.autograd.gradcheck(lin, (x, *lp))
    assert torch.autograd.gradcheck(cnv, (xt, *cp))


def _graph_ops(out: torch.Tensor) -> set[str]:
    """Names of the autograd nodes behind ``out``."""
    seen, todo, names = set(), [out.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(node.name())
        todo += [n for n, _ in node.next_functions]
    return names


ROW_CONFIGS = [dict(combine="mul", context_dim=1), dict(combine="mul", context_dim=1, bias=False),
               dict(context_dim=0), dict(context_dim=0, bias=False)]


@pytest.mark.parametrize("layout", ["linear", "conv-k1", "conv-k3-d2", "conv-k3-s3",
                                    "conv-k2-s2-d3"])
@pytest.mark.parametrize("config", ROW_CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_training_row_map_equals_general_path_with_gradients(config, layout):
    """Training passes of the row-form configurations run their own backward
    (``_GroupRows``): outputs and the gradients of the input and of every parameter equal
    the general path's (float64; the general path: the layer with ``_trains_rows`` off)."""
    ins, outs = (3, 5, 4), (4, 2, 6)
    if layout == "linear":
        layer = SRLinear(ins, outs, context_init="random", dtype=F64, **config)
        x = torch.randn(2, 7, 12, dtype=F64)
    else:
        k, s, d = {"conv-k1": (1, 1, 1), "conv-k3-d2": (3, 1, 2), "conv-k3-s3": (3, 3, 1),
                   "conv-k2-s2-d3": (2, 2, 3)}[layout]
        layer = SRConv1d(ins, outs, k, stride=s, dilation=d, context_init="random",
                         dtype=F64, **config)
        x = torch.randn(3, 12, 11, dtype=F64)
    _randomize(layer, 3)
    results = []
    for rows_on in (True, False):
        xg = x.clone().requires_grad_()
        layer.zero_grad()
        if not rows_on:
            layer._trains_rows = lambda x: False  # type: ignore[method-assign]
        y = layer.train()(xg)
        if not rows_on:
            del layer._trains_rows
        assert ("_GroupRowsBackward" in _graph_ops(y)) == rows_on
        y.backward(torch.cos(torch.arange(y.numel(), dtype=F64)).reshape(y.shape))
        results.append((y.detach(), xg.grad, {n: p.grad for n, p in layer.named_parameters()}))
    (y1, gx1, gp1), (y0, gx0, gp0) = results
    torch.testing.assert_close(y1, y0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx1, gx0, rtol=1e-12, atol=1e-12)
    assert gp1.keys() == gp0.keys()
    for name in gp0:
        torch.testing.assert_close(gp1[name], gp0[name], rtol=1e-12, atol=1e-12, msg=name)
    if layer.context_mask is not None:  # masked context entries get no gradient
        assert torch.count_nonzero(gp1["context_weight"] * (1 - layer.context_mask)) == 0


def test_training_row_map_only_for_what_it_computes():
    """The other configurations, a subclass's own gate and ``torch.func`` transforms keep
    the general path."""
    x = torch.randn(4, 12, requires_grad=True)
    for config in CONFIGS[2:]:
        layer = SRLinear((3, 5, 4), (4, 2, 6), **config)
        assert "_GroupRowsBackward" not in _graph_ops(layer(x))

    class Tanh(SRLinear):
        def gate(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(z)

    layer = Tanh((3, 5, 4), (4, 2, 6))
    assert "_GroupRowsBackward" not in _graph_ops(layer(x))
    plain = SRLinear((3, 5, 4), (4, 2, 6), context_init="random")
    jac = torch.func.jacrev(plain)(x.detach()[0])  # functorch: the general path, no error
    assert jac.shape == (12, 12)


@pytest.mark.slow  # ~17 s on 2 cores (inductor C++ compilation)
def test_torch_compile_matches_eager():
    """A failure to compile is a failure (not a skip): the layers must stay compilable."""
    layer = SRLinear((3, 5), (4, 4))
    conv = SRConv1d((3, 5), (4, 4), 3, combine="cat")
    x, xt = torch.randn(6, 8), torch.randn(2, 8, 9)
    compiled = torch.compile(layer)
    compiled_conv = torch.compile(conv)
    y, yt = compiled(x), compiled_conv(xt)
    torch.testing.assert_close(y, layer(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(yt, conv(xt), atol=1e-5, rtol=1e-5)
    y.sum().backward()
    assert layer.weights[0].grad is not None


# evaluation mode tracks training mode -----------------------------------------------------------

def _small_stack() -> nn.Sequential:
    gather = GroupGather(H36M5, 2)
    hidden = split_width(60, [len(g) for g in H36M5])
    owned = [3 * len(g) for g in H36M5_OWNED]
    return nn.Sequential(
        gather,
        SRLinear(gather.group_sizes, hidden), nn.LeakyReLU(),
        SRLinear(hidden, hidden), nn.LeakyReLU(),
        SRLinear(hidden, owned),
    )


def test_eval_mode_tracks_train_mode_after_training():
    torch.manual_seed(0)
    model = _small_stack()
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(2048, 6, generator=gen)
    x = torch.tanh(latent @ torch.randn(6, 34, generator=gen) / 2)
    y = torch.sin(latent @ torch.randn(6, 51, generator=gen) / 2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        idx = torch.randint(0, 2048, (128,), generator=gen)
        loss = F.l1_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.7 * first  # it trained
    gates = [m for m in model if isinstance(m, SRLinear)]
    z = gates[1].context_preactivation(
        nn.Sequential(*list(model)[:3])(x[:512]).detach())
    assert z.std(dim=0).min() > 0.05  # the gates are in use, not constant
    with torch.no_grad():
        model.train()
        train_out = model(x[:512])
        model.eval()
        eval_out = model(x[:512])
        single = torch.stack([model(x[i:i + 1])[0] for i in range(8)])
    torch.testing.assert_close(eval_out, train_out, atol=1e-6, rtol=0)
    # no batch statistics: a sample's output does not depend on the rest of its batch
    torch.testing.assert_close(single, eval_out[:8], atol=1e-6, rtol=1e-6)


def test_batchnorm_gate_fails_the_same_check():
    """The official gate (BatchNorm over one channel) does not pass the check above."""

    class BNGate(SRLinear):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.norm = nn.BatchNorm1d(self.num_groups * self.context_dim)

        def effective_context_weight(self):
            return self.context_weight * self.context_mask

        def gate(self, z):
            return torch.sigmoid(self.norm(z))

    torch.manual_seed(0)
    layer = BNGate((4, 6), (5, 5))
    x = torch.randn(64, 10)
    for _ in range(3):
        layer(torch.randn(64, 10) * 2 + 1)  # running statistics from other batches
    train_out = layer(x)
    layer.eval()
    assert (layer(x) - train_out).abs().max() > 1e-3


# argument and input errors ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(in_groups=(2, 3), out_groups=(4,)), "out_groups: expected 2 groups"),
    (dict(in_groups=(2, 0), out_groups=(4, 4)), "in_groups: expected a non-empty"),
    (dict(in_groups=(), out_groups=()), "in_groups"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), context_dim=-1), "context_dim: expected a non-neg"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), context_dim=1.5), "context_dim"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), combine="concat"), "combine: expected one of"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), context="zero"), "context: expected one of"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), context="identity"), "only makes sense with"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), context="identity", combine="cat",
          context_dim=0), "contradicts"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), context_dim=3), "smallest group width"),
    (dict(in_groups=(2, 3), out_groups=(4, 4), context_dim=3, combine="add"), "smallest group"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SRLinear(**kwargs)
    with pytest.raises(ValueError, match=match):
        SRConv1d(kernel_size=3, **kwargs)


def test_bad_group_types_raise():
    with pytest.raises(TypeError, match="in_groups"):
        SRLinear(5, (3,))
    with pytest.raises(ValueError, match="in_groups"):
        SRLinear((2, True), (3, 3))


def test_bias_must_be_a_bool():
    """A truthy string such as 'yes' is not silently taken for True (issue 29)."""
    for bad in ("yes", 1, None):
        with pytest.raises(TypeError, match="bias: expected a bool"):
            SRLinear((2, 3), (4, 4), bias=bad)
        with pytest.raises(TypeError, match="bias: expected a bool"):
            SRConv1d((2, 3), (4, 4), 3, bias=bad)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_meta_device_shape_inference_in_both_modes(config):
    """Shapes on the meta device in train and eval mode, with and without autograd (eval
    mode used to fail building the cached row form: repeat_interleave without output_size)."""
    ins, outs = (3, 4, 3), (2, 3, 2)
    if not _ok(config, ins):
        pytest.skip("H larger than a group")
    linear = SRLinear(ins, outs, device="meta", **config)
    conv = SRConv1d(ins, outs, 3, stride=2, device="meta", **config)
    x, xt = torch.empty(6, 10, device="meta"), torch.empty(2, 10, 9, device="meta")
    for mode in (True, False):
        for grad in (True, False):
            with torch.set_grad_enabled(grad):
                y, yt = linear.train(mode)(x), conv.train(mode)(xt)
            assert y.shape == (6, 7) and y.device.type == "meta"
            assert yt.shape == (2, 7, 4) and yt.device.type == "meta"


def test_cat_allows_large_context():
    layer = SRLinear((2, 3), (4, 4), context_dim=7, combine="cat")
    assert layer(torch.randn(1, 5)).shape == (1, 8)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=0), "kernel_size: expected a positive integer"),
    (dict(kernel_size=3, dilation=0), "dilation"),
    (dict(kernel_size=3, stride=-1), "stride"),
])
def test_bad_conv_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SRConv1d((2, 3), (4, 4), **kwargs)
    with pytest.raises(TypeError, match="causal"):
        SRConv1d((2, 3), (4, 4), 3, causal="yes")


def test_wrong_input_width_raises():
    layer = SRLinear((2, 3), (4, 4))
    with pytest.raises(ValueError, match=r"input: expected shape \(\.\.\., 5\).*got \(7, 6\)"):
        layer(torch.randn(7, 6))
    with pytest.raises(TypeError, match="input: expected a torch.Tensor"):
        layer([1.0] * 5)
    conv = SRConv1d((2, 3), (4, 4), 3, dilation=2)
    with pytest.raises(ValueError, match=r"input: expected shape \(B, 5, T\).*got \(2, 6, 9\)"):
        conv(torch.randn(2, 6, 9))
    with pytest.raises(ValueError, match=r"input: expected shape \(B, 5, T\)"):
        conv(torch.randn(5, 9))
    with pytest.raises(ValueError, match="receptive_field = 5 frames.*got T = 4"):
        conv(torch.randn(2, 5, 4))
    with pytest.raises(TypeError, match="layer: expected an SRLinear"):
        SRConv1d.from_linear(conv)  # type: ignore[arg-type]


# state, repr, dtype ---------------------------------------------------------------------------

def test_parameters_state_dict_and_repr():
    layer = SRLinear((2, 3), (4, 5), context_dim=2, combine="cat")
    shapes = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    assert shapes == {"weights.0": (4, 2), "weights.1": (5, 3), "bias": (9,),
                      "context_weight": (4, 5), "context_bias": (4,),
                      "recombine_weight": (9, 2)}
    mul = SRLinear((2, 3), (4, 5), bias=False)
    assert set(mul.state_dict()) == {"weights.0", "weights.1", "context_weight", "context_gain"}
    gp = SRLinear((2, 3), (4, 5), context_dim=0)
    assert set(gp.state_dict()) == {"weights.0", "weights.1", "bias"}
    assert (layer.in_groups, layer.out_groups, layer.context_dim, layer.combine,
            layer.context) == ((2, 3), (4, 5), 2, "cat", "learned")
    assert "combine='cat'" in repr(layer) and "context_dim=2" in repr(layer)
    conv = SRConv1d((2, 3), (4, 5), 3, dilation=3, causal=True)
    assert "kernel_size=3" in repr(conv) and "causal=True" in repr(conv)
    assert conv.weights[1].shape == (5, 3, 3) and conv.context_weight.shape == (2, 5, 3)


def test_dtype_device_and_init_statistics():
    layer = SRLinear((40, 60), (50, 50), dtype=F64, device="cpu", context_init="random")
    assert all(p.dtype == F64 for p in layer.parameters())
    assert layer.context_mask.dtype == F64
    assert torch.equal(layer.context_gain, torch.ones(2, dtype=F64))
    # masked context entries start at zero; W_g within nn.Linear's bound
    assert torch.count_nonzero(layer.context_weight[0, :40]) == 0
    assert layer.weights[0].abs().max() <= 1 / math.sqrt(40)
    # the gate starts centred with a useful spread on unit-variance input
    z = layer.context_preactivation(torch.randn(4096, 100, dtype=F64))
    assert z.mean().abs() < 0.1 and 0.5 < z.std() < 2.0


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize(("combine", "h", "context"), [
    ("mul", 1, "learned"), ("mul", 3, "learned"), ("add", 2, "learned"), ("cat", 4, "learned"),
    ("cat", 1, "identity")])
def test_zero_context_init_starts_group_connected_and_learns(kind, combine, h, context):
    torch.manual_seed(0)
    make = SRLinear if kind == "linear" else SRConv1d
    extra = {} if kind == "linear" else {"kernel_size": 3}
    ins, outs = (6, 5, 7), (4, 3, 5)
    shape = (3, sum(ins)) if kind == "linear" else (3, sum(ins), 5)

    def cross_jacobian(layer):
        x = torch.randn(shape, dtype=F64)
        jac = torch.autograd.functional.jacobian(layer, x)  # (out..., in...)
        # group 0's outputs w.r.t. the other groups' inputs
        return jac[:, :outs[0]][..., ins[0]:, :] if kind == "conv" else jac[:, :outs[0], :,
                                                                             ins[0]:]

    zero = make(ins, outs, context_dim=h, combine=combine, context=context, dtype=F64, **extra)
    assert zero.context_init == "zero"
    assert torch.count_nonzero(cross_jacobian(zero)) == 0  # starts as the group layer
    rand = make(ins, outs, context_dim=h, combine=combine, context=context, dtype=F64,
                context_init="random", **extra)
    assert torch.count_nonzero(cross_jacobian(rand)) > 0
    assert "context_init='random'" in repr(rand) and "context_init" not in repr(zero)
    # one gradient step opens the context
    opt = torch.optim.SGD(zero.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        zero(torch.randn(shape, dtype=F64)).pow(2).sum().backward()
        opt.step()
    assert torch.count_nonzero(cross_jacobian(zero)) > 0


def test_bad_context_init():
    with pytest.raises(ValueError, match="context_init: expected one of 'zero', 'random'"):
        SRLinear((4, 4), (2, 2), context_init="ones")


def test_single_group_has_constant_gate():
    layer = SRLinear((5,), (3,))
    x = torch.randn(4, 5)
    z = layer.context_preactivation(x)
    assert torch.isfinite(z).all() and torch.count_nonzero(z) == 0


# grouping helpers -----------------------------------------------------------------------------

def test_group_gather_layout_and_scatter_inverse():
    gather = GroupGather(H36M5, 2)
    assert gather.group_sizes == (8, 8, 10, 8, 8) and gather.in_features == 34
    x = torch.arange(34.0).reshape(1, 34)
    y = gather(x)
    # group 2 = joints (0, 7, 8, 9, 10) -> features 0,1,14,15,...
    assert y[0, 16:26].tolist() == [0, 1, 14, 15, 16, 17, 18, 19, 20, 21]
    assert (y[0, [0, 8, 16, 26, 34]] == 0).all()  # the pelvis starts every group
    back = GroupScatter(H36M5, 2)(y)
    torch.testing.assert_close(back, x)  # duplicates averaged: identical copies
    owned = GroupScatter(H36M5_OWNED, 3)
    assert owned.in_features == owned.out_features == 51
    perm = GroupGather(H36M5_OWNED, 3)
    z = torch.randn(3, 51)
    torch.testing.assert_close(owned(perm(z)), z)


def test_group_scatter_means_duplicates_and_zero_fills():
    scatter = GroupScatter([(0, 2), (2,)], 2, num_joints=4)
    y = scatter(torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 8.0]]))
    assert y.tolist() == [[1.0, 2.0, 0.0, 0.0, 4.0, 6.0, 0.0, 0.0]]


@pytest.mark.parametrize("args, match", [
    (([],), "groups: expected a non-empty"),
    (([(0, 1), ()],), r"groups\[1\]"),
    (([(0, -1)],), r"groups\[0\]"),
    (([(0, 1, 1)],), "appears twice"),
])
def test_grouping_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        GroupGather(*args, features_per_joint=2)
    with pytest.raises(ValueError, match=match):
        GroupScatter(*args, features_per_joint=2)


def test_grouping_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="features_per_joint"):
        GroupGather([(0,)], features_per_joint=0)
    with pytest.raises(ValueError, match="num_joints"):
        GroupGather([(0, 5)], features_per_joint=2, num_joints=3)
    gather = GroupGather([(0, 1)], 2, num_joints=3)
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., 6\)"):
        gather(torch.zeros(2, 4))
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        gather([0.0] * 6)


def test_split_width_examples_and_errors():
    assert split_width(1024, [4, 4, 5, 4, 4]) == (195, 195, 244, 195, 195)
    assert split_width(1024, [8, 8, 10, 8, 8]) == (195, 195, 244, 195, 195)
    assert split_width(1024, [1]) == (1024,)
    assert split_width(7, [1, 100]) == (1, 6)  # every group gets something
    for bad in [dict(total=0, group_sizes=[1]), dict(total=10, group_sizes=[]),
                dict(total=10, group_sizes=[1, 0]), dict(total=2, group_sizes=[1, 1, 1]),
                dict(total=10, group_sizes=[1], multiple_of=4),
                dict(total=8, group_sizes=[1], multiple_of=0)]:
        with pytest.raises(ValueError):
            split_width(**bad)


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=8),
       units=st.integers(8, 400), multiple=st.sampled_from([1, 2, 8]))
def test_split_width_properties(sizes, units, multiple):
    total = units * multiple
    widths = split_width(total, sizes, multiple_of=multiple)
    assert sum(widths) == total and len(widths) == len(sizes)
    assert all(w > 0 and w % multiple == 0 for w in widths)
    if all(units * s >= sum(sizes) for s in sizes):  # no group was topped up
        for w, s in zip(widths, sizes, strict=True):
            assert abs(w / multiple - units * s / sum(sizes)) < 1  # largest remainder


# Dropout --------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.25, 0.5, 0.1, 0.3])
def test_dropout_rate_scale_and_gradient(p):
    """Kept entries scaled by 1/(1-p), dropped at rate p (exact for multiples of 1/256, else
    16-bit), the gradient is the same mask, and the masks are uniform over positions."""
    from poselift.nn import Dropout

    torch.manual_seed(0)
    drop = Dropout(p)
    x = torch.ones(2000, 1000, requires_grad=True)
    y = drop(x)
    kept = y != 0
    rate = 1.0 - kept.double().mean().item()
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / y.numel())  # 4 sigma
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    y.backward(torch.full_like(y, 2.0))
    torch.testing.assert_close(x.grad, 2.0 * y.detach())
    # no structure: every column and every row position drops at the same rate
    per_col = 1.0 - kept.double().mean(0)
    assert abs(per_col.mean().item() - p) < 0.01 and per_col.std().item() < 0.05
    assert isinstance(drop, nn.Dropout)


def test_dropout_seeding_eval_and_edge_cases():
    from poselift.nn import Dropout

    drop = Dropout(0.25)
    x = torch.randn(64, 33, dtype=F64)
    torch.manual_seed(5)
    a = drop(x)
    torch.manual_seed(5)
    assert torch.equal(drop(x), a) and a.dtype == F64  # the global generator, any dtype
    assert drop.eval()(x) is x
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.count_nonzero(Dropout(1.0).train()(x)) == 0
    y = x.clone()
    Dropout(0.5, inplace=True).train()(y)
    assert torch.count_nonzero(y) < x.numel()
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)
