import pickle

import numpy as np
import pytest
import torch

import poselift
from poselift.models import (
    create_model,
    get_model_entry,
    list_models,
    load_checkpoint,
    load_model,
    register_model,
    save_model,
    unregister_model,
)
from poselift.partitions import get_partition

torch.set_num_threads(2)

SMALL = {"hidden": 64}
SMALL_T = {"channels": 64}


def _small(name: str, **extra):
    entry = get_model_entry(name)
    size = SMALL_T if entry.temporal else SMALL
    return create_model(name, **size, **extra)


def _input(model, batch=4, frames=None, joints=17, seed=0):
    """(x, y) inputs; a blend of the shipped weights takes their score channel too."""
    g = torch.Generator().manual_seed(seed)
    t = frames if frames is not None else model.receptive_field
    features = 3 if model.config["name"] == "blend" else 2
    shape = (batch, t, joints, features) if get_model_entry(model.config["name"]).temporal else (
        batch, joints, features)
    return torch.randn(shape, generator=g)


def test_zoo_has_every_network_of_the_paper():
    assert set(list_models()) >= {"fc", "gp", "lf", "es", "sfs", "sr", "tcn", "sr_tcn"}
    assert list_models("sr*") == ["sr", "sr_tcn"]


@pytest.mark.parametrize("name", list_models())
def test_builds_with_defaults_forward_backward(name):
    model = create_model(name)
    x = _input(model, batch=3)
    y = model(x)
    expected_t = x.shape[1] - model.receptive_field + 1
    assert y.shape == ((3, expected_t, 17, 3) if x.dim() == 4 else (3, 17, 3))
    y.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert model.config["name"] == name
    assert create_model(**model.config).config == model.config


@pytest.mark.parametrize("name", list_models())
def test_non_default_partition_and_save_load_round_trip(name, tmp_path):
    if "partition" not in get_model_entry(name).defaults:
        pytest.skip("a model made of models (blend): tests/test_blend.py")
    model = _small(name, partition="h36m-3").eval()
    assert model.config["partition"] == "h36m-3"
    x = _input(model, frames=None if model.receptive_field == 1 else model.receptive_field + 5)
    path = tmp_path / f"{name}.pt"
    save_model(model, path, note="round trip", metrics={"p1": 1.5})
    again = load_model(path)
    assert again.meta == {"note": "round trip", "metrics": {"p1": 1.5}}
    assert not again.training
    assert torch.equal(again(x), model(x))


def test_coco_input_h36m_output():
    model = create_model("sr", skeleton="coco", partition="coco-5", hidden=64).eval()
    y = model(torch.randn(2, 17, 2))
    assert y.shape == (2, 17, 3)
    tmodel = create_model("sr_tcn", skeleton="coco", channels=64).eval()
    assert tmodel(torch.randn(2, 30, 17, 2)).shape == (2, 4, 17, 3)


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown model 'srr'.*did you mean 'sr'.*known:"):
        create_model("srr")
    with pytest.raises(ValueError, match="has no config key 'hiden'.*did you mean 'hidden'"):
        create_model("sr", hiden=3)
    with pytest.raises(ValueError, match="already registered"):
        register_model("sr")(lambda *, a=1: torch.nn.Linear(1, 1))
    with pytest.raises(TypeError, match="keyword-only with defaults"):
        register_model("test_bad")(lambda a: torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match="partition: 'coco-5' is a partition of skeleton 'coco'"):
        create_model("sr", partition="coco-5")
    with pytest.raises(ValueError, match="link_layers: expected 0..4"):
        create_model("sfs", link_layers=5)
    with pytest.raises(ValueError, match="filter_widths: expected odd widths"):
        create_model("tcn", filter_widths=(3, 2))


def test_register_custom_model_is_picked_up():
    @register_model("test_tiny")
    def tiny(*, width: int = 3) -> torch.nn.Module:
        return torch.nn.Linear(width, width)

    try:
        assert "test_tiny" in list_models()
        assert create_model("test_tiny").config == {"name": "test_tiny", "width": 3,
                                                     "input_norm": "screen"}
        with pytest.raises(ValueError, match="input_norm: expected one of"):
            create_model("test_tiny", input_norm="image")
    finally:
        unregister_model("test_tiny")


def test_forward_checks_input_shape():
    model = _small("sr")
    with pytest.raises(ValueError, match=r"keypoints: expected shape \(B, 17, 2\)"):
        model(torch.zeros(2, 16, 2))
    tmodel = _small("tcn")
    with pytest.raises(ValueError, match="at least 27 frames"):
        tmodel(torch.zeros(2, 10, 17, 2))


def _exclusive_joints(partition, group):
    others = {j for g, members in enumerate(partition.groups) if g != group for j in members}
    mine = set(partition.groups[group])
    return sorted(others - mine)


