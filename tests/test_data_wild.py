"""Tests for the wild ingredients: cameras, bodies, recombination, the simulated detector,
the named recipes and test conditions, and the sequence scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from poselift.camera import NOMINAL_STATURE, RandomRig, project, world_to_camera
from poselift.data import (
    Augmentation,
    AugmentationMix,
    BodyVariation,
    DetectorModel,
    PartRecombination,
    load_bandai,
)
from poselift.data.bodies import body_frames
from poselift.data.detector import KEYPOINT_SIGMAS, SIZE_PER_EXTENT
from poselift.data.synthetic import rest_pose, synthetic_clip, write_synthetic_bandai
from poselift.data.wild import (
    CONDITIONS,
    RECIPES,
    condition_augmentation,
    render_condition,
    training_augmentation,
)
from poselift.evaluation import LIMB_JOINTS_13, evaluate_sequences
from poselift.metrics import bone_length_cv, limb_asymmetry, mpjpe
from poselift.skeletons import get_skeleton

G = torch.Generator


def _motion(n: int = 6, frames: int = 5) -> torch.Tensor:
    """(n, frames, 17, 3) varied world poses (synthetic clips)."""
    rng = np.random.default_rng(0)
    clips = [synthetic_clip(rng, frames, c) for c in ("walk", "run", "kick") * n][:n]
    return torch.from_numpy(np.stack(clips)).double()


# --- cameras -------------------------------------------------------------------------------


def test_rig_without_new_options_draws_the_cameras_it_always_did():
    # the original draw order, re-implemented: az, dist, height, target, focal, centre, roll
    pelvis = torch.zeros(5, 3, dtype=torch.float64)
    rig = RandomRig()
    g1, g2 = G().manual_seed(3), G().manual_seed(3)
    cams = rig.sample(pelvis, generator=g1)

    def draw(rng, n=1):
        u = torch.rand(5, n, generator=g2, dtype=torch.float64)
        return (rng[0] + (rng[1] - rng[0]) * u).squeeze(-1)

    az = torch.deg2rad(draw(rig.azimuth_deg))
    dist = draw(rig.distance)
    height = draw(rig.height)
    draw(rig.target_height)
    focal = draw(rig.focal)
    center = 500.0 + draw(rig.center_offset, 2)
    torch.testing.assert_close(cams.focal[:, 0], focal)
    torch.testing.assert_close(cams.center, center)
    torch.testing.assert_close(cams.position[:, 1], height)
    torch.testing.assert_close(cams.position[:, 0], dist * torch.sin(az))


def test_elevation_person_height_and_placement():
    pelvis = torch.tensor([[0.0, 0.9, 0.0]] * 64, dtype=torch.float64)
    rig = RandomRig(elevation_deg=(20.0, 40.0), target_height=(0.9, 0.9), roll_deg=(0, 0),
                    center_offset=(0, 0), person_height=(0.5, 0.5), distance=(4.0, 8.0),
                    frame_sizes=((1920, 1080), (1080, 1920)))
    cams, frames = rig.sample_frames(pelvis, generator=G().manual_seed(0))
    # the camera looks down at the pelvis at 20-40 degrees
    eye = cams.position
    horizontal = (eye[:, [0, 2]]).norm(dim=-1)
    elev = torch.rad2deg(torch.atan2(eye[:, 1] - 0.9, horizontal))
    assert (elev >= 20 - 1e-6).all() and (elev <= 40 + 1e-6).all()
    # the pelvis is at the principal point, which is the frame's centre
    uv = project(world_to_camera(pelvis[:, None], cams), cams)[:, 0]
    torch.testing.assert_close(uv, frames / 2)
    # a NOMINAL_STATURE vertical segment through the pelvis spans half the frame height
    dist = (eye - pelvis).norm(dim=-1)
    span = cams.focal[:, 1] * NOMINAL_STATURE / dist  # small-angle height at that distance
    frac = span / frames[:, 1]
    horizontal_dist = horizontal  # focal is set from the horizontal distance
    torch.testing.assert_close(cams.focal[:, 1], 0.5 * frames[:, 1] * horizontal_dist
                               / NOMINAL_STATURE)
    assert ((frac > 0.3) & (frac <= 0.5 + 1e-9)).all()
    assert {tuple(f) for f in frames.int().tolist()} == {(1920, 1080), (1080, 1920)}
    # placement: the pelvis lands within +-p half-frames of the centre, not always at it
    placed = RandomRig(placement=0.6, roll_deg=(0, 0), center_offset=(0, 0),
                       target_height=(0.9, 0.9))
    cams, frames = placed.sample_frames(pelvis, generator=G().manual_seed(1))
    uv = project(world_to_camera(pelvis[:, None], cams), cams)[:, 0]
    off = (uv - frames / 2).abs() / (frames / 2)
    assert (off <= 0.6 + 1e-6).all() and off.max() > 0.4
    with pytest.raises(ValueError, match="placement"):
        RandomRig(placement=1.5)
    with pytest.raises(ValueError, match="elevation"):
        RandomRig(elevation_deg=(0.0, 95.0))


# --- bodies and recombination --------------------------------------------------------------


def test_body_variation_sets_widths_and_keeps_one_body_per_sample():
    world = _motion()
    out = BodyVariation(hip_width=(0.25, 0.25), shoulder_width=(0.4, 0.4), torso=None,
                        head_length=None, limb_asymmetry=0.0)(world, generator=G().manual_seed(0))
    hips = (out[..., 1, :] - out[..., 4, :]).norm(dim=-1)
    torch.testing.assert_close(hips, torch.full_like(hips, 0.25))
    shoulders = (out[..., 11, :] - out[..., 14, :]).norm(dim=-1)
    torch.testing.assert_close(shoulders, torch.full_like(shoulders, 0.4))
    torch.testing.assert_close(out[..., 0, :], world[..., 0, :])  # the pelvis stays
    sk = get_skeleton("h36m")

    def lengths(p, j):
        return (p[..., j, :] - p[..., sk.parents[j], :]).norm(dim=-1)

    for j in (2, 3, 5, 6, 12, 13, 15, 16):  # limbs untouched (no asymmetry)
        torch.testing.assert_close(lengths(out, j), lengths(world, j))
    ranged = BodyVariation()(world, generator=G().manual_seed(1))
    w = (ranged[..., 1, :] - ranged[..., 4, :]).norm(dim=-1)
    assert ((w > 0.10 - 1e-6) & (w < 0.35 + 1e-6)).all()
    torch.testing.assert_close(w, w[:, :1].expand_as(w))  # constant over the frames
    for j in (2, 13):  # limbs move by at most the asymmetry
        ratio = lengths(ranged, j) / lengths(world, j)
        assert ((ratio > 0.97 - 1e-6) & (ratio < 1.03 + 1e-6)).all()
    with pytest.raises(ValueError, match="hip_width"):
        BodyVariation(hip_width=(0.3, 0.1))


def test_face_points_move_about_the_nose():
    pts = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 2, 17, 3)))
    out = BodyVariation(face_scale=(2.0, 2.0)).face_points(pts, (0, 1, 2, 3, 4), 0)
    torch.testing.assert_close(out[:, :, 1:5] - pts[:, :, :1], 2 * (pts[:, :, 1:5] - pts[:, :, :1]))
    torch.testing.assert_close(out[:, :, [0, *range(5, 17)]], pts[:, :, [0, *range(5, 17)]])


def test_recombination_keeps_bone_lengths_and_uses_donor_limbs():
    world = _motion(6, 4)
    out = PartRecombination(swap=1.0, swing=0.0)(world, generator=G().manual_seed(0))
    sk = get_skeleton("h36m")
    for j in range(1, 17):
        a = (out[..., j, :] - out[..., sk.parents[j], :]).norm(dim=-1)
        b = (world[..., j, :] - world[..., sk.parents[j], :]).norm(dim=-1)
        torch.testing.assert_close(a, b)
    # the torso is untouched; a recombined limb points, in its body frame, like another
    # sample's limb
    torso = [0, 1, 4, 7, 8, 9, 10, 11, 14]
    torch.testing.assert_close(out[..., torso, :], world[..., torso, :])
    pf, _ = body_frames(world)
    pf2, _ = body_frames(out)
    knee_w = torch.einsum("btij,btj->bti", pf, world[..., 2, :] - world[..., 1, :])
    knee_o = torch.einsum("btij,btj->bti", pf2, out[..., 2, :] - out[..., 1, :])
    knee_w = knee_w / knee_w.norm(dim=-1, keepdim=True)
    knee_o = knee_o / knee_o.norm(dim=-1, keepdim=True)
    changed = (knee_o - knee_w).norm(dim=-1).amax(-1) > 1e-6
    for s in np.flatnonzero(changed.numpy()):
        match = [(knee_o[s] - knee_w[d]).norm(dim=-1).max() < 1e-6 for d in range(len(world))]
        assert any(match)
    swung = PartRecombination(swap=0.0, swing=1.0, swing_deg=90)(world,
                                                                  generator=G().manual_seed(1))
    assert (swung - world).norm(dim=-1).amax() > 0.05


# --- the detector --------------------------------------------------------------------------


def _facing(forward_z: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A rest pose 4 m in front of a camera at the origin, facing +z (away) or -z (towards),
    as (coco points, h36m joints) in camera coordinates (y down); proper rotations only."""
    from poselift.data.layouts import get_input_layout

    p = torch.from_numpy(rest_pose()).double()  # +Y up, facing +Z
    # towards the camera: 180 degrees about x; away: 180 degrees about z
    turn = [1.0, -1.0, -1.0] if forward_z < 0 else [-1.0, -1.0, 1.0]
    p = p * torch.tensor(turn, dtype=torch.float64) + torch.tensor([0.0, 0.9, 4.0],
                                                                   dtype=torch.float64)
    h36m = p[None, None]
    return get_input_layout("coco")(h36m), h36m


