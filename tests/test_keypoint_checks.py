"""Tests for the checks of the 2D input's conventions (poselift.keypoint_checks)."""

from __future__ import annotations

import numpy as np
import pytest

from poselift.demo import load_demo_sample
from poselift.keypoint_checks import (
    check_pixel_units,
    check_score_range,
    jumping_frames,
    upright_fraction,
)
from poselift.skeletons import convert_keypoints, get_skeleton


@pytest.fixture(scope="module")
def demo() -> tuple[np.ndarray, np.ndarray]:
    kp = load_demo_sample()["keypoints2d"]
    return kp[..., :2].astype(np.float64), kp[..., 2].astype(np.float64)


def test_normalized_coordinates_are_refused_and_pixels_pass(demo):
    xy, sc = demo
    check_pixel_units(xy, sc, "keypoints2d")                      # the demo clip: pixels
    w, h = load_demo_sample()["image_size"]
    with pytest.raises(ValueError, match="keypoints2d: the coordinates look normalized"):
        check_pixel_units(xy / [w, h], sc, "keypoints2d")
    one = xy[:1] / [w, h]
    with pytest.raises(ValueError, match="normalized"):          # one pose alike
        check_pixel_units(one[0], None, "kp")
    check_pixel_units(np.full((3, 17, 2), np.nan), None, "kp")    # nothing to judge: no error


def test_score_scales_and_depth_columns():
    assert check_score_range(np.array([[0.0, 0.5, 1.0, 1.2]]), "scores") is None
    assert check_score_range(None, "scores") is None
    msg = check_score_range(np.array([[3.0, 97.0, np.nan]]), "scores")
    assert msg is not None and "97" in msg and "100" in msg
    with pytest.raises(ValueError, match=r"scores: .*depth \(MediaPipe's z\)"):
        check_score_range(np.array([[0.2, -0.31]]), "scores")


def test_one_image_people_read_as_frames_jump(demo):
    xy, sc = demo
    assert jumping_frames(xy, sc) == 0.0                          # a real clip never jumps
    assert jumping_frames(xy[::10], sc[::10]) == 0.0              # nor at a third of its rate
    people = np.stack([xy[0], xy[0] + [700.0, 0.0], xy[0] + [350.0, 500.0]])
    assert jumping_frames(people, sc[:3]) == 1.0
    assert jumping_frames(xy[:1], sc[:1]) == 0.0                  # nothing to compare


def test_upright_fraction_catches_layout_and_axis_mistakes(demo):
    xy, sc = demo
    coco, h36m = get_skeleton("coco"), get_skeleton("h36m")
    assert upright_fraction(xy, sc, coco) == 1.0
    assert upright_fraction(xy * [1, -1], sc, coco) == 0.0        # y pointing up
    assert upright_fraction(xy[..., ::-1], sc, coco) == 0.0       # x and y swapped
    assert upright_fraction(xy, sc, h36m) == 0.0                  # COCO declared as H36M
    body25 = np.asarray(convert_keypoints(xy, "coco", "body_25"))
    assert upright_fraction(body25, None, get_skeleton("body_25")) == 1.0
    assert upright_fraction(body25, None, get_skeleton("body_25b")) == 0.0   # BODY_25 as 25B
    # joints below the score threshold are not used; a layout without hips says nothing
    hidden = sc.copy()
    hidden[:, 5:7] = 0.0
    assert upright_fraction(xy, hidden, coco) is None
