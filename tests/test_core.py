"""One lifting core (poselift.core) behind lift, StreamingLifter and the exported program.

The references are independent of each other's code paths: ``lift`` on whole sequences
(chunked pipeline), ``StreamingLifter.push`` frame by frame (ring buffer, strided network),
and the ``torch.export`` program (traced, no Python checks). They must give the same poses,
and NaN for the same frames (fewer than two distinct valid joints), whatever the batch size.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import poselift
from poselift import Lifter, StreamingLifter, lift
from poselift.core import LiftingCore
from poselift.demo import load_demo_sample
from poselift.export import export_model

torch.set_num_threads(1)


def _frames(t: int = 40) -> np.ndarray:
    """(t, 17, 3) COCO pixels with scores, with frames of 0 and 1 valid joints and a long gap."""
    kp = np.asarray(load_demo_sample()["keypoints2d"], dtype=np.float64)[:t].copy()
    kp[..., 2] = np.maximum(kp[..., 2], 0.5)  # every joint valid, then the holes below
    kp[5, :, 2] = 0.0  # no valid joint
    kp[6, 1:, 2] = 0.1  # one valid joint
    kp[7, :, :2] = np.nan  # no valid joint (NaN)
    kp[8, :, :2] = kp[8, 0, :2]  # every joint at one pixel: a box of size 0
    kp[20:31, :, 2] = 0.0  # a long absence
    kp[12:15, 3, 2] = 0.0  # single joints missing
    kp[33, 9:, :2] = np.nan
    return kp


NO_POSE = [5, 6, 7, 8, *range(20, 31)]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


def _assert_same(a: np.ndarray, b: np.ndarray, atol: float) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b), atol=atol, rtol=0)


def _small(kind: str) -> torch.nn.Module:
    """A small untrained COCO model with a score channel (fast to export)."""
    torch.manual_seed(0)
    if kind == "single":
        return poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
                                     hidden=32).eval()
    return poselift.create_model("sr_tcn", skeleton="coco", in_features=3, input_norm="bbox",
                                 causal=True, channels=24, filter_widths=(3, 3)).eval()


@pytest.mark.parametrize("weights", [
    "small-single", "small-causal",
    pytest.param("sr.coco", marks=pytest.mark.slow),  # 10-15 s per export of shipped weights
    pytest.param("sr_tcn.coco-causal", marks=pytest.mark.slow),
])
def test_lift_stream_and_export_give_the_same_poses_and_nans(weights, tmp_path):
    """The done-when test of issue 27: single-frame and causal weights, three paths."""
    kp = _frames()
    if weights.startswith("small-"):
        weights = _small(weights.split("-")[1])
    net = poselift.models.resolve_model(weights)
    temporal = net.receptive_field > 1
    # lift: whole sequence, no interpolation (the program has none), several batch sizes
    lifted = [_quiet(Lifter(weights, max_gap=0, batch_size=b).lift, kp, temporal=temporal)
              for b in (1, 2, 7, 4096)]
    assert np.isnan(lifted[0][NO_POSE]).all()
    keep = np.setdiff1d(np.arange(len(kp)), NO_POSE)
    assert np.isfinite(lifted[0][keep]).all()
    for other in lifted[1:]:
        _assert_same(other, lifted[0], 1e-5)
    # StreamingLifter: frame by frame, no look-ahead, the same rule
    stream = StreamingLifter("coco", weights, max_gap=0)
    pushed = np.stack([stream.push(f) for f in kp])
    _assert_same(pushed, lifted[0], 1e-4)
    # the exported program (torch.export), one call on the whole sequence / all frames
    export_model(weights, tmp_path / "p.pt2")
    program = torch.export.load(tmp_path / "p.pt2").module()
    x = torch.from_numpy(kp).float()
    got = program(x[None])[0] if temporal else program(x)
    assert not got.requires_grad
    _assert_same(got.numpy(), lifted[0], 1e-4)


def test_exported_program_gives_nan_for_a_frame_without_valid_joints(tmp_path):
    """Issue 29 row 2: the exported program gave a plausible pose (NaN is documented)."""
    net = _small("single")
    export_model(net, tmp_path / "sr.pt2")
    program = torch.export.load(tmp_path / "sr.pt2").module()
    kp = torch.from_numpy(_frames()[:3]).float()
    kp[1, :, 2] = 0.0  # no valid joint
    kp[2, 1:, 2] = 0.0  # one valid joint
    out = program(kp)
    assert torch.isfinite(out[0]).all() and torch.isnan(out[1:]).all()
    assert not out.requires_grad  # issue 29: .numpy() failed
    out.numpy()


def test_stream_with_max_gap_agrees_with_lift_on_the_frames_so_far():
    """Issue 29 row 3: StreamingLifter(max_gap=2) gave NaN where lift gave a pose."""
    kp = _frames()
    kp[:, :, 2] = np.where(np.arange(40)[:, None] % 5 == 2, 0.0, 0.9)  # short absences
    kp[20:26, :, 2] = 0.0  # a longer one
    stream = StreamingLifter("coco", "sr_tcn.coco-causal", max_gap=2)
    for t in range(len(kp)):
        got = stream.push(kp[t])
        want = _quiet(lift, kp[: t + 1], model="sr_tcn.coco-causal", max_gap=2)[-1]
        _assert_same(got, want, 1e-4)


@pytest.mark.parametrize("bad", [1e100, np.inf])
def test_a_push_that_raises_records_nothing(bad):
    """Issue 29 row 8: a rejected frame was recorded and broke the next 26 pushes."""
    kp = _frames()[:30]
    kp[..., 2] = 0.9
    stream = StreamingLifter("coco", "sr_tcn.coco-causal")
    ref = StreamingLifter("coco", "sr_tcn.coco-causal")
    for f in kp[:10]:
        stream.push(f)
        ref.push(f)
        stream.push(f, track_id="other")
    frame = kp[10].copy()
    frame[:5, 0] = bad  # five joints: too many to be outliers of the others (far_joints)
    with pytest.raises(ValueError, match="keypoints"):
        stream.push(frame)
    two = np.stack([kp[10], frame])
    with pytest.raises(ValueError, match="keypoints"):  # the good track's frame neither
        stream.push(two, track_id=["other", 0])
    for f in kp[10:]:
        np.testing.assert_array_equal(stream.push(f), ref.push(f))
    ref_other = StreamingLifter("coco", "sr_tcn.coco-causal")
    for f in kp[:10]:
        ref_other.push(f)
    np.testing.assert_array_equal(stream.push(kp[10], track_id="other"), ref_other.push(kp[10]))


def test_an_extreme_coordinate_gets_the_same_answer_from_push_and_lift():
    """Issue 29 row 8: at 1e40, push gave NaN where lift gave a pose."""
    kp = _frames()[:12]
    kp[..., 2] = 0.9
    kp[11, 0, 0] = 1e40
    stream = StreamingLifter("coco", "sr_tcn.coco-causal")
    for f in kp[:11]:
        stream.push(f)
    try:
        want = lift(kp, model="sr_tcn.coco-causal")[-1]
    except ValueError as err:
        with pytest.raises(ValueError, match=re.escape(str(err))):
            stream.push(kp[11])
    else:
        _assert_same(stream.push(kp[11]), want, 1e-4)


def test_core_forward_equals_lift_on_single_frames():
    net = poselift.models.resolve_model("sr.coco")
    kp = _frames()[:10]
    core = LiftingCore(net)
    with torch.no_grad():
        got = core(torch.from_numpy(kp).float()).numpy()
    _assert_same(got, _quiet(lift, kp, model=net, temporal=False), 1e-5)


# --- a joint far from the others (a detector's outlier) is missing, on every path ------------


def _wrist_far_away() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo clip; with the left wrist 3000 px away at score 0.9; with it missing."""
    kp = np.asarray(load_demo_sample()["keypoints2d"], dtype=np.float64)
    far = kp.copy()
    far[:, 9, 0] += 3000.0
    far[:, 9, 2] = 0.9
    missing = kp.copy()
    missing[:, 9, 2] = 0.0
    return kp, far, missing