def test_gp_groups_are_isolated():
    part = get_partition("h36m-5")
    model = create_model("gp", hidden=80).eval()
    x = torch.randn(8, 17, 2)
    x2 = x.clone()
    others = _exclusive_joints(part, 0)
    x2[:, others] += torch.randn(8, len(others), 2)
    y, y2 = model(x), model(x2)
    owned = list(part.owned[0])
    assert torch.equal(y[:, owned], y2[:, owned])
    assert not torch.allclose(y[:, others], y2[:, others])


@pytest.mark.parametrize("name", ["sr", "sr_tcn"])
def test_sr_models_start_group_connected_by_default(name):
    part = get_partition("h36m-5")
    others = _exclusive_joints(part, 0)
    owned = list(part.owned[0])
    extra = {"channels": 64, "filter_widths": (3,)} if name == "sr_tcn" else {"hidden": 80}
    frames = 3 if name == "sr_tcn" else None
    for init in ("zero", "random"):
        torch.manual_seed(0)
        model = create_model(name, context_init=init, **extra).eval()
        assert model.config["context_init"] == init
        shape = (2, frames, 17, 2) if frames else (2, 17, 2)
        x = torch.randn(shape)
        x2 = x.clone()
        x2[..., others, :] += torch.randn_like(x2[..., others, :])
        y, y2 = model(x), model(x2)
        same = torch.equal(y[..., owned, :], y2[..., owned, :])
        assert same == (init == "zero"), init  # zero: the other groups have no effect yet
    assert create_model(name, **extra).config["context_init"] == "zero"


def test_checkpoints_from_before_context_init_load_as_random(tmp_path):
    model = create_model("sr", hidden=40)
    path = tmp_path / "old.pt"
    save_model(model, path)
    payload = torch.load(path, weights_only=True)
    del payload["config"]["context_init"]  # as written before the key existed
    torch.save(payload, path)
    loaded = load_model(path)
    assert loaded.config["context_init"] == "random"
    x = torch.randn(3, 17, 2)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    # a model without the key is not given it
    fc = tmp_path / "fc.pt"
    save_model(create_model("fc", hidden=16), fc)
    assert "context_init" not in load_model(fc).config


def test_sr_groups_see_others_only_through_h_numbers_per_layer():
    part = get_partition("h36m-5")
    for h in (1, 2):
        model = create_model("sr", hidden=80, context_dim=h, combine="cat",
                             context_init="random").double().eval()
        others = _exclusive_joints(part, 0)
        owned = list(part.owned[0])
        x = torch.randn(1, 17, 2, dtype=torch.float64)

        def f(rest, x=x, others=others, owned=owned, model=model):
            z = x.clone()
            z[0, others] = rest.view(len(others), 2)
            return model(z)[0, owned].flatten()

        jac = torch.autograd.functional.jacobian(f, x[0, others].flatten())
        rank = int(torch.linalg.matrix_rank(jac))
        layers = 2 + 2 * model.config["num_blocks"]
        assert 0 < rank <= h * layers < jac.shape[1], (h, rank, jac.shape)
    fc = create_model("fc", hidden=80).double().eval()
    x = torch.randn(1, 17, 2, dtype=torch.float64)

    def g(rest):
        z = x.clone()
        z[0, others] = rest.view(len(others), 2)
        return fc(z)[0, owned].flatten()

    jac_fc = torch.autograd.functional.jacobian(g, x[0, others].flatten())
    full = int(torch.linalg.matrix_rank(jac_fc))
    assert full > layers  # a dense network is not limited that way


@pytest.mark.parametrize("name", ["tcn", "sr_tcn"])
@pytest.mark.parametrize("causal", [False, True])
def test_strided_twin_matches_dilated_form(name, causal):
    model = create_model(name, channels=64, filter_widths=(3, 3, 3), causal=causal).eval()
    twin = model.strided_twin()
    assert all(a is b for a, b in zip(model.parameters(), twin.parameters(), strict=True))
    x = torch.randn(2, 40, 17, 2)
    y = model(x)
    rf = model.receptive_field
    for t in (0, 5, 13):
        one = twin(x[:, t: t + rf])
        torch.testing.assert_close(one[:, 0], y[:, t], rtol=1e-5, atol=1e-5)


def test_strided_twin_trains_the_dilated_model():
    model = create_model("tcn", channels=32)
    twin = model.strided_twin()
    before = model.expand.weight.detach().clone()
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    twin(torch.randn(4, 27, 17, 2)).square().mean().backward()
    opt.step()
    assert not torch.equal(before, model.expand.weight)


