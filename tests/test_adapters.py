"""Detector adapters on made-up inputs shaped like MediaPipe's and ultralytics' outputs."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest
import torch

import poselift
from poselift.adapters import detections_from_arrays, from_mediapipe, from_person_arrays
from poselift.detections import track


def _marks(rng, vis=0.8):
    return [NS(x=float(x), y=float(y), z=-0.1, visibility=vis)
            for x, y in rng.uniform(0.3, 0.7, (33, 2))]


def test_mediapipe_legacy_tasks_and_arrays_agree():
    rng = np.random.default_rng(0)
    marks = _marks(rng)
    expected = np.array([[m.x * 640, m.y * 480, 0.8] for m in marks])
    legacy = NS(pose_landmarks=NS(landmark=marks))            # mp.solutions.pose result
    tasks = NS(pose_landmarks=[marks])                         # PoseLandmarkerResult
    nobody_legacy = NS(pose_landmarks=None)
    nobody_tasks = NS(pose_landmarks=[])
    arr = np.array([[m.x, m.y, m.z, m.visibility] for m in marks])
    kp = from_mediapipe([legacy, tasks, marks, arr, torch.tensor(arr), nobody_legacy,
                         nobody_tasks, None], image_size=(640, 480))
    assert kp.shape == (8, 33, 3)
    for t in range(5):
        np.testing.assert_allclose(kp[t], expected, atol=1e-6)  # x * width, y * height
    assert np.isnan(kp[5:, :, :2]).all() and (kp[5:, :, 2] == 0).all()
    whole = from_mediapipe(np.stack([arr, arr]), image_size=(640, 480))
    np.testing.assert_allclose(whole[1], expected, atol=1e-6)
    # no visibility channel: score 1
    assert (from_mediapipe([arr[:, :2]], image_size=(640, 480))[0, :, 2] == 1).all()


def test_mediapipe_second_person_and_zero_visibility():
    rng = np.random.default_rng(1)
    a, b = _marks(rng), _marks(rng, vis=0.0)
    kp = from_mediapipe([NS(pose_landmarks=[a, b])], image_size=(100, 100), person=1)
    assert np.isnan(kp[0, :, 0]).all()  # visibility 0: missing
    kp = from_mediapipe([NS(pose_landmarks=[a, b])], image_size=(100, 100), person=0)
    assert kp[0, 0, 0] == pytest.approx(a[0].x * 100)


@pytest.mark.parametrize(("results", "size", "match"), [
    ([np.zeros((17, 3))], (640, 480), "33"),
    ([[NS(x=0.1, y=0.2)] * 5], (640, 480), "33 landmarks"),
    ([[NS(u=1)] * 33], (640, 480), r"\.x and \.y"),
    ([None], (640,), "image_size"),
    ([None], (0, 480), "image_size"),
    ("frames", (640, 480), "sequence"),
])
def test_mediapipe_errors(results, size, match):
    with pytest.raises(ValueError, match=match):
        from_mediapipe(results, image_size=size)


def _person(scale, offset=0.0, conf=0.9):
    xy = np.random.default_rng(2).uniform(0, 1, (17, 2)) * scale + offset
    return np.concatenate([xy, np.full((17, 1), conf)], -1)


def test_person_arrays_ultralytics_like():
    small, big = _person(50, 10), _person(300, 200)
    confident = _person(60, 500, conf=0.99)
    results = NS(keypoints=NS(data=torch.tensor(np.stack([small, big]))))  # ultralytics Results
    frames = [np.stack([small, big]), results, None, np.zeros((0, 17, 3)),
              np.stack([big, confident]), small]
    kp = from_person_arrays(frames)
    np.testing.assert_allclose(kp[0], big)
    np.testing.assert_allclose(kp[1], big)
    assert np.isnan(kp[2:4, :, :2]).all() and (kp[2:4, :, 2] == 0).all()
    np.testing.assert_allclose(kp[4], big)
    np.testing.assert_allclose(kp[5], small)
    by_score = from_person_arrays(frames, select="score")
    np.testing.assert_allclose(by_score[4], confident)
    # 2-channel arrays (ultralytics .xy): (0, 0) is an undetected joint
    xy = big[:, :2].copy()
    xy[3] = 0.0
    kp2 = from_person_arrays([xy[None]])
    assert np.isnan(kp2[0, 3, :2]).all() and kp2[0, 3, 2] == 0 and (kp2[0, 4:, 2] == 1).all()
    # the result lifts as COCO keypoints
    net = poselift.create_model("sr", skeleton="coco", hidden=16)
    assert np.asarray(poselift.lift(kp, model=net, skeleton="coco")).shape == (6, 17, 3)


def test_person_arrays_errors():
    with pytest.raises(ValueError, match=r"frames\[1\]"):
        from_person_arrays([np.zeros((1, 17, 3)), np.zeros((1, 16, 3))])
    with pytest.raises(ValueError, match="select"):
        from_person_arrays([np.zeros((1, 17, 3))], select="first")
    with pytest.raises(ValueError, match="frames"):
        from_person_arrays("abc")


def test_detections_from_arrays_tracks_two_people():
    a, b = _person(100, 0), _person(100, 600)
    step = np.array([1.0, 1.0, 0.0])  # move x, y; keep the confidence
    frames = [np.stack([a + t * step, b - t * step]) for t in range(15)]
    frames[7] = a[None] + 7 * step  # b not found in frame 7
    d = detections_from_arrays(frames, first_frame=100)
    assert len(d) == 29 and d.frames[0] == 100 and d.frames[-1] == 114
    tracks = track(d)
    assert sorted(t.num_detections for t in tracks) == [14, 15]
    with pytest.raises(ValueError, match="first_frame"):
        detections_from_arrays(frames, first_frame=-1)
