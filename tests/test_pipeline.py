"""Tests of lift's chunked pipeline (poselift._pipeline) and the causal box-scale window.

Chunked == unchunked: lift with tiny chunks against an independent whole-sequence
reference (a naive interpolation loop, the contract's ``prepare`` on the whole sequence, one
forward pass), and the chunks' model inputs against slices of the whole sequence's inputs.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

import poselift
from poselift import Lifter, lift
from poselift.models.inputs import InputContract
from poselift.normalization import normalize_bbox
from poselift.prediction import predict

torch.set_num_threads(1)


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "single":
        return poselift.create_model("sr", skeleton="coco", hidden=32, in_features=3,
                                     input_norm="bbox").eval()
    return poselift.create_model("sr_tcn", skeleton="coco", channels=24, filter_widths=(3, 3),
                                 in_features=3, input_norm="bbox",
                                 causal=kind == "causal").eval()


def _sequences(n: int, t: int, seed: int) -> np.ndarray:
    """(n, t, 17, 3) pixels with scores, and gaps of every kind."""
    rng = np.random.default_rng(seed)
    kp = rng.uniform(350, 650, (n, 1, 17, 2)) + np.cumsum(rng.normal(0, 3, (n, t, 17, 2)), 1)
    kp = np.concatenate([kp, rng.uniform(0.4, 1.0, (n, t, 17, 1))], -1)
    kp[:, : t // 3, 1, 2] = 0.0  # missing at the start
    kp[:, t - t // 4 :, 2, 2] = 0.1  # missing at the end
    kp[:, 5 : t - 5, 3, :2] = np.nan  # a gap across many chunks
    kp[:, 7:9, 4, 2] = 0.0  # a short gap
    kp[:, :, 6, 2] = 0.0  # never visible
    kp[:, t // 2 : t // 2 + 3] = np.nan  # missing frames
    return kp


def _naive_fill(xy: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation over time per joint by a loop; nearest valid frame at the ends."""
    xy, out = xy.copy(), valid.copy()
    for j in range(xy.shape[1]):
        ok = np.flatnonzero(valid[:, j])
        if len(ok) == 0:
            continue
        for t in range(xy.shape[0]):
            if valid[t, j]:
                continue
            before, after = ok[ok < t], ok[ok > t]
            if len(before) == 0:
                xy[t, j] = xy[after[0], j]
            elif len(after) == 0:
                xy[t, j] = xy[before[-1], j]
            else:
                p, n = before[-1], after[0]
                xy[t, j] = xy[p, j] + (xy[n, j] - xy[p, j]) * (t - p) / (n - p)
        out[:, j] = True
    return xy, out