def test_face_points_are_lost_when_the_face_turns_away():
    cam = {"frame": torch.tensor([[1000.0, 1000.0]]), "layout": "coco"}
    det = DetectorModel(face_away=(-0.1, -0.1), truncate=False, noise=None, outliers=0.0,
                        swaps=0.0, occlusion=0.0, dropout=0.0)
    for forward, seen in ((1.0, False), (-1.0, True)):
        pts, h36m = _facing(forward)
        uv = pts[..., :2] / pts[..., 2:] * 1000 + 500
        _, visible = det(uv, points=pts, h36m=h36m, generator=G().manual_seed(0), **cam)
        # nose and eyes only from the front; ears (to the sides) from the front and the back
        assert bool(visible[0, 0, :3].all()) == seen and bool(visible[0, 0, :3].any()) == seen
        assert visible[0, 0, 3:].all(), forward
    kept = DetectorModel(face_away=(0.0, 0.0), face_kept=(1.0, 1.0), truncate=False,
                         noise=None, outliers=0.0, swaps=0.0, occlusion=0.0, dropout=0.0)
    pts, h36m = _facing(1.0)
    _, visible = kept(pts[..., :2] * 100, points=pts, h36m=h36m, generator=G(), **cam)
    assert visible.all()
    with pytest.raises(ValueError, match="face_away"):
        det(pts[..., :2], **cam)


