"""Inference copies (``poselift.models.fuse_for_inference``) and the layers' row forms.

The reference is always the plain eval-mode module (its own forward, module by module); the
copy folds BatchNorm into the weights and sums in another order, so outputs agree within
float32 rounding, not bit for bit. Folding is also checked against torch's own conv/linear
BatchNorm fusion (``torch.nn.utils.fusion``), an independent implementation.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

import poselift
from poselift.core import LiftingCore
from poselift.inference import DEFAULT_WEIGHTS
from poselift.models import fuse_for_inference
from poselift.models.blend import blend_spec
from poselift.models.fuse import is_inference_copy
from poselift.models.inputs import InputContract
from poselift.nn import RowForm, SRConv1d, SRLinear
from poselift.streaming import DEFAULT_STREAMING_WEIGHTS

torch.set_num_threads(1)
GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"
SHIPPED = sorted({part for name in (*DEFAULT_WEIGHTS.values(), *DEFAULT_STREAMING_WEIGHTS.values())
                  for part in (blend_spec(name) or (name,))})  # a blend's parts


def _linear(**config: object) -> SRLinear:
    torch.manual_seed(0)
    layer = SRLinear([4, 6, 5], [7, 5, 6], context_init="random", **config).eval()  # type: ignore[arg-type]
    if layer.context_bias is not None:  # "mul" starts it at 0: make it count
        with torch.no_grad():
            layer.context_bias.uniform_(-1, 1)
    return layer


def _bn(width: int, seed: int) -> torch.nn.BatchNorm1d:
    """An eval-mode BatchNorm1d with statistics and affine parameters away from identity."""
    gen = torch.Generator().manual_seed(seed)
    bn = torch.nn.BatchNorm1d(width)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(width, generator=gen) * 0.5)
        bn.running_var.copy_(torch.rand(width, generator=gen) * 2.7 + 0.3)
        bn.weight.copy_(torch.rand(width, generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(width, generator=gen) * 0.2)
    return bn.eval()


# --- the layers' row forms ---------------------------------------------------------------
@pytest.mark.parametrize("config", [dict(combine="mul", context_dim=1), dict(context_dim=0),
                                    dict(combine="mul", context_dim=1, bias=False)],
                         ids=["mul-1", "none", "mul-1-nobias"])
@pytest.mark.parametrize("rows", [1, 3, 300])
def test_linear_row_form_equals_the_layer(config, rows):
    layer = _linear(**config)
    x = torch.randn(rows, 15, generator=torch.Generator().manual_seed(1))
    form = layer.row_form()
    assert isinstance(form, RowForm)
    with torch.no_grad():
        torch.testing.assert_close(form(x), layer(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel,dilation,stride", [(1, 1, 1), (3, 1, 1), (3, 3, 1),
                                                    (3, 1, 3), (5, 2, 2)])
@pytest.mark.parametrize("config", [dict(combine="mul", context_dim=1), dict(context_dim=0)],
                         ids=["mul-1", "none"])
@pytest.mark.parametrize("batch", [2, 9])  # 9: >= 64 windows, the many-rows form
def test_conv_row_form_unfolds_every_window(config, kernel, dilation, stride, batch):
    torch.manual_seed(0)
    conv = SRConv1d([4, 6, 5], [7, 5, 6], kernel, dilation=dilation, stride=stride,
                    context_init="random", **config).eval()  # type: ignore[arg-type]
    if conv.context_bias is not None:
        with torch.no_grad():
            conv.context_bias.uniform_(-1, 1)
    x = torch.randn(batch, 23, 15)  # time-major
    form = conv.row_form()
    assert form is not None
    with torch.no_grad():
        fast = form.forward_time_major(x)
        torch.testing.assert_close(fast, conv.forward_time_major(x), rtol=1e-5, atol=1e-6)
    assert fast.shape == (batch, conv.output_frames(23), 18)


@pytest.mark.parametrize("config", [dict(combine="mul", context_dim=2),
                                    dict(combine="add", context_dim=2),
                                    dict(combine="cat", context_dim=3),
                                    dict(combine="cat", context="identity")])
def test_configurations_without_a_row_form(config):
    assert _linear(**config).row_form() is None


def test_row_form_uses_a_subclass_gate():
    class HardGate(SRLinear):
        def gate(self, z: torch.Tensor) -> torch.Tensor:
            return torch.clamp(z + 0.5, 0.0, 1.0)

    torch.manual_seed(0)
    layer = HardGate([4, 6, 5], [7, 5, 6], context_init="random").eval()
    form = layer.row_form()
    assert form is not None
    for rows in (3, 100):  # the few-rows and the many-rows form
        x = torch.randn(rows, 15) * 3
        with torch.no_grad():
            torch.testing.assert_close(form(x), layer(x), rtol=1e-5, atol=1e-6)
            assert not torch.allclose(form(x), _linear(combine="mul", context_dim=1)(x))


def test_row_form_is_a_snapshot_sharing_no_storage():
    layer, x = _linear(combine="mul", context_dim=1), torch.randn(4, 15)
    form = layer.row_form()
    assert form is not None
    with torch.no_grad():
        before = form(x)
        for p in layer.parameters():  # in place, as an optimizer step does
            p.add_(0.1)
        torch.testing.assert_close(form(x), before, rtol=0, atol=0)
    ptrs = {p.data_ptr() for p in layer.parameters()}
    assert not ptrs & {b.data_ptr() for b in form.buffers()}
    moved = copy.deepcopy(form).double()  # buffers: .to() moves them
    torch.testing.assert_close(moved(x.double()), before.double(), rtol=1e-6, atol=1e-6)


def test_row_form_folds_batchnorm_like_torch_fusion():
    """``with_affine`` with a BatchNorm's scale and shift against torch's fusion of a dense
    layer and a BatchNorm (an independent implementation), and the SR layer against the
    layer followed by the BatchNorm module."""
    x = torch.randn(6, 15)
    bn = _bn(18, 1)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)  # by hand
    affine = scale, bn.bias.detach() - bn.running_mean * scale
    with torch.no_grad():
        dense = torch.nn.Linear(15, 18).eval()
        folded = RowForm.dense(dense).with_affine(*affine)
        reference = fuse_linear_bn_eval(dense, bn)
        torch.testing.assert_close(folded(x), reference(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(folded(x), bn(dense(x)), rtol=1e-5, atol=1e-6)
        conv = torch.nn.Conv1d(15, 18, 3, dilation=2, bias=False).eval()
        xt = torch.randn(2, 15, 11)
        ref = fuse_conv_bn_eval(conv, bn)(xt)
        fast = RowForm.dense(conv).with_affine(*affine).forward_time_major(xt.transpose(1, 2))
        torch.testing.assert_close(fast.transpose(1, 2), ref, rtol=1e-5, atol=1e-5)
        layer = _linear(combine="mul", context_dim=1)
        form = layer.row_form()
        assert form is not None
        torch.testing.assert_close(form.with_affine(*affine)(x), bn(layer(x)), rtol=1e-5,
                                   atol=1e-5)
    with pytest.raises(ValueError, match="unpadded"):
        RowForm.dense(torch.nn.Conv1d(4, 4, 3, padding=1))


# --- the networks' inference copies ------------------------------------------------------
def _randomize_bn(net: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics away from the identity (as after training)."""
    for i, m in enumerate(net.modules()):
        if isinstance(m, torch.nn.BatchNorm1d):
            m.load_state_dict(_bn(m.num_features, i).state_dict())
    return net


