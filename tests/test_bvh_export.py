"""Tests for poselift.data.bvh_export: BVH animations of H36M-17 sequences.

Round trips through poselift's own reader and through a third-party parser from PyPI
(``bvhio``, in the ``test`` extra): its forward kinematics are independent of ours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import poselift
from poselift.data import BVH, bvh_to_h36m, poses_to_bvh, read_bvh, write_bvh
from poselift.data.bvh_export import BVH_JOINTS, _euler_zxy, bvh_text, rigid_poses
from poselift.data.synthetic import synthetic_clip

DEMO = Path(poselift.__file__).parent / "assets" / "demo_bow.npz"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "bandai" / "bvh-samples"


def _walk(frames: int = 40) -> np.ndarray:
    """Synthetic rigid motion (constant bone lengths), world +Y up, metres."""
    return synthetic_clip(np.random.default_rng(3), frames, "walk").astype(np.float64)


def _lifted_like() -> np.ndarray:
    """Real mocap in camera axes with per-frame bone-length jitter (like a lifted sequence)."""
    with np.load(DEMO) as z:
        p = z["poses3d"].astype(np.float64)
    rng = np.random.default_rng(0)
    return p + rng.normal(0.0, 0.008, p.shape) + np.array([0.2, 0.1, 4.5])


def test_rigid_motion_round_trips_exactly(tmp_path):
    walk = _walk()
    path = write_bvh(tmp_path / "walk.bvh", poses_to_bvh(walk, fps=30.0, up="y"))
    back = bvh_to_h36m(read_bvh(path), "poselift", units="cm")
    assert np.abs(back - walk).max() < 1e-5  # well within 1 mm (float32 reader output)


def test_lifted_sequence_round_trips_with_median_bones(tmp_path):
    poses = _lifted_like()  # camera coordinates, bones vary by ~1 cm between frames
    path = write_bvh(tmp_path / "lifted.bvh", poses_to_bvh(poses, fps=30.0))  # up="-y"
    back = bvh_to_h36m(read_bvh(path), "poselift")
    back_cam = back * np.array([1.0, -1.0, -1.0])  # the file is Y up: (x, -y, -z)
    rigid = np.asarray(rigid_poses(poses))
    assert np.abs(back_cam - rigid).max() < 1e-3  # within 1 mm
    np.testing.assert_allclose(back_cam[:, 0], poses[:, 0], atol=1e-5)  # root motion
    # the skeleton: median bone lengths; every joint's direction from its parent kept
    for j, parent in enumerate((-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)):
        if parent < 0:
            continue
        length = np.linalg.norm(back_cam[:, j] - back_cam[:, parent], axis=-1)
        want = np.median(np.linalg.norm(poses[:, j] - poses[:, parent], axis=-1))
        np.testing.assert_allclose(length, want, atol=1e-5)
        d_in = poses[:, j] - poses[:, parent]
        d_out = back_cam[:, j] - back_cam[:, parent]
        cos = (d_in * d_out).sum(-1) / np.linalg.norm(d_in, axis=-1) / length
        assert cos.min() > 1 - 1e-8


def test_a_third_party_parser_loads_it(tmp_path):
    bvhio = pytest.importorskip("bvhio")
    poses = _lifted_like()[:60]
    path = write_bvh(tmp_path / "x.bvh", poses_to_bvh(poses, fps=25.0))
    ours = bvh_to_h36m(read_bvh(path), "poselift", units="cm")
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    named = [n for n in BVH_JOINTS if not n.endswith("_End")]
    assert set(named) <= set(joints)
    container = bvhio.readAsBvh(str(path))
    assert container.FrameCount == 60 and container.FrameTime == pytest.approx(0.04)
    for f in (0, 17, 59):
        root.loadPose(f)
        for name in named:
            pos = np.array(joints[name].PositionWorld, dtype=np.float64) / 100.0
            np.testing.assert_allclose(pos, ours[f, BVH_JOINTS[name]], atol=1e-4)


def test_euler_decomposition_matches_scipy():
    rng = np.random.default_rng(0)
    mats = Rotation.random(200, random_state=1).as_matrix()
    mats[:3] = Rotation.from_euler("ZXY", [[10, 90, 0], [30, -90, 0], [0, 89.9999999, 5]],
                                   degrees=True).as_matrix()  # gimbal lock
    angles = _euler_zxy(mats)
    back = Rotation.from_euler("ZXY", angles, degrees=True).as_matrix()  # intrinsic Rz Rx Ry
    np.testing.assert_allclose(back, mats, atol=1e-7)
    del rng


@pytest.mark.parametrize("name", ["dataset-1_kick_normal_001", "dataset-2_walk_normal_001"])
def test_text_writer_reproduces_any_bvh(tmp_path, name):
    src = SAMPLES / f"{name}.bvh"
    if not src.is_file():
        pytest.skip("Bandai BVH samples not available")
    bvh = read_bvh(src)
    again = read_bvh(write_bvh(tmp_path / "copy.bvh", bvh))
    assert again.names == bvh.names and again.parents == bvh.parents
    assert again.channels == bvh.channels
    np.testing.assert_allclose(again.motion, bvh.motion, atol=1e-6)
    np.testing.assert_allclose(again.offsets, bvh.offsets, atol=1e-6)
    a = bvh_to_h36m(again)
    b = bvh_to_h36m(bvh)
    assert np.abs(a - b).max() < 1e-5


def test_errors(tmp_path):
    walk = _walk(3)
    with pytest.raises(ValueError, match=r"poses: expected shape \(T, J, 3\) with J=17"):
        poses_to_bvh(walk[0])
    bad = walk.copy()
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match="poses: expected finite joint positions"):
        poses_to_bvh(bad)
    with pytest.raises(ValueError, match="up: expected one of"):
        poses_to_bvh(walk, up="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fps: expected a positive number"):
        poses_to_bvh(walk, fps=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_bvh(tmp_path / "missing" / "x.bvh", poses_to_bvh(walk))
    with pytest.raises(TypeError, match="bvh: expected a poselift.data.BVH"):
        bvh_text("HIERARCHY")  # type: ignore[arg-type]
    assert isinstance(poses_to_bvh(walk, units="m"), BVH)