def test_truncation_dropout_and_min_visible():
    uv = torch.rand(2000, 1, 17, 2, generator=G().manual_seed(0), dtype=torch.float64) * 1200 - 100
    frame = torch.full((2000, 2), 1000.0, dtype=torch.float64)
    det = DetectorModel(face_away=None, truncate=True, noise=None, outliers=0.0, swaps=0.0,
                        occlusion=0.0, dropout=0.0, min_visible=2)
    _, visible = det(uv, frame=frame, layout="h36m", generator=G())
    inside = ((uv >= 0) & (uv <= 1000)).all(-1)
    enough = inside.sum(-1, keepdim=True) >= 2
    np.testing.assert_array_equal(visible.numpy(), (inside | ~enough).numpy())
    drop = DetectorModel(face_away=None, truncate=False, noise=None, outliers=0.0, swaps=0.0,
                         occlusion=0.0, dropout=0.3)
    _, visible = drop(uv, frame=frame, layout="h36m", generator=G().manual_seed(1))
    assert abs(visible.float().mean().item() - 0.7) < 0.01
    assert (visible.sum(-1) >= 4).all()


def test_noise_scales_with_the_person_and_the_joint():
    base = torch.from_numpy(rest_pose()).double()[:, :2] * torch.tensor([1.0, -1.0]) * 300 + 500
    uv = base.expand(20000, 1, 17, 2).clone()
    det = DetectorModel(face_away=None, truncate=False, noise=(0.5, 0.5), outliers=0.0,
                        swaps=0.0, occlusion=0.0, dropout=0.0)
    out, _ = det(uv, frame=torch.full((20000, 2), 1000.0), layout="h36m",
                 generator=G().manual_seed(0))
    extent = float((base.max(0).values - base.min(0).values).max())
    std = (out - uv).std(dim=(0, 1))  # (17, 2)
    names = get_skeleton("h36m").joints
    want = torch.tensor([0.5 * KEYPOINT_SIGMAS[n] * SIZE_PER_EXTENT * extent for n in names],
                        dtype=torch.float64)
    torch.testing.assert_close(std, want[:, None].expand(17, 2), rtol=0.03, atol=0.0)