SINGLE = [("sr", {}), ("sr", dict(combine="cat", context_dim=2)),
          ("sr", dict(combine="add", context_dim=2)), ("sr", dict(context_dim=2)),
          ("sr", dict(context_init="random")), ("fc", {}), ("gp", {}), ("lf", {}), ("es", {}),
          ("sfs", {}), ("sr", dict(num_blocks=0)), ("fc", dict(in_features=2))]
TEMPORAL = [(name, causal, strided) for name, causal, strided in
            itertools.product(("sr_tcn", "tcn"), (False, True), (False, True))]
TEMPORAL += [("sr_tcn", False, False, dict(combine="cat")),  # type: ignore[list-item]
             ("sr_tcn", False, True, dict(combine="add", context_dim=2, in_features=2))]


@pytest.mark.parametrize("name,config", SINGLE, ids=lambda v: str(v) if v else "default")
def test_single_frame_copies_equal_the_modules(name, config):
    torch.manual_seed(3)
    kw = dict(skeleton="coco", hidden=64, in_features=3) | config
    net = _randomize_bn(poselift.create_model(name, **kw)).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast = fuse_for_inference(net)
    x = torch.randn(5, 17, kw["in_features"])
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), net(x), rtol=1e-5, atol=2e-6)
        torch.testing.assert_close(fast(x[:1]), net(x[:1]), rtol=1e-5, atol=2e-6)
    assert not any(isinstance(m, torch.nn.BatchNorm1d | torch.nn.Dropout | poselift.nn.Dropout)
                   for m in fast.modules())
    assert is_inference_copy(fast) and not is_inference_copy(net) and not fast.training
    assert fast.config == net.config and InputContract.of(fast) == InputContract.of(net)
    after = net.state_dict()  # the original is untouched
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("case", TEMPORAL, ids=lambda c: "-".join(map(str, c)))
def test_temporal_copies_equal_the_modules(case):
    name, causal, strided = case[:3]
    config = case[3] if len(case) > 3 else {}
    torch.manual_seed(3)
    kw = dict(skeleton="coco", channels=48, in_features=3, filter_widths=(3, 3, 3),
              causal=causal) | config
    net = _randomize_bn(poselift.create_model(name, **kw))
    net = (net.strided_twin() if strided else net).eval()
    frames = 27 if strided else 30
    x = torch.randn(3, frames, 17, kw["in_features"])
    fast = fuse_for_inference(net)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), net(x), rtol=1e-5, atol=2e-6)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in fast.modules())
    with pytest.raises(TypeError, match="inference copy has no strided twin"):
        fast.strided_twin()


