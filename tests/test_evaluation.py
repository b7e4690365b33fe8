"""Tests for poselift.prediction (flip test, temporal padding, chunks) and poselift.evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import poselift
from poselift.data import flip_keypoints, flip_poses
from poselift.data.protocols import ProtocolData
from poselift.evaluation import evaluate, locate_samples, markdown_report, predict_protocol
from poselift.models.inputs import InputContract
from poselift.prediction import predict


def _trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """Give BatchNorm layers non-trivial statistics so eval mode is not an identity."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.normal_(0, 0.1, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
    return model.eval()


@pytest.fixture(scope="module")
def sr() -> torch.nn.Module:
    torch.manual_seed(0)
    return _trained_like(poselift.create_model("sr", hidden=48))


@pytest.fixture(scope="module")
def tcn() -> torch.nn.Module:
    torch.manual_seed(0)
    return _trained_like(poselift.create_model("tcn", channels=24, filter_widths=(3, 3)))


def _toy(clips: dict[str, int], cameras: int = 2, seed: int = 0, step: int = 1) -> ProtocolData:
    """ProtocolData with random keypoints: clip -> number of frames, every camera."""
    rng = np.random.default_rng(seed)
    rows = [(c, f, k) for c, n in clips.items() for f in range(0, n, step) for k in range(cameras)]
    perm = rng.permutation(len(rows))  # any sample order must work
    rows = [rows[i] for i in perm]
    n = len(rows)
    kp = rng.uniform(100, 900, size=(n, 17, 2)).astype(np.float32)
    return ProtocolData(
        name="toy", split="test", inputs="gt", keypoints2d=kp,
        poses3d=rng.normal(size=(n, 17, 3)).astype(np.float32) * 0.2,
        clip=np.array([r[0] for r in rows]), frame=np.array([r[1] for r in rows]),
        camera=np.array([r[2] for r in rows]), content=np.array([r[0][:3] for r in rows]),
        style=np.array(["x"] * n), image_size=(1000, 1000),
        image_sizes=np.full((n, 2), 1000), frame_step=step,
    )


# --- predict: single frame ---------------------------------------------------------------------