def test_swaps_exchange_mirror_joints_and_occlusions_lose_a_group_for_a_run():
    uv = torch.arange(17.0, dtype=torch.float64)[None, None, :, None].expand(64, 10, 17, 2)
    frame = torch.full((64, 2), 1e9)
    swap = DetectorModel(face_away=None, truncate=False, noise=None, outliers=0.0, swaps=1.0,
                         occlusion=0.0, dropout=0.0)
    out, visible = swap(uv, frame=frame, layout="h36m", generator=G().manual_seed(0))
    flip = torch.tensor(get_skeleton("h36m").flip_indices, dtype=torch.float64)
    moved = out[..., 0] != uv[..., 0]
    assert moved.any() and visible.all()
    # every moved joint now holds its mirror joint's value
    torch.testing.assert_close(out[..., 0][moved], flip.expand(64, 10, 17)[moved])
    occ = DetectorModel(face_away=None, truncate=False, noise=None, outliers=0.0, swaps=0.0,
                        occlusion=1.0, occlusion_frames=(3, 3), dropout=0.0, min_visible=2)
    _, visible = occ(uv, frame=frame, layout="h36m", generator=G().manual_seed(1))
    lost_frames = (~visible).any(-1)  # (64, 10)
    runs = lost_frames.sum(-1)
    assert ((runs >= 1) & (runs <= 3)).all()  # one run of 3 frames, cut at the window's ends
    lost_joints = (~visible).any(1).sum(-1)
    assert ((lost_joints >= 1) & (lost_joints <= 3)).all()


# --- recipes, conditions and the mix -------------------------------------------------------


def test_recipes_add_one_ingredient_at_a_time():
    base = training_augmentation("rig")
    assert base.detector is None and base.body is None and base.recombine is None
    assert training_augmentation("rig+bodies").body == BodyVariation()
    face = training_augmentation("rig+face").detector
    assert face is not None and face.face_away is not None and face.noise is None
    assert training_augmentation("rig+cameras").camera.roll_deg == (-35.0, 35.0)
    both = training_augmentation("rig+face+noise").detector
    assert both.face_away is not None and both.noise is not None and both.occlusion == 0
    assert set(RECIPES) >= {"paper", "random", "rig", "wild", "wild-mix"}
    with pytest.raises(ValueError, match="ingredient"):
        training_augmentation("rig+gravity")
    with pytest.raises(ValueError, match="normalize"):
        training_augmentation("wild", normalize="screen")


def test_augmentation_mix_draws_each_sample_from_one_part():
    world = _motion(40, 1)
    plain = Augmentation(camera="h36m-like", flip=0.0, bone_scale=None, global_scale=None)
    double = Augmentation(camera="h36m-like", flip=0.0, bone_scale=None, global_scale=(2.0, 2.0))
    x, y = AugmentationMix(((0.5, plain), (0.5, double)))(world, generator=G().manual_seed(0))
    assert x.shape == (40, 1, 17, 2) and y.shape == (40, 1, 17, 3)
    # distances from the pelvis do not depend on the camera: each sample (in batch order) is
    # its own pose at scale 1 or 2
    own = (world - world[..., :1, :]).norm(dim=-1)
    ratio = (y.norm(dim=-1)[..., 1:] / own[..., 1:]).reshape(40, -1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-6)
    scale = ratio[:, 0]
    assert set(scale.round().tolist()) == {1.0, 2.0}
    assert torch.allclose(scale, scale.round(), atol=1e-6)
    with pytest.raises(ValueError, match="normalize"):
        AugmentationMix(((1.0, plain), (1.0, Augmentation(normalize="bbox"))))


