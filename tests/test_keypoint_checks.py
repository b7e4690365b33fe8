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


# --- the traps through lift (issue 28): each failed silently before -----------------------


def _lift_warnings(*args, **kwargs):
    import warnings

    import poselift

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = poselift.lift(*args, **kwargs)
    return out, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def tiny():
    import poselift

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
                                 hidden=16).eval()


def test_lift_refuses_normalized_coordinates_and_depth_scores(tiny):
    import poselift

    kp = load_demo_sample()["keypoints2d"][:20].astype(np.float64)
    w, h = load_demo_sample()["image_size"]
    with pytest.raises(ValueError, match="normalized"):
        poselift.lift(kp / [w, h, 1], model=tiny)
    depth = kp.copy()
    depth[..., 2] = -0.2                                        # MediaPipe's z as a score
    with pytest.raises(ValueError, match="depth"):
        poselift.lift(depth, model=tiny)
    _, caught = _lift_warnings(kp * [1, 1, 100], model=tiny)     # scores on a 0-100 scale
    assert any("divide them by 100" in m for m in caught)
    _, caught = _lift_warnings(kp, model=tiny)
    assert caught == []                                         # the clean clip: silent


def test_lift_honours_masked_arrays(tiny):
    import poselift

    kp = load_demo_sample()["keypoints2d"][:20].astype(np.float64)
    masked = np.ma.masked_array(kp, mask=np.zeros(kp.shape, bool))
    masked.mask[:, 9] = True                                     # the left wrist, masked
    masked.data[:, 9, :2] = 0.0                                  # what hides under the mask
    scored = kp.copy()
    scored[:, 9, 2] = 0.0
    np.testing.assert_array_equal(poselift.lift(masked, model=tiny),
                                  poselift.lift(scored, model=tiny))
    assert not np.allclose(poselift.lift(masked.data, model=tiny),
                           poselift.lift(scored, model=tiny))


def test_lift_warns_on_people_read_as_frames_and_turned_over_layouts(tiny):
    kp = load_demo_sample()["keypoints2d"].astype(np.float64)
    people = kp[[0, 50, 100]] + np.array([[[0, 0, 0]], [[700, 0, 0]], [[300, 600, 0]]])
    tcn = __import__("poselift").create_model("sr_tcn", skeleton="coco", in_features=3,
                                              input_norm="bbox", channels=16,
                                              filter_widths=(3,)).eval()
    _, caught = _lift_warnings(people, model=tcn)
    assert any("several people of one image" in m for m in caught)
    _, caught = _lift_warnings(people, model=tiny, temporal=False)  # the documented way
    assert caught == []
    _, caught = _lift_warnings(kp[:, :, [1, 0, 2]], model=tiny)        # x and y swapped
    assert any("upside down or lying" in m for m in caught)
    _, caught = _lift_warnings(kp * [1, -1, 1] + [0, 2000, 0], model=tiny)   # y pointing up
    assert any("upside down or lying" in m for m in caught)


def test_lift_warns_when_a_joint_lands_metres_from_the_pelvis(tiny):
    import copy

    import torch

    kp = load_demo_sample()["keypoints2d"][:10].astype(np.float64)
    wild = copy.deepcopy(tiny)
    with torch.no_grad():
        for p in wild.head.parameters():
            p.mul_(1e4)
    poses, caught = _lift_warnings(kp, model=wild)
    assert np.linalg.norm(poses - poses[:, :1], axis=-1).max() > 1.5
    assert any("more than 1.5 m from the pelvis" in m for m in caught)
