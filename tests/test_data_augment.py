"""Tests for poselift.data.augment: flips, bone-length scaling, the augmentation pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poselift.camera import (
    RandomRig,
    RigSpec,
    normalize_screen,
    project,
    rig_cameras,
    world_to_camera,
)
from poselift.data import (
    Augmentation,
    flip_keypoints,
    flip_poses,
    random_bone_factors,
    scale_bones,
)
from poselift.skeletons import get_skeleton

H36M = get_skeleton("h36m")


def _standing(n: int = 1, seed: int = 0) -> np.ndarray:
    """Roughly human H36M-17 poses (metres, +Y up) with random jitter."""
    base = np.array([
        [0, 0.9, 0], [-0.1, 0.9, 0], [-0.1, 0.5, 0], [-0.1, 0.1, 0],
        [0.1, 0.9, 0], [0.1, 0.5, 0], [0.1, 0.1, 0],
        [0, 1.15, 0], [0, 1.35, 0], [0, 1.45, 0.08], [0, 1.6, 0.02],
        [0.17, 1.32, 0], [0.2, 1.05, 0], [0.22, 0.8, 0],
        [-0.17, 1.32, 0], [-0.2, 1.05, 0], [-0.22, 0.8, 0],
    ])
    rng = np.random.default_rng(seed)
    return base + rng.normal(scale=0.03, size=(n, 17, 3))


# --- flips ----------------------------------------------------------------------------------


def test_flip_twice_is_identity_numpy_and_torch():
    p = _standing(5)
    np.testing.assert_array_equal(flip_poses(flip_poses(p)), p)
    t = torch.from_numpy(p)
    assert torch.equal(flip_poses(flip_poses(t)), t)
    k = np.random.default_rng(0).normal(size=(5, 17, 3))
    np.testing.assert_allclose(flip_keypoints(flip_keypoints(k, center=3.0), center=3.0), k,
                               atol=1e-14)
    np.testing.assert_array_equal(flip_keypoints(flip_keypoints(k)), k)


def test_flip_mirrors_x_and_swaps_left_right():
    p = _standing(3)
    f = flip_poses(p)
    for j, m in enumerate(H36M.flip_indices):
        np.testing.assert_array_equal(f[:, j, 0], -p[:, m, 0])
        np.testing.assert_array_equal(f[:, j, 1:], p[:, m, 1:])
    assert H36M.flip_indices[11] == 14  # left shoulder <-> right shoulder
    k = np.random.default_rng(1).normal(size=(2, 17, 3))
    fk = flip_keypoints(k)
    np.testing.assert_array_equal(fk[:, 14, 0], -k[:, 11, 0])
    np.testing.assert_array_equal(fk[:, 14, 2], k[:, 11, 2])  # score carried


def test_flip_3d_then_project_equals_flip_2d_about_principal_point():
    cams = rig_cameras(np.array([[0.0, 0.9, 0.0]]))[1, 0]
    cam_pts = world_to_camera(_standing(4), cams)
    uv = project(cam_pts, cams)
    uv_f = project(flip_poses(cam_pts), cams)
    np.testing.assert_allclose(uv_f, flip_keypoints(uv, center=float(cams.cx)), atol=1e-9)


def test_flip_errors():
    with pytest.raises(ValueError, match="poses"):
        flip_poses(np.zeros((4, 16, 3)))
    with pytest.raises(ValueError, match="at least 2 channels"):
        flip_keypoints(np.zeros((17, 1)))


# --- bone-length scaling --------------------------------------------------------------------


def _lengths(p: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(p[..., c, :] - p[..., q, :], axis=-1)
                     for c, q in H36M.bones], -1)


def _scale_bones_loop(p: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Naive reference: walk the tree in parent-before-child order."""
    out = p.copy()
    for j in range(17):
        q = H36M.parents[j]
        if q >= 0:
            out[j] = out[q] + f[j] * (p[j] - p[q])
    return out