def test_conditions_render_deterministically(tmp_path: Path):
    ms = load_bandai(write_synthetic_bandai(tmp_path))
    ms = ms.select(list(ms.names[:3]))
    a = render_condition(ms, "wild", seed=1)
    b = render_condition(ms, "wild", seed=1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.keypoints, y.keypoints)
    assert not np.array_equal(a[0].keypoints, render_condition(ms, "wild", seed=2)[0].keypoints)
    rig = render_condition(ms, "rig")
    assert all((c.keypoints[..., 2] == 1).all() for c in rig)
    assert all((c.keypoints[:, :5, 2] == 0).all() for c in render_condition(ms, "no-face"))
    for clip in rig:  # targets are root-relative, keypoints the projection of the clip
        np.testing.assert_allclose(clip.targets[:, 0], 0.0, atol=1e-6)
    assert set(CONDITIONS) >= {"rig", "roll", "high", "lens", "bodies", "face", "no-face",
                               "noise", "occlusion", "wild"}
    assert condition_augmentation("high").camera.elevation_deg == (25.0, 50.0)


# --- sequence scores -------------------------------------------------------------------------


def test_sequence_scores_against_hand_built_values():
    rest = torch.from_numpy(rest_pose()).double() - torch.from_numpy(rest_pose()[:1]).double()
    truth = rest.expand(6, 17, 3).numpy().copy()
    pred = truth.copy()
    pred[:, 13] += [0.1, 0.0, 0.0]  # the left wrist 100 mm off in every frame
    pred[:, 9] += [0.0, 0.05, 0.0]  # the nose 50 mm off (not one of the 13)
    r = evaluate_sequences([pred], [truth], frame_step=2)
    assert r["frames"] == 3
    assert math.isclose(r["mpjpe"], 150.0 / 17)
    assert math.isclose(r["mpjpe13"], 100.0 / 13)
    assert math.isclose(r["mpjpe13"], float(mpjpe(pred * 1000, truth * 1000,
                                                  mask=np.isin(np.arange(17), LIMB_JOINTS_13))))
    assert r["bone_cv_target"] == 0.0 and r["asymmetry_target"] == 0.0
    assert r["bone_cv"] == 0.0  # offsets constant over time: lengths steady...
    assert r["asymmetry"] > 0  # ...but the left forearm no longer matches the right
    with pytest.raises(ValueError, match="predictions"):
        evaluate_sequences([pred], [truth, truth])


def test_bone_length_cv_and_asymmetry_by_hand():
    seq = np.zeros((4, 17, 3))
    seq[:, 2, 1] = [0.4, 0.4, 0.5, 0.3]  # right thigh lengths vary: std 0.0707, mean 0.4
    cv = bone_length_cv(seq)
    bones = get_skeleton("h36m").bones
    k = [c for c, _ in bones].index(2)
    assert math.isclose(float(cv[k]), np.std([0.4, 0.4, 0.5, 0.3]) / 0.4)
    pose = np.zeros((17, 3))
    pose[2, 1], pose[5, 1] = 0.4, 0.5  # right thigh 0.4, left thigh 0.5
    asym = limb_asymmetry(pose)
    assert math.isclose(float(asym.max()), 0.1 / 0.45)
    t = limb_asymmetry(torch.from_numpy(pose))
    assert isinstance(t, torch.Tensor)