def test_causal_output_never_depends_on_later_frames():
    model = create_model("sr_tcn", channels=32, causal=True).eval()
    x = torch.randn(1, 60, 17, 2)
    y = model(x)
    rf = model.receptive_field
    t = 10  # output t is aligned with input frame t + rf - 1 (its last frame)
    x2 = x.clone()
    x2[:, t + rf:] += 5.0
    torch.testing.assert_close(model(x2)[:, t], y[:, t])
    assert not torch.allclose(model(x2)[:, t + 1], y[:, t + 1])


def test_parameter_counts_match_the_papers():
    tcn = create_model("tcn", filter_widths=(3, 3, 3, 3, 3))
    n = sum(p.numel() for p in tcn.parameters())
    assert abs(n - 16.95e6) / 16.95e6 < 0.005, n  # VideoPose3D, 243 frames
    sr_tcn = create_model("sr_tcn", filter_widths=(3, 3, 3, 3, 3))
    n = sum(p.numel() for p in sr_tcn.parameters())
    assert abs(n - 3.61e6) / 3.61e6 < 0.05, n  # paper Sec. 5.2
    fc = sum(p.numel() for p in create_model("fc").parameters())
    assert abs(fc - 4.29e6) / 4.29e6 < 0.01, fc  # official FC (docs/results.md)