def test_scale_bones_changes_lengths_by_exactly_the_factors():
    p = _standing(6, seed=3)
    f = np.random.default_rng(4).uniform(0.7, 1.4, size=(6, 17))
    out = scale_bones(p, f)
    child = [c for c, _ in H36M.bones]
    np.testing.assert_allclose(_lengths(out), _lengths(p) * f[:, child], rtol=1e-12)
    np.testing.assert_array_equal(out[:, 0], p[:, 0])  # the root stays
    for i in range(6):
        np.testing.assert_allclose(out[i], _scale_bones_loop(p[i], f[i]), atol=1e-12)
    # directions unchanged: the topology and every bone's direction stay
    for c, q in H36M.bones:
        a, b = out[:, c] - out[:, q], p[:, c] - p[:, q]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-12)
    t = scale_bones(torch.from_numpy(p), torch.from_numpy(f))
    np.testing.assert_allclose(t.numpy(), out, atol=1e-12)


def test_random_bone_factors():
    g = torch.Generator().manual_seed(0)
    f = random_bone_factors((1000,), 0.8, 1.25, generator=g)
    assert f.shape == (1000, 17) and (f[:, 0] == 1).all()
    others = f[:, 1:]
    assert others.min() >= 0.8 and others.max() <= 1.25 and others.std() > 0.1
    for left, right in H36M.flip_pairs:
        assert torch.equal(f[:, left], f[:, right])
    free = random_bone_factors((200,), 0.8, 1.25, symmetric=False, generator=g)
    assert not torch.equal(free[:, 1], free[:, 4])
    with pytest.raises(ValueError, match="low <= high"):
        random_bone_factors((2,), 1.2, 0.8)


# --- the pipeline ---------------------------------------------------------------------------