def _mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean() * 1000)


@pytest.mark.parametrize("temporal", [True, False])
def test_a_wrist_3000_px_away_does_not_ruin_the_pose_in_lift(temporal):
    """Issue 29: one wrist at +3000 px (score 0.9) gave ~440 mm error on the whole pose."""
    clean, far, missing = _wrist_far_away()
    want = _quiet(lift, clean, temporal=temporal)
    with pytest.warns(UserWarning, match=r"172 frame\(s\) have a joint far from the others .*"
                                         r"left_wrist in 172\): a detector's outlier, treated "
                                         "as missing"):
        got = lift(far, temporal=temporal)
    # exactly the pose lifted with that wrist undetected, near the clean pose
    _assert_same(got, _quiet(lift, missing, temporal=temporal), 1e-6)
    assert _mm(got, want) < 60.0  # 45 / 17 mm (temporal / single frame); was 432 / 447 mm


def test_a_wrist_3000_px_away_does_not_ruin_the_pose_in_a_stream():
    clean, far, missing = _wrist_far_away()
    stream = StreamingLifter("coco", "sr_tcn.coco-causal")
    want = np.stack([stream.push(f) for f in clean])
    stream.reset()
    with pytest.warns(UserWarning, match=r"keypoints: a joint far from the others \(left_wrist\)"):
        got = np.stack([stream.push(f) for f in far])
    stream.reset()
    _assert_same(got, np.stack([stream.push(f) for f in missing]), 1e-6)
    assert _mm(got, want) < 60.0  # 52 mm; was 449 mm