def test_recipe_overrides_reach_nested_fields_and_parts():
    mix = training_augmentation("wild-mix", overrides={
        "share": 0.4, "pixel_noise": 2.0, "wild:detector.face_kept": (0.0, 0.5),
        "rig:global_scale": (0.9, 1.0), "camera.roll_deg": (-10.0, 10.0)})
    (w_rig, rig), (w_wild, wild) = mix.parts
    assert (w_rig, w_wild) == (0.4, 0.6)
    assert rig.pixel_noise == wild.pixel_noise == 2.0
    assert wild.detector.face_kept == (0.0, 0.5) and rig.detector is None
    assert rig.global_scale == (0.9, 1.0) and wild.global_scale == (0.85, 1.2)
    assert rig.camera.roll_deg == wild.camera.roll_deg == (-10.0, 10.0)
    with pytest.raises(ValueError, match="matches no field"):
        training_augmentation("rig", overrides={"detector.face_kept": (0, 1)})  # no detector
    with pytest.raises(ValueError, match="matches no field"):
        training_augmentation("wild", overrides={"gravity": 9.8})
    with pytest.raises(ValueError, match="face_kept"):
        training_augmentation("wild", overrides={"detector.face_kept": (0.5, 0.2)})


# --- the wild evaluation ---------------------------------------------------------------------


def test_evaluate_conditions_scores_what_lift_returns(tmp_path: Path):
    import poselift
    from poselift.wild import evaluate_conditions

    ms = load_bandai(write_synthetic_bandai(tmp_path))
    ms = ms.select(list(ms.names[:2]))
    torch.manual_seed(0)
    model = poselift.create_model("sr_tcn", skeleton="coco", in_features=3, input_norm="bbox",
                                  filter_widths=(3, 3), channels=32).eval()
    got = evaluate_conditions(model, ms, ["occlusion"], frame_step=2, seed=3)
    clips = render_condition(ms, "occlusion", layout="coco", seed=3)
    assert any((c.keypoints[..., 2] == 0).any() for c in clips)  # something is occluded
    preds = [np.asarray(poselift.lift(c.keypoints, skeleton="coco", model=model))
             for c in clips]
    want = evaluate_sequences(preds, [c.targets for c in clips], frame_step=2,
                              inputs=[c.keypoints for c in clips])
    assert got["occlusion"] == pytest.approx(want)
    # lifter options reach the Lifter: no interpolation over gaps gives other inputs
    no_fill = evaluate_conditions(model, ms, ["occlusion"], frame_step=2, seed=3,
                                  lifter_options={"max_gap": 0})
    preds0 = [np.asarray(poselift.lift(c.keypoints, skeleton="coco", model=model, max_gap=0))
              for c in clips]
    want0 = evaluate_sequences(preds0, [c.targets for c in clips], frame_step=2,
                               inputs=[c.keypoints for c in clips])
    assert no_fill["occlusion"] == pytest.approx(want0)
    assert no_fill["occlusion"]["mpjpe"] != pytest.approx(want["mpjpe"], abs=1e-6)


# --- what detectors do over time (the temporal ingredient) -----------------------------------


def _still(b: int, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    base = torch.from_numpy(rest_pose()).double()[:, :2] * torch.tensor([1.0, -1.0]) * 300 + 500
    return base.expand(b, t, 17, 2).clone(), torch.full((b, 2), 1000.0, dtype=torch.float64)


_QUIET = DetectorModel(face_away=None, truncate=False, noise=None, outliers=0.0, swaps=0.0,
                       occlusion=0.0, dropout=0.0)


def test_exponential_filter_against_a_loop():
    from dataclasses import replace

    from poselift.data.detector import exponential_filter

    x = torch.randn(3, 9, 4, generator=G().manual_seed(0), dtype=torch.float64)
    a = torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64)
    want = x.clone()
    for b in range(3):
        for t in range(1, 9):
            want[b, t] = a[b] * x[b, t] + (1 - a[b]) * want[b, t - 1]
    torch.testing.assert_close(exponential_filter(x, a), want)
    # the lag ingredient: a joint stepping by 10 px follows with weight 1 / (1 + lag)
    uv, frame = _still(2, 6)
    uv[:, 3:, 0, 0] += 10.0
    det = replace(_QUIET, lag=(1.0, 1.0))
    out, _ = det(uv, frame=frame, layout="h36m", generator=G())
    torch.testing.assert_close(out[0, 3:, 0, 0] - uv[0, 0, 0, 0],
                               torch.tensor([5.0, 7.5, 8.75], dtype=torch.float64))


