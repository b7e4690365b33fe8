"""Tests of poselift.streaming.StreamingLifter with small *untrained* causal models.

References are independent of the streaming code: ``lift`` on the whole sequence (clean
input: a causal model's outputs never depend on later frames), ``lift`` on the sequence
pushed so far (missing joints), and hand-built held / interpolated sequences.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import poselift
import poselift.inference as inf
from poselift import lift
from poselift.models import (
    WeightsEntry,
    clear_model_cache,
    register_weights,
    save_model,
    unregister_weights,
)
from poselift.streaming import DEFAULT_STREAMING_WEIGHTS, StreamingLifter

torch.set_num_threads(1)


def _bn_stats(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, then eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    return net.eval()


def _causal(skeleton: str = "coco", in_features: int = 3, seed: int = 0,
            widths: tuple[int, ...] = (3, 3)) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = poselift.create_model("sr_tcn", skeleton=skeleton, in_features=in_features,
                                input_norm="bbox", causal=True, channels=40,
                                filter_widths=widths, context_init="random")
    return _bn_stats(net, seed)


def _walk(frames: int, seed: int = 0, joints: int = 17) -> np.ndarray:
    """A random walk of a plausible body in pixels, (T, J, 2)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(350, 650, (joints, 2))
    return base + np.cumsum(rng.normal(0, 4, (frames, joints, 2)), 0)


def _with_scores(kp: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([kp, rng.uniform(0.5, 1.0, (*kp.shape[:-1], 1))], -1)


def _push_all(stream: StreamingLifter, kp: np.ndarray) -> np.ndarray:
    return np.stack([stream.push(f) for f in kp])


def _lift_so_far(kp: np.ndarray, model: torch.nn.Module, **kw) -> np.ndarray:
    """The reference: lift on frames 0..t for every t, last frame; NaN where lift refuses."""
    out = []
    for t in range(len(kp)):
        try:
            out.append(lift(kp[: t + 1], model=model, skeleton="coco", **kw)[-1])
        except ValueError:
            out.append(np.full((17, 3), np.nan, np.float32))
    return np.stack(out)


# --- equality with the offline computation ------------------------------------------------------


@pytest.mark.parametrize("widths", [(3, 3), (3, 1, 3)])
def test_push_equals_offline_causal_lift_on_the_whole_sequence(widths):
    net = _causal(widths=widths)
    kp = _walk(40, seed=2)
    kp[20:24] = (kp[20:24] - kp[20:24].mean(1, keepdims=True)) * 0.5 + 500  # the body shrinks
    offline = lift(kp, model=net, skeleton="coco")  # edge-padded at the start, all at once
    got = _push_all(StreamingLifter("coco", net), kp)
    np.testing.assert_allclose(got, offline, atol=2e-5, rtol=0)
    assert got.dtype == np.float32 and np.all(got[:, 0] == 0)


def test_causal_offline_lift_does_not_depend_on_later_frames():
    """The reference itself: the scale window of a causal model ends at its frame."""
    net = _causal()
    kp = _walk(30, seed=3)
    later = kp.copy()
    later[15:] *= 1.7  # later frames bigger (scale) and elsewhere
    np.testing.assert_allclose(lift(later, model=net)[:15], lift(kp, model=net)[:15],
                               atol=1e-6)


def test_push_equals_lift_on_the_sequence_so_far_with_missing_joints_and_frames():
    net = _causal()
    r = net.receptive_field  # 9: two receptive fields are kept
    kp = _with_scores(_walk(60, seed=4))
    kp[:4, 7, :2] = np.nan  # not seen at the start, then seen
    kp[10:14, 3, 2] = 0.1  # low score: a short gap (interpolated once seen again)
    kp[15:50, 5, 2] = 0.0  # a gap much longer than the kept history (held, then anchored)
    kp[30:33] = np.nan  # three missing frames
    kp[:, 9, 2] = 0.0  # never seen at all: missing, score channel 0
    kp[40:, 11, 2] = 0.2  # lost for good: held
    ref = _lift_so_far(kp, net)
    got = _push_all(StreamingLifter("coco", net), kp)
    assert 2 * r - 1 < 35  # the long gap outlives the history
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=0)


