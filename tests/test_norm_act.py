"""norm_act_dropout: BatchNorm + LeakyReLU + dropout as one training-mode operation.

The reference is independent of the fused code: plain ``nn.BatchNorm1d`` and
``nn.LeakyReLU`` modules through autograd, times the dropout mask drawn by ``keep_mask``
from the same seed, in float64.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import poselift
import poselift.nn.norm_act as norm_act_module
from poselift.nn import Dropout, norm_act_dropout
from poselift.nn.dropout import keep_mask

F64 = torch.float64


def _reference(x: torch.Tensor, norm: nn.BatchNorm1d, slope: float, p: float,
               seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    y = nn.LeakyReLU(slope)(norm(x))
    return y * keep_mask(y.shape, p, y.dtype) if p > 0 else y


def _norm(c: int, momentum: float | None, track: bool) -> nn.BatchNorm1d:
    norm = nn.BatchNorm1d(c, momentum=momentum, track_running_stats=track, dtype=F64)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.3, 0.3)
        if track:
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
    return norm


@pytest.mark.parametrize("p", [0.25, 0.3, 0.0])
@pytest.mark.parametrize("slope", [0.01, 0.2, 0.0])
@pytest.mark.parametrize("momentum,track", [(0.1, True), (None, True), (0.1, False)])
def test_equals_modules_with_gradients_and_running_statistics(p, slope, momentum, track):
    torch.manual_seed(0)
    ref_norm = _norm(23, momentum, track)
    norm = copy.deepcopy(ref_norm)
    x0 = torch.randn(64, 23, dtype=F64) * 2 + 0.7
    x0[:, 3] = 0.5  # a constant feature: BatchNorm output exactly 0 (bias 0), slope gradient
    with torch.no_grad():
        ref_norm.bias[3] = norm.bias[3] = 0.0
    for call in range(3):  # running statistics over several steps (momentum None: average)
        x, xr = x0.clone().requires_grad_(), x0.clone().requires_grad_()
        expected = _reference(xr, ref_norm, slope, p, seed=call)
        torch.manual_seed(call)
        out = norm_act_dropout(x, norm, nn.LeakyReLU(slope), Dropout(p))
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
        if p > 0:
            assert (out == 0).any()  # dropout did drop
        grad = torch.randn_like(out)
        out.backward(grad)
        expected.backward(grad)
        torch.testing.assert_close(x.grad, xr.grad, rtol=1e-10, atol=1e-12)
        for mine, theirs in ((norm.weight, ref_norm.weight), (norm.bias, ref_norm.bias)):
            torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-10, atol=1e-12)
            mine.grad = theirs.grad = None
        if slope > 0:  # the exact zeros pass the slope's share of the gradient
            assert xr.grad is not None and xr.grad[:, 3].abs().sum() > 0
        for name, buf in ref_norm.named_buffers():
            torch.testing.assert_close(dict(norm.named_buffers())[name], buf, rtol=0, atol=0)


def test_float32_bitwise_equal_to_the_modules():
    """In float32 the same kernels run in the same order: equal bit for bit."""
    torch.manual_seed(1)
    norm_a, norm_b = nn.BatchNorm1d(300), nn.BatchNorm1d(300)
    act, drop = nn.LeakyReLU(0.01), Dropout(0.25)
    x = torch.randn(257, 300, requires_grad=True)
    torch.manual_seed(7)
    a = drop(act(norm_a(x)))
    torch.manual_seed(7)
    b = norm_act_dropout(x, norm_b, act, drop)
    assert torch.equal(a, b)
    g = torch.randn_like(a)
    (ga,) = torch.autograd.grad(a, x, g)
    (gb,) = torch.autograd.grad(b, x, g)
    assert torch.equal(ga, gb)
    assert torch.equal(norm_a.running_var, norm_b.running_var)


def test_gradcheck_float64():
    torch.manual_seed(2)
    norm = _norm(6, 0.1, True)
    x = torch.randn(9, 6, dtype=F64, requires_grad=True)

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        norm._parameters["weight"], norm._parameters["bias"] = w, b  # differentiable
        torch.manual_seed(3)  # the same mask at every evaluation
        return norm_act_dropout(x, norm, nn.LeakyReLU(0.1), Dropout(0.25))

    w = norm.weight.detach().clone().requires_grad_()
    b = norm.bias.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(fn, (x, w, b))


def test_falls_back_to_the_modules_and_keeps_their_errors():
    torch.manual_seed(0)
    x = torch.randn(8, 5)
    norm, act, drop = nn.BatchNorm1d(5), nn.LeakyReLU(0.01), Dropout(0.25)
    calls: list[str] = []
    for m, name in ((norm, "norm"), (act, "act"), (drop, "drop")):
        m.register_forward_hook(lambda *a, n=name: calls.append(n))
    norm_act_dropout(x, norm, act, drop)
    assert calls == []  # training mode: fused, the modules are not called
    norm.eval()
    torch.manual_seed(4)
    out = norm_act_dropout(x, norm, act, drop)
    assert calls == ["norm", "act", "drop"]
    torch.manual_seed(4)
    torch.testing.assert_close(out, drop(act(norm(x))))
    norm.train()
    for other in (nn.ReLU(), nn.LeakyReLU(-0.5)):
        calls.clear()
        norm_act_dropout(x, norm, other, drop)
        assert calls == ["norm", "drop"]
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        norm_act_dropout(torch.randn(1, 5), norm, act, drop)
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements"):
        norm_act_dropout(torch.randn(8, 4), norm, act, drop)
    # eval-mode dropout: no mask; the activation is applied
    out = norm_act_dropout(x, norm, act, Dropout(0.25).eval())
    torch.testing.assert_close(out, act(nn.functional.batch_norm(
        x, None, None, norm.weight, norm.bias, True)))


def test_second_derivative_is_refused():
    x = torch.randn(6, 3, requires_grad=True)
    out = norm_act_dropout(x, nn.BatchNorm1d(3), nn.LeakyReLU(0.01), Dropout(0.0))
    (g,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|does not require grad"):
        g.sum().backward()


@pytest.mark.parametrize("name,kwargs,shape", [
    ("sr", {}, (32, 17, 2)),
    ("fc", {"hidden": 64}, (32, 17, 2)),
    ("sr_tcn", {"channels": 40, "filter_widths": (3, 3), "causal": True}, (16, 9, 17, 2)),
])
def test_models_train_the_same_with_and_without_fusion(monkeypatch, name, kwargs, shape):
    """A training step of the shipped architectures: outputs, every gradient and every
    running statistic equal with the fused operation and with the three modules."""
    torch.manual_seed(0)
    fused = poselift.create_model(name, **kwargs)
    plain = copy.deepcopy(fused)
    nets = [fused, plain]
    if name == "sr_tcn":
        nets = [m.strided_twin() for m in nets]  # type: ignore[operator]
    x = torch.randn(*shape)
    results = []
    for net, fuse in zip(nets, (True, False), strict=True):
        if not fuse:
            monkeypatch.setattr(norm_act_module, "_fusable", lambda *a: False)
        torch.manual_seed(11)
        y = net(x)
        F.l1_loss(y, torch.zeros_like(y)).backward()
        results.append((y, net))
    (ya, a), (yb, b) = results
    torch.testing.assert_close(ya, yb, rtol=1e-6, atol=1e-6)
    for (n, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert pa.grad is not None, n
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-5, atol=1e-6, msg=n)
    for (n, ba), bb in zip(a.named_buffers(), b.buffers(), strict=True):
        torch.testing.assert_close(ba, bb, rtol=1e-6, atol=1e-7, msg=n)