def test_jitter_is_correlated_over_frames_and_bias_is_held():
    from dataclasses import replace

    from poselift.data.detector import KEYPOINT_SIGMAS as SIG

    uv, frame = _still(4000, 8)
    extent = float((uv[0, 0].max(0).values - uv[0, 0].min(0).values).max())
    jit = replace(_QUIET, jitter=(0.5, 0.5), jitter_correlation=(0.9, 0.9))
    e = jit(uv, frame=frame, layout="h36m", generator=G().manual_seed(0))[0] - uv
    want = 0.5 * SIG["pelvis"] * SIZE_PER_EXTENT * extent
    assert abs(float(e[:, :, 0].std()) / want - 1) < 0.03        # stationary size
    corr = float((e[:, 1:, 0, 0] * e[:, :-1, 0, 0]).mean() / e[:, :, 0, 0].var())
    assert abs(corr - 0.9) < 0.03                                 # AR(1) correlation
    bias = replace(_QUIET, bias=(0.5, 0.5))
    e = bias(uv, frame=frame, layout="h36m", generator=G().manual_seed(1))[0] - uv
    torch.testing.assert_close(e, e[:, :1].expand_as(e))          # held for the sequence
    assert abs(float(e[:, 0, 0].std()) / want - 1) < 0.05


def test_a_missing_part_is_lost_in_every_frame():
    from dataclasses import replace

    from poselift.data.detector import MISSING_PARTS

    uv, frame = _still(300, 5)
    names = get_skeleton("h36m").joints
    for k, part in enumerate(MISSING_PARTS):
        weights = tuple(1.0 if i == k else 0.0 for i in range(len(MISSING_PARTS)))
        det = replace(_QUIET, missing_part=1.0, missing_part_weights=weights, min_visible=2)
        _, visible = det(uv, frame=frame, layout="h36m", generator=G().manual_seed(k))
        lost = [n for i, n in enumerate(names) if not visible[..., i].any()]
        kept = [n for i, n in enumerate(names) if visible[..., i].all()]
        assert len(lost) + len(kept) == 17
        assert all(any(w in n for w in MISSING_PARTS[part]) for n in lost), (part, lost)
        assert not any(any(w in n for w in MISSING_PARTS[part]) for n in kept), (part, kept)
    half = replace(_QUIET, missing_part=0.5)
    _, visible = half(uv, frame=frame, layout="h36m", generator=G().manual_seed(9))
    assert 0.35 < float((~visible).any(-1).all(-1).float().mean()) < 0.65
    with pytest.raises(ValueError, match="missing_part_weights"):
        DetectorModel(missing_part_weights=(1.0, 0.0))
    with pytest.raises(ValueError, match="jitter_correlation"):
        DetectorModel(jitter_correlation=(0.5, 1.0))