def test_a_missing_joint_is_held_at_its_last_valid_position():
    net = _causal()
    kp = _walk(20, seed=5)
    a, b = StreamingLifter("coco", net), StreamingLifter("coco", net)
    _push_all(a, kp[:19])
    _push_all(b, kp[:19])
    gone = kp[19].copy()
    gone[4] = np.nan
    held = kp[19].copy()
    held[4] = kp[18, 4]
    np.testing.assert_allclose(a.push(gone), b.push(held), atol=1e-6)


def test_a_joint_seen_again_is_interpolated_over_its_gap():
    net = _causal()
    kp = _walk(24, seed=6)
    gap = kp.copy()
    gap[17:20, 2] = np.nan  # frames 17-19 missing, 16 and 20 valid
    filled = kp.copy()
    for t in range(17, 20):
        filled[t, 2] = kp[16, 2] + (kp[20, 2] - kp[16, 2]) * (t - 16) / 4
    got = _push_all(StreamingLifter("coco", net), gap)
    want = _push_all(StreamingLifter("coco", net), filled)
    np.testing.assert_allclose(got[20:], want[20:], atol=1e-6)  # once seen: interpolated
    assert not np.allclose(got[17:20], want[17:20], atol=1e-4)  # while missing: held


def test_a_missing_frame_holds_every_joint():
    net = _causal()
    kp = _walk(15, seed=7)
    a, b = StreamingLifter("coco", net), StreamingLifter("coco", net)
    _push_all(a, kp)
    _push_all(b, kp)
    np.testing.assert_allclose(a.push(np.full((17, 2), np.nan)), b.push(kp[-1]), atol=1e-6)
    zero = np.concatenate([kp[-1], np.zeros((17, 1))], -1)  # every score 0: the same
    np.testing.assert_allclose(a.push(zero), b.push(kp[-1]), atol=1e-6)


def test_no_pose_before_the_first_valid_keypoint():
    net = _causal()
    stream = StreamingLifter("coco", net)
    assert np.isnan(stream.push(np.full((17, 2), np.nan))).all()
    one = np.full((17, 2), np.nan)
    one[0] = 500.0  # a single point: a box of size 0
    assert np.isnan(stream.push(one)).all()
    kp = _walk(3, seed=8)
    pose = stream.push(kp[0])
    assert np.isfinite(pose).all()


def test_single_frame_models_stream_frame_by_frame():
    torch.manual_seed(3)
    net = _bn_stats(poselift.create_model("sr", skeleton="coco", hidden=48, in_features=3,
                                          input_norm="bbox"), 3)
    kp = _with_scores(_walk(12, seed=9))
    kp[5:8, 6, 2] = 0.0
    stream = StreamingLifter("coco", net)
    assert stream.receptive_field == 1
    got = _push_all(stream, kp)
    np.testing.assert_allclose(got, _lift_so_far(kp, net), atol=1e-6)
    np.testing.assert_allclose(got[:5], lift(kp[:5], model=net, temporal=False), atol=1e-6)


def test_flip_test_as_in_lift():
    net = _causal()
    kp = _walk(14, seed=10)
    got = _push_all(StreamingLifter("coco", net, flip_test=True), kp)
    np.testing.assert_allclose(got, lift(kp, model=net, flip_test=True), atol=2e-5)


# --- tracks ------------------------------------------------------------------------------------


