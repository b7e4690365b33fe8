"""Tests for poselift.training: sample sources, BatchNorm recipe pieces, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import poselift
from poselift.data import Augmentation, FrameDataset, WindowDataset, load_bandai
from poselift.data.protocols import _toy_protocol
from poselift.data.synthetic import write_synthetic_bandai
from poselift.models.inputs import InputContract
from poselift.skeletons import flip_poses
from poselift.training import (
    AugmentedSamples,
    Distributed,
    RigSamples,
    bn_momentum,
    make_dataset,
    precise_bn,
    seed_of,
    set_bn_momentum,
)


class _Batches:
    """A training source for precise_bn: fixed inputs, batches by index."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x
        self.epoch_size = len(x)

    def batch(self, index: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.x[index]


def test_precise_bn_modes_estimate_the_statistics_of_their_network() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3),
                              torch.nn.BatchNorm1d(3))
    x = torch.randn(4096, 4)
    source = _Batches(x)
    d = Distributed("cpu")
    # one batch covering (with replacement) the source: compare with the statistics of the
    # very same indices, computed by hand in each mode
    g = torch.Generator().manual_seed(seed_of(7, 1, "precise-bn", 0))
    idx = torch.randint(len(x), (4096,), generator=g)
    with torch.no_grad():
        pre_bn_eval = net[2](net[0](x[idx]))  # dropout off
    precise_bn(net, source, 1, 4096, 7, 1, d, "eval")  # type: ignore[arg-type]
    bn = net[3]
    torch.testing.assert_close(bn.running_mean, pre_bn_eval.mean(0))
    torch.testing.assert_close(bn.running_var, pre_bn_eval.var(0))
    assert net.training and net[1].training  # modes restored
    precise_bn(net, source, 1, 4096, 7, 1, d, "train")  # type: ignore[arg-type]
    # dropout active: inverted dropout keeps the mean, inflates the variance
    torch.testing.assert_close(bn.running_mean, pre_bn_eval.mean(0), atol=0.1, rtol=0.1)
    assert (bn.running_var > 1.2 * pre_bn_eval.var(0)).all()


def test_bn_momentum_schedule() -> None:
    assert bn_momentum(0.1, 0.001, 0.0) == 0.1
    assert bn_momentum(0.1, 0.001, 1.0) == pytest.approx(0.001)
    assert bn_momentum(0.1, 0.001, 2.0) == pytest.approx(0.001)  # clamped past the end
    assert bn_momentum(0.1, 0.001, 0.25) == pytest.approx(0.1 * 0.01 ** 0.25)
    net = poselift.create_model("sr", hidden=16)
    set_bn_momentum(net, 0.03)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(m.momentum == 0.03 for m in bns)


def test_seed_of_is_stable_and_distinct() -> None:
    assert seed_of(1, 2, "x") == seed_of(1, 2, "x")
    assert len({seed_of(1, e, b) for e in range(5) for b in range(5)}) == 25
    assert 0 <= seed_of("anything") < 2**63


def test_rig_samples_flip_inputs_and_targets_together() -> None:
    data = _toy_protocol()
    rng = np.random.default_rng(0)
    data = type(data)(**{**data.__dict__, "keypoints2d": rng.uniform(
        200, 800, data.keypoints2d.shape).astype(np.float32),
        "poses3d": rng.normal(size=data.poses3d.shape).astype(np.float32)})
    contract = InputContract()
    always = RigSamples(data, Augmentation(flip=1.0), contract)
    never = RigSamples(data, Augmentation(flip=0.0), contract)
    idx = torch.arange(len(data))
    g = torch.Generator().manual_seed(0)
    x1, y1 = always.batch(idx, g)
    x0, y0 = never.batch(idx, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x0, torch.from_numpy(data.model_inputs(contract)))
    torch.testing.assert_close(x1, contract.flip_inputs(x0))
    torch.testing.assert_close(y1, flip_poses(y0, "h36m"))
    with pytest.raises(ValueError, match="contract"):
        RigSamples(data, Augmentation(), InputContract(in_features=3))


def test_make_dataset_follows_the_model(tmp_path) -> None:
    ms = load_bandai(write_synthetic_bandai(tmp_path))
    sr = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
                               hidden=16)
    ds = make_dataset(sr, ms, Augmentation(normalize="bbox", dropout=0.2), seed=1)
    assert isinstance(ds, FrameDataset)
    x, y = AugmentedSamples(ds).batch(torch.arange(5), torch.Generator().manual_seed(0))
    assert x.shape == (5, 17, 3) and y.shape == (5, 17, 3)
    assert set(x[..., 2].unique().tolist()) <= {0.0, 1.0}
    assert (x[..., :2][x[..., 2] == 0] == 0).all()  # dropped joints at (0, 0)
    tcn = poselift.create_model("sr_tcn", channels=16, filter_widths=(3, 3), causal=True)
    wd = make_dataset(tcn, ms, Augmentation())
    assert isinstance(wd, WindowDataset) and wd.receptive_field == 9 and wd.causal
    assert AugmentedSamples(wd, passes=2).epoch_size == 2 * len(wd)
    with pytest.raises(ValueError, match="normalizes"):
        make_dataset(sr, ms, Augmentation(normalize="screen")).make_batch(torch.arange(2))


def test_init_from_loads_trained_weights_of_the_same_config(tmp_path):
    from poselift.training import init_from

    torch.manual_seed(0)
    trained = poselift.create_model("sr", skeleton="coco", hidden=32)
    poselift.save_model(trained, tmp_path / "t.pt")
    torch.manual_seed(1)
    fresh = poselift.create_model("sr", skeleton="coco", hidden=32)
    assert not torch.equal(next(iter(fresh.parameters())), next(iter(trained.parameters())))
    init_from(fresh, tmp_path / "t.pt")
    for (k, a), b in zip(fresh.state_dict().items(), trained.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    other = poselift.create_model("sr", skeleton="coco", hidden=16)
    with pytest.raises(ValueError, match="init: .* holds config"):
        init_from(other, tmp_path / "t.pt")
    shipped = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox")
    init_from(shipped, "sr.coco")  # a shipped name
    want = poselift.create_model("sr", weights="sr.coco")
    assert all(torch.equal(a, b) for a, b in zip(shipped.state_dict().values(),
                                                  want.state_dict().values(), strict=True))
