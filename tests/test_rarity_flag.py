"""Tests for poselift.rarity_flag: the shipped training-pose reference and the rarity flags."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

import poselift
from poselift.partitions import get_partition
from poselift.rarity_flag import (
    REFERENCE_FILE,
    RarityReference,
    canonical_poses,
    load_rarity_reference,
    pose_rarity,
)

REPO = Path(__file__).resolve().parents[1]
ASSET = Path(poselift.__file__).parent / "assets" / REFERENCE_FILE
DEMO = Path(poselift.__file__).parent / "assets" / "demo_bow.npz"


def _demo() -> np.ndarray:
    with np.load(DEMO) as z:
        return z["poses3d"].astype(np.float64)


def test_shipped_reference_is_small_documented_and_packaged():
    assert ASSET.stat().st_size < 600_000  # well under 1 MB
    with np.load(ASSET, allow_pickle=False) as z:
        assert z["poses"].dtype == np.float16 and z["poses"].shape == (5000, 16, 3)
        info = json.loads(str(z["info"]))
    assert "CC BY-NC 4.0" in info["licence"] and "Bandai" in info["licence"]
    assert "build_rarity_reference.py" in info["command"]
    assert info["float16_max_relative_change"] < 1e-4
    ref = load_rarity_reference()
    assert ref.sigma == 0.1 and ref.partition == "h36m-5" and len(ref.group_thresholds) == 5
    assert 0.0 < ref.threshold < 1.0 and all(0.0 < g < 1.0 for g in ref.group_thresholds)
    # listed in the wheel's package data
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["poselift"]
    assert any(fnmatch.fnmatch(f"assets/{REFERENCE_FILE}", p) for p in patterns)


def test_occurrence_equals_a_plain_float64_loop():
    ref = load_rarity_reference()
    q = _demo()[::40]
    got = pose_rarity(q, ref)
    canon = np.asarray(canonical_poses(q, ref.chain))
    part = get_partition("h36m-5")
    for i, pose in enumerate(canon):  # Eq. 9-10 written out
        k = np.exp(-((pose[None] - ref.poses) ** 2).sum(-1) / (2 * 0.1**2))  # (M, 17)
        assert got.occurrence[i] == pytest.approx(k.mean(), rel=1e-6)
        for g, members in enumerate(part.groups):
            assert got.group_occurrence[i, g] == pytest.approx(k[:, list(members)].mean(),
                                                               rel=1e-6)
    assert got.rare.tolist() == (np.asarray(got.occurrence) < ref.threshold).tolist()


def test_invariant_to_scale_and_position_and_kind():
    q = _demo()[::30]
    base = pose_rarity(q)
    moved = pose_rarity(q * 0.77 + np.array([0.3, -0.2, 5.0]))
    np.testing.assert_allclose(moved.occurrence, base.occurrence, rtol=1e-9)
    t = pose_rarity(torch.from_numpy(q).float())
    assert isinstance(t.occurrence, torch.Tensor) and t.rare.dtype == torch.bool
    np.testing.assert_allclose(t.occurrence.numpy(), base.occurrence, rtol=1e-5)
    seq = pose_rarity(q.reshape(2, 3, 17, 3))
    assert seq.occurrence.shape == (2, 3) and seq.group_occurrence.shape == (2, 3, 5)


def test_flags_whole_pose_and_groups():
    ref = load_rarity_reference()
    q = _demo()[:1]
    odd = q.copy()
    odd[:, 11:14] = odd[:, [11]] + np.array([0.0, -0.05, 0.0]) * np.arange(3)[:, None] - [
        0.0, 0.6, 0.0]  # left arm folded straight above the head: never trained on
    r = pose_rarity(np.concatenate([q, odd]), ref)
    arm = r.group_names.index("left_arm")
    assert r.group_occurrence[1, arm] < ref.group_thresholds[arm] < r.group_occurrence[0, arm]
    assert bool(r.rare_groups[1, arm]) and not bool(r.rare_groups[0, arm])
    legs = [r.group_names.index("left_leg"), r.group_names.index("right_leg")]
    np.testing.assert_allclose(r.group_occurrence[1, legs], r.group_occurrence[0, legs])


def test_reference_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=0.2, size=(50, 17, 3))
    ref = RarityReference.from_poses(poses, threshold=0.3, group_thresholds=(0.1,) * 5,
                                     info={"what": "test"})
    ref.save(tmp_path / "r.npz")
    back = load_rarity_reference(tmp_path / "r.npz")
    assert back.info == {"what": "test"} and back.threshold == 0.3
    np.testing.assert_allclose(back.poses, ref.poses, atol=1e-3)  # float16
    np.save(tmp_path / "x.npy", poses)
    with pytest.raises(ValueError, match="not a rarity reference"):
        np.savez(tmp_path / "bad.npz", poses=poses)
        load_rarity_reference(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="group_thresholds: expected 5 values"):
        RarityReference.from_poses(poses, group_thresholds=(0.1,))
    with pytest.raises(ValueError, match=r"poses: expected shape \(\.\.\., J, 3\) with J=17"):
        pose_rarity(np.zeros((4, 16, 3)))
    with pytest.raises(ValueError, match="zero size"):
        pose_rarity(np.zeros((17, 3)))
    with pytest.raises(TypeError, match="reference: expected a RarityReference"):
        pose_rarity(poses, reference="shipped")  # type: ignore[arg-type]