def test_pipeline_without_augmentation_is_the_rig_projection():
    spec = RigSpec(azimuths_deg=(30.0,))  # one camera: no random choice left
    world = torch.from_numpy(_standing(8)).float()[:, None]  # (8, 1, 17, 3)
    x, y = Augmentation.none(spec)(world, generator=torch.Generator().manual_seed(0))
    cams = rig_cameras(world[:, 0, 0].double(), spec)[0]
    cam_pts = world_to_camera(world[:, 0].double(), cams)
    uv = project(cam_pts, cams)
    torch.testing.assert_close(x[:, 0].double(), normalize_screen(uv, 1000, 1000),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(y[:, 0].double(), cam_pts - cam_pts[:, :1], atol=1e-5, rtol=0)


def test_pipeline_shapes_scores_dropout_and_determinism():
    world = torch.from_numpy(_standing(64)).float()[:, None].repeat(1, 3, 1, 1)
    aug = Augmentation(pixel_noise=2.0, dropout=0.3)
    x1, y1 = aug(world, generator=torch.Generator().manual_seed(7), with_scores=True)
    x2, y2 = aug(world, generator=torch.Generator().manual_seed(7), with_scores=True)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = aug(world, generator=torch.Generator().manual_seed(8), with_scores=True)
    assert not torch.equal(x1, x3)
    assert x1.shape == (64, 3, 17, 3) and y1.shape == (64, 3, 17, 3)
    score = x1[..., 2]
    assert set(score.unique().tolist()) == {0.0, 1.0}
    assert 0.2 < (score == 0).float().mean() < 0.4
    assert (x1[..., :2][score == 0] == 0).all()  # dropped joints sit at the centre
    assert torch.equal(y1[..., 0, :], torch.zeros_like(y1[..., 0, :]))  # pelvis-relative
    assert x1[..., :2][score == 1].abs().max() < 1.0  # within the image


def test_bbox_normalization_matches_the_screen_pixels_box():
    world = torch.from_numpy(_standing(32)).double()[:, None].repeat(1, 4, 1, 1)
    world[:, 2] *= 0.8  # the window's frames differ in size: one scale per window (median)
    kw = dict(pixel_noise=1.0, dropout=0.2)
    xs, _ = Augmentation(**kw)(world, generator=torch.Generator().manual_seed(5),
                               with_scores=True)
    xb, _ = Augmentation(normalize="bbox", **kw)(
        world, generator=torch.Generator().manual_seed(5), with_scores=True)
    assert torch.equal(xs[..., 2], xb[..., 2])  # same random stream, same dropped joints
    keep = xb[..., 2] == 1
    assert (xb[..., :2][~keep] == 0).all()
    # by hand from the screen version: box of kept joints, per-window median larger side
    px = xs[..., :2].numpy()
    k = keep.numpy()
    for b in range(4):
        sides = []
        for t in range(4):
            v = px[b, t][k[b, t]]
            sides.append((v.max(0) - v.min(0)).max())
        for t in range(4):
            v = px[b, t][k[b, t]]
            centre = (v.max(0) + v.min(0)) / 2
            # TYPICAL_EXTENT_PX['h36m'] = 322
            want = (px[b, t] - centre) / np.median(sides) * (322.0 / 500)
            np.testing.assert_allclose(xb[b, t, :, :2].numpy()[k[b, t]], want[k[b, t]],
                                       atol=1e-9)
    with pytest.raises(ValueError, match="normalize"):
        Augmentation(normalize="image")


def test_pipeline_flip_mirrors_targets():
    world = torch.from_numpy(_standing(16)).double()[:, None]
    # principal point at the image centre: mirroring the 2D is then x -> -x in normalized units
    common = dict(camera=RandomRig(center_offset=(0.0, 0.0)), bone_scale=None,
                  global_scale=None)
    flipped = Augmentation(flip=1.0, **common)(world, generator=torch.Generator().manual_seed(1))
    # the flip draw happens for any flip > 0, so a vanishing probability keeps the stream equal
    plain = Augmentation(flip=1e-300, **common)(world, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(flipped[1], flip_poses(plain[1]))
    torch.testing.assert_close(flipped[0], flip_keypoints(plain[0]))


def test_pipeline_bone_and_global_scale():
    world = torch.from_numpy(_standing(200)).double()[:, None]
    aug = Augmentation(camera=RandomRig(roll_deg=(0.0, 0.0)), flip=0.0, bone_scale=(0.8, 1.2),
                       global_scale=None)
    _, y = aug(world, generator=torch.Generator().manual_seed(2))
    ratio = _lengths(y[:, 0].numpy()) / _lengths(world[:, 0].numpy())
    assert ratio.min() >= 0.8 - 1e-9 and ratio.max() <= 1.2 + 1e-9 and ratio.std() > 0.05
    # left/right bones tied
    bone_of = {c: i for i, (c, _) in enumerate(H36M.bones)}
    np.testing.assert_allclose(ratio[:, bone_of[1]], ratio[:, bone_of[4]], rtol=1e-9)
    glob = Augmentation(flip=0.0, bone_scale=None, global_scale=(0.5, 2.0))
    _, yg = glob(world, generator=torch.Generator().manual_seed(3))
    r = _lengths(yg[:, 0].numpy()) / _lengths(world[:, 0].numpy())
    np.testing.assert_allclose(r, r[:, :1].repeat(16, 1), rtol=1e-9)  # one factor per body
    assert r.min() >= 0.5 - 1e-9 and r.max() <= 2.0 + 1e-9


def test_augmentation_validation():
    with pytest.raises(ValueError, match="flip"):
        Augmentation(flip=1.5)
    with pytest.raises(ValueError, match="bone_scale"):
        Augmentation(bone_scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="unknown rig"):
        Augmentation(camera="nope")
    with pytest.raises(ValueError, match=r"world: expected a \(B, T, 17, 3\) tensor"):
        Augmentation()(torch.zeros(4, 17, 3))
