"""Tests for poselift.camera: projection, distortion, transforms, normalization, rigs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from poselift.camera import (
    H36M_LIKE,
    Camera,
    RandomRig,
    RigSpec,
    camera_to_world,
    get_rig,
    look_at,
    normalize_screen,
    project,
    rig_cameras,
    unnormalize_screen,
    world_to_camera,
)


def _identity_cam(**kw: object) -> Camera:
    args: dict[str, object] = dict(R=np.eye(3), t=np.zeros(3), focal=(1000.0, 900.0),
                                   center=(500.0, 400.0), image_size=(1000, 800))
    args.update(kw)
    return Camera(**args)  # type: ignore[arg-type]


# --- projection -----------------------------------------------------------------------------


def test_project_hand_computed_points():
    cam = _identity_cam()
    pts = np.array([[0.0, 0.0, 2.0], [0.5, -0.2, 5.0], [-1.0, 1.0, 4.0]])
    # u = 1000 * x / z + 500, v = 900 * y / z + 400
    expected = [[500.0, 400.0], [600.0, 364.0], [250.0, 625.0]]
    np.testing.assert_allclose(project(pts, cam), expected, atol=1e-9)


def test_project_world_point_hand_computed_through_look_at():
    # camera 4 m in front of the origin on +z, looking at it; world +Y up
    R, t = look_at([0.0, 1.0, 4.0], [0.0, 1.0, 0.0])
    cam = Camera(R=R, t=t, focal=800.0, center=(320.0, 240.0), image_size=(640, 480))
    world = np.array([[0.0, 1.0, 0.0],    # the target: principal point
                      [0.5, 1.0, 0.0],    # 0.5 m to world +x: image right (camera on +z)
                      [0.0, 2.0, 0.0]])   # 1 m up: image up (smaller v)
    uv = project(world_to_camera(world, cam), cam)
    np.testing.assert_allclose(uv, [[320.0, 240.0], [420.0, 240.0], [320.0, 40.0]], atol=1e-9)


def _distort_reference(x: float, y: float, z: float, f, c, k, p) -> tuple[float, float]:
    """Direct scalar transcription of the Human3.6M / VideoPose3D distortion model."""
    xn = min(max(x / z, -1.0), 1.0)
    yn = min(max(y / z, -1.0), 1.0)
    r2 = xn * xn + yn * yn
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = p[0] * xn + p[1] * yn
    xd = xn * (radial + tan) + p[0] * r2
    yd = yn * (radial + tan) + p[1] * r2
    return f[0] * xd + c[0], f[1] * yd + c[1]


def test_distortion_matches_direct_formula():
    rng = np.random.default_rng(0)
    f, c = (1145.0, 1143.8), (512.5, 515.4)
    k, p = (-0.207, 0.2478, -0.0031), (-0.00098, -0.00142)
    cam = _identity_cam(focal=f, center=c, radial=k, tangential=p, image_size=(1000, 1002))
    pts = np.c_[rng.uniform(-3, 3, (200, 2)), rng.uniform(2, 6, 200)]  # some beyond the clamp
    got = project(pts, cam)
    ref = np.array([_distort_reference(*q, f, c, k, p) for q in pts])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    # and the distortion really changes something away from the centre
    assert np.abs(got - project(pts, _identity_cam(focal=f, center=c))).max() > 1.0


def test_radial_only_and_tangential_only():
    pts = np.array([[0.3, -0.2, 2.0]])
    f, c = (1000.0, 1000.0), (0.0, 0.0)
    k, p = (0.1, 0.01, 0.001), (0.002, -0.003)
    rad = project(pts, _identity_cam(focal=f, center=c, radial=k))
    tan = project(pts, _identity_cam(focal=f, center=c, tangential=p))
    np.testing.assert_allclose(rad, [_distort_reference(*pts[0], f, c, k, (0, 0))], atol=1e-9)
    np.testing.assert_allclose(tan, [_distort_reference(*pts[0], f, c, (0, 0, 0), p)], atol=1e-9)


def test_numpy_and_torch_kinds_and_dtypes():
    cam = _identity_cam()
    p32 = np.array([[0.1, 0.2, 3.0]], dtype=np.float32)
    out = project(p32, cam)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    tout = project(torch.from_numpy(p32), cam)
    assert isinstance(tout, torch.Tensor) and tout.dtype == torch.float32
    np.testing.assert_allclose(tout.numpy(), out)
    assert isinstance(world_to_camera(torch.zeros(2, 3), cam), torch.Tensor)
    assert isinstance(camera_to_world(np.zeros((2, 3)), cam), np.ndarray)


def test_project_is_differentiable():
    cam = _identity_cam(radial=(0.1, 0.0, 0.0))
    x = torch.tensor([[0.2, 0.1, 3.0]], dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda v: project(v, cam), (x,))


# --- transforms and look-at -----------------------------------------------------------------


def test_world_camera_round_trip_and_position():
    rng = np.random.default_rng(1)
    eye = rng.normal(size=(5, 3)) * 3
    R, t = look_at(eye, np.zeros((5, 3)))
    cam = Camera(R=R, t=t, focal=1.0, center=0.0, image_size=(2, 2))
    pts = rng.normal(size=(5, 7, 3))
    back = camera_to_world(world_to_camera(pts, cam), cam)
    np.testing.assert_allclose(back, pts, atol=1e-12)
    np.testing.assert_allclose(cam.position.numpy(), eye, atol=1e-12)
    # the eye maps to the camera origin
    np.testing.assert_allclose(world_to_camera(eye[:, None], cam)[:, 0], 0.0, atol=1e-12)


def test_look_at_axes():
    R, _ = look_at([3.0, 2.0, -1.0], [0.0, 1.0, 0.5])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    fwd = np.array([-3.0, -1.0, 1.5]) / np.linalg.norm([-3.0, -1.0, 1.5])
    np.testing.assert_allclose(R[2], fwd, atol=1e-12)  # z axis = viewing direction
    assert R[0] @ np.array([0.0, 1.0, 0.0]) == pytest.approx(0.0, abs=1e-12)  # x horizontal
    assert R[1] @ np.array([0.0, 1.0, 0.0]) < 0  # image down = world down-ish


def test_look_at_roll_rotates_image_clockwise():
    R0, t0 = look_at([0.0, 0.0, 5.0], [0.0, 0.0, 0.0])
    R1, t1 = look_at([0.0, 0.0, 5.0], [0.0, 0.0, 0.0], roll=math.pi / 2)
    c0 = Camera(R=R0, t=t0, focal=100.0, center=0.0, image_size=(1, 1))
    c1 = Camera(R=R1, t=t1, focal=100.0, center=0.0, image_size=(1, 1))
    p = np.array([1.0, 0.0, 0.0])  # appears on the image right without roll
    np.testing.assert_allclose(project(world_to_camera(p, c0), c0), [20.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(project(world_to_camera(p, c1), c1), [0.0, 20.0], atol=1e-9)


def test_look_at_errors():
    with pytest.raises(ValueError, match="differ"):
        look_at([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="parallel"):
        look_at([0.0, 5.0, 0.0], [0.0, 0.0, 0.0])


def test_torch_look_at_returns_tensors():
    R, _ = look_at(torch.tensor([0.0, 0.0, 5.0]), torch.zeros(3))
    assert isinstance(R, torch.Tensor) and R.dtype == torch.float32


# --- normalization --------------------------------------------------------------------------


@pytest.mark.parametrize(("w", "h"), [(1000, 1000), (1000, 1002), (1920, 1080), (480, 640)])
def test_normalize_round_trip_and_corners(w, h):
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, max(w, h), (50, 17, 2))
    n = normalize_screen(xy, w, h)
    np.testing.assert_allclose(unnormalize_screen(n, w, h), xy, atol=1e-9)
    corners = normalize_screen(np.array([[0.0, 0.0], [w, h], [w / 2, h / 2]]), w, h)
    np.testing.assert_allclose(corners, [[-1, -h / w], [1, h / w], [0, 0]], atol=1e-12)
    t = torch.from_numpy(xy)
    torch.testing.assert_close(unnormalize_screen(normalize_screen(t, w, h), w, h), t)


def test_normalize_errors():
    with pytest.raises(ValueError, match="xy"):
        normalize_screen(np.zeros((3, 3)), 10, 10)
    with pytest.raises(ValueError, match="w"):
        normalize_screen(np.zeros((3, 2)), 0, 10)
    with pytest.raises(TypeError, match="xy"):
        unnormalize_screen([1.0, 2.0], 10, 10)  # type: ignore[arg-type]


# --- camera object --------------------------------------------------------------------------


def test_camera_validation_messages():
    with pytest.raises(ValueError, match=r"R: expected shape \(\.\.\., 3, 3\)"):
        Camera(R=np.eye(2), t=np.zeros(3), focal=1.0, center=0.0, image_size=(1, 1))
    with pytest.raises(ValueError, match="incompatible batch shapes"):
        Camera(R=np.tile(np.eye(3), (4, 1, 1)), t=np.zeros((3, 3)), focal=1.0, center=0.0,
               image_size=(1, 1))
    with pytest.raises(ValueError, match="image_size"):
        Camera(R=np.eye(3), t=np.zeros(3), focal=1.0, center=0.0, image_size=(0, 10))
    with pytest.raises(ValueError, match="finite"):
        Camera(R=np.eye(3), t=[0.0, np.nan, 0.0], focal=1.0, center=0.0, image_size=(1, 1))
    with pytest.raises(TypeError, match="camera"):
        project(np.zeros(3), "cam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="points"):
        project(np.zeros((4, 2)), _identity_cam())
    batched = rig_cameras(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="leading dims"):
        project(np.ones((17, 3)), batched)  # (4, 5) cameras need (4|1, 5|1, ..., 3) points


def test_camera_views_index_and_to():
    cams = rig_cameras(np.zeros((3, 3)))
    assert cams.batch_shape == (4, 3)
    one = cams[2, 1]
    assert one.batch_shape == ()
    np.testing.assert_allclose(one.R.numpy(), cams.R[2, 1].numpy())
    assert cams.to(torch.float32).R.dtype == torch.float32
    K = one.K.numpy()
    np.testing.assert_allclose(K, [[1145, 0, 500], [0, 1145, 500], [0, 0, 1]])
    assert one.intrinsics9().tolist() == [1145.0, 1145.0, 500.0, 500.0, 0, 0, 0, 0, 0]
    assert (one.width, one.height, one.has_distortion) == (1000, 1000, False)


def test_batched_cameras_match_per_camera_loop():
    rng = np.random.default_rng(3)
    pelvis = rng.normal(size=(6, 3)) + np.array([0.0, 0.9, 0.0])
    poses = pelvis[:, None] + rng.normal(scale=0.3, size=(6, 17, 3))
    cams = rig_cameras(pelvis)
    uv = project(world_to_camera(poses[None], cams), cams)
    assert uv.shape == (4, 6, 17, 2)
    for k in range(4):
        for f in range(6):
            c = cams[k, f]
            np.testing.assert_allclose(uv[k, f], project(world_to_camera(poses[f], c), c),
                                       atol=1e-9)


# --- rigs -----------------------------------------------------------------------------------


def test_h36m_like_rig_geometry():
    pelvis = np.array([[1.0, 0.95, -2.0], [3.0, 0.8, 4.0]])
    cams = rig_cameras(pelvis, "h36m-like")
    pos = cams.position.numpy()
    for k, a in enumerate((45, 135, 225, 315)):
        r = math.radians(a)
        expected = pelvis * [1, 0, 1] + [5 * math.sin(r), 1.6, 5 * math.cos(r)]
        np.testing.assert_allclose(pos[k], expected, atol=1e-12)
    # everything looks at (p.x, 0.9, p.z): that point projects to the principal point
    target = pelvis * [1, 0, 1] + [0, 0.9, 0]
    uv = project(world_to_camera(target[None], cams), cams)
    np.testing.assert_allclose(uv, 500.0, atol=1e-9)
    assert cams.image_size == (1000, 1000) and np.allclose(cams.focal.numpy(), 1145.0)


def test_rig_axis_flip_up_is_up_and_left_is_right_when_facing():
    # a person at the origin facing +z (right-handed +Y up world: their left is +x)
    pelvis = np.array([0.0, 0.9, 0.0])
    head = np.array([0.0, 1.6, 0.0])
    left_hip, right_hip = np.array([0.1, 0.9, 0.0]), np.array([-0.1, 0.9, 0.0])
    pts = np.stack([pelvis, head, left_hip, right_hip])
    cams = rig_cameras(pelvis[None], RigSpec(azimuths_deg=(0.0, 180.0)))  # front, back
    uv = project(world_to_camera(pts[None, None], cams), cams)[:, 0]
    assert (uv[:, 1, 1] < uv[:, 0, 1]).all()  # head above pelvis in both views
    assert uv[0, 2, 0] > uv[0, 3, 0]  # facing the camera: left hip on the image right
    assert uv[1, 2, 0] < uv[1, 3, 0]  # from behind: left hip on the image left


def test_get_rig():
    assert get_rig("h36m-like") is H36M_LIKE
    with pytest.raises(ValueError, match="unknown rig"):
        get_rig("h36m-lik")


def test_random_rig_ranges_and_determinism():
    rig = RandomRig()
    pelvis = torch.randn(500, 3, dtype=torch.float64)
    c1 = rig.sample(pelvis, generator=torch.Generator().manual_seed(5))
    c2 = rig.sample(pelvis, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(c1.R, c2.R)
    torch.testing.assert_close(c1.focal, c2.focal)
    rel = c1.position - pelvis
    dist = rel[:, [0, 2]].norm(dim=-1)
    assert dist.min() >= 3.5 - 1e-9 and dist.max() <= 7.0 + 1e-9
    assert c1.position[:, 1].min() >= 0.8 - 1e-9 and c1.position[:, 1].max() <= 2.4 + 1e-9
    f = c1.focal
    assert torch.equal(f[:, 0], f[:, 1]) and f.min() >= 900 and f.max() <= 1400
    assert (c1.center - 500).abs().max() <= 30
    # azimuths cover the circle
    az = torch.atan2(rel[:, 0], rel[:, 2])
    assert az.min() < -2.5 and az.max() > 2.5


def test_random_rig_follows_pelvis_over_a_window():
    pelvis = torch.zeros(3, 5, 3)
    pelvis[..., 0] = torch.arange(5.0)  # walking along +x
    cams = RandomRig().sample(pelvis, generator=torch.Generator().manual_seed(0))
    assert cams.batch_shape == (3, 5)
    rel = cams.position - pelvis
    torch.testing.assert_close(rel, rel[:, :1].expand_as(rel))  # same offset every frame
    torch.testing.assert_close(cams.R, cams.R[:, :1].expand_as(cams.R))


def test_random_rig_validation():
    with pytest.raises(ValueError, match="distance"):
        RandomRig(distance=(5.0, 4.0))
    with pytest.raises(ValueError, match="pelvis"):
        RandomRig().sample(torch.zeros(3))
    with pytest.raises(TypeError, match="pelvis"):
        RandomRig().sample(np.zeros((3, 3)))  # type: ignore[arg-type]