def test_tracks_are_independent_streams_and_can_be_pushed_together():
    net = _causal()
    a, b = _walk(16, seed=11), _walk(16, seed=12)
    alone_a = _push_all(StreamingLifter("coco", net), a)
    alone_b = _push_all(StreamingLifter("coco", net), b)
    stream = StreamingLifter("coco", net)
    got_a, got_b = [], []
    for t in range(16):
        if t % 3:
            both = stream.push(np.stack([a[t], b[t]]), track_id=("a", 7))
            got_a.append(both[0])
            got_b.append(both[1])
        else:  # one at a time, in either order
            got_b.append(stream.push(b[t], track_id=7))
            got_a.append(stream.push(a[t], track_id="a"))
    np.testing.assert_allclose(np.stack(got_a), alone_a, atol=1e-6)
    np.testing.assert_allclose(np.stack(got_b), alone_b, atol=1e-6)
    assert set(stream.tracks) == {"a", 7}
    stream.reset("a")
    assert stream.tracks == (7,)
    np.testing.assert_allclose(stream.push(a[5], track_id="a"),
                               StreamingLifter("coco", net).push(a[5]), atol=1e-6)  # anew
    stream.reset()
    assert stream.tracks == ()


def test_torch_in_torch_out():
    net = _causal()
    stream = StreamingLifter("coco", net)
    kp = torch.from_numpy(_walk(3, seed=13)).float()
    out = stream.push(kp[0])
    assert isinstance(out, torch.Tensor) and out.shape == (17, 3) and out.dtype == torch.float32


# --- models and errors --------------------------------------------------------------------------


def test_models_that_look_ahead_or_do_not_fit_are_refused():
    centred = poselift.create_model("sr_tcn", skeleton="coco", channels=16,
                                    filter_widths=(3, 3), input_norm="bbox").eval()
    with pytest.raises(ValueError, match="does not look ahead.*4 later frames"):
        StreamingLifter("coco", centred)
    with pytest.raises(ValueError, match="skeleton: the model takes 'coco'"):
        StreamingLifter("h36m", _causal())
    screen = poselift.create_model("sr", skeleton="coco", hidden=16).eval()
    with pytest.raises(ValueError, match="image_size: required"):
        StreamingLifter("coco", screen)
    StreamingLifter("coco", screen, image_size=(640, 480))
    with pytest.raises(ValueError, match="image_size"):
        StreamingLifter("coco", screen, image_size=(640, -1))
    with pytest.raises(TypeError, match="model"):
        StreamingLifter("coco", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="convert a detector's layout"):
        StreamingLifter("body_25")


def test_bad_pushes_raise_and_record_nothing():
    net = _causal()
    stream = StreamingLifter("coco", net)
    kp = _walk(6, seed=14)
    stream.push(kp[0])
    for bad, match in ((np.zeros((16, 2)), r"J=17"), (np.zeros((2, 2, 17, 2)), r"\(J, 2\|3\)"),
                       (np.zeros((17, 4)), r"\(J, 2\|3\)")):
        with pytest.raises(ValueError, match=match):
            stream.push(bad)
    inf_frame = kp[1].copy()
    inf_frame[0, 0] = np.inf
    with pytest.raises(ValueError, match="found inf"):
        stream.push(inf_frame)
    with pytest.raises(TypeError, match="keypoints"):
        stream.push(kp[1].tolist())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="track_id: expected a sequence of 2"):
        stream.push(kp[1:3], track_id=0)
    with pytest.raises(ValueError, match="distinct"):
        stream.push(kp[1:3], track_id=[1, 1])
    with pytest.raises(TypeError, match="track_id"):
        stream.push(kp[1], track_id=[1])
    assert stream.tracks == (0,)
    fresh = StreamingLifter("coco", net)
    fresh.push(kp[0])
    np.testing.assert_allclose(stream.push(kp[1]), fresh.push(kp[1]), atol=1e-7)


def test_missing_joints_need_a_score_channel():
    net = _causal(in_features=2)
    stream = StreamingLifter("coco", net)
    kp = _walk(3, seed=15)
    part = kp[0].copy()
    part[3] = np.nan
    with pytest.raises(ValueError, match="have not been seen yet"):
        stream.push(part)
    assert stream.tracks == ()
    stream.push(kp[0])
    held = np.where(np.isnan(part), kp[0], part)  # seen before: held
    want = _push_all(StreamingLifter("coco", net), np.stack([kp[0], held]))[-1]
    np.testing.assert_allclose(stream.push(part), want, atol=1e-6)


