"""Tests for poselift.data.h36m and the Human3.6M protocols, on tiny files the tests write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from poselift.camera import project, world_to_camera
from poselift.data import (
    H36M_32_TO_17,
    DataError,
    h36m_cameras,
    load_h36m,
    load_h36m_2d,
    load_h36m_protocol,
)

ACTIONS = ("Walking 1", "Walking", "Eating 2", "Sitting")


def _sequence(frames: int, seed: int) -> np.ndarray:
    """(T, 32, 3) metres in the Human3.6M world (+Z up) near the capture volume centre."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(scale=0.25, size=(frames, 32, 3))
    pts[..., 2] += 0.9
    pts[..., :2] += rng.normal(scale=0.5, size=2)
    return pts


def _write_h36m(root: Path, subjects=("S1", "S5", "S9", "S11"), frames: int = 6) -> Path:
    data = {s: {a: _sequence(frames + i, 10 * k + i) for i, a in enumerate(ACTIONS)}
            for k, s in enumerate(subjects)}
    np.savez(root / "data_3d_h36m.npz", positions_3d=data)
    return root


def test_cameras_match_published_rotation():
    # Martinez et al.'s h36m cameras.h5 value for S1, camera 54138969 (world -> camera R)
    ref = np.array([[-0.9153617321513369, 0.40180836633680234, 0.02574754463350265],
                    [0.051548117060134555, 0.1803735689384521, -0.9822464900705729],
                    [-0.399319034032262, -0.8977836111057917, -0.185819527201491]])
    cam = h36m_cameras("S1")[0]
    np.testing.assert_allclose(cam.R.numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(cam.position.numpy(), [1.8411070556640625, 4.95528466796875,
                                                      1.5634454345703125], atol=1e-9)
    for subject in ("S1", "S5", "S6", "S7", "S8", "S9", "S11"):
        for c in h36m_cameras(subject):
            np.testing.assert_allclose(c.R.numpy() @ c.R.numpy().T, np.eye(3), atol=1e-6)
            # every camera sees the capture volume centre (about 1 m up) in its image
            uv = project(world_to_camera(np.array([0.0, 0.0, 1.0]), c), c)
            assert 0 < uv[0] < c.width and 0 < uv[1] < c.height
    with pytest.raises(ValueError, match="subject"):
        h36m_cameras("S2")


def test_load_h36m_keeps_the_17_joints(tmp_path: Path):
    coded = np.tile(np.arange(32, dtype=np.float64)[None, :, None], (3, 1, 3))
    np.savez(tmp_path / "data_3d_h36m.npz",
             positions_3d={"S9": {"Walking 1": coded, "Sitting": coded[:, H36M_32_TO_17]}})
    ms = load_h36m(tmp_path / "data_3d_h36m.npz")
    assert ms.names == ("S9/Walking 1", "S9/Sitting") and ms.up == "z"
    np.testing.assert_array_equal(ms["S9/Walking 1"].poses[0, :, 0], H36M_32_TO_17)
    np.testing.assert_array_equal(ms["S9/Sitting"].poses[0, :, 0], H36M_32_TO_17)
    meta = ms["S9/Walking 1"].meta
    assert (meta["subject"], meta["action"], meta["content"]) == ("S9", "Walking 1", "Walking")
    assert ms["S9/Walking 1"].fps == 50.0


def test_load_h36m_bad_data(tmp_path: Path):
    f = tmp_path / "data_3d_h36m.npz"
    bad = _sequence(4, 0)
    bad[2, 6, 1] = np.nan  # a kept joint (NaNs in dropped joints do not matter)
    np.savez(f, positions_3d={"S9": {"Walking 1": bad, "Eating": np.zeros((4, 30, 3))}})
    with pytest.raises(DataError, match=r"S9/Walking 1: 1 NaN/inf values in poses"):
        load_h36m(f)
    with pytest.warns(RuntimeWarning, match="skipped 2 bad sequence"):
        ms = load_h36m(f, on_bad="skip")
    assert len(ms) == 0 and any("(T, 32, 3) or (T, 17, 3)" in m for m in ms.skipped)
    np.savez(f, something_else=np.zeros(3))
    with pytest.raises(DataError, match="no 'positions_3d' array"):
        load_h36m(f)
    f.write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read the npz archive"):
        load_h36m(f)


def test_load_h36m_2d(tmp_path: Path):
    f = tmp_path / "data_2d_h36m_det.npz"
    arrays = [np.full((5, 17, 2), k, np.float32) for k in range(4)]
    np.savez(f, positions_2d={"S9": {"Walking 1": arrays, "Eating": arrays[:3]}},
             metadata={"layout_name": "h36m", "num_joints": 17})
    with pytest.raises(DataError, match="list of 4 per-camera arrays"):
        load_h36m_2d(f)
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        kp = load_h36m_2d(f, on_bad="skip")
    assert [a[0, 0, 0] for a in kp.positions["S9", "Walking 1"]] == [0, 1, 2, 3]
    np.savez(f, positions_2d={"S9": {"Walking 1": arrays}},
             metadata={"layout_name": "coco", "num_joints": 17})
    with pytest.raises(DataError, match="expected the H36M-17 layout"):
        load_h36m_2d(f)


def test_subject_protocol(tmp_path: Path):
    root = _write_h36m(tmp_path)
    train = load_h36m_protocol("h36m-subject", root, "train")
    test = load_h36m_protocol("h36m-subject", root, "test")
    per_subject = sum(6 + i for i in range(len(ACTIONS))) * 4
    assert len(train) == 2 * per_subject and len(test) == 2 * per_subject
    assert set(np.char.partition(test.clip.astype(str), "/")[:, 0]) == {"S9", "S11"}
    assert train.info["subjects"] == ["S1", "S5"]
    # order: sequence, frame, camera; targets are pelvis-relative camera coordinates
    assert test.camera[:4].tolist() == [0, 1, 2, 3] and test.frame[:5].tolist() == [0] * 4 + [1]
    np.testing.assert_array_equal(test.poses3d[:, 0], 0.0)
    # independent check of one sample: world -> camera with R, t and the distortion model
    i = 9
    seq = load_h36m(root / "data_3d_h36m.npz")[str(test.clip[i])].poses[test.frame[i]]
    cam = h36m_cameras(str(test.clip[i]).split("/")[0])[int(test.camera[i])]
    pc = cam.R.numpy() @ seq.astype(np.float64).T + cam.t.numpy()[:, None]
    np.testing.assert_allclose(test.poses3d[i], (pc - pc[:, :1]).T, atol=1e-5)
    np.testing.assert_allclose(test.keypoints2d[i], project(pc.T, cam), atol=1e-3)
    assert tuple(test.image_sizes[i]) == cam.image_size
    # frame_step and noisy inputs
    sub = load_h36m_protocol("h36m-subject", root, "test", frame_step=2)
    assert len(sub) == 2 * sum(-(-(6 + i) // 2) for i in range(len(ACTIONS))) * 4
    noisy = load_h36m_protocol("h36m-subject", root, "test", "noisy")
    d = noisy.keypoints2d - test.keypoints2d
    assert 2.5 < d.std() < 5.5
    again = load_h36m_protocol("h36m-subject", root, "test", "noisy")
    np.testing.assert_array_equal(again.keypoints2d, noisy.keypoints2d)


def test_cross_action_and_2d_source(tmp_path: Path):
    root = _write_h36m(tmp_path)
    train = load_h36m_protocol("h36m-cross-action", root, "train", action="Walking")
    assert set(train.content) == {"Walking"} and len(train) == 2 * (6 + 7) * 4
    test = load_h36m_protocol("h36m-cross-action", root, "test")
    assert set(test.content) == {"Walking", "Eating", "Sitting"}
    with pytest.raises(ValueError, match="action"):
        load_h36m_protocol("h36m-cross-action", root, "train")
    with pytest.raises(ValueError, match="no training sequence of 'Dancing'"):
        load_h36m_protocol("h36m-cross-action", root, "train", action="Dancing")
    # detections shorter than the mocap: the mocap is cut to their length
    det = {s: {a: [np.full((4, 17, 2), 7.0, np.float32)] * 4 for a in ACTIONS}
           for s in ("S9", "S11")}
    np.savez(root / "data_2d_h36m_det.npz", positions_2d=det, metadata={"num_joints": 17})
    d = load_h36m_protocol("h36m-subject", root, "test", "det")
    assert len(d) == 2 * len(ACTIONS) * 4 * 4 and (d.keypoints2d == 7.0).all()
    assert d.inputs == "det"


def test_rare_pose_protocol(tmp_path: Path):
    pytest.importorskip("poselift.rarity")
    root = _write_h36m(tmp_path)
    full = load_h36m_protocol("h36m-subject", root, "test")
    rare = load_h36m_protocol("h36m-rare20", root, "test", reference_step=2,
                              cache_dir=tmp_path / "cache")
    assert len(rare) == round(0.2 * len(full))
    assert rare.info["occurrence_cache"] == "miss"
    again = load_h36m_protocol("h36m-rare20", root, "test", reference_step=2,
                               cache_dir=tmp_path / "cache")
    assert again.info["occurrence_cache"] == "hit"
    np.testing.assert_array_equal(again.occurrence, rare.occurrence)
    # brute-force reference (paper Eq. 9-10) for the selected and the remaining samples
    train = load_h36m_protocol("h36m-subject", root, "train", frame_step=2)
    q = torch.from_numpy(full.poses3d.astype(np.float64))
    r = torch.from_numpy(train.poses3d.astype(np.float64))
    d2 = ((q[:, None] - r[None]) ** 2).sum(-1)  # (N, M, J)
    occ = torch.exp(-d2 / (2 * 0.1**2)).mean(-1).mean(-1).numpy()
    chosen = np.sort(np.argsort(occ, kind="stable")[: len(rare)])
    np.testing.assert_allclose(rare.occurrence, occ[chosen], rtol=1e-6)
    assert rare.occurrence.max() <= np.delete(occ, chosen).min()