def test_a_copy_is_built_once_and_does_not_follow_the_original():
    torch.manual_seed(0)
    net = poselift.create_model("sr", hidden=32).eval()
    fast = fuse_for_inference(net)
    assert fuse_for_inference(fast) is fast  # already a copy
    other = torch.nn.Linear(3, 3)
    assert fuse_for_inference(other) is other  # not a lifting network: as it is
    x = torch.randn(2, 17, 2)
    with torch.no_grad():
        before = fast(x)
        for p in net.parameters():
            p.mul_(0.5)
        torch.testing.assert_close(fast(x), before, rtol=0, atol=0)
        assert not torch.allclose(net(x), before)
    trained = poselift.create_model("fc", hidden=16)  # training mode: copied in eval mode
    assert trained.training and not fuse_for_inference(trained).training and trained.training
    with pytest.raises(TypeError, match="model"):
        fuse_for_inference("sr")  # type: ignore[arg-type]


def test_the_module_itself_stays_plain():
    """No cache on the user's module: ``functional_call`` with other weights, ``torch.compile``
    and training see the module's own parameters every time."""
    torch.manual_seed(0)
    net = _randomize_bn(poselift.create_model("sr", hidden=32)).eval()
    x = torch.randn(2, 17, 2)
    halved = {k: v * 0.5 for k, v in net.state_dict().items() if ".op.weights." in k}
    other = copy.deepcopy(net)
    with torch.no_grad():
        for k, v in halved.items():
            other.get_parameter(k).copy_(v)
        net(x)
        torch.testing.assert_close(torch.func.functional_call(net, halved, (x,)), other(x))
        compiled = torch.compile(net, backend="eager")
        torch.testing.assert_close(compiled(x), net(x))


def test_the_core_runs_the_copy_and_sees_weight_changes():
    """``LiftingCore`` builds the copy once; ``serves`` tells when the model changed (a
    ``Lifter`` then makes a new core: its outputs follow the weights)."""
    torch.manual_seed(0)
    net = _randomize_bn(poselift.create_model("sr", skeleton="coco", hidden=32,
                                              in_features=3, input_norm="bbox")).eval()
    core = LiftingCore(net)
    pix = np.random.default_rng(0).uniform(300, 700, (3, 17, 2))
    lifter = poselift.Lifter(net)
    first = lifter.lift(pix, skeleton="coco")
    inference = core._inference()
    assert is_inference_copy(inference) and core._inference() is inference  # built once
    assert core.serves(net)
    with torch.no_grad():
        net.head.op.bias.add_(torch.linspace(-0.3, 0.3, 51))  # in place: an optimizer step
    assert not core.serves(net)
    second = lifter.lift(pix, skeleton="coco")
    assert np.abs(second - first).max() > 1e-3  # not served stale
    plain = LiftingCore(copy.deepcopy(net))
    x = torch.from_numpy(np.concatenate([pix, np.ones((3, 17, 1))], -1)).float()
    with torch.no_grad():  # = the exported program (the plain model)
        np.testing.assert_allclose(second, plain(x).numpy(), atol=1e-5)
    net.head.op.bias = torch.nn.Parameter(net.head.op.bias.detach().clone())  # replaced
    assert not LiftingCore(net).serves(copy.deepcopy(net))
    swapped = LiftingCore(net)
    net.head.op.bias = torch.nn.Parameter(net.head.op.bias.detach().clone())
    assert not swapped.serves(net)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_copies_on_real_inputs(name):
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
        fast = fuse_for_inference(module)
        with torch.inference_mode():
            torch.testing.assert_close(fast(inputs), module(inputs), rtol=0, atol=1e-5)
