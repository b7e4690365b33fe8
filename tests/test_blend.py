"""The temporal + single-frame blend (poselift.models.blend): what it computes, and its use.

The reference for what the blend computes is written here with SciPy: the two parts run
separately, the single-frame poses and the gated share smoothed with
``scipy.ndimage.gaussian_filter1d`` over whole sequences (its boundary rule does not reach the
frames compared, which have the whole Gaussian inside the window).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

import poselift
from poselift.models.blend import TemporalBlend, blend_spec, limb_joints
from poselift.models.resolve import resolve_model

torch.set_num_threads(1)


def _parts(causal: bool = False, in_features: int = 3) -> tuple[torch.nn.Module, ...]:
    torch.manual_seed(0)
    t = poselift.create_model("sr_tcn", skeleton="coco", in_features=in_features,
                              input_norm="bbox", channels=24, filter_widths=(3, 3, 3),
                              causal=causal).eval()
    s = poselift.create_model("sr", skeleton="coco", in_features=in_features,
                              input_norm="bbox", hidden=32).eval()
    return t, s


def _inputs(frames: int = 60, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, frames, 17, 3, generator=g)
    x[..., 2] = 1.0
    x[0, 20:23, 9, 2] = 0.0  # a wrist lost for three frames
    x[1, 40:, 13, 2] = 0.0  # a knee lost for good
    x[0, 50:, 11:17, 2] = 0.0  # the legs out of view
    x[1, frames // 2, :, 2] = 0.0  # a frame without any joint: no single-frame pose to add
    x[..., :2] *= x[..., 2:]  # missing joints are zero, as InputContract.prepare gives them
    return x


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0])
def test_blend_is_the_gated_mean_of_its_parts_smoothed_in_time(sigma):
    t, s = _parts()
    net = TemporalBlend(t, s, single_weight=0.4, smoothing=sigma, min_limbs=12, flip=False)
    x = _inputs()
    # the single-frame model sees each frame's box centred and scaled (numpy, by hand)
    xn = x.numpy().astype(np.float64)
    valid = xn[..., 2] > 0
    lo = np.where(valid[..., None], xn[..., :2], np.inf).min(-2)
    hi = np.where(valid[..., None], xn[..., :2], -np.inf).max(-2)
    with np.errstate(all="ignore"):  # the empty frame has no box: NaN
        scale = (302.0 / 500) / (hi - lo).max(-1)
        xy = (xn[..., :2] - (lo + hi)[..., None, :] / 2) * scale[..., None, None] * valid[..., None]
    per_frame = np.concatenate([xy, xn[..., 2:]], -1)
    with torch.no_grad():
        out = net(x).numpy()
        temporal = t(x).numpy()
        single = s(torch.from_numpy(per_frame).float().reshape(-1, 17, 3))
        single = single.reshape(2, 60, 17, 3).numpy()
    seen = (x[..., limb_joints("coco"), 2] > 0).all(-1).numpy()
    share = 0.4 * seen.astype(np.float64)
    # each frame's single-frame pose weighted by its own share, then both smoothed
    with np.errstate(all="ignore"):  # the empty frame's single-frame pose is NaN
        weighted = np.where(share[..., None, None] > 0, single * share[..., None, None], 0.0)
    if sigma > 0:
        weighted = gaussian_filter1d(weighted, sigma, axis=1, truncate=3.0)
        share = gaussian_filter1d(share, sigma, axis=1, truncate=3.0)
    r = net.receptive_field // 2
    weighted, share = weighted[:, r:60 - r], share[:, r:60 - r, None, None]
    ref = temporal * (1 - share) + weighted
    radius = int(np.ceil(3 * sigma))
    inner = slice(radius, out.shape[1] - radius)  # frames whose Gaussian lies inside
    np.testing.assert_allclose(out[:, inner], ref[:, inner], atol=2e-5, rtol=0)
    # where a limb joint is missing the single-frame share is 0: the temporal poses alone
    if sigma == 0:
        np.testing.assert_allclose(out[1, 40 - r:], temporal[1, 40 - r:], atol=1e-6)
        assert np.abs(out[0] - temporal[0]).max() > 1e-3


def test_the_blend_averages_in_its_mirrored_output():
    """flip=True (the default): the mirrored input's mirrored output averaged in, written
    here with the left/right pairs by hand."""
    coco_pairs = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
    h36m_pairs = [(1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)]

    def mirror(a: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
        out = a.clone()
        out[..., 0] = -out[..., 0]
        for i, j in pairs:
            out[..., [i, j], :] = out[..., [j, i], :]
        return out

    t, s = _parts()
    x = _inputs(40)
    plain = TemporalBlend(t, s, flip=False).eval()
    flipped = TemporalBlend(t, s).eval()
    assert flipped.flip
    with torch.no_grad():
        ref = 0.5 * (plain(x) + mirror(plain(mirror(x, coco_pairs)), h36m_pairs))
        torch.testing.assert_close(flipped(x), ref, atol=1e-6, rtol=0)
    assert (ref - plain(x)).abs().max() > 1e-3
    with pytest.raises(TypeError, match="flip: expected True or False"):
        TemporalBlend(t, s, flip=1)  # type: ignore[arg-type]


def test_the_single_frame_part_gets_inputs_normalized_per_frame():
    """Window-normalized (temporal) inputs -> exactly normalize_bbox of each frame alone."""
    from poselift.demo import load_demo_sample
    from poselift.normalization import normalize_bbox

    kp = np.asarray(load_demo_sample()["keypoints2d"], np.float64)[:40]
    xy, valid = torch.tensor(kp[..., :2]), torch.tensor(kp[..., 2] >= 0.3)
    valid[10, 5] = False
    window = normalize_bbox(xy, valid, extent=302.0, per_sequence=True, window=27)
    alone = normalize_bbox(xy, valid, extent=302.0) * valid[..., None]
    x = torch.cat([window * valid[..., None], valid[..., None].double()], -1).float()
    t, s = _parts()
    got = TemporalBlend(t, s)._per_frame(x)
    torch.testing.assert_close(got[..., :2], alone.float(), atol=1e-6, rtol=0)
    assert torch.equal(got[..., 2], x[..., 2])


def test_causal_blend_never_looks_ahead():
    t, s = _parts(causal=True)
    net = TemporalBlend(t, s, smoothing=2.0).eval()
    x = _inputs(40)
    y = x.clone()
    y[:, 35:] = torch.randn(2, 5, 17, 3)
    with torch.no_grad():
        a, b = net(x), net(y)
    # output frame i ends at input frame i + 26: frames before 35 are untouched
    torch.testing.assert_close(a[:, :35 - 26], b[:, :35 - 26], atol=0, rtol=0)
    assert not torch.allclose(a[:, -1], b[:, -1])


def test_blend_refuses_parts_that_do_not_fit_together():
    t, s = _parts()
    with pytest.raises(ValueError, match="temporal: expected a temporal model"):
        TemporalBlend(s, s)
    with pytest.raises(ValueError, match="single: expected a single-frame model"):
        TemporalBlend(t, t)
    h36m = poselift.create_model("sr", skeleton="h36m", in_features=3, input_norm="bbox",
                                 hidden=32)
    with pytest.raises(ValueError, match="single: its input contract"):
        TemporalBlend(t, h36m)
    with pytest.raises(ValueError, match="single_weight"):
        TemporalBlend(t, s, single_weight=1.5)
    with pytest.raises(ValueError, match="smoothing"):
        TemporalBlend(t, s, smoothing=float("nan"))
    with pytest.raises(ValueError, match="min_limbs: expected an int in 0..12"):
        TemporalBlend(t, s, min_limbs=13)
    t2, s2 = _parts(in_features=2)
    assert TemporalBlend(t2, s2).min_limbs == 0  # without scores every joint is seen
    with pytest.raises(TypeError, match="TemporalBlend"):
        poselift.create_model("blend", temporal=t, single=s)


def test_blend_saves_and_loads_like_any_model(tmp_path):
    config = {"name": "sr_tcn", "skeleton": "coco", "in_features": 3, "input_norm": "bbox",
              "channels": 16, "filter_widths": (3, 3)}
    single = {"name": "sr", "skeleton": "coco", "in_features": 3, "input_norm": "bbox",
              "hidden": 16}
    net = poselift.create_model("blend", temporal=config, single=single, smoothing=0.5).eval()
    assert net.config["input_norm"] == "bbox" and net.receptive_field == 9
    poselift.save_model(net, tmp_path / "b.pt")
    back = poselift.load_model(tmp_path / "b.pt")
    x = _inputs(20)
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x))


def test_two_weights_names_joined_by_plus_are_their_blend():
    assert blend_spec("a+b") == ("a", "b") and blend_spec("a+b+c") is None
    net = resolve_model("sr_tcn.coco+sr.coco")
    assert isinstance(net, TemporalBlend) and not net.training
    assert net is resolve_model("sr_tcn.coco+sr.coco")  # cached like any weights
    contract = poselift.models.inputs.InputContract.of(net)
    assert (contract.skeleton, contract.receptive_field, contract.temporal) == ("coco", 27, True)
    with pytest.raises(ValueError, match="neither a weights name"):
        resolve_model("sr_tcn.coco+nothing.here")


def test_lift_runs_the_blend_through_every_path(tmp_path):
    """lift on a sequence, a causal blend in StreamingLifter, and the same with max_gap."""
    from poselift.demo import load_demo_sample

    kp = np.asarray(load_demo_sample()["keypoints2d"], np.float64)[:50]
    t, s = _parts(causal=True)
    net = TemporalBlend(t, s, smoothing=1.0).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        whole = poselift.lift(kp, model=net, skeleton="coco")
        stream = poselift.StreamingLifter("coco", net)
        pushed = np.stack([stream.push(f) for f in kp])
    np.testing.assert_allclose(pushed, whole, atol=1e-5)


def test_the_single_frame_share_needs_most_limb_joints_seen():
    """Default min_limbs=8: a lost wrist keeps the mean, the legs out of view do not."""
    t, s = _parts()
    net = TemporalBlend(t, s, smoothing=0.0)
    x = _inputs()
    r = net.receptive_field // 2
    with torch.no_grad():
        out, temporal = net(x), t(x)
    legs_out = slice(50 - r, None)  # output frames of input frames 50..
    torch.testing.assert_close(out[0, legs_out], temporal[0, legs_out], atol=1e-6, rtol=0)
    wrist_lost = slice(20 - r, 23 - r)
    assert (out[0, wrist_lost] - temporal[0, wrist_lost]).abs().amax() > 1e-3


def test_a_one_frame_sequence_goes_through_the_single_frame_weights():
    """MIN_TEMPORAL_FRAMES: with model='default' a 1-frame sequence is lifted frame by frame."""
    from poselift.demo import load_demo_sample
    from poselift.inference import MIN_TEMPORAL_FRAMES

    assert MIN_TEMPORAL_FRAMES == 2
    kp = np.asarray(load_demo_sample()["keypoints2d"], np.float64)[:2]
    one = poselift.lift(kp[:1], skeleton="coco")
    np.testing.assert_array_equal(one, poselift.lift(kp[:1], skeleton="coco", temporal=False))
    assert np.abs(one - poselift.lift(kp[:1], skeleton="coco", temporal=True)).max() > 1e-4
    two = poselift.lift(kp, skeleton="coco")  # two frames: the blend
    np.testing.assert_array_equal(two, poselift.lift(kp, skeleton="coco", temporal=True))


def test_the_inference_copy_of_a_blend_fuses_both_parts():
    from poselift.models.fuse import fuse_for_inference, is_inference_copy

    t, s = _parts(causal=True)
    net = TemporalBlend(t, s, smoothing=1.5, min_limbs=6).eval()
    fast = fuse_for_inference(net)
    assert is_inference_copy(fast) and is_inference_copy(fast.temporal)
    assert is_inference_copy(fast.single) and fast is not net
    assert (fast.smoothing, fast.min_limbs, fast.receptive_field) == (1.5, 6, 27)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in fast.modules())
    x = _inputs(40)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x), atol=2e-5, rtol=1e-5)


def test_with_the_legs_out_of_frame_the_default_lift_follows_the_arms():
    """The demo clip with the hips and legs removed (a desk, a webcam): the default lift's
    arms move, keep their size and are no worse than the single-frame weights'; no joint is
    metres from the pelvis (the first temporal weights put one 11.3 m away)."""
    from poselift.demo import load_demo_sample
    from poselift.metrics import motion_ratio, p_mpjpe, root_distance

    sample = load_demo_sample()
    kp = np.asarray(sample["keypoints2d"], np.float64)
    kp[:, 11:, 2] = 0.0
    truth = np.asarray(sample["poses3d"], np.float64)
    default = poselift.lift(kp, skeleton="coco")
    single = poselift.lift(kp, skeleton="coco", temporal=False)
    arms3d, arms2d = [11, 12, 13, 14, 15, 16], [5, 6, 7, 8, 9, 10]

    def arm_length(p: np.ndarray) -> float:
        return float(sum(np.linalg.norm(p[:, a] - p[:, b], axis=-1).mean()
                         for a, b in [(11, 12), (12, 13), (14, 15), (15, 16)]))

    assert np.nanmax(root_distance(default)) < 1.5
    # the arms move as the truth's do (a bow: the noisy 2D moves far more than the arms, so
    # the truth's own ratio is ~0.06), and as much as with the whole body seen
    moves = motion_ratio(default[:, arms3d], kp[:, arms2d])
    assert moves > 0.5 * motion_ratio(truth[:, arms3d], kp[:, arms2d])
    whole = poselift.lift(sample["keypoints2d"], skeleton="coco")
    assert moves > 0.7 * motion_ratio(whole[:, arms3d], sample["keypoints2d"][:, arms2d])
    # arm length within 15 % of the truth's (0.86 vs 0.93 m; the single-frame weights 1.09:
    # without the hips they guess the body's size, shoulders 0.33 m wide against 0.21)
    assert abs(arm_length(default) / arm_length(truth) - 1) < 0.15
    err = {k: float(p_mpjpe(p[:, arms3d] * 1000, truth[:, arms3d] * 1000))
           for k, p in (("default", default), ("single", single))}
    assert err["default"] <= err["single"], err  # 58.2 vs 66.9 mm