def test_predict_matches_model_and_keeps_kind_and_mode(sr: torch.nn.Module) -> None:
    x = torch.randn(10, 17, 2)
    with torch.no_grad():
        ref = sr(x)
    sr.train()
    before = {k: v.clone() for k, v in sr.state_dict().items()}
    out = predict(sr, x, batch_size=3)
    # a module in training mode is run through an eval copy: never switched, never changed
    assert all(m.training for m in sr.modules())
    assert all(torch.equal(before[k], v) for k, v in sr.state_dict().items())
    sr.eval()
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, ref)
    out_np = predict(sr, x.numpy().reshape(2, 5, 17, 2))
    assert isinstance(out_np, np.ndarray) and out_np.shape == (2, 5, 17, 3)
    np.testing.assert_allclose(out_np.reshape(10, 17, 3), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_flip_test_equals_reference(sr: torch.nn.Module) -> None:
    x = torch.randn(7, 17, 2)
    with torch.no_grad():
        plain = sr(x)
        mirrored = flip_poses(sr(flip_keypoints(x, "h36m")), "h36m")
    torch.testing.assert_close(predict(sr, x, flip_test=True), (plain + mirrored) / 2)


def test_flip_test_is_flip_equivariant(sr: torch.nn.Module) -> None:
    x = torch.randn(6, 17, 2)
    a = predict(sr, flip_keypoints(x, "h36m"), flip_test=True)
    b = flip_poses(predict(sr, x, flip_test=True), "h36m")
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(predict(sr, x), predict(sr, x, flip_test=True))


def test_predict_rejects_bad_input(sr: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="inputs"):
        predict(sr, torch.zeros(4, 16, 2))
    with pytest.raises(ValueError, match="batch_size"):
        predict(sr, torch.zeros(4, 17, 2), batch_size=0)
    with pytest.raises(TypeError, match="inputs"):
        predict(sr, [[0.0, 0.0]] * 17)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        predict(sr, torch.full((1, 17, 2), math.nan))


# --- predict: temporal ---------------------------------------------------------------------------


def _naive_sequence(model: torch.nn.Module, seq: torch.Tensor, causal: bool) -> torch.Tensor:
    """One forward per frame on an explicitly edge-padded window."""
    r = model.receptive_field
    out = []
    for t in range(seq.shape[0]):
        offs = range(t - r + 1, t + 1) if causal else range(t - r // 2, t + r // 2 + 1)
        idx = [min(max(i, 0), seq.shape[0] - 1) for i in offs]
        with torch.no_grad():
            out.append(model(seq[idx][None])[0, 0])
    return torch.stack(out)


@pytest.mark.parametrize("causal", [False, True])
def test_temporal_sequence_is_edge_padded(causal: bool) -> None:
    torch.manual_seed(0)
    model = _trained_like(poselift.create_model("sr_tcn", channels=30, filter_widths=(3, 3),
                                                causal=causal))
    seq = torch.randn(12, 17, 2)
    out = predict(model, seq, batch_size=7)
    assert out.shape == (12, 17, 3)
    torch.testing.assert_close(out, _naive_sequence(model, seq, causal), rtol=1e-4, atol=1e-5)
    both = predict(model, torch.stack([seq, seq.flip(0)]))
    torch.testing.assert_close(both[0], out, rtol=1e-4, atol=1e-5)
    # a sequence longer than batch_size goes through in chunks with their context frames
    long = torch.randn(2, 40, 17, 2)
    chunked = predict(model, long, batch_size=7)
    whole = predict(model, long, batch_size=4096)
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(chunked[1], _naive_sequence(model, long[1], causal), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_temporal_protocol_matches_sequences(causal: bool) -> None:
    torch.manual_seed(0)
    tcn = _trained_like(poselift.create_model("tcn", channels=24, filter_widths=(3, 3),
                                              causal=causal))
    data = _toy({"a": 11, "b": 4}, cameras=2)
    kp = torch.from_numpy(data.model_inputs(InputContract.of(tcn)))
    pred = predict_protocol(tcn, data, flip_test=True, batch_size=5)
    assert pred.shape == (len(data), 17, 3) and isinstance(pred, np.ndarray)
    for clip in ("a", "b"):
        for cam in (0, 1):
            sel = np.flatnonzero((data.clip == clip) & (data.camera == cam))
            sel = sel[np.argsort(data.frame[sel])]
            ref = predict(tcn, kp[sel], flip_test=True)
            np.testing.assert_allclose(pred[sel], ref.numpy(), rtol=1e-4, atol=1e-5)
    some = np.flatnonzero(data.frame % 4 == 0)
    np.testing.assert_allclose(predict_protocol(tcn, data, index=some, flip_test=True),
                               pred[some], rtol=1e-5, atol=1e-6)
    mask = data.frame % 4 == 0
    np.testing.assert_allclose(predict_protocol(tcn, data, index=mask, flip_test=True),
                               pred[some], rtol=1e-5, atol=1e-6)


def test_temporal_protocol_needs_consecutive_frames(tcn: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="frame_step=1"):
        predict_protocol(tcn, _toy({"a": 12}, step=4))
    with pytest.raises(ValueError, match="index"):
        predict_protocol(tcn, _toy({"a": 5}), index=[99])


def test_single_frame_protocol(sr: torch.nn.Module) -> None:
    data = _toy({"a": 6}, cameras=3, step=2)
    ref = predict(sr, torch.from_numpy(data.model_inputs(InputContract.of(sr))), flip_test=True)
    np.testing.assert_allclose(predict_protocol(sr, data, flip_test=True, batch_size=4),
                               ref.numpy(), rtol=1e-5, atol=1e-6)


# --- locate_samples ----------------------------------------------------------------------------


def test_locate_samples() -> None:
    full = _toy({"a": 8, "b": 5}, cameras=2)
    sub = full.subset(np.flatnonzero(full.frame % 4 == 0)[::-1])
    idx = locate_samples(full, sub)
    for i, j in enumerate(idx):
        assert (full.clip[j], full.frame[j], full.camera[j]) == (sub.clip[i], sub.frame[i],
                                                                 sub.camera[i])
    other = _toy({"c": 2}, cameras=1)
    with pytest.raises(ValueError, match="not in data"):
        locate_samples(full, other)
    with pytest.raises(TypeError, match="ProtocolData"):
        locate_samples(full, np.zeros(3))  # type: ignore[arg-type]


# --- evaluate ----------------------------------------------------------------------------------


def _naive_p_mpjpe(p: np.ndarray, t: np.ndarray) -> float:
    """Umeyama similarity alignment of one pose, written out."""
    mp, mt = p.mean(0), t.mean(0)
    p0, t0 = p - mp, t - mt
    u, s, vt = np.linalg.svd(p0.T @ t0)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    e = np.diag([1.0, 1.0, d])
    r = vt.T @ e @ u.T
    scale = np.trace(np.diag(s) @ e) / (p0**2).sum()
    aligned = scale * p0 @ r.T + mt
    return float(np.linalg.norm(aligned - t, axis=1).mean())


def test_evaluate_against_naive_loops() -> None:
    rng = np.random.default_rng(3)
    n = 40
    target = rng.normal(size=(n, 17, 3)) * 0.3
    pred = target + rng.normal(size=(n, 17, 3)) * rng.uniform(0.01, 0.2, size=(n, 1, 1))
    content = np.array(["walk", "bow", "run", "walk"] * 10)
    occ = rng.uniform(0.2, 0.5, size=n)
    r = evaluate(pred, target, content=content, occurrence=occ)
    err = np.linalg.norm(pred - target, axis=-1) * 1000  # (N, J) mm
    per_sample = err.mean(1)
    pa = np.array([_naive_p_mpjpe(pred[i], target[i]) * 1000 for i in range(n)])
    thresholds = np.linspace(0, 150, 31)
    assert r["samples"] == n
    assert r["mpjpe"] == pytest.approx(per_sample.mean())
    assert r["p_mpjpe"] == pytest.approx(pa.mean(), rel=1e-6)
    assert r["pck"] == pytest.approx(100 * (err < 150).mean())
    assert r["auc"] == pytest.approx(100 * np.mean([(err < t).mean() for t in thresholds]))
    for name in ("walk", "bow", "run"):
        sel = content == name
        assert r["per_content"][name]["samples"] == sel.sum()
        assert r["per_content"][name]["mpjpe"] == pytest.approx(per_sample[sel].mean())
        assert r["per_content"][name]["p_mpjpe"] == pytest.approx(pa[sel].mean(), rel=1e-6)
    order = sorted(range(n), key=lambda i: occ[i])
    assert [d["decile"] for d in r["deciles"]] == list(range(1, 11))
    for k, d in enumerate(r["deciles"]):
        chunk = order[4 * k : 4 * k + 4]
        assert d["samples"] == 4
        assert d["mpjpe"] == pytest.approx(per_sample[chunk].mean())
        assert d["occurrence_min"] == pytest.approx(occ[chunk].min())
        assert d["occurrence_max"] == pytest.approx(occ[chunk].max())


def test_evaluate_protocol_data_and_torch_predictions() -> None:
    data = _toy({"walk1": 3, "bow1": 2}, cameras=2)
    pred = torch.from_numpy(data.poses3d) + 0.01
    r = evaluate(pred, data)
    assert (r["protocol"], r["split"], r["inputs"]) == ("toy", "test", "gt")
    assert r["mpjpe"] == pytest.approx(10 * math.sqrt(3), rel=1e-5)
    assert set(r["per_content"]) == {"wal", "bow"}
    assert r["deciles"] is None
    assert r["p_mpjpe"] == pytest.approx(0.0, abs=1e-3)  # a pure translation


def test_evaluate_errors() -> None:
    t = np.zeros((4, 17, 3))
    with pytest.raises(ValueError, match="predictions"):
        evaluate(np.zeros((3, 17, 3)), t)
    with pytest.raises(ValueError, match="content"):
        evaluate(t, t, content=["a"])
    with pytest.raises(ValueError, match="occurrence"):
        evaluate(t, t, occurrence=np.zeros(3))
    with pytest.raises(ValueError, match="deciles"):
        evaluate(t, t, deciles=0)


def test_markdown_report() -> None:
    rng = np.random.default_rng(0)
    t = rng.normal(size=(20, 17, 3))
    r = evaluate(t + 0.05, t, content=["a", "b"] * 10, occurrence=rng.uniform(size=20),
                 deciles=4)
    md = markdown_report(r, title="demo")
    lines = md.splitlines()
    assert lines[0] == "## demo"
    assert f"| all | 20 | {r['mpjpe']:.1f} |" in md
    assert sum(line.startswith("| a |") or line.startswith("| b |") for line in lines) == 2
    assert sum(line.startswith(f"| {k} | 5 |") for k in range(1, 5) for line in lines) == 4


def test_bbox_models_on_protocol_data_match_lift_per_sequence():
    """predict_protocol for input_norm='bbox' normalizes like poselift.lift."""
    from dataclasses import replace

    import poselift
    from poselift.data.protocols import _toy_protocol

    base = _toy_protocol()
    rng = np.random.default_rng(0)
    data = replace(base, keypoints2d=rng.uniform(300, 700, base.keypoints2d.shape)
                   .astype(np.float32) * np.repeat([1.0, 1.3], 4)[:, None, None].astype(np.float32))
    for name, kw in (("sr", {"hidden": 32}), ("sr_tcn", {"channels": 16,
                                                          "filter_widths": (3,)})):
        net = poselift.create_model(name, input_norm="bbox", **kw).eval()
        got = predict_protocol(net, data)
        got = got - got[:, :1]  # lift puts the pelvis at the origin
        want = np.empty_like(got)
        temporal = name == "sr_tcn"
        if temporal:
            for clip in np.unique(data.clip):
                for cam in np.unique(data.camera):
                    sel = np.flatnonzero((data.clip == clip) & (data.camera == cam))
                    sel = sel[np.argsort(data.frame[sel])]
                    want[sel] = poselift.lift(data.keypoints2d[sel], skeleton="h36m", model=net)
        else:
            want = poselift.lift(data.keypoints2d, skeleton="h36m", model=net, temporal=False)
        np.testing.assert_allclose(got, want, atol=2e-5)
