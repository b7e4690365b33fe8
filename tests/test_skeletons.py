import numpy as np
import pytest
import torch

import poselift
from poselift.skeletons import Skeleton, convert_keypoints, get_skeleton, register_skeleton

H36M_NAMES = [
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "nose", "head_top", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
]
COCO_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]


def test_builtin_layouts_match_protocols_and_coco_order():
    h36m = poselift.get_skeleton("h36m")
    assert h36m.num_joints == 17 and list(h36m.joints) == H36M_NAMES
    # parents as in docs/protocols.md / VideoPose3D's h36m skeleton
    assert h36m.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert list(get_skeleton("coco").joints) == COCO_NAMES
    mpi = get_skeleton("mpi_inf_3dhp")
    assert mpi.num_joints == 17 and mpi.root == 14 and mpi.joints[14] == "pelvis"
    assert mpi.joints[0] == "head_top" and mpi.joints[16] == "head"


def test_flip_indices_from_names():
    h36m = get_skeleton("h36m")
    expected = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]
    assert list(h36m.flip_indices) == expected
    assert set(h36m.flip_pairs) == {(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)}
    for name in ("coco", "mpi_inf_3dhp"):
        sk = get_skeleton(name)
        flip = np.array(sk.flip_indices)
        assert (flip[flip] == np.arange(sk.num_joints)).all()  # an involution
        for i, j in enumerate(flip):
            a, b = sk.joints[i], sk.joints[j]
            assert a.replace("left_", "X").replace("right_", "X") == b.replace(
                "left_", "X").replace("right_", "X")


def test_bones_and_index():
    h36m = get_skeleton("h36m")
    assert len(h36m.bones) == 16 and (1, 0) in h36m.bones and (16, 15) in h36m.bones
    assert h36m.index("thorax") == 8
    with pytest.raises(ValueError, match="no joint 'chin'.*pelvis"):
        h36m.index("chin")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(joints=("a", "a"), parents=(-1, 0)), "duplicate joint names"),
        (dict(joints=("a", "b"), parents=(-1,)), "one entry per joint"),
        (dict(joints=("a", "b"), parents=(-1, 5)), r"parent indices must be in \[-1, 1\]"),
        (dict(joints=("a", "b"), parents=(-1, -1)), "exactly one joint needs parent -1"),
        (dict(joints=("a", "b", "c"), parents=(-1, 2, 1)), "cycle"),
        (dict(joints=("a", "b"), parents=(-1, 0), root=1), "root=1"),
        (dict(joints=("a", "left_b"), parents=(-1, 0)), "no mirror joint 'right_b'"),
        (dict(joints=(), parents=()), "must not be empty"),
    ],
)
def test_malformed_skeletons_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Skeleton("bad", **kwargs)


def test_registry_duplicates_and_unknown_names():
    sk = Skeleton("test_stick_reg", ("a", "b"), (-1, 0))
    register_skeleton(sk)
    with pytest.raises(ValueError, match="already registered.*overwrite=True"):
        register_skeleton(sk)
    other = Skeleton("test_stick_reg", ("a", "b", "c"), (-1, 0, 1))
    assert register_skeleton(other, overwrite=True) is other
    assert get_skeleton("test_stick_reg").num_joints == 3
    with pytest.raises(ValueError, match="unknown skeleton 'cocoa'.*did you mean 'coco'.*known:"):
        get_skeleton("cocoa")
    with pytest.raises(TypeError, match="expected a Skeleton"):
        register_skeleton("h36m")  # type: ignore[arg-type]
    assert "test_stick_reg" in poselift.list_skeletons()


def _coco_sample() -> np.ndarray:
    rng = np.random.default_rng(0)
    kp = np.zeros((17, 3))
    kp[:, :2] = rng.uniform(0, 500, size=(17, 2))
    kp[:, 2] = rng.uniform(0.5, 1.0, size=17)
    return kp


def test_coco_to_h36m_hand_computed():
    kp = _coco_sample()
    c = {n: i for i, n in enumerate(COCO_NAMES)}
    out = convert_keypoints(kp, "coco", "h36m")
    h = {n: i for i, n in enumerate(H36M_NAMES)}
    pelvis = (kp[c["left_hip"], :2] + kp[c["right_hip"], :2]) / 2
    thorax = (kp[c["left_shoulder"], :2] + kp[c["right_shoulder"], :2]) / 2
    np.testing.assert_allclose(out[h["pelvis"], :2], pelvis)
    np.testing.assert_allclose(out[h["thorax"], :2], thorax)
    np.testing.assert_allclose(out[h["spine"], :2], (pelvis + thorax) / 2)
    np.testing.assert_allclose(out[h["nose"]], kp[c["nose"]])
    head = kp[[c["left_eye"], c["right_eye"], c["left_ear"], c["right_ear"]]]
    np.testing.assert_allclose(out[h["head_top"], :2], head[:, :2].mean(0))
    np.testing.assert_allclose(out[h["head_top"], 2], head[:, 2].mean())
    # scores of built joints: min of required inputs
    assert out[h["pelvis"], 2] == min(kp[c["left_hip"], 2], kp[c["right_hip"], 2])
    assert out[h["spine"], 2] == min(out[h["pelvis"], 2], out[h["thorax"], 2])
    # copied joints carry their scores
    np.testing.assert_allclose(out[h["left_wrist"]], kp[c["left_wrist"]])