def test_retime_plays_slower_about_the_centre():
    from poselift.data.augment import retime

    world = _motion(2, 9)
    torch.testing.assert_close(retime(world, torch.ones(2, dtype=torch.float64)), world)
    still = retime(world, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(still, world[:, 4:5].expand_as(world))
    half = retime(world, torch.full((2,), 0.5, dtype=torch.float64))
    torch.testing.assert_close(half[:, 0], world[:, 2])               # time 4 - 4 * 0.5
    torch.testing.assert_close(half[:, 1], (world[:, 2] + world[:, 3]) / 2)
    aug = Augmentation(camera="h36m-like", flip=0.0, bone_scale=None, global_scale=None,
                       tempo=1.0, tempo_speed=(0.0, 0.0))
    r = aug.render(world, generator=G().manual_seed(0))
    torch.testing.assert_close(r.targets, r.targets[:, 4:5].expand_as(r.targets))
    with pytest.raises(ValueError, match="tempo_speed"):
        Augmentation(tempo_speed=(0.5, 0.2))


def test_temporal_recipes_and_conditions(tmp_path: Path):
    plain = training_augmentation("wild-mix")
    temporal = training_augmentation("wild-mix-temporal")
    assert plain.parts[0] == temporal.parts[0]                         # the rig part alike
    assert plain.parts[1][1].detector.lag is None and plain.parts[1][1].tempo == 0
    assert temporal.parts[1][1].detector.lag == (0.0, 2.0) and temporal.parts[1][1].tempo > 0
    ms = load_bandai(write_synthetic_bandai(tmp_path))
    ms = ms.select(list(ms.names[:2]))
    upper = render_condition(ms, "upper-body")
    assert all((c.keypoints[:, 11:, 2] == 0).all() and (c.keypoints[:, :11, 2] == 1).all()
               for c in upper)
    legs = render_condition(ms, "legs-only", layout="h36m")
    assert all((c.keypoints[:, 7:, 2] == 0).all() and (c.keypoints[:, :7, 2] == 1).all()
               for c in legs)
    still = render_condition(ms, "still")
    for c in still:  # 20 times slower: the pose hardly changes from frame to frame
        assert np.abs(np.diff(c.targets, axis=0)).max() < 0.01
    world = _motion(3, 12)
    rig = condition_augmentation("rig").render(world, generator=G().manual_seed(0))
    lag = condition_augmentation("lag").render(world, generator=G().manual_seed(0))
    torch.testing.assert_close(rig.targets, lag.targets)               # the 2D lags, not 3D
    torch.testing.assert_close(rig.keypoints[:, 0], lag.keypoints[:, 0])
    assert not torch.allclose(rig.keypoints[:, 1:], lag.keypoints[:, 1:])


def test_evaluate_conditions_reference_is_the_distance_between_two_lifters(tmp_path: Path):
    import poselift
    from poselift.wild import evaluate_conditions

    ms = load_bandai(write_synthetic_bandai(tmp_path))
    ms = ms.select(list(ms.names[:2]))
    torch.manual_seed(0)
    temporal = poselift.create_model("sr_tcn", skeleton="coco", in_features=3,
                                     input_norm="bbox", filter_widths=(3, 3), channels=32).eval()
    single = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
                                   hidden=16).eval()
    got = evaluate_conditions(temporal, ms, ["occlusion"], frame_step=2, seed=3,
                              reference=single)["occlusion"]["to_reference"]
    # naive reference: loop over clips, frames and joints
    clips = render_condition(ms, "occlusion", layout="coco", seed=3)
    dists = []
    for c in clips:
        a = np.asarray(poselift.lift(c.keypoints, skeleton="coco", model=temporal))
        b = np.asarray(poselift.lift(c.keypoints, skeleton="coco", model=single,
                                     temporal=False))
        for t in range(0, len(a), 2):
            if np.isfinite(a[t]).all() and np.isfinite(b[t]).all():
                dists.append(np.mean([np.sqrt(((a[t, j] - b[t, j]) ** 2).sum())
                                      for j in range(a.shape[1])]))
    assert got == pytest.approx(1000 * np.mean(dists), rel=1e-9)
    assert got > 0
    h36m = poselift.create_model("sr", skeleton="h36m", hidden=16).eval()
    with pytest.raises(ValueError, match="reference: takes 'h36m' input"):
        evaluate_conditions(temporal, ms, ["rig"], reference=h36m)


def test_arm_scale_is_the_predicted_over_the_true_arm_length():
    rest = rest_pose() - rest_pose()[:1]
    truth = np.repeat(rest[None], 6, 0).astype(np.float64)
    pred = truth * 0.8  # the whole body drawn 20 % small: P-MPJPE cannot see it
    pred[1] = np.nan  # a frame without a pose does not count
    r = evaluate_sequences([pred, truth], [truth, truth], frame_step=1)
    # by hand: four arm bones per frame, 5 finite frames at 0.8 and 6 frames at 1.0
    names = ("left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow",
             "right_wrist")
    j = [get_skeleton("h36m").joints.index(n) for n in names]
    bone = sum(float(np.linalg.norm(rest[a] - rest[b])) for a, b in
               ((j[0], j[1]), (j[1], j[2]), (j[3], j[4]), (j[4], j[5])))
    assert math.isclose(r["arm_scale"], (5 * 0.8 * bone + 6 * bone) / (11 * bone))
    assert math.isclose(evaluate_sequences([pred], [truth])["arm_scale"], 0.8)