def test_unsafe_checkpoint_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (marker.touch, ())

    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"format": "poselift-checkpoint", "payload": Evil()}, f, protocol=2)
    with pytest.raises(ValueError, match="refused to load.*weights_only=True"):
        load_model(path)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_model(tmp_path / "missing.pt")
    torch.save({"hello": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a poselift checkpoint"):
        load_model(tmp_path / "other.pt")


def test_meta_must_be_plain_and_half_storage(tmp_path):
    model = create_model("sr", hidden=512).eval()
    with pytest.raises(TypeError, match="meta.*plain types"):
        save_model(model, tmp_path / "x.pt", array=np.zeros(3))
    save_model(model, tmp_path / "sub.pt", torch_version=torch.__version__)  # a str subclass
    assert load_model(tmp_path / "sub.pt").meta["torch_version"] == str(torch.__version__)
    with pytest.raises(TypeError, match="built by poselift.create_model"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "y.pt")
    save_model(model, tmp_path / "half.pt", storage_dtype=torch.float16)
    save_model(model, tmp_path / "full.pt")
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    half = load_model(tmp_path / "half.pt")
    assert next(half.parameters()).dtype == torch.float32
    x = torch.randn(16, 17, 2)
    torch.testing.assert_close(half(x), model(x), atol=5e-3, rtol=5e-2)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_weights_argument_errors():
    with pytest.raises(ValueError, match="unknown weights"):
        create_model("sr", weights="nonexistent")
    shipped = poselift.list_weights()
    assert poselift.list_weights("sr") == [w for w in shipped if w.startswith("sr.")]


# --- in_features: optional score channel (issue 8) -------------------------------------------

DEFAULT_PARAM_COUNTS = {  # measured before in_features existed; default configs must not move
    "fc": 4296755, "gp": 881168, "lf": 2596739, "es": 2589376, "sfs": 2555048,
    "sr": 907038, "tcn": 8555571, "sr_tcn": 1786697,
}


@pytest.mark.parametrize("name", sorted(DEFAULT_PARAM_COUNTS))
def test_in_features_default_is_2_and_default_models_are_unchanged(name):
    assert get_model_entry(name).defaults["in_features"] == 2
    torch.manual_seed(0)
    plain = create_model(name)
    assert plain.config["in_features"] == 2
    assert sum(p.numel() for p in plain.parameters()) == DEFAULT_PARAM_COUNTS[name]
    torch.manual_seed(0)
    explicit = create_model(name, in_features=2)
    a, b = plain.state_dict(), explicit.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", list(DEFAULT_PARAM_COUNTS))
def test_in_features_3_takes_a_score_channel(name, tmp_path):
    model = _small(name, in_features=3).eval()
    x = _input(model, batch=3, frames=model.receptive_field + 2)
    score = torch.ones(*x.shape[:-1], 1)
    xs = torch.cat([x, score], -1)
    with torch.no_grad():
        y = model(xs)
        y0 = model(torch.cat([x, score * 0], -1))
    assert y.shape[-2:] == (17, 3)
    assert not torch.allclose(y, y0)  # the score is an input, not ignored
    with pytest.raises(ValueError, match="in_features|expected shape"):
        model(x)  # 2 channels given to a 3-channel model
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert back.config["in_features"] == 3
    with torch.no_grad():
        torch.testing.assert_close(back(xs), y)
    # only the input layer grows
    n3 = sum(p.numel() for p in model.parameters())
    n2 = sum(p.numel() for p in _small(name).parameters())
    assert n3 > n2


@pytest.mark.parametrize("bad", [1, 4, True, 2.0])
def test_in_features_is_validated(bad):
    for name in ("sr", "sr_tcn"):
        with pytest.raises(ValueError, match="in_features"):
            _small(name, in_features=bad)


# --- checkpoint refusal paths (issue 21) ------------------------------------------------------


def _tamper(payload, how):
    """A copy of a valid checkpoint payload broken in one way."""
    import copy

    p = copy.deepcopy(payload)
    sd = p["state_dict"]
    first = next(k for k, v in sd.items() if v.is_floating_point() and v.dim() == 2)
    if how == "no format":
        del p["format"]
    elif how.startswith("version "):
        versions = {"version 2": 2, "version 0": 0, "version '1'": "1", "version None": None}
        p["version"] = versions[how]
    elif how == "config list":
        p["config"] = [1, 2]
    elif how == "no state_dict":
        del p["state_dict"]
    elif how == "meta str":
        p["meta"] = "x"
    elif how == "config int key":
        p["config"][3] = 4
    elif how == "no name":
        del p["config"]["name"]
    elif how == "unknown model":
        p["config"]["name"] = "nope"
    elif how == "unknown key":
        p["config"]["hiden"] = 3
    elif how == "missing key":
        del sd[first]
    elif how == "extra key":
        sd["extra.weight"] = torch.zeros(2)
    elif how == "shape":
        sd[first] = sd[first][:, :-1].clone()
    elif how == "int8":
        sd[first] = sd[first].to(torch.int8)
    elif how == "nan":
        sd[first][0, 0] = float("inf")
    elif how == "non-tensor":
        sd[first] = sd[first].tolist()
    elif how == "int key":
        sd[7] = torch.zeros(1)
    return p


@pytest.mark.parametrize(("how", "match"), [
    ("no format", "not a poselift checkpoint"),
    ("version 2", "checkpoint version 2 is not supported"),
    ("version 0", "checkpoint version 0 is not supported"),
    ("version '1'", "checkpoint version '1' is not supported"),
    ("version None", "checkpoint version None is not supported"),
    ("config list", "malformed checkpoint: 'config' missing or not a dict"),
    ("no state_dict", "malformed checkpoint: 'state_dict' missing or not a dict"),
    ("meta str", "malformed checkpoint: 'meta' missing or not a dict"),
    ("config int key", "malformed checkpoint: config keys must be strings, got 3"),
    ("no name", "malformed checkpoint: config has no model name"),
    ("unknown model", "unknown model 'nope'"),
    ("unknown key", "its config does not build model 'sr'.*'hiden'"),
    ("missing key", "missing keys"),
    ("extra key", r"unexpected keys \['extra.weight'\]"),
    ("shape", "has shape .* but the config builds"),
    ("int8", "is stored as torch.int8, expected a floating-point tensor"),
    ("nan", "holds 1 NaN/inf value"),
    ("non-tensor", "is a list, expected a torch.Tensor"),
    ("int key", r"state_dict\[7\] is a Tensor, expected a torch.Tensor under a str key"),
])
def test_checkpoint_refusal_paths(tmp_path, how, match):
    from poselift.models.checkpoint import atomic_save

    model = create_model("sr", hidden=32).eval()
    save_model(model, tmp_path / "good.pt")
    payload = load_checkpoint(tmp_path / "good.pt")
    atomic_save(payload, tmp_path / "again.pt")  # the untouched payload loads: a control
    x = torch.randn(2, 17, 2)
    torch.testing.assert_close(load_model(tmp_path / "again.pt")(x), model(x))
    atomic_save(_tamper(payload, how), tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=match) as err:
        load_model(tmp_path / "bad.pt")
    assert str(tmp_path / "bad.pt") in str(err.value)


def test_eval_batches_run_in_blocks_of_rows_with_the_same_outputs(monkeypatch):
    """A large eval-mode batch runs in blocks of rows (cache-resident activations): the
    outputs are the whole batch's; training mode, batch statistics and a BatchNorm left in
    training mode run the batch in one pass."""
    import poselift.models.single_frame as single_frame
    from poselift.models import fuse_for_inference

    torch.manual_seed(0)
    net = poselift.create_model("sr", hidden=64).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    x = torch.randn(70, 17, 2)
    with torch.no_grad():
        whole = net(x)
    calls: list[int] = []
    net.head.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    monkeypatch.setattr(single_frame, "EVAL_ROWS", 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x), whole, rtol=1e-5, atol=1e-6)
        assert calls == [16, 16, 16, 16, 6]
        calls.clear()
        torch.testing.assert_close(fuse_for_inference(net)(x), whole, rtol=1e-5, atol=1e-5)
    net.blocks[0].layers[1].train()  # batch statistics somewhere: rows are not independent
    net(x)
    assert calls == [70]
    calls.clear()
    net.train()
    net(x)
    assert calls == [70]