@pytest.mark.parametrize("weights", ["small-single", "small-causal"])
def test_a_wrist_3000_px_away_is_missing_in_the_exported_program(weights, tmp_path):
    """The rule is traced into the program: it agrees with lift on the outlier clip."""
    _, far, missing = _wrist_far_away()
    far, missing = far[:40], missing[:40]
    net = _small(weights.split("-")[1])
    temporal = weights.endswith("causal")
    export_model(net, tmp_path / "p.pt2")
    program = torch.export.load(tmp_path / "p.pt2").module()

    def run(kp: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(kp).float()
        return (program(x[None])[0] if temporal else program(x)).numpy()

    want = _quiet(Lifter(net, max_gap=0).lift, far, temporal=temporal)
    _assert_same(run(far), want, 1e-4)
    _assert_same(run(far), run(missing), 1e-5)


@pytest.mark.slow
def test_a_wrist_3000_px_away_in_the_exported_shipped_program(tmp_path):
    clean, far, _ = _wrist_far_away()
    export_model("sr.coco", tmp_path / "p.pt2")
    program = torch.export.load(tmp_path / "p.pt2").module()
    got = program(torch.from_numpy(far).float()).numpy()
    assert _mm(got, _quiet(lift, clean, temporal=False)) < 60.0  # 17 mm; was 447 mm


def _far_joint_reference(xy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """far_joints as a loop of numpy medians and quantiles (an independent reference)."""
    from poselift.core import FAR_JOINT_FACTOR, FAR_JOINT_MIN_VALID

    out = np.zeros(valid.shape, bool)
    for i in np.ndindex(valid.shape[:-1]):
        ok = valid[i]
        if ok.sum() < FAR_JOINT_MIN_VALID:
            continue
        centre = np.median(xy[i][ok], axis=0)
        dist = np.linalg.norm(xy[i] - centre, axis=-1)
        out[i] = ok & (dist > FAR_JOINT_FACTOR * np.quantile(dist[ok], 0.75))
    return out


def test_far_joints_matches_a_loop_of_numpy_medians():
    from poselift.core import far_joints

    rng = np.random.default_rng(0)
    xy = rng.normal(500.0, 100.0, (3, 600, 17, 2))
    xy[rng.random((3, 600, 17)) < 0.05] *= rng.uniform(1.0, 40.0)  # some far, some not
    valid = rng.random((3, 600, 17)) < 0.8
    xy[~valid] = np.nan
    want = _far_joint_reference(xy, valid)
    assert 100 < want.sum() < 0.05 * valid.sum()
    np.testing.assert_array_equal(far_joints(xy, valid), want)
    got = far_joints(torch.from_numpy(xy).float(), torch.from_numpy(valid))
    np.testing.assert_array_equal(got.numpy(), want)


def test_far_joints_when_every_joint_is_valid():
    """Every joint valid (most detector frames): numpy's short form with known counts gives
    the joints of the reference loop and of the general form (torch), in float64 and float32,
    on one pose and on batches; with fewer joints than FAR_JOINT_MIN_VALID, none."""
    from poselift.core import FAR_JOINT_MIN_VALID, far_joints

    rng = np.random.default_rng(2)
    xy = rng.normal(500.0, 100.0, (2, 400, 17, 2))
    xy[rng.random(xy.shape[:-1]) < 0.05] *= rng.uniform(1.0, 40.0)  # some far, some not
    xy[:, 0, :, 0] = 100.0  # on one vertical line
    valid = np.ones(xy.shape[:-1], bool)
    want = _far_joint_reference(xy, valid)
    assert 50 < want.sum() < 0.05 * valid.size
    np.testing.assert_array_equal(far_joints(xy, valid), want)
    for joints in (17, 16, 14, 13):  # every parity of the median's and quartile's ranks
        part = _far_joint_reference(xy[..., :joints, :], valid[..., :joints])
        np.testing.assert_array_equal(far_joints(xy[..., :joints, :], valid[..., :joints]), part)
    for dtype in (np.float64, np.float32):
        x = xy.astype(dtype)
        general = far_joints(torch.from_numpy(x), torch.from_numpy(valid)).numpy()
        np.testing.assert_array_equal(far_joints(x, valid), general)
        for i in np.flatnonzero(want[0].any(-1))[:5]:  # one pose at a time, with a far joint
            np.testing.assert_array_equal(far_joints(x[0, i], valid[0, i]), general[0, i])
    few = FAR_JOINT_MIN_VALID - 1
    assert not far_joints(xy[..., :few, :], valid[..., :few]).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_far_joints_numpy_and_torch_agree(dtype):
    """far_joints runs in numpy for numpy input (lift, StreamingLifter) and in torch for
    tensors (the exported program): the same rule, the same joints, on any frame."""
    from poselift.core import FAR_JOINT_MIN_VALID, far_joints

    rng = np.random.default_rng(1)
    xy = rng.normal(500.0, 100.0, (4, 300, 17, 2))
    xy[rng.random(xy.shape[:-1]) < 0.08] *= rng.uniform(1.0, 40.0)  # outliers, some far
    valid = rng.random(xy.shape[:-1]) < rng.uniform(0.0, 1.0, (4, 300, 1))
    valid[:, 0] = False  # no valid joint
    valid[:, 1] = np.arange(17) == 3  # one
    valid[:, 2] = np.arange(17) < FAR_JOINT_MIN_VALID  # just enough to be judged
    valid[:, 3] = np.arange(17) < FAR_JOINT_MIN_VALID - 1  # one too few
    xy[:, 4] = 123.0  # every joint at one pixel
    xy[:, 5, :, 0] = 100.0  # on one vertical line: a quartile of distances of 0 is possible
    xy[~valid & (rng.random(valid.shape) < 0.5)] = np.nan
    xy = xy.astype(dtype)
    got = far_joints(xy, valid)
    assert isinstance(got, np.ndarray) and got.dtype == bool and got.shape == valid.shape
    want = far_joints(torch.from_numpy(xy), torch.from_numpy(valid))
    assert isinstance(want, torch.Tensor)
    np.testing.assert_array_equal(got, want.numpy())
    assert 50 < got.sum() < 0.2 * valid.sum()  # the rule fires, on some joints
    assert not got[:, [0, 1, 3]].any() and not (got & ~valid).any()
    if dtype == np.float64:  # (float32: the reference's float64 arithmetic may round apart)
        np.testing.assert_array_equal(got, _far_joint_reference(xy, valid))
    # one pose (no leading axis) and no frame at all
    np.testing.assert_array_equal(far_joints(xy[0, 7], valid[0, 7]), got[0, 7])
    assert far_joints(xy[:, :0], valid[:, :0]).shape == (4, 0, 17)


def test_module_level_lift_fuses_a_resolved_model_once():
    """poselift.lift(pose) per frame must not rebuild the inference copy on every call."""
    import poselift.models.fuse as fuse

    pose = _frames()[0]
    _quiet(lift, pose, skeleton="coco")  # the copy of the shipped sr.coco exists from here
    calls = []
    real = fuse.fuse_for_inference

    def counting(model):
        calls.append(model)
        return real(model)

    import poselift.core as core

    old = core.fuse_for_inference
    core.fuse_for_inference = counting
    try:
        for _ in range(3):
            _quiet(lift, pose, skeleton="coco")
        assert calls == []
        net = _small("single")  # weights changed in place: a new copy, the new answer
        first = _quiet(lift, pose, skeleton="coco", model=net)
        with torch.no_grad():
            bias = net.head.op.bias
            bias.add_(torch.linspace(0.0, 1.0, bias.numel()))  # not uniform: survives rooting
        second = _quiet(lift, pose, skeleton="coco", model=net)
        assert len(calls) == 2 and np.abs(first - second).max() > 1e-3
    finally:
        core.fuse_for_inference = old