def _whole(net: torch.nn.Module, kp: np.ndarray, threshold: float = 0.3
           ) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs of whole sequences (S, T, J, C) and the poses of one forward pass each."""
    contract = InputContract.of(net)
    inputs, poses = [], []
    for seq in kp:
        valid = np.isfinite(seq[..., :2]).all(-1) & (np.nan_to_num(seq[..., 2], nan=-1) >= 0.3)
        xy, ok = _naive_fill(seq[..., :2], valid)
        norm = np.asarray(contract.prepare(xy, ok)).astype(np.float32)
        out = predict(net, torch.from_numpy(norm), batch_size=10**6).numpy()
        inputs.append(norm)
        poses.append(out - out[:, :1])
    return np.stack(inputs), np.stack(poses)


@pytest.mark.parametrize("kind", ["causal", "centred", "single"])
def test_chunked_lift_equals_the_whole_sequence(kind):
    net = _model(kind)
    kp = _sequences(2, 47, seed=1)
    _, want = _whole(net, kp)
    for batch_size in (5, 16, 4096):
        got = lift(kp, model=net, skeleton="coco", batch_size=batch_size)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_chunks_give_the_model_exactly_the_whole_sequences_inputs(monkeypatch):
    net = _model("causal")
    r = net.receptive_field
    kp = _sequences(1, 40, seed=2)
    whole, _ = _whole(net, kp)
    padded = InputContract.of(net).pad(torch.from_numpy(whole)).numpy()  # (1, 40 + r - 1, ..)
    seen = []

    real = poselift.core.predict_checked

    def recording(model, contract, inputs, **kwargs):
        seen.append(inputs.numpy().copy())
        return real(model, contract, inputs, **kwargs)

    monkeypatch.setattr(poselift.core, "predict_checked", recording)
    lift(kp, model=net, skeleton="coco", batch_size=6)
    # ceil(40 / 6) chunks; chunk c: bit-identical to the padded whole sequence's frames
    # 6c .. 6c + 6 + r - 1 (its outputs and their receptive fields)
    assert len(seen) == 7
    for c, chunk in enumerate(seen):
        np.testing.assert_array_equal(chunk[0], padded[0, 6 * c : min(40, 6 * c + 6) + r - 1])


def test_many_short_sequences_go_through_together():
    net = _model("centred")
    kp = _sequences(5, 9, seed=3)
    _, want = _whole(net, kp)
    np.testing.assert_allclose(lift(kp, model=net, batch_size=20), want, atol=1e-5)


def test_independent_frames_in_chunks_and_input_dtypes():
    net = _model("single")
    kp = _sequences(1, 30, seed=4)[0]
    kp[15:18] = _sequences(1, 30, seed=5)[0, :3]  # no empty frame (independent frames)
    want = lift(kp, model=net, temporal=False, batch_size=4096)
    np.testing.assert_allclose(lift(kp, model=net, temporal=False, batch_size=7), want,
                               atol=1e-6)
    half = torch.from_numpy(kp).to(torch.bfloat16)
    got = lift(half, model=net, temporal=False, batch_size=7)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    ref = lift(half.float().numpy(), model=net, temporal=False)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-6)
    # the caller's array is never written to (gaps are filled in copies)
    before = kp.copy()
    lift(kp, model=net, batch_size=7)
    np.testing.assert_array_equal(kp, before)


def test_frames_without_a_pose_are_nan_at_any_batch_size():
    """Issue 29 row 3: one rule for frames with fewer than two valid joints, any batch size.

    Before: an error at batch sizes 1-2 and a fabricated pose at the default batch size.
    """
    net = _model("causal")
    kp = _sequences(2, 12, seed=5)
    kp[1] = np.nan  # a sequence without any valid joint: no pose anywhere
    kp[0, 6:9] = np.nan  # empty frames in sequence 0 are filled from the others
    outs = [lift(kp, model=net, batch_size=b) for b in (1, 2, 4, 4096)]
    assert np.isnan(outs[0][1]).all() and np.isfinite(outs[0][0]).all()
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], atol=1e-5)  # NaN where NaN
    frames = _sequences(1, 12, seed=6)[0, :6]
    frames[:, 6, 2] = 1.0  # every joint valid except the ones emptied below
    frames[4, :, 2] = 0.0  # no valid joint
    frames[2, 1:, 2] = 0.0  # one valid joint
    frames[3, :, :2] = 500.0  # every joint at one pixel: a box of size 0
    single = _model("single")
    outs = [lift(frames, model=single, temporal=False, batch_size=b) for b in (1, 2, 4096)]
    for out in outs:
        assert np.isnan(out[[2, 3, 4]]).all() and np.isfinite(out[[0, 1, 5]]).all()
        np.testing.assert_allclose(out, outs[0], atol=1e-6)
    np.testing.assert_allclose(outs[0][5], lift(frames[5], model=single), atol=1e-6)


def test_a_long_absence_with_max_gap_is_nan_not_a_box_error():
    """Issue 29 row 3: a 120-frame absence with max_gap=30 raised a bounding-box error."""
    net = _model("causal")
    kp = _sequences(1, 200, seed=8)[0]
    kp[:, 6, 2] = 1.0
    kp[40:160] = np.nan
    for b in (7, 4096):
        out = Lifter(net, max_gap=30, batch_size=b).lift(kp)
        assert np.isnan(out[40:160]).all()  # a gap longer than max_gap is not filled
        assert np.isfinite(out[:40]).all() and np.isfinite(out[160:]).all()


def test_long_input_memory_stays_bounded():
    """numpy allocations during a 60,000-frame lift: chunks, the mask, not the input's size."""
    net = _model("causal")
    rng = np.random.default_rng(7)
    kp = rng.uniform(350, 650, (60_000, 17, 3))  # 24.5 MB of float64
    kp[..., 2] = 0.9
    kp[::50, 3, 2] = 0.0
    lift(kp[:100], model=net)  # warm up
    tracemalloc.start()
    try:
        lift(kp, model=net, batch_size=4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # output (4.1 MB float32, from torch: not traced), mask 1 MB, chunks ~1-3 MB each;
    # a whole-input float64 copy alone would be 24.5 MB
    assert peak < 10e6, f"numpy peak {peak / 1e6:.1f} MB"


# --- the causal box-scale window ------------------------------------------------------------------


def test_normalize_bbox_causal_window_against_a_loop():
    rng = np.random.default_rng(8)
    xy = rng.uniform(0, 900, (2, 11, 17, 2))
    got = normalize_bbox(xy, extent=300.0, per_sequence=True, window=5, causal=True)
    sides = (xy.max(-2) - xy.min(-2)).max(-1)
    for s in range(2):
        for t in range(11):
            idx = np.clip(np.arange(t - 4, t + 1), 0, 10)  # the window ends at t
            side = np.median(sides[s, idx])
            centre = (xy[s, t].max(0) + xy[s, t].min(0)) / 2
            np.testing.assert_allclose(got[s, t], (xy[s, t] - centre) * 300.0 / side / 500,
                                       atol=1e-12)


def test_causal_contract_uses_the_causal_window():
    net = _model("causal")
    contract = InputContract.of(net)
    xy = np.random.default_rng(9).uniform(300, 700, (20, 17, 2))
    want = normalize_bbox(xy, extent=contract.extent, per_sequence=True,
                          window=net.receptive_field, causal=True)
    got = contract.prepare(xy)
    np.testing.assert_array_equal(got[..., :2], want)


def test_max_gap_fills_short_gaps_and_leaves_long_ones_missing():
    from poselift._pipeline import fill_gaps

    xy = np.zeros((12, 3, 2))
    xy[:, :, 0] = np.arange(12.0)[:, None] * 10
    valid = np.ones((12, 3), bool)
    valid[2:4, 0] = False  # a gap of 2 frames
    valid[4:10, 1] = False  # a gap of 6 frames
    valid[:3, 2] = False  # 3 frames before the first valid one
    valid[9:, 2] = False  # 3 frames after the last valid one
    filled = xy.copy()
    ok = fill_gaps(filled, valid, np.arange(12), max_gap=3)
    assert ok[2:4, 0].all() and not ok[4:10, 1].any()
    assert ok[:3, 2].all() and ok[9:, 2].all()  # at the ends: within 3 frames of a valid one
    np.testing.assert_allclose(filled[2:4, 0, 0], [20.0, 30.0])  # linear
    np.testing.assert_allclose(filled[:3, 2, 0], 30.0)  # the nearest valid frame repeated
    ok2 = fill_gaps(xy.copy(), valid, np.arange(12), max_gap=2)
    assert not ok2[0, 2] and ok2[1:3, 2].all() and ok2[9:11, 2].all() and not ok2[11, 2]
    # chunks with anchors give the same answer as the whole sequence
    part = xy[5:9].copy()
    before = (np.array([4, 3, 8]), xy[[4, 3, 8], [0, 1, 2]])
    after = (np.array([9, 10, 9]), xy[[9, 10, 9], [0, 1, 2]])
    got = fill_gaps(part, valid[5:9], np.arange(5, 9), before, after, max_gap=3)
    np.testing.assert_array_equal(got, ok[5:9])
    np.testing.assert_allclose(part[got], filled[5:9][got])


def test_lift_passes_long_gaps_as_missing_joints():
    torch.manual_seed(0)
    net = poselift.create_model("sr_tcn", skeleton="coco", in_features=3, input_norm="bbox",
                                channels=16, filter_widths=(3, 3)).eval()
    rng = np.random.default_rng(1)
    kp = rng.uniform(300, 700, (30, 17, 2))
    kp[5:15, 9] = np.nan  # left wrist missing for 10 frames
    kp[20:22, 13] = np.nan  # left knee missing for 2 frames
    got = poselift.lift(kp, skeleton="coco", model=net, max_gap=3, batch_size=7)
    # reference: interpolate the short gap by hand, give the long one as missing joints
    pix = kp.copy()
    for c in range(2):
        pix[20:22, 13, c] = np.interp([20, 21], [19, 22], kp[[19, 22], 13, c])
    valid = np.isfinite(pix).all(-1)
    pix = np.nan_to_num(pix)
    contract = InputContract.of(net)
    inp = torch.from_numpy(np.asarray(contract.prepare(pix, valid)).astype(np.float32))
    want = predict(net, inp).numpy()
    want = want - want[:, :1]
    np.testing.assert_allclose(got, want, atol=1e-5)
    every = poselift.lift(kp, skeleton="coco", model=net, max_gap=None)
    assert np.abs(every - got)[5:15].max() > 1e-4  # interpolating the long gap differs
    full = poselift.lift_full(kp, skeleton="coco", model=net, max_gap=3, rarity=False)
    np.testing.assert_allclose(full.poses, got, atol=1e-6)
    with pytest.raises(ValueError, match="max_gap"):
        poselift.Lifter(net, max_gap=-1)