# --- the default model ----------------------------------------------------------------------------


def test_default_falls_back_to_the_single_frame_weights_with_a_warning(monkeypatch):
    monkeypatch.setitem(DEFAULT_STREAMING_WEIGHTS, "coco", "sr_tcn.not-shipped")
    with pytest.warns(UserWarning, match="not shipped.*single-frame weights 'sr.coco'"):
        stream = StreamingLifter("coco")
    assert stream.weights == "sr.coco" and stream.receptive_field == 1
    kp = _walk(2, seed=16)
    np.testing.assert_allclose(stream.push(kp[0]), lift(kp[0], skeleton="coco"), atol=1e-6)
    monkeypatch.setattr(inf, "list_weights", lambda: [])
    monkeypatch.setattr(poselift.streaming, "list_weights", lambda: [])
    with pytest.raises(inf.WeightsUnavailableError, match="no shipped streaming weights"):
        StreamingLifter("coco")


def test_default_uses_the_causal_weights_once_shipped(tmp_path, monkeypatch):
    net = _causal()
    path = tmp_path / "causal.pt"
    save_model(net, path)
    register_weights(WeightsEntry("sr_tcn.test-causal", path, {"note": "random, test only"}))
    try:
        monkeypatch.setitem(DEFAULT_STREAMING_WEIGHTS, "coco", "sr_tcn.test-causal")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stream = StreamingLifter("coco")
        assert stream.weights == "sr_tcn.test-causal"
        kp = _walk(12, seed=17)
        np.testing.assert_allclose(_push_all(stream, kp), lift(kp, model=net), atol=2e-5)
    finally:
        unregister_weights("sr_tcn.test-causal")
        clear_model_cache()


def test_nan_track_ids_are_refused_not_a_new_track_per_push():
    """Issue 29: NaN track ids created a new track per push (NaN != NaN)."""
    import math

    from poselift.demo import load_demo_sample

    kp = load_demo_sample()["keypoints2d"][0]
    stream = StreamingLifter("coco", "sr.coco")
    for bad in (float("nan"), np.float32("nan"), math.nan):
        with pytest.raises(ValueError, match="track_id: NaN is not an id"):
            stream.push(kp, track_id=bad)
        with pytest.raises(ValueError, match="track_id: NaN is not an id"):
            stream.push(np.stack([kp, kp]), track_id=[1, bad])
    assert stream.tracks == ()
    stream.push(kp, track_id=2.5)  # other floats are ids
    assert stream.tracks == (2.5,)


def test_tensor_and_numpy_track_ids_are_their_values():
    """A 0-d tensor is hashed by identity: ``torch.tensor(float('nan'))`` (and any tensor id)
    started a new track on every push; it is the number it holds, as a numpy scalar is."""
    net = _causal()
    kp = _walk(3, seed=18)
    stream = StreamingLifter("coco", net)
    with pytest.raises(ValueError, match="track_id: NaN is not an id"):
        stream.push(kp[0], track_id=torch.tensor(float("nan")))
    with pytest.raises(ValueError, match="track_id: NaN is not an id"):
        stream.push(kp[:2], track_id=torch.tensor([1.0, float("nan")]))
    with pytest.raises(TypeError, match=r"track_id: expected a hashable id, got a tensor of "
                                        r"shape \(2,\)"):
        stream.push(kp[0], track_id=torch.tensor([1, 2]))
    assert stream.tracks == ()
    ref = StreamingLifter("coco", net)
    for f, tid in zip(kp, (3, torch.tensor(3), np.int64(3)), strict=True):  # one track
        np.testing.assert_array_equal(stream.push(f, track_id=tid), ref.push(f, track_id=3))
    assert stream.tracks == (3,) and type(stream.tracks[0]) is int
    stream.push(kp[:2], track_id=torch.tensor([3, 4]))  # a 1-d tensor: one id per row
    assert stream.tracks == (3, 4)
    stream.reset(torch.tensor(4))
    assert stream.tracks == (3,)