def test_invisible_inputs_give_score_zero_not_a_guess():
    kp = _coco_sample()
    c = {n: i for i, n in enumerate(COCO_NAMES)}
    kp[c["left_hip"], 2] = 0.0  # left hip not detected
    kp[c["left_eye"], 2] = 0.0
    kp[c["right_ear"], :2] = np.nan
    out = convert_keypoints(kp, "coco", "h36m")
    h = {n: i for i, n in enumerate(H36M_NAMES)}
    assert out[h["pelvis"], 2] == 0 and np.isnan(out[h["pelvis"], :2]).all()
    assert out[h["spine"], 2] == 0  # depends on the pelvis
    assert out[h["left_hip"], 2] == 0 and np.isnan(out[h["left_hip"], :2]).all()
    # head from the two still-visible head points only
    used = kp[[c["right_eye"], c["left_ear"]]]
    np.testing.assert_allclose(out[h["head_top"], :2], used[:, :2].mean(0))
    # no head point visible: falls back to the nose
    kp[[c["right_eye"], c["left_ear"]], 2] = 0.0
    out = convert_keypoints(kp, "coco", "h36m")
    np.testing.assert_allclose(out[h["head_top"]], kp[c["nose"]])
    kp[c["nose"], 2] = 0.0
    out = convert_keypoints(kp, "coco", "h36m")
    assert out[h["head_top"], 2] == 0 and out[h["nose"], 2] == 0


def test_h36m_to_coco_marks_unmakeable_joints_and_batches():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5, 17, 2))
    out = convert_keypoints(x, "h36m", "coco")
    assert out.shape == (4, 5, 17, 2)
    c = {n: i for i, n in enumerate(COCO_NAMES)}
    for name in ("left_eye", "right_eye", "left_ear", "right_ear"):
        assert np.isnan(out[..., c[name], :]).all()
    np.testing.assert_allclose(out[..., c["nose"], :], x[..., 9, :])
    np.testing.assert_allclose(out[..., c["left_knee"], :], x[..., 5, :])


def test_mpi_to_h36m_and_3d_coords_and_torch():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 17, 3))
    out = convert_keypoints(x, "mpi_inf_3dhp", "h36m", coords=3)
    assert out.shape == (3, 17, 3)
    # standard correspondence: thorax = neck (1), nose = head (16), pelvis = pelvis (14)
    np.testing.assert_allclose(out[:, 8], x[:, 1])
    np.testing.assert_allclose(out[:, 9], x[:, 16])
    np.testing.assert_allclose(out[:, 0], x[:, 14])
    np.testing.assert_allclose(out[:, 10], x[:, 0])
    t = torch.from_numpy(x).float()
    out_t = convert_keypoints(t, "mpi_inf_3dhp", "h36m", coords=3)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-6)


def test_separate_scores_argument():
    kp = _coco_sample()
    out = convert_keypoints(kp[:, :2], "coco", "h36m", scores=kp[:, 2])
    np.testing.assert_allclose(out, convert_keypoints(kp, "coco", "h36m"))


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.zeros((16, 2)), {}, r"x: expected shape \(\.\.\., J, C\) with J=17"),
        (np.zeros((17, 5)), {}, "x: expected 2 or 3 .score last. channels per joint, got 5"),
        (np.zeros((17, 3)), {"scores": np.ones(17)}, "expected 2 channels per joint, got 3"),
        (np.zeros((17, 2)), {"scores": np.ones(16)}, "scores: expected shape"),
        (np.zeros((17, 2)), {"coords": 4}, "coords: expected 2 or 3"),
    ],
)
def test_convert_bad_input(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        convert_keypoints(x, "coco", "h36m", **kwargs)


def test_convert_type_and_unknown_layout_errors():
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray or torch.Tensor, got list"):
        convert_keypoints([[0.0, 0.0]] * 17, "coco", "h36m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown skeleton 'h36'"):
        convert_keypoints(np.zeros((17, 2)), "coco", "h36")
    alien = Skeleton("test_alien", ("tentacle_base", "tentacle_tip"), (-1, 0))
    with pytest.raises(ValueError, match="nothing in common|no joint of the destination"):
        convert_keypoints(np.zeros((17, 2)), "coco", alien)
