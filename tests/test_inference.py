"""Tests of poselift.inference: lift() and Lifter, with small *untrained* models.

No pretrained weights exist yet; every model here is randomly initialized and only used to
check the plumbing (shapes, normalization, missing joints, model resolution, caching)
against independent references built from poselift.prediction.predict.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import poselift
import poselift.inference as inf
import poselift.models.resolve
from poselift._pipeline import fill_gaps
from poselift.camera import normalize_screen
from poselift.inference import TYPICAL_EXTENT_PX, Lifter, WeightsUnavailableError, lift
from poselift.models import (
    WeightsEntry,
    clear_model_cache,
    create_model,
    register_weights,
    save_model,
    unregister_weights,
)
from poselift.prediction import predict

torch.set_num_threads(1)


def _sr(skeleton: str = "coco", in_features: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("sr", skeleton=skeleton, hidden=64, in_features=in_features).eval()


def _tcn(skeleton: str = "coco", in_features: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("sr_tcn", skeleton=skeleton, channels=32, filter_widths=(3, 3),
                        in_features=in_features).eval()


def _kp(*lead: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(300.0, 700.0, (*lead, 17, 2))


def _ref(model: torch.nn.Module, norm: np.ndarray) -> np.ndarray:
    """Independent reference: predict on already-normalized input, pelvis to the origin."""
    out = predict(model, torch.from_numpy(norm.astype(np.float32))).numpy()
    return out - out[..., :1, :]


# --- shapes, kinds, units --------------------------------------------------------------------


@pytest.mark.parametrize("lead", [(), (12,), (2, 12)])
def test_shapes_and_kinds(lead):
    net = _tcn() if lead else _sr()
    kp = _kp(*lead)
    out = lift(kp, model=net, image_size=(1000, 1000))
    assert isinstance(out, np.ndarray) and out.shape == (*lead, 17, 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 0, :], 0.0)  # pelvis at the origin
    out_t = lift(torch.from_numpy(kp), model=net, image_size=(1000, 1000))
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), out, atol=1e-6)


def test_single_frame_matches_reference_with_image_size():
    net = _sr()
    kp = _kp()
    got = lift(kp, model=net, image_size=(1280, 720))
    ref = _ref(net, np.asarray(normalize_screen(kp, 1280, 720)))
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_sequence_uses_edge_padded_temporal_model():
    net = _tcn()
    kp = _kp(2, 15)
    got = lift(kp, model=net, image_size=(1000, 1000))
    norm = np.asarray(normalize_screen(kp, 1000, 1000))
    # hand-built edge padding (receptive field 9: 4 frames each side) + valid convolution
    pad = np.concatenate([np.repeat(norm[:, :1], 4, 1), norm, np.repeat(norm[:, -1:], 4, 1)], 1)
    with torch.no_grad():
        ref = net(torch.from_numpy(pad.astype(np.float32))).numpy()
    ref = ref - ref[..., :1, :]
    assert got.shape == (2, 15, 17, 3)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_temporal_false_lifts_frames_independently():
    net = _sr()
    kp = _kp(6)
    got = lift(kp, model=net, image_size=(1000, 1000), temporal=False)
    for t in range(6):
        np.testing.assert_allclose(got[t], lift(kp[t], model=net, image_size=(1000, 1000)),
                                   atol=1e-6)
    with pytest.raises(ValueError, match="temporal model needs sequences"):
        lift(kp, model=_tcn(), image_size=(1000, 1000), temporal=False)
    with pytest.raises(ValueError, match="temporal: True needs a sequence"):
        lift(kp[0], model=net, temporal=True)


# --- bounding-box normalization ----------------------------------------------------------------


def test_bbox_normalization_matches_hand_computation():
    net = _sr()
    kp = _kp(seed=3)
    centre = (kp.min(0) + kp.max(0)) / 2
    side = (kp.max(0) - kp.min(0)).max()
    virtual = (kp - centre) * TYPICAL_EXTENT_PX["coco"] / side + 500.0
    np.testing.assert_allclose(lift(kp, model=net),
                               lift(virtual, model=net, image_size=(1000, 1000)), atol=1e-5)


def test_bbox_normalization_is_translation_and_scale_invariant():
    net = _sr()
    kp = _kp(seed=4)
    a = lift(kp, model=net)
    b = lift(kp * 2.7 + np.array([1500.0, -80.0]), model=net)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_bbox_sequence_uses_one_median_scale():
    net = _tcn()
    kp = _kp(9, seed=5)
    kp[4] = (kp[4] - kp[4].mean(0)) * 3 + kp[4].mean(0)  # one frame 3x larger
    side = (kp.max(1) - kp.min(1)).max(-1)
    scale = TYPICAL_EXTENT_PX["coco"] / np.median(side)
    centre = (kp.min(1) + kp.max(1)) / 2
    virtual = (kp - centre[:, None]) * scale + 500.0
    np.testing.assert_allclose(lift(kp, model=net),
                               lift(virtual, model=net, image_size=(1000, 1000)), atol=1e-5)


def test_degenerate_bbox_is_nan_with_a_warning():
    kp = np.full((17, 2), 400.0)
    with pytest.warns(UserWarning, match="1 frame.* without a pose .* are NaN"):
        assert np.isnan(lift(kp, model=_sr())).all()


# --- missing joints ----------------------------------------------------------------------------


def test_sequence_missing_joints_are_interpolated_over_time():
    net = _tcn()
    kp = _kp(8, seed=6)
    holed = kp.copy()
    holed[3, 5] = np.nan  # interior: midpoint of frames 2 and 4 after filling frame 3
    holed[0, 9] = np.nan  # edge: nearest valid frame
    holed[1, 9] = np.nan
    filled = kp.copy()
    filled[3, 5] = (kp[2, 5] + kp[4, 5]) / 2
    filled[0, 9] = filled[1, 9] = kp[2, 9]
    got = lift(holed, model=net, image_size=(1000, 1000))
    np.testing.assert_allclose(got, lift(filled, model=net, image_size=(1000, 1000)), atol=1e-6)
    # a low score is the same as NaN; scores as a channel or as scores= agree
    scores = np.ones((8, 17))
    scores[3, 5] = scores[0, 9] = scores[1, 9] = 0.1
    with_scores = np.concatenate([kp, scores[..., None]], -1)
    np.testing.assert_allclose(lift(with_scores, model=net, image_size=(1000, 1000)), got,
                               atol=1e-6)
    np.testing.assert_allclose(lift(kp, scores=scores, model=net, image_size=(1000, 1000)),
                               got, atol=1e-6)


def test_missing_single_frame_needs_score_channel():
    kp = _kp(seed=7)
    kp[9] = np.nan
    with pytest.raises(ValueError, match="no score channel"):
        lift(kp, model=_sr(), image_size=(1000, 1000))
    scores = np.ones(17)
    scores[10] = 0.0
    with pytest.raises(ValueError, match="no score channel"):
        lift(_kp(), scores=scores, model=_sr(), image_size=(1000, 1000))


def test_missing_single_frame_with_score_channel_uses_training_representation():
    net = _sr(in_features=3)
    kp = _kp(seed=8)
    kp[9] = np.nan
    got = lift(kp, model=net, image_size=(1000, 1000))
    norm = np.asarray(normalize_screen(np.nan_to_num(kp), 1000, 1000))
    x = np.concatenate([norm, np.ones((17, 1))], -1)
    x[9] = 0.0  # dropped joint: (0, 0) with score 0, as poselift.data.Augmentation makes it
    np.testing.assert_allclose(got, _ref(net, x), atol=1e-6)
    # with bbox normalization the missing joint does not enter the box
    got_b = lift(kp, model=net)
    kp2 = kp.copy()
    kp2[9] = kp[0]  # any value: the joint is missing anyway, but a NaN-free copy must agree
    sc = np.ones(17)
    sc[9] = 0
    np.testing.assert_allclose(lift(kp2, scores=sc, model=net), got_b, atol=1e-6)


def test_never_visible_joint_in_sequence():
    kp = _kp(10, seed=9)
    kp[:, 3] = np.nan
    with pytest.raises(ValueError, match="never visible"):
        lift(kp, model=_tcn(), image_size=(1000, 1000))
    net = _tcn(in_features=3)
    got = lift(kp, model=net, image_size=(1000, 1000))
    norm = np.asarray(normalize_screen(np.nan_to_num(kp), 1000, 1000))
    x = np.concatenate([norm, np.ones((10, 17, 1))], -1)
    x[:, 3] = 0.0
    np.testing.assert_allclose(got, _ref(net, x), atol=1e-5)


def test_no_valid_joint_is_nan_with_a_warning():
    kp = np.full((17, 2), np.nan)
    with pytest.warns(UserWarning, match="without a pose"):
        out = lift(kp, model=_sr(in_features=3), image_size=(1000, 1000))
    assert out.shape == (17, 3) and np.isnan(out).all()


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keypoints2d": np.zeros((16, 2))}, r"keypoints2d: expected shape"),
        ({"keypoints2d": np.zeros((17, 4))}, r"keypoints2d: expected shape"),
        ({"keypoints2d": np.zeros((1, 2, 3, 17, 2))}, r"\(N, T, J, 2\).*got \(1, 2, 3, 17, 2\)"),
        ({"keypoints2d": [[0, 0]] * 17}, r"keypoints2d: expected a numpy.ndarray"),
        ({"image_size": (0, 10)}, r"image_size: expected \(width, height\)"),
        ({"scores": np.ones(16)}, r"scores: expected shape"),
        ({"keypoints2d": np.full((17, 2), np.inf)}, r"keypoints2d: expected finite"),
        ({"skeleton": "h36m"}, r"skeleton: the model takes 'coco'"),
        ({"batch_size": 0}, r"batch_size: expected a positive int"),
        ({"model": 3}, r"model: expected 'default'"),
        ({"model": "sr"}, r"'sr' is an architecture without trained weights"),
        ({"model": "no-such-thing"}, r"model: expected .*'no-such-thing'"),
    ],
)
def test_validation_errors_name_the_argument(kwargs, match):
    args = {"keypoints2d": _kp(), "model": _sr()} | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        lift(**args)


def test_scores_given_twice():
    kp = np.concatenate([_kp(), np.ones((17, 1))], -1)
    with pytest.raises(ValueError, match="scores: given twice"):
        lift(kp, scores=np.ones(17), model=_sr())


# --- model resolution and cache ---------------------------------------------------------------


def test_default_without_shipped_weights_raises_clearly(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(inf, "list_weights", lambda: [])  # as if none were shipped
    with pytest.raises(WeightsUnavailableError, match=r"single-frame weights.*'sr\.coco'"):
        lift(_kp(), skeleton="coco")
    with pytest.raises(WeightsUnavailableError,
                       match=r"temporal weights.*'sr_tcn\.h36m\+sr\.h36m'"):
        lift(_kp(5), skeleton="h36m")


@pytest.fixture
def random_weights(tmp_path):
    """Register randomly initialized 'sr.test-random' weights for the test only (not trained)."""
    net = _sr()
    path = tmp_path / "random.pt"
    save_model(net, path)
    register_weights(WeightsEntry("sr.test-random", path, {"note": "random init, test only"}))
    clear_model_cache()
    yield net, path
    unregister_weights("sr.test-random")
    clear_model_cache()


def test_weights_name_path_and_module_agree(random_weights, monkeypatch):
    net, path = random_weights
    kp = _kp(seed=11)
    ref = lift(kp, model=net)
    np.testing.assert_allclose(lift(kp, model="sr.test-random"), ref, atol=1e-6)
    np.testing.assert_allclose(lift(kp, model=str(path)), ref, atol=1e-6)
    np.testing.assert_allclose(lift(kp, model=path), ref, atol=1e-6)
    # "default" resolves by (skeleton, temporal) through DEFAULT_WEIGHTS
    monkeypatch.setitem(inf.DEFAULT_WEIGHTS, ("coco", False), "sr.test-random")
    np.testing.assert_allclose(lift(kp), ref, atol=1e-6)


def test_model_loaded_once_per_device_across_threads(random_weights, monkeypatch):
    import poselift.models

    _, path = random_weights
    calls = []
    real = poselift.models.load_model

    def counting(p):
        calls.append(p)
        return real(p)

    monkeypatch.setattr(poselift.models.resolve, "load_model", counting)
    kp = _kp(seed=12)
    results = []
    errors = []

    def work():
        try:
            results.append(Lifter(path).lift(kp))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(calls) == 1
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    assert Lifter(path).model_for("coco", False) is Lifter(path).model_for("coco", False)


def test_lifter_repr_and_threshold():
    lifter = Lifter(_sr(), score_threshold=0.5)
    assert "score_threshold=0.5" in repr(lifter)
    kp = _kp(4, seed=13)
    scores = np.full((4, 17), 0.6)
    scores[1, 2] = 0.4  # below 0.5: interpolated from frames 0 and 2
    got = lifter.lift(kp, scores=scores, image_size=(1000, 1000))
    filled = kp.copy()
    filled[1, 2] = (kp[0, 2] + kp[2, 2]) / 2
    np.testing.assert_allclose(got, lifter.lift(filled, image_size=(1000, 1000)), atol=1e-6)
    with pytest.raises(ValueError, match="score_threshold"):
        Lifter(_sr(), score_threshold=-1)


def test_interpolation_matches_naive_reference():
    rng = np.random.default_rng(14)
    xy = rng.normal(size=(3, 11, 17, 2))
    valid = rng.random((3, 11, 17)) > 0.4
    valid[0, :, 0] = False  # never visible: left alone
    ref = xy.copy()
    for s in range(3):
        for j in range(17):
            ok = np.flatnonzero(valid[s, :, j])
            if len(ok) == 0:
                continue
            for t in range(11):
                if valid[s, t, j]:
                    continue
                before, after = ok[ok < t], ok[ok > t]
                if len(before) == 0:
                    ref[s, t, j] = xy[s, after[0], j]
                elif len(after) == 0:
                    ref[s, t, j] = xy[s, before[-1], j]
                else:
                    p, n = before[-1], after[0]
                    ref[s, t, j] = xy[s, p, j] + (xy[s, n, j] - xy[s, p, j]) * (t - p) / (n - p)
    got, v = xy.copy(), valid.copy()
    for s in range(3):
        v[s] = fill_gaps(got[s], valid[s], np.arange(11))
    np.testing.assert_allclose(got, ref, atol=1e-12)
    np.testing.assert_array_equal(v, np.broadcast_to(valid.any(1, keepdims=True), v.shape))
    assert not v[0, :, 0].any()


# --- input_norm="bbox" models ------------------------------------------------------------------


def test_bbox_models_ignore_image_size_and_placement():
    net = poselift.create_model("sr", skeleton="coco", hidden=32, input_norm="bbox").eval()
    kp = _kp(6, seed=3)
    ref = lift(kp, model=net, temporal=False)
    np.testing.assert_allclose(lift(kp, model=net, temporal=False, image_size=(640, 480)), ref,
                               atol=1e-6)
    moved = kp * 2.5 + np.array([700.0, -40.0])  # zoomed and shifted in the image
    np.testing.assert_allclose(lift(moved, model=net, temporal=False), ref, atol=1e-5)


def test_normalize_bbox_against_a_loop():
    from poselift.normalization import normalize_bbox

    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 900, (3, 5, 17, 2))
    valid = rng.random((3, 5, 17)) > 0.2
    for per_sequence in (False, True):
        got = normalize_bbox(xy, valid, extent=300.0, per_sequence=per_sequence)
        sides = np.zeros((3, 5))
        for s in range(3):
            for t in range(5):
                v = xy[s, t][valid[s, t]]
                sides[s, t] = (v.max(0) - v.min(0)).max()
        for s in range(3):
            for t in range(5):
                v = xy[s, t][valid[s, t]]
                centre = (v.max(0) + v.min(0)) / 2
                side = np.median(sides[s]) if per_sequence else sides[s, t]
                np.testing.assert_allclose(got[s, t], (xy[s, t] - centre) * 300.0 / side / 500,
                                           atol=1e-12)
    t = normalize_bbox(torch.from_numpy(xy), torch.from_numpy(valid), extent=300.0)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), normalize_bbox(xy, valid, extent=300.0))


def test_flip_test_averages_with_the_mirrored_input():
    from poselift.data.augment import flip_poses

    net = poselift.create_model("sr", skeleton="coco", hidden=32, input_norm="bbox").eval()
    kp = _kp(6, seed=9)
    plain = lift(kp, model=net, temporal=False)
    # the mirrored input by hand: x -> -x about the box centre, left/right joints swapped
    sk = poselift.get_skeleton("coco")
    mirrored = kp[:, list(sk.flip_indices)].copy()
    mirrored[..., 0] = -mirrored[..., 0]
    back = flip_poses(lift(mirrored, model=net, temporal=False), "h36m")
    want = (plain + back) / 2
    np.testing.assert_allclose(lift(kp, model=net, temporal=False, flip_test=True),
                               want - want[:, :1], atol=1e-5)
    with pytest.raises(TypeError, match="flip_test"):
        Lifter(net, flip_test=1)  # type: ignore[arg-type]


def test_normalize_bbox_sliding_window_against_a_loop():
    from poselift.normalization import normalize_bbox

    rng = np.random.default_rng(6)
    xy = rng.uniform(0, 900, (2, 11, 17, 2))
    got = normalize_bbox(xy, extent=300.0, per_sequence=True, window=5)
    sides = (xy.max(-2) - xy.min(-2)).max(-1)  # (2, 11)
    for s in range(2):
        for t in range(11):
            idx = np.clip(np.arange(t - 2, t + 3), 0, 10)  # ends repeated
            side = np.median(sides[s, idx])
            centre = (xy[s, t].max(0) + xy[s, t].min(0)) / 2
            np.testing.assert_allclose(got[s, t], (xy[s, t] - centre) * 300.0 / side / 500,
                                       atol=1e-12)
    with pytest.raises(ValueError, match="window"):
        normalize_bbox(xy, extent=300.0, per_sequence=True, window=4)


def test_bbox_temporal_model_uses_a_sliding_median_scale():
    """lift on a sequence == the model on the sequence normalized with a sliding median scale
    over its receptive field (training: one median scale per window), edge-padded."""
    from poselift.normalization import normalize_bbox

    net = poselift.create_model("sr_tcn", skeleton="coco", channels=16, filter_widths=(3, 3),
                                input_norm="bbox").eval()
    kp = _kp(12, seed=2)
    kp[5:8] = (kp[5:8] - kp[5:8].mean(1, keepdims=True)) * 0.6 + kp[5:8].mean(1, keepdims=True)
    out = lift(kp, model=net)
    r = net.receptive_field
    norm = torch.from_numpy(normalize_bbox(kp, extent=302.0, per_sequence=True, window=r))
    padded = torch.cat([norm[:1].expand(r // 2, -1, -1), norm,
                        norm[-1:].expand(r // 2, -1, -1)]).float()
    with torch.no_grad():
        y = net(padded[None])[0].numpy()
    np.testing.assert_allclose(out, y - y[:, :1], atol=1e-5)
    # a whole-sequence median would differ where the body shrinks (frames 5-7)
    whole = torch.from_numpy(normalize_bbox(kp, extent=302.0, per_sequence=True))
    assert not torch.allclose(whole.float(), norm.float(), atol=1e-3)


# --- the score threshold is inclusive; devices -------------------------------------------------


@pytest.mark.parametrize("temporal", [False, True])
def test_score_exactly_at_the_threshold_is_present(temporal):
    """``score >= score_threshold`` is present, just below is missing (docs/inference.md)."""
    net = _tcn(in_features=3) if temporal else _sr(in_features=3)
    kp = _kp(5, seed=21)
    for threshold in (0.3, 0.5, 0.05):
        at = np.ones((5, 17))
        at[2, 9] = threshold  # exactly at the threshold
        below = at.copy()
        below[2, 9] = np.nextafter(threshold, 0.0)  # the next float below it
        holed = kp.copy()
        holed[2, 9] = np.nan
        kw = {"model": net, "image_size": (1000, 1000), "score_threshold": threshold,
              "temporal": temporal}
        full = lift(kp, **kw)
        missing = lift(holed, **kw)
        assert np.abs(full - missing).max() > 1e-4  # the joint matters
        np.testing.assert_array_equal(lift(kp, scores=at, **kw), full)
        np.testing.assert_array_equal(lift(kp, scores=below, **kw), missing)
        # the same through a score channel and through the default threshold
        np.testing.assert_array_equal(lift(np.concatenate([kp, at[..., None]], -1), **kw), full)
    d = np.ones((5, 17))
    d[2, 9] = 0.3
    np.testing.assert_array_equal(lift(kp, scores=d, model=net, image_size=(1000, 1000),
                                       temporal=temporal),
                                  lift(kp, model=net, image_size=(1000, 1000),
                                       temporal=temporal))


def test_device_argument(random_weights):
    net, path = random_weights
    kp = _kp(3, seed=22)
    ref = lift(kp, model=net, temporal=False)
    for device in ("cpu", torch.device("cpu"), None):
        np.testing.assert_allclose(lift(kp, model=path, device=device, temporal=False), ref,
                                   atol=1e-6)
        np.testing.assert_allclose(lift(kp, model="sr.test-random", device=device,
                                        temporal=False), ref, atol=1e-6)
    loaded = Lifter(path, device="cpu").model_for("coco", False)
    assert next(loaded.parameters()).device == torch.device("cpu")
    assert Lifter(path, device=torch.device("cpu")).model_for("coco", False) is loaded  # cached
    out = lift(torch.from_numpy(kp), model=net, device="cpu", temporal=False)
    assert isinstance(out, torch.Tensor) and out.device == torch.device("cpu")
    with pytest.raises(ValueError, match="device: 'meta' holds no data"):
        lift(kp, model=path, device="meta")
    with pytest.raises(ValueError, match=r"device: expected None, a torch.device"):
        lift(kp, model=path, device=0)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: 'cuda' is not available"):
            lift(kp, model=path, device="cuda")


def test_checkpoint_overwritten_at_the_same_path_is_not_served_stale(tmp_path):
    """Issue 29 row 7: the model cache is keyed on the file's identity, not its path."""
    from poselift.models import clear_model_cache, resolve_model

    path = tmp_path / "net.pt"
    kp = np.random.default_rng(0).uniform(300, 700, (3, 17, 2))
    torch.manual_seed(0)
    first = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
                                  hidden=32).eval()
    torch.manual_seed(1)
    second = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
                                   hidden=32).eval()
    poselift.save_model(first, path)
    a = lift(kp, model=str(path), temporal=False)
    assert resolve_model(path) is resolve_model(str(path))  # cached while unchanged
    poselift.save_model(second, path)  # the same path, another file
    b = lift(kp, model=str(path), temporal=False)
    np.testing.assert_allclose(a, lift(kp, model=first, temporal=False), atol=1e-6)
    np.testing.assert_allclose(b, lift(kp, model=second, temporal=False), atol=1e-6)
    assert np.abs(a - b).max() > 1e-3
    clear_model_cache()


def test_load_model_takes_a_weights_name():
    net = poselift.load_model("sr.coco")
    ref = poselift.create_model("sr", weights="sr.coco")
    x = torch.randn(2, 17, 3)
    assert torch.equal(net(x), ref(x)) and not net.training
