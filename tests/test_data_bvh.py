"""Tests for poselift.data.bvh: parsing, forward kinematics, units, the Bandai mapping."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from poselift.data import BVH, DataError, bvh_to_h36m, load_bvh, read_bvh

SAMPLES = ("dataset-1_kick_normal_001", "dataset-2_walk_normal_001")


def _chain_bvh(order: str, frames: np.ndarray, offsets: list[tuple[float, float, float]]) -> str:
    """A 3-joint chain: root (6 channels), mid (3 rotation channels), tip (End Site)."""
    rot = " ".join(f"{a}rotation" for a in order)
    lines = [
        "HIERARCHY",
        "ROOT root",
        "{",
        "  OFFSET {} {} {}".format(*offsets[0]),
        f"  CHANNELS 6 Xposition Yposition Zposition {rot}",
        "  JOINT mid",
        "  {",
        "    OFFSET {} {} {}".format(*offsets[1]),
        f"    CHANNELS 3 {rot}",
        "    End Site",
        "    {",
        "      OFFSET {} {} {}".format(*offsets[2]),
        "    }",
        "  }",
        "}",
        "MOTION",
        f"Frames: {len(frames)}",
        "Frame Time: 0.02",
    ]
    lines += [" ".join(f"{v:.10g}" for v in row) for row in frames]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YXZ", "ZYX"])
def test_forward_kinematics_matches_scipy_reference(order):
    rng = np.random.default_rng(0)
    offsets = [(1.0, 2.0, 3.0), (0.0, 10.0, 0.0), (5.0, 0.0, -2.0)]
    frames = np.c_[rng.normal(size=(4, 3)) * 50, rng.uniform(-180, 180, (4, 6))]
    bvh = BVH.parse(_chain_bvh(order, frames, offsets))
    pos, rot = bvh.forward_kinematics(units="cm")
    for f in range(4):
        # independent reference: intrinsic Euler rotations in channel order (uppercase)
        r_root = Rotation.from_euler(order, frames[f, 3:6], degrees=True).as_matrix()
        r_mid = Rotation.from_euler(order, frames[f, 6:9], degrees=True).as_matrix()
        p_root = frames[f, :3]  # position channels replace the root OFFSET
        p_mid = p_root + r_root @ np.array(offsets[1])
        p_tip = p_mid + r_root @ r_mid @ np.array(offsets[2])
        np.testing.assert_allclose(pos[f], np.stack([p_root, p_mid, p_tip]) / 100, atol=1e-12)
        np.testing.assert_allclose(rot[f, 1], r_root @ r_mid, atol=1e-12)
    assert bvh.names == ("root", "mid", "mid_End") and bvh.parents == (-1, 0, 1)
    assert bvh.fps == 50.0


def test_units():
    frames = np.zeros((1, 9))
    bvh = BVH.parse(_chain_bvh("ZXY", frames, [(0, 0, 0), (0, 10, 0), (0, 10, 0)]))
    assert bvh.forward_kinematics(units="m")[0][0, 2, 1] == pytest.approx(20.0)
    assert bvh.forward_kinematics(units="cm")[0][0, 2, 1] == pytest.approx(0.2)
    assert bvh.forward_kinematics(units="mm")[0][0, 2, 1] == pytest.approx(0.02)
    assert bvh.forward_kinematics(units=0.5)[0][0, 2, 1] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="units"):
        bvh.forward_kinematics(units="furlong")


@pytest.mark.data
@pytest.mark.parametrize("name", SAMPLES)
def test_bvh_reproduces_shared_npz_within_1mm(shared_data: Path, name: str):
    folder = shared_data / "bandai"
    poses = bvh_to_h36m(read_bvh(folder / "bvh-samples" / f"{name}.bvh"))
    with np.load(folder / "bandai_h36m17.npz") as z:
        ref = z[name]
    assert poses.shape == ref.shape
    err = np.linalg.norm(poses - ref, axis=-1).max()
    assert err < 1e-3, f"max joint error {err * 1000:.3f} mm"


@pytest.mark.data
def test_load_bvh_directory_with_bandai_metadata(shared_data: Path):
    ms = load_bvh(shared_data / "bandai" / "bvh-samples")
    assert ms.names == SAMPLES
    clip = ms["dataset-1_kick_normal_001"]
    assert (clip.meta["dataset"], clip.meta["content"], clip.meta["style"]) == (1, "kick",
                                                                               "normal")
    assert clip.fps == 30.0 and ms.up == "y" and ms.num_skipped == 0


# --- bad files ----------------------------------------------------------------------------

GOOD = _chain_bvh("ZXY", np.zeros((3, 9)), [(0, 0, 0), (0, 10, 0), (0, 10, 0)])


def _write(tmp_path: Path, text: str, name: str = "clip.bvh") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (GOOD.rsplit("\n", 2)[0] + "\n", r"declares 3 frames but has 2 data lines \(truncated"),
        (GOOD[: GOOD.index("MOTION")], "no MOTION section"),
        (GOOD.replace("0 0 0 0 0 0 0 0 0\n", "0 0 0 0 zero 0 0 0 0\n", 1),
         r"line 19: not a number: 'zero'"),
        (GOOD.replace("0 0 0 0 0 0 0 0 0\n", "0 0 0 0 0 0 0 0\n", 1),
         "line 19: expected 9 channel values, got 8"),
        (GOOD.replace("Zrotation Xrotation Yrotation\n", "Zrotation Xrotation Wrotation\n", 1),
         "unknown channel"),
        (GOOD.replace("OFFSET 0 10 0", "OFFSET 0 ten 0", 1), "expected a number for OFFSET y"),
        (GOOD.replace("HIERARCHY", "HEIRARCHY"), "not a BVH file"),
        (GOOD.replace("Frame Time: 0.02", "Frame Time: -1"), "bad frame time"),
        (GOOD.replace("Frames: 3", "Frames: three"), "expected 'Frames: N'"),
        (GOOD.replace("  }\n}\n", "  }\n"), "unexpected end of the hierarchy"),
        (GOOD.replace("0 0 0 0 0 0 0 0 0\n", "0 0 0 0 nan 0 0 0 0\n", 1), "NaN/inf"),
    ],
)
def test_bad_bvh_names_file_and_problem(tmp_path: Path, text: str, match: str):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=match) as info:
        read_bvh(path)
    assert str(path) in str(info.value)


def test_missing_joint_for_mapping(tmp_path: Path):
    path = _write(tmp_path, GOOD)
    with pytest.raises(DataError, match="needs a joint the file lacks"):
        bvh_to_h36m(read_bvh(path))


def test_load_bvh_skip_counts_and_warns(tmp_path: Path):
    good = _write(tmp_path, GOOD, "a.bvh")
    bad = _write(tmp_path, GOOD[:200], "b.bvh")
    with pytest.raises(DataError, match="b.bvh"):
        load_bvh([bad])
    with pytest.warns(RuntimeWarning, match="skipped 2 bad BVH file"):
        ms = load_bvh([good, bad], on_bad="skip")  # good lacks the Bandai joints
    assert len(ms) == 0 and ms.num_skipped == 2
    assert any("b.bvh" in m for m in ms.skipped)

    def pelvis_only(bvh: BVH, pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
        return np.repeat(pos[:, :1], 17, axis=1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ms = load_bvh([good], mapping=pelvis_only)
    assert ms["a"].poses.shape == (3, 17, 3) and ms.num_skipped == 0
