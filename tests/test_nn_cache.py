"""The eval-mode cache of the SR layers' derived weights (poselift.nn._sr_core).

The reference for every check is the same layer computed with autograd through its
parameters, which never uses the cache (the weights are derived inside the graph).
"""

from __future__ import annotations

import copy

import pytest
import torch

import poselift
from poselift.nn import SRConv1d, SRLinear
from poselift.prediction import predict

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _general_path(monkeypatch):
    """These tests check the general path's cache bit for bit: the training row map with its
    own backward (another summation order, tests/test_nn.py) is off here."""
    for cls in (SRLinear, SRConv1d):
        monkeypatch.setattr(cls, "_trains_rows", lambda self, x: False)



CONFIGS = [
    dict(combine="mul", context_dim=1),
    dict(combine="mul", context_dim=2),
    dict(combine="add", context_dim=2),
    dict(combine="cat", context_dim=3),
    dict(combine="cat", context="identity"),
    dict(context_dim=0),
]


def _layer(kind: str, config: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "linear":
        layer = SRLinear([4, 6, 5], [7, 5, 6], context_init="random", **config)
    else:
        layer = SRConv1d([4, 6, 5], [7, 5, 6], 3, dilation=2, context_init="random", **config)
    return layer.eval()


def _input(kind: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 15, generator=gen) if kind == "linear" else \
        torch.randn(2, 15, 11, generator=gen)


def _fresh(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's output with autograd through its parameters: no cache involved."""
    with torch.enable_grad():
        return layer(x).detach()


def _cached(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return layer(x)


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_eval_mode_builds_the_derived_weights_once(kind, config):
    layer, x = _layer(kind, config), _input(kind)
    first = _cached(layer, x)
    derived = layer._derived_cache
    assert derived is not None  # built and kept
    second = _cached(layer, x)
    assert layer._derived_cache is derived  # reused, not rebuilt
    torch.testing.assert_close(first, _fresh(layer, x), rtol=0, atol=0)
    torch.testing.assert_close(second, first, rtol=0, atol=0)
    with torch.inference_mode():  # inference mode uses (and may build) the same cache
        torch.testing.assert_close(layer(x), first, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_any_parameter_change_gives_fresh_results(kind, config):
    layer, x = _layer(kind, config), _input(kind)
    _cached(layer, x)
    params = dict(layer.named_parameters())
    for name, p in params.items():  # in place, as an optimizer step or copy_ would do
        with torch.no_grad():
            p.add_(0.25 * torch.rand_like(p) + 0.1)
        torch.testing.assert_close(_cached(layer, x), _fresh(layer, x), rtol=0, atol=0,
                                   msg=f"after changing {name}")
    other = _layer(kind, config)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-1.5)
    layer.load_state_dict(other.state_dict())  # load_state_dict copies in place
    torch.testing.assert_close(_cached(layer, x), _fresh(other, x), rtol=0, atol=0)
    layer.weights[0] = torch.nn.Parameter(torch.ones_like(layer.weights[0]))  # a new tensor
    torch.testing.assert_close(_cached(layer, x), _fresh(layer, x), rtol=0, atol=0)
    layer.double()  # new storage, new dtype
    torch.testing.assert_close(_cached(layer, x.double()), _fresh(layer, x.double()), rtol=0,
                               atol=0)


def test_train_mode_and_autograd_never_use_the_cache():
    layer, x = _layer("linear", CONFIGS[0]), _input("linear")
    layer.train()
    with torch.no_grad():
        layer(x)
    assert layer._derived_cache is None
    layer.eval()
    out = layer(x)  # grad enabled, parameters require grad: built in the graph
    assert layer._derived_cache is None
    out.sum().backward()
    assert layer.context_gain is not None and layer.context_gain.grad is not None
    _cached(layer, x)
    assert layer._derived_cache is not None
    layer.train()  # train() drops it
    assert layer._derived_cache is None


def test_changes_through_data_are_seen_after_eval():
    """``p.data`` in-place changes do not bump the version counter: eval() refreshes."""
    layer, x = _layer("linear", CONFIGS[0]), _input("linear")
    before = _cached(layer, x)
    layer.weights[1].data.mul_(3.0)
    torch.testing.assert_close(_cached(layer, x), before)  # stale, as documented
    layer.eval()
    torch.testing.assert_close(_cached(layer, x), _fresh(layer, x), rtol=0, atol=0)


def test_whole_models_follow_weight_updates():
    torch.manual_seed(2)
    net = poselift.create_model("sr_tcn", skeleton="coco", channels=24,
                                filter_widths=(3, 3)).eval()
    x = torch.randn(20, 17, 2)
    predict(net, x)
    other = copy.deepcopy(net)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.5)
    net.load_state_dict(other.state_dict())
    torch.testing.assert_close(predict(net, x), predict(copy.deepcopy(other), x))
    twin = net.strided_twin()  # shares the parameters: sees the same updates
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01)
        windows = x.unfold(0, 9, 1).permute(0, 3, 1, 2)  # (12, 9, 17, 2)
        torch.testing.assert_close(twin(windows)[:, 0], net(x[None])[0], atol=1e-5, rtol=1e-5)
