"""TRC export (read back by an independent OpenSim-style reader) and joint angles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from poselift.angles import ANGLES, joint_angles
from poselift.trc import TRC_MARKERS, write_trc

KEYS = ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
        "OrigDataStartFrame", "OrigNumFrames"]


def read_trc(path):
    """A reader following OpenSim's TRCFileAdapter::extendRead (independent of write_trc).

    Tokens are split on tabs keeping empty ones (except a trailing empty one, as OpenSim's
    tokenizer does); header lines drop empty tokens; a marker is NaN unless its three fields
    are all present.
    """
    def tokens(line):
        parts = line.rstrip("\r\n").split("\t")
        if parts and parts[-1] == "":
            parts = parts[:-1]
        return [p.strip() for p in parts]

    lines = open(path).read().split("\n")
    assert lines[0].split("\t")[0] == "PathFileType"
    keys = [t for t in tokens(lines[1]) if t]
    assert keys == KEYS
    values = [t for t in tokens(lines[2]) if t]
    meta = dict(zip(keys, values, strict=True))
    n = int(meta["NumMarkers"])
    labels = [t for t in tokens(lines[3]) if t]
    assert labels[:2] == ["Frame#", "Time"] and len(labels) == n + 2
    xyz = [t for t in tokens(lines[4]) if t]
    assert xyz == [f"{a}{i}" for i in range(1, n + 1) for a in "XYZ"]
    i = 5
    while i < len(lines) and (not lines[i] or not tokens(lines[i])[0]):
        i += 1
    frames, times, data = [], [], []
    while i < len(lines) and lines[i]:
        row = tokens(lines[i])
        assert len(row) == 3 * n + 2, f"line {i + 1}: {len(row)} fields"
        frames.append(int(row[0]))
        times.append(float(row[1]))
        pts = np.full((n, 3), np.nan)
        for m in range(n):
            f = row[2 + 3 * m: 5 + 3 * m]
            if all(f):
                pts[m] = [float(v) for v in f]
        data.append(pts)
        i += 1
    return meta, labels[2:], np.array(frames), np.array(times), np.array(data)


def _sequence(t=12, seed=0):
    rng = np.random.default_rng(seed)
    poses = rng.normal(0, 0.3, (t, 17, 3))
    poses[:, 0] = 0.0
    trajectory = np.stack([np.linspace(-1, 1, t), np.full(t, 0.2), np.linspace(3, 5, t)], -1)
    return poses + trajectory[:, None]  # absolute camera coordinates, a moving pelvis


def test_trc_round_trip_camera_axes(tmp_path):
    poses = _sequence()
    poses[3, 13] = np.nan  # a missing left wrist
    poses[4, 16] = np.nan  # a missing last marker (right wrist): the row must stay complete
    path = write_trc(tmp_path / "seq.trc", poses, fps=50)
    meta, names, frames, times, data = read_trc(path)
    assert meta == {"DataRate": "50", "CameraRate": "50", "NumFrames": "12", "NumMarkers": "17",
                    "Units": "m", "OrigDataRate": "50", "OrigDataStartFrame": "1",
                    "OrigNumFrames": "12"}
    assert tuple(names) == TRC_MARKERS
    np.testing.assert_array_equal(frames, np.arange(1, 13))
    np.testing.assert_allclose(times, np.arange(12) / 50, atol=1e-6)
    # camera (x right, y down, z forward) -> Y up: (x, -y, -z)
    expected = poses * np.array([1.0, -1.0, -1.0])
    np.testing.assert_allclose(data, expected, atol=1e-6)
    assert np.isnan(data[3, 13]).all() and np.isnan(data[4, 16]).all()
    assert np.isfinite(data[3, :13]).all()
    # the trajectory survives: the pelvis marker moves like the input's pelvis
    np.testing.assert_allclose(data[:, 0, 2], -np.linspace(3, 5, 12), atol=1e-6)


def test_trc_up_axes_units_and_torch(tmp_path):
    poses = _sequence(4)
    _, _, _, _, y = read_trc(write_trc(tmp_path / "y.trc", poses, up="y"))
    np.testing.assert_allclose(y, poses, atol=1e-6)
    _, _, _, _, z = read_trc(write_trc(tmp_path / "z.trc", torch.tensor(poses), up="z",
                                       units="mm", decimals=3))
    # Z up -> Y up: (x, z, -y), in millimetres; the height (world z) becomes Y
    np.testing.assert_allclose(z, np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], -1)
                               * 1000, atol=1e-3)
    meta, *_ = read_trc(tmp_path / "z.trc")
    assert meta["Units"] == "mm"
    # a proper rotation: the left/right order (handedness) is kept
    a, b, c = poses[0, 1] - poses[0, 0], poses[0, 4] - poses[0, 0], poses[0, 8] - poses[0, 0]
    a2, b2, c2 = z[0, 1] - z[0, 0], z[0, 4] - z[0, 0], z[0, 8] - z[0, 0]
    assert np.sign(np.dot(np.cross(a, b), c)) == np.sign(np.dot(np.cross(a2, b2), c2))


def test_trc_lift_full_absolute(tmp_path):
    """The absolute result of lift_full (pelvis trajectory) is written and read back."""
    import poselift
    from poselift.demo import load_demo_sample

    kp = np.asarray(load_demo_sample()["keypoints2d"][:30], np.float32)
    res = poselift.lift_full(kp, intrinsics=(1000, 1000, 480, 270), root="camera",
                             rarity=False)
    poses = np.asarray(res.poses)
    assert np.ptp(poses[:, 0], axis=0).max() > 0  # the pelvis moves
    _, _, _, _, data = read_trc(write_trc(tmp_path / "abs.trc", res.poses, fps=30))
    np.testing.assert_allclose(data, poses * np.array([1.0, -1.0, -1.0]), atol=1e-6)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"fps": 0}, "fps"), ({"fps": float("nan")}, "fps"), ({"up": "x"}, "up"),
    ({"units": "cm"}, "units"), ({"markers": ("a",) * 17}, "distinct"),
    ({"markers": ("a b", *"bcdefghijklmnopq")}, "blanks"),
])
def test_trc_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_trc(tmp_path / "x.trc", np.zeros((2, 17, 3)), **kwargs)
    assert not list(tmp_path.iterdir())


def test_trc_bad_poses(tmp_path):
    with pytest.raises(ValueError, match="poses"):
        write_trc(tmp_path / "x.trc", np.zeros((2, 16, 3)))
    bad = np.zeros((2, 17, 3))
    bad[1, 2, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        write_trc(tmp_path / "x.trc", bad)
    with pytest.raises(FileNotFoundError):
        write_trc(tmp_path / "missing" / "x.trc", np.zeros((2, 17, 3)))


# --- joint angles on hand-built poses --------------------------------------------------------

def _standing(up=(0.0, -1.0, 0.0), left=(1.0, 0.0, 0.0)):
    """A standing pose facing `forward = left x up`, straight limbs, arms hanging."""
    up, left = np.asarray(up), np.asarray(left)
    down = -up
    p = np.zeros((17, 3))
    p[4], p[1] = 0.1 * left, -0.1 * left           # hips
    p[5], p[2] = p[4] + 0.45 * down, p[1] + 0.45 * down
    p[6], p[3] = p[5] + 0.45 * down, p[2] + 0.45 * down
    p[7], p[8] = 0.25 * up, 0.5 * up
    p[9], p[10] = 0.6 * up, 0.75 * up
    p[11], p[14] = p[8] + 0.2 * left, p[8] - 0.2 * left
    p[12], p[15] = p[11] + 0.3 * down, p[14] + 0.3 * down
    p[13], p[16] = p[12] + 0.25 * down, p[15] + 0.25 * down
    return p


def _rot(axis, deg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = math.radians(deg)
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def test_angles_standing_all_zero():
    a = joint_angles(_standing())
    assert set(a) == set(ANGLES)
    for name in ANGLES:
        assert abs(float(a[name])) < 1e-9, name


def test_angles_hand_computed():
    up, left = np.array([0.0, -1.0, 0.0]), np.array([1.0, 0.0, 0.0])
    fwd = np.cross(left, up)  # (0, 0, -1): towards the camera
    p = _standing()
    # left knee: shin rotated backwards by 60 deg about the left axis (knee flexion 60)
    p[6] = p[5] + _rot(left, -60) @ (p[6] - p[5])
    # right hip: thigh straight forward (flexion 90), the shin follows (knee stays 0)
    p[2] = p[1] + 0.45 * fwd
    p[3] = p[2] + 0.45 * fwd
    # left hip extension 20 deg: thigh (and shin) swung backwards
    for j in (5, 6):
        p[j] = p[4] + _rot(left, 20) @ (p[j] - p[4])
    # right shoulder overhead (180), right elbow bent 45 deg
    p[15] = p[14] + 0.3 * up
    p[16] = p[15] + 0.25 * (np.cos(np.radians(45)) * up + np.sin(np.radians(45)) * fwd)
    # left shoulder: 30 deg forward flexion plus 40 deg abduction, which the sagittal angle ignores
    arm = np.array([0.0, 1.0, 0.0])  # down
    arm = np.cos(np.radians(30)) * arm + np.sin(np.radians(30)) * fwd
    arm = arm + np.tan(np.radians(40)) * left * np.linalg.norm(arm)
    p[12] = p[11] + 0.3 * arm / np.linalg.norm(arm)
    p[13] = p[12] + 0.25 * arm / np.linalg.norm(arm)
    a = joint_angles(p)
    expected = {"left_knee": 60.0, "right_knee": 0.0, "right_hip": 90.0, "left_hip": -20.0,
                "right_shoulder": 180.0, "right_elbow": 45.0, "left_shoulder": 30.0,
                "left_elbow": 0.0, "trunk_lean": 0.0}
    for name, value in expected.items():
        assert float(a[name]) == pytest.approx(value, abs=1e-6), name


def test_angles_trunk_lean_and_frames():
    """A whole pose leaning forward 30 deg; the same pose in a Z-up world frame."""
    up, left = np.array([0.0, -1.0, 0.0]), np.array([1.0, 0.0, 0.0])
    p = _standing() @ _rot(left, 30).T  # rotate everything about the left axis
    a = joint_angles(p)
    assert float(a["trunk_lean"]) == pytest.approx(30.0, abs=1e-9)
    # a rigid rotation of the whole body changes no limb angle
    assert float(a["left_hip"]) == pytest.approx(0.0, abs=1e-9)
    # world frame, Z up: the standing pose rotated so that up -> +z
    world = _standing(up=np.array([0.0, 0.0, 1.0]), left=np.array([0.0, 1.0, 0.0]))
    w = joint_angles(world, up="z")
    assert float(w["trunk_lean"]) == pytest.approx(0.0, abs=1e-9)
    assert float(joint_angles(world, up="y")["trunk_lean"]) == pytest.approx(90.0, abs=1e-9)
    assert up is not None


def test_angles_batch_missing_and_errors():
    poses = np.stack([_standing()] * 4)[None]  # (1, 4, 17, 3)
    poses[0, 2, 5] = np.nan  # missing left knee
    a = joint_angles(torch.tensor(poses))
    assert a["left_knee"].shape == (1, 4)
    assert np.isnan(a["left_knee"][0, 2]) and np.isnan(a["left_hip"][0, 2])
    assert np.isfinite(a["right_knee"]).all()
    with pytest.raises(ValueError, match="poses"):
        joint_angles(np.zeros((4, 16, 3)))
    with pytest.raises(ValueError, match="up"):
        joint_angles(np.zeros((17, 3)), up="x")
