"""Small eval-mode inputs: the SR layers' row form and the networks' row plans.

The reference is always the general path of the same module (the row form and plans turned
off with ``ROW_FORM_ROWS = 0``, or autograd through the parameters); the row form sums in
another order, so outputs agree within float32 rounding, not bit for bit.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import poselift
import poselift.nn._sr_core as core
from poselift.inference import DEFAULT_WEIGHTS
from poselift.models.inputs import InputContract
from poselift.models.row_plan import RowPlanCache, layer_form
from poselift.nn import SRConv1d, SRLinear, row_forms
from poselift.nn._sr_core import unfold_rows
from poselift.streaming import DEFAULT_STREAMING_WEIGHTS

torch.set_num_threads(1)
GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"
SHIPPED = sorted(set(DEFAULT_WEIGHTS.values()) | set(DEFAULT_STREAMING_WEIGHTS.values()))


def general(module: torch.nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """``module(*args)`` without the row form and plans (the general path)."""
    with row_forms(0):
        return module(*args)


def test_row_forms_sets_and_restores_the_size():
    before = core.ROW_FORM_ROWS
    with row_forms(3):
        assert core.ROW_FORM_ROWS == 3
    assert core.ROW_FORM_ROWS == before
    with pytest.raises(ValueError, match="max_rows"):
        row_forms(-1).__enter__()
    layer = _linear(combine="mul", context_dim=1)
    with torch.no_grad(), row_forms(3):  # 4 rows: the general path, bit for bit
        x = torch.randn(4, 15)
        torch.testing.assert_close(layer(x), general(layer, x), rtol=0, atol=0)


def _linear(**config: object) -> SRLinear:
    torch.manual_seed(0)
    return SRLinear([4, 6, 5], [7, 5, 6], context_init="random", **config).eval()  # type: ignore[arg-type]


# --- the SR layers' row form -------------------------------------------------------------
@pytest.mark.parametrize("config", [dict(combine="mul", context_dim=1), dict(context_dim=0),
                                    dict(combine="mul", context_dim=1, bias=False)],
                         ids=["mul-1", "none", "mul-1-nobias"])
@pytest.mark.parametrize("rows", [1, 3, 128])
def test_linear_row_form_equals_the_general_path(config, rows):
    layer = _linear(**config)
    x = torch.randn(rows, 15, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fast = layer(x)
        assert layer.row_form() is not None  # it ran the row form
        torch.testing.assert_close(fast, general(layer, x), rtol=1e-5, atol=1e-6)
    with torch.enable_grad():  # autograd: the training row map (tests/test_nn.py)
        torch.testing.assert_close(layer(x).detach(), general(layer, x).detach(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("kernel,dilation,stride", [(1, 1, 1), (3, 1, 1), (3, 3, 1),
                                                    (3, 1, 3), (5, 2, 2)])
@pytest.mark.parametrize("config", [dict(combine="mul", context_dim=1), dict(context_dim=0)],
                         ids=["mul-1", "none"])
def test_conv_row_form_unfolds_every_window(config, kernel, dilation, stride):
    torch.manual_seed(0)
    conv = SRConv1d([4, 6, 5], [7, 5, 6], kernel, dilation=dilation, stride=stride,
                    context_init="random", **config).eval()  # type: ignore[arg-type]
    x = torch.randn(2, 15, 23)
    with torch.no_grad():
        fast = conv(x)
        torch.testing.assert_close(fast, general(conv, x), rtol=1e-5, atol=1e-6)
    assert fast.shape == (2, 18, conv.output_frames(23))


@pytest.mark.parametrize("config", [dict(combine="mul", context_dim=2),
                                    dict(combine="add", context_dim=2),
                                    dict(combine="cat", context_dim=3),
                                    dict(combine="cat", context="identity")])
def test_configurations_without_a_row_form_keep_the_general_path(config):
    layer = _linear(**config)
    with torch.no_grad():
        assert layer.row_form() is None
        x = torch.randn(2, 15)
        torch.testing.assert_close(layer(x), general(layer, x), rtol=0, atol=0)


def test_row_form_uses_a_subclass_gate():
    class HardGate(SRLinear):
        def gate(self, z: torch.Tensor) -> torch.Tensor:
            return torch.clamp(z + 0.5, 0.0, 1.0)

    torch.manual_seed(0)
    layer = HardGate([4, 6, 5], [7, 5, 6], context_init="random").eval()
    x = torch.randn(3, 15) * 3
    with torch.no_grad():
        torch.testing.assert_close(layer(x), general(layer, x), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(layer(x), general(_linear(combine="mul", context_dim=1), x))


def test_row_form_follows_parameter_changes():
    layer, x = _linear(combine="mul", context_dim=1), torch.randn(4, 15)
    with torch.no_grad():
        layer(x)
        for p in layer.parameters():  # in place, as an optimizer step does
            p.add_(0.1)
        torch.testing.assert_close(layer(x), general(layer, x), rtol=1e-5, atol=1e-6)
    assert layer.train().row_form() is None  # training mode: no row form


def test_row_form_folds_an_affine_map():
    layer, x = _linear(combine="mul", context_dim=1), torch.randn(5, 15)
    scale, shift = torch.rand(18) + 0.5, torch.randn(18)
    with torch.no_grad():
        form = layer.row_form()
        assert form is not None
        torch.testing.assert_close(form.with_affine(scale, shift)(x),
                                   general(layer, x) * scale + shift, rtol=1e-5, atol=1e-5)
        dense = torch.nn.Linear(15, 4)
        dense_form = layer_form(dense)
        assert dense_form is not None
        torch.testing.assert_close(dense_form(x), dense(x), rtol=1e-6, atol=1e-6)


def test_unfold_rows_matches_conv1d():
    """A window as one row, channel-major: the flattening of a (O, C, k) weight."""
    x, w = torch.randn(2, 17, 6), torch.randn(4, 6, 3)
    for dilation, stride in [(1, 1), (2, 1), (1, 3), (4, 2)]:
        rows = unfold_rows(x, 2 * dilation + 1, stride, dilation)
        ref = torch.nn.functional.conv1d(x.transpose(1, 2), w, dilation=dilation,
                                         stride=stride)  # (2, 4, T')
        out = (rows @ w.flatten(1).t()).view(2, -1, 4).transpose(1, 2)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


# --- the networks' row plans -------------------------------------------------------------
def _networks() -> list[tuple[str, torch.nn.Module, torch.Tensor]]:
    torch.manual_seed(3)
    nets = []
    for name in ("sr", "fc", "gp", "sfs"):
        net = poselift.create_model(name, skeleton="coco", hidden=64, in_features=3)
        nets.append((name, net, torch.randn(5, 17, 3)))
    for name, causal in (("sr_tcn", False), ("sr_tcn", True), ("tcn", False)):
        net = poselift.create_model(name, skeleton="coco", channels=48, in_features=3,
                                    filter_widths=(3, 3, 3), causal=causal)
        nets.append((f"{name}{'-causal' if causal else ''}", net, torch.randn(2, 30, 17, 3)))
        nets.append((f"{name}{'-causal' if causal else ''}-strided", net.strided_twin(),
                     torch.randn(3, 27, 17, 3)))
    for _, net, _ in nets:  # BatchNorm statistics away from the identity
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm1d):
                    m.running_mean.normal_(0, 0.5)
                    m.running_var.uniform_(0.3, 3.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0, 0.2)
        net.eval()
    return nets


@pytest.mark.parametrize("index", range(10))
def test_row_plans_equal_the_modules(index):
    name, net, x = _networks()[index]
    with torch.inference_mode():
        fast = net(x)
        assert net._row_plan._state.plan is not None, name  # built and used
        torch.testing.assert_close(fast, general(net, x), rtol=1e-5, atol=2e-6)


def test_row_plans_are_used_only_for_small_eval_inputs_without_autograd():
    _, net, x = _networks()[0]
    built = []
    original = net._build_row_plan
    net._build_row_plan = lambda: built.append(1) or original()  # type: ignore[method-assign]
    with torch.no_grad():
        net(x)
        net(x)
    assert len(built) == 1  # built once, then reused
    net(x)  # autograd enabled: the modules
    with torch.no_grad():
        net(torch.randn(core.ROW_FORM_ROWS + 1, 17, 3))  # too many rows: the modules
    assert len(built) == 1
    net.blocks[0].layers[3].train()  # dropout of one block on (MC dropout): the modules run
    with torch.no_grad():
        a, b = net(x), net(x)
    assert not torch.equal(a, b) and len(built) == 1
    net.eval()  # eval() drops the plan: built again
    with torch.no_grad():
        net(x)
    assert len(built) == 2


def test_row_plans_follow_weight_updates_and_copies():
    _, net, x = _networks()[4]  # sr_tcn
    with torch.no_grad():
        net(x)
        for p in net.parameters():  # an optimizer step: in place
            p.mul_(0.9)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_var.mul_(2.0)
        torch.testing.assert_close(net(x), general(net, x), rtol=1e-5, atol=2e-6)
        other = copy.deepcopy(net)
        assert other._row_plan._state is None  # copies start empty
        with torch.no_grad():
            for p in other.parameters():
                p.add_(0.05)
        net.load_state_dict(other.state_dict())
        torch.testing.assert_close(net(x), general(other, x), rtol=1e-5, atol=2e-6)
        again = pickle.loads(pickle.dumps(net))
        torch.testing.assert_close(again(x), net(x), rtol=0, atol=0)
        double = net.double()  # new storage and dtype: rebuilt
        torch.testing.assert_close(double(x.double()), general(double, x.double()))


def test_row_plans_see_swapped_and_replaced_parameters():
    """``torch.func.functional_call`` swaps parameters in: the plan must not run old ones."""
    _, net, x = _networks()[0]
    halved = {k: v * 0.5 for k, v in net.state_dict().items()
              if ".op.weights." in k}  # the SR group maps
    assert halved
    other = copy.deepcopy(net)
    with torch.no_grad():
        for k, v in halved.items():
            other.get_parameter(k).copy_(v)
        net(x)  # plan built with the original weights
        swapped = torch.func.functional_call(net, halved, (x,))
        torch.testing.assert_close(swapped, general(other, x), rtol=1e-5, atol=2e-6)
        torch.testing.assert_close(net(x), general(net, x), rtol=1e-5, atol=2e-6)  # back
        layer = net.head.op
        layer.bias = torch.nn.Parameter(torch.ones_like(layer.bias))  # a new object
        torch.testing.assert_close(net(x), general(net, x), rtol=1e-5, atol=2e-6)


def test_row_plan_cache_refuses_while_tracing_and_in_training():
    _, net, x = _networks()[0]
    cache = RowPlanCache()
    with torch.no_grad():
        assert cache.get(net.train(), lambda: None, 1) is None
        assert cache.get(net.eval(), lambda: (lambda t: t), 1) is not None
        assert cache.get(net, lambda: (lambda t: t), 0) is None  # no rows
    assert cache.get(net, lambda: (lambda t: t), 1) is None  # autograd enabled
    compiled = torch.compile(net, backend="eager", fullgraph=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), general(net, x), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_row_plans_on_real_inputs(name):
    """Trained BatchNorms (some channels nearly constant) folded: still within 0.01 mm."""
    net = poselift.create_model(name.split(".")[0], weights=name).eval()
    contract = InputContract.of(net)
    with np.load(GOLDEN / f"{name}.npz") as z:
        pix = z["inputs"][..., :2].astype(np.float64)
    if contract.temporal:  # the dilated network on 40 frames, the strided one on a window
        x = torch.from_numpy(np.asarray(contract.prepare(pix[None]))).float()
        cases = [(net, x), (net.strided_twin().eval(), x[:, -int(net.receptive_field):])]
    else:
        x = torch.from_numpy(np.asarray(contract.prepare(pix[:, None]))).float()[:, 0]
        cases = [(net, x[:1]), (net, x)]
    for module, inputs in cases:
        with torch.inference_mode():
            fast = module(inputs)
            assert module._row_plan._state.plan is not None
            torch.testing.assert_close(fast, general(module, inputs), rtol=0, atol=1e-5)
