"""Detector layouts (BODY_25, BODY_25B, COCO-18, HALPE-26, MediaPipe Pose): their joint orders,
name-based conversion to the model skeletons, and ``lift`` on them.

The expected orders below are typed from the detectors' documentation (the names as the
sources spell them), independently of ``poselift.skeletons``; index lists are written by hand.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import poselift
from poselift.inference import DEFAULT_MODEL_SKELETON, DEFAULT_WEIGHTS, default_model_skeleton
from poselift.skeletons import Skeleton, convert_keypoints, get_skeleton, register_skeleton

# OpenPose src/openpose/pose/poseParameters.cpp
OPENPOSE_BODY_25 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
                    "LWrist", "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
                    "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
                    "RSmallToe", "RHeel"]
OPENPOSE_BODY_25B = ["Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow",
                     "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle",
                     "RAnkle", "UpperNeck", "HeadTop", "LBigToe", "LSmallToe", "LHeel",
                     "RBigToe", "RSmallToe", "RHeel"]
OPENPOSE_COCO_18 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
                    "LWrist", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye",
                    "LEye", "REar", "LEar"]
# Halpe-FullBody README, "26 body keypoints" ("Head" = top of the head, "Hip" = mid-hip)
HALPE_26 = ["Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow",
            "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "Rknee", "LAnkle", "RAnkle",
            "Head", "Neck", "Hip", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel",
            "RHeel"]
# mediapipe/tasks/python/vision/pose_landmarker.py, PoseLandmark
MEDIAPIPE = ["NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER",
             "RIGHT_EYE", "RIGHT_EYE_OUTER", "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT",
             "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW", "RIGHT_ELBOW",
             "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX",
             "RIGHT_INDEX", "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE",
             "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE", "LEFT_HEEL", "RIGHT_HEEL",
             "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX"]

SPECIAL = {"head": "head_top", "hip": "mid_hip", "mouth_left": "left_mouth",
           "mouth_right": "right_mouth"}


def snake(name: str) -> str:
    """'RShoulder' -> 'right_shoulder', 'LEFT_EYE_INNER' -> 'left_eye_inner', 'Rknee' -> ..."""
    if "_" in name or name.isupper():
        out = name.lower()
    else:
        side = {"R": "right_", "L": "left_"}.get(name[0], "") if name[1:2].isupper() or \
            name[1:] == "knee" else ""
        rest = name[1:] if side else name
        out = side + re.sub(r"(?<!^)([A-Z])", r"_\1", rest).lower()
    return SPECIAL.get(out, out)


DOCUMENTED = {"body_25": OPENPOSE_BODY_25, "body_25b": OPENPOSE_BODY_25B,
              "coco_18": OPENPOSE_COCO_18, "halpe_26": HALPE_26, "mediapipe_pose": MEDIAPIPE}
LAYOUTS = sorted(DOCUMENTED)

# for each COCO-17 joint, its index in the layout (written by hand from the tables above)
TO_COCO = {
    "body_25": [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11],
    "body_25b": list(range(17)),
    "coco_18": [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10],
    "halpe_26": list(range(17)),
    "mediapipe_pose": [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28],
}


def test_snake_helper():
    assert [snake(n) for n in ("RShoulder", "LBigToe", "Rknee", "MidHip", "MOUTH_LEFT")] == [
        "right_shoulder", "left_big_toe", "right_knee", "mid_hip", "left_mouth"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_joint_order_is_the_documented_one(layout):
    sk = get_skeleton(layout)
    assert list(sk.joints) == [snake(n) for n in DOCUMENTED[layout]]
    assert sk.source  # where the order comes from
    assert layout in poselift.list_skeletons()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_flip_swaps_left_and_right_by_name(layout):
    sk = get_skeleton(layout)
    for i, j in enumerate(sk.flip_indices):
        a, b = sk.joints[i], sk.joints[j]
        assert a.replace("left_", "right_") == b or a.replace("right_", "left_") == b or a == b
    assert sk.flip_indices[sk.flip_indices[3]] == 3


def _distinct(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) distinct pixel positions with scores in (0.5, 1)."""
    rng = np.random.default_rng(seed)
    xy = rng.permutation(n * 7)[:n, None] * np.array([3.0, 5.0]) + 100.0
    return np.concatenate([xy, rng.uniform(0.5, 1.0, (n, 1))], axis=1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_to_coco_copies_every_joint_by_index(layout):
    kp = _distinct(get_skeleton(layout).num_joints)
    np.testing.assert_array_equal(convert_keypoints(kp, layout, "coco"), kp[TO_COCO[layout]])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip_through_coco(layout):
    kp = _distinct(get_skeleton(layout).num_joints, seed=1)
    back = convert_keypoints(convert_keypoints(kp, layout, "coco"), "coco", layout)
    shared = TO_COCO[layout]
    np.testing.assert_array_equal(back[shared], kp[shared])
    others = [j for j in range(len(kp)) if j not in shared]
    names = [get_skeleton(layout).joints[j] for j in others]
    for j, name in zip(others, names, strict=True):
        if name == "neck":  # rebuilt from the shoulders
            sh = [get_skeleton(layout).index(s) for s in ("left_shoulder", "right_shoulder")]
            np.testing.assert_allclose(back[j, :2], kp[sh, :2].mean(0))
        elif name == "mid_hip":  # rebuilt from the hips
            hips = [get_skeleton(layout).index(s) for s in ("left_hip", "right_hip")]
            np.testing.assert_allclose(back[j, :2], kp[hips, :2].mean(0))
        elif name == "head_top":  # centre of the eyes and ears
            face = [get_skeleton(layout).index(s)
                    for s in ("left_eye", "right_eye", "left_ear", "right_ear")]
            np.testing.assert_allclose(back[j, :2], kp[face, :2].mean(0))
        else:  # feet, hands, mouth, upper neck: nothing builds them
            assert np.isnan(back[j, :2]).all() and back[j, 2] == 0.0, name


# H36M-17: pelvis, r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, spine, thorax, nose,
# head_top, l_shoulder, l_elbow, l_wrist, r_shoulder, r_elbow, r_wrist
H36M_LIMBS = {  # layout index of h36m joints 1-6 and 11-16
    "body_25": [9, 10, 11, 12, 13, 14, 5, 6, 7, 2, 3, 4],
    "body_25b": [12, 14, 16, 11, 13, 15, 5, 7, 9, 6, 8, 10],
    "coco_18": [8, 9, 10, 11, 12, 13, 5, 6, 7, 2, 3, 4],
    "halpe_26": [12, 14, 16, 11, 13, 15, 5, 7, 9, 6, 8, 10],
    "mediapipe_pose": [24, 26, 28, 23, 25, 27, 11, 13, 15, 12, 14, 16],
}
# (thorax source, head_top source) by hand: an index, or a tuple of indices to average
H36M_BUILT = {
    "body_25": ((1,), (15, 16, 17, 18)),          # OpenPose Neck; eyes and ears
    "body_25b": ((5, 6), (18,)),                  # shoulders; HeadTop
    "coco_18": ((1,), (14, 15, 16, 17)),
    "halpe_26": ((18,), (17,)),                   # Halpe Neck; Halpe Head (top of the head)
    "mediapipe_pose": ((11, 12), (2, 5, 7, 8)),   # shoulders; eyes and ears
}
NOSE = {"body_25": 0, "body_25b": 0, "coco_18": 0, "halpe_26": 0, "mediapipe_pose": 0}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_to_h36m_by_hand(layout):
    kp = _distinct(get_skeleton(layout).num_joints, seed=2)[:, :2]
    got = convert_keypoints(kp, layout, "h36m")
    limbs = H36M_LIMBS[layout]
    np.testing.assert_array_equal(got[[1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]], kp[limbs])
    pelvis = kp[[limbs[0], limbs[3]]].mean(0)  # the H36M pelvis is the midpoint of the hips
    thorax_from, head_from = H36M_BUILT[layout]
    thorax = kp[list(thorax_from)].mean(0)
    np.testing.assert_allclose(got[0], pelvis)
    np.testing.assert_allclose(got[8], thorax)
    np.testing.assert_allclose(got[7], (pelvis + thorax) / 2)  # spine recipe
    np.testing.assert_array_equal(got[9], kp[NOSE[layout]])
    np.testing.assert_allclose(got[10], kp[list(head_from)].mean(0))


@pytest.mark.parametrize("layout", ["body_25", "halpe_26"])
def test_pelvis_falls_back_to_the_detectors_mid_hip(layout):
    sk = get_skeleton(layout)
    kp = _distinct(sk.num_joints, seed=3)
    kp[sk.index("left_hip"), 2] = 0.0  # OpenPose writes undetected joints as 0, 0, 0
    kp[sk.index("left_hip"), :2] = 0.0
    got = convert_keypoints(kp, layout, "h36m")
    np.testing.assert_array_equal(got[0, :2], kp[sk.index("mid_hip"), :2])
    assert got[0, 2] == kp[sk.index("mid_hip"), 2]
    assert np.isnan(got[4, :2]).all() and got[4, 2] == 0.0  # the left hip stays missing


def test_default_model_skeleton():
    models = {s for s, _ in DEFAULT_WEIGHTS}
    assert set(DEFAULT_MODEL_SKELETON) == set(LAYOUTS)
    for layout in LAYOUTS:
        assert default_model_skeleton(layout) in models
    assert default_model_skeleton("coco") == "coco" and default_model_skeleton("h36m") == "h36m"
    # other layouts: the model skeleton with the most shared joint names
    assert default_model_skeleton("mpi_inf_3dhp") == "h36m"
    register_skeleton(Skeleton("test_face_arms", (
        "nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder"),
        (-1, 0, 0, 0, 0)), overwrite=True)
    assert default_model_skeleton("test_face_arms") == "coco"
    with pytest.raises(ValueError, match="unknown skeleton 'body25'"):
        default_model_skeleton("body25")


def _bow(frames: int = 30) -> np.ndarray:
    """(T, 17, 3) COCO keypoints of the bundled demo clip (real motion, pixels)."""
    from importlib.resources import files

    with np.load(str(files("poselift") / "assets" / "demo_bow.npz")) as z:
        kp = np.asarray(z["keypoints2d"], dtype=np.float64)[:frames]
    return kp


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lift_takes_the_layout_directly(layout):
    """lift(kp, skeleton=layout) == lift of the keypoints converted to the model's skeleton."""
    coco = _bow()
    kp = convert_keypoints(coco, "coco", layout)  # the layout's points of a real motion
    target = default_model_skeleton(layout)
    for x in (kp, kp[7]):  # a sequence (temporal model) and one pose (single-frame model)
        got = poselift.lift(x, skeleton=layout)
        want = poselift.lift(convert_keypoints(x, layout, target), skeleton=target)
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert got.shape == (*x.shape[:-2], 17, 3)


def test_lift_ignores_joints_below_the_threshold_when_building_points():
    """A hip scoring below score_threshold does not pull the pelvis: the detector's mid-hip
    is used, exactly as if the hip had not been detected."""
    kp = convert_keypoints(_bow()[0], "coco", "body_25")
    low, none = kp.copy(), kp.copy()
    low[12, 2] = 0.1  # left hip, below the default threshold 0.3
    none[12] = 0.0
    for model in ("sr.coco", "sr.h36m"):
        a = poselift.lift(low, skeleton="body_25", model=model)
        b = poselift.lift(none, skeleton="body_25", model=model)
        np.testing.assert_array_equal(a, b)


def test_explicit_models_of_either_skeleton_take_a_detector_layout():
    kp = convert_keypoints(_bow()[3], "coco", "body_25b")
    for target in ("coco", "h36m"):
        got = poselift.lift(kp, skeleton="body_25b", model=f"sr.{target}")
        want = poselift.lift(convert_keypoints(kp, "body_25b", target), skeleton=target,
                             model=f"sr.{target}")
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_model_layouts_are_never_converted_into_each_other():
    with pytest.raises(ValueError, match="skeleton: the model takes 'coco' keypoints, got "
                                         "skeleton='h36m'"):
        poselift.lift(np.ones((17, 2)) * np.arange(17)[:, None], skeleton="h36m",
                      model="sr.coco")


def test_wrong_number_of_joints_is_an_error():
    with pytest.raises(ValueError, match=r"keypoints2d: expected shape .* J=25, got \(17, 3\)"):
        poselift.lift(np.ones((17, 3)), skeleton="body_25")


def test_default_routes_follow_the_recorded_measurement():
    """DEFAULT_MODEL_SKELETON is the rule of docs/detectors.md applied to its evidence: per
    layout, the route with the lower mean MPJPE over all cells of runs/layout-routes.json."""
    import json
    from pathlib import Path

    doc = json.loads((Path(__file__).resolve().parents[1] / "runs" / "layout-routes.json")
                     .read_text())
    for layout in DEFAULT_MODEL_SKELETON:
        means = {}
        for route in ("coco", "h36m"):
            cells = [r["mpjpe"] for r in doc["rows"]
                     if r["layout"] == layout and r["route"] == route]
            assert len(cells) == 8, (layout, route)  # 4 conditions x single-frame/temporal
            means[route] = sum(cells) / len(cells)
        assert DEFAULT_MODEL_SKELETON[layout] == min(means, key=means.__getitem__), layout
