"""Tests for poselift.absolute: intrinsics, metric scale, the translation solver, smoothing.

References are independent: hand-built pinhole cameras (the projection written out here),
scipy's least squares / minimizers for the solver, a dense numpy solve for the smoother.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
import torch

import poselift
from poselift.absolute import (
    DEFAULT_HEIGHT,
    HEIGHT_PER_CHAIN,
    MIN_JOINTS,
    as_extrinsics,
    as_intrinsics,
    camera_to_world_points,
    estimate_height,
    height_chain,
    metric_scale,
    smooth_trajectory,
    solve_trajectory,
    solve_translation,
)
from poselift.camera import Camera, look_at, project, world_to_camera
from poselift.data.synthetic import rest_pose

K = np.array([[1200.0, 0.0, 640.0], [0.0, 1180.0, 360.0], [0.0, 0.0, 1.0]])
DEMO = Path(poselift.__file__).parent / "assets" / "demo_bow.npz"
BANDAI_STANDING_HEIGHT = 1.578
"""The Bandai skeleton's standing height (head-top joint above the floor in its upright
frames, docs/absolute.md): the 'true height' of the mocap bodies."""


def _pinhole(points: np.ndarray, k: np.ndarray = K) -> np.ndarray:
    """Hand-written pinhole projection (independent of the code under test)."""
    return np.stack([k[0, 0] * points[..., 0] / points[..., 2] + k[0, 2],
                     k[1, 1] * points[..., 1] / points[..., 2] + k[1, 2]], -1)


def _body() -> np.ndarray:
    """A standing H36M-17 body in camera axes (y down), pelvis at the origin, metres."""
    p = rest_pose().astype(np.float64) * np.array([1.0, -1.0, -1.0])
    return p - p[0]


def _demo_bodies() -> np.ndarray:
    """(172, 17, 3) real mocap (a held-out bow), camera axes, pelvis at the origin."""
    with np.load(DEMO) as z:
        return z["poses3d"].astype(np.float64)


# --- camera parameters ---------------------------------------------------------------------


def test_intrinsics_forms_agree():
    cam = Camera(R=np.eye(3), t=np.zeros(3), focal=(1200.0, 1180.0), center=(640.0, 360.0),
                 image_size=(1280, 720))
    for form in (K, K.tolist(), (1200.0, 1180.0, 640.0, 360.0), torch.tensor(K), cam):
        np.testing.assert_array_equal(as_intrinsics(form), K)


@pytest.mark.parametrize("bad, match", [
    ((1.0, 2.0, 3.0), r"intrinsics: expected a \(3, 3\) matrix or \(fx, fy, cx, cy\)"),
    ((0.0, 1.0, 2.0, 3.0), "positive focal lengths"),
    ([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 2.0]], r"K = \[\[fx, 0, cx\]"),
    ([[1.0, 0.5, 0], [0, 1.0, 0], [0, 0, 1.0]], "skewed"),
    ((np.nan, 1.0, 2.0, 3.0), "finite"),
])
def test_intrinsics_errors_name_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        as_intrinsics(bad)
    with pytest.raises(TypeError, match="intrinsics"):
        as_intrinsics("1000")


def test_intrinsics_refuses_distortion():
    cam = Camera(R=np.eye(3), t=np.zeros(3), focal=1000.0, center=500.0, image_size=(1000, 1000),
                 radial=(0.1, 0.0, 0.0))
    with pytest.raises(ValueError, match="undistort"):
        as_intrinsics(cam)


def test_extrinsics_forms_and_world_points():
    R, t = look_at(eye=[1.0, 1.6, 5.0], target=[0.0, 0.9, 0.0])
    cam = Camera(R=R, t=t, focal=1000.0, center=500.0, image_size=(1000, 1000))
    world = np.random.default_rng(0).normal(size=(5, 17, 3))
    cam_pts = np.asarray(world_to_camera(world, cam))
    m4 = np.eye(4)
    m4[:3, :3], m4[:3, 3] = R, t
    for form in ((R, t), m4, m4[:3], cam):
        np.testing.assert_allclose(camera_to_world_points(cam_pts, form), world, atol=1e-12)
    with pytest.raises(ValueError, match="not a rotation"):
        as_extrinsics((2 * np.eye(3), np.zeros(3)))
    with pytest.raises(ValueError, match=r"extrinsics: expected a \(4, 4\) or \(3, 4\)"):
        as_extrinsics(np.eye(3))


# --- metric scale --------------------------------------------------------------------------


def test_height_chain_by_hand_and_posture_independent():
    p = _body()
    legs = (np.linalg.norm(p[1] - p[2]) + np.linalg.norm(p[2] - p[3])
            + np.linalg.norm(p[4] - p[5]) + np.linalg.norm(p[5] - p[6])) / 2
    trunk = sum(np.linalg.norm(p[a] - p[b]) for a, b in ((0, 7), (7, 8), (8, 9), (9, 10)))
    assert float(height_chain(p)) == pytest.approx(legs + trunk, abs=1e-12)
    bent = p.copy()  # bend the right knee 90 degrees: same bones, same chain
    shin = p[3] - p[2]
    bent[3] = p[2] + np.array([0.0, 0.0, np.linalg.norm(shin)])
    assert float(height_chain(bent)) == pytest.approx(float(height_chain(p)), abs=1e-12)


def test_metric_scale_measures_the_body_not_the_network():
    body = _demo_bodies()
    true = float(np.asarray(estimate_height(body)))
    for shrink in (0.77, 1.0, 1.3):  # whatever size the network outputs
        s = float(np.asarray(metric_scale(body * shrink, 1.80)))
        assert s * shrink * true == pytest.approx(1.80, rel=1e-9)
    assert float(np.asarray(metric_scale(body))) * true == pytest.approx(DEFAULT_HEIGHT)
    # per sequence: (N, T, 17, 3) -> (N,), median over T (robust to a few bad frames)
    two = np.stack([body, body * 2.0])
    two[0, :10] *= 5.0  # 10 of 172 frames far too large
    np.testing.assert_allclose(metric_scale(two, 1.7), [1.7 / true, 0.85 / true], rtol=0.02)


def test_running_median_scale_follows_a_drifting_network():
    body = _demo_bodies()
    drift = np.linspace(0.75, 0.85, len(body))[:, None, None]  # output size drifts by 13%
    lifted = body * drift
    lifted[50] *= 1.5  # one wild frame
    s = np.asarray(metric_scale(lifted, 1.7, window=31))
    assert s.shape == (len(body),)
    chain = np.asarray(height_chain(lifted * s[:, None, None]))
    keep = np.ones(len(body), bool)
    keep[50] = False
    # the rescaled body keeps (nearly) the wanted size in every frame; the wild frame does
    # not move its neighbours
    np.testing.assert_allclose(HEIGHT_PER_CHAIN * chain[keep], 1.7, rtol=0.01)
    whole = float(np.asarray(metric_scale(lifted, 1.7)))
    assert np.ptp(HEIGHT_PER_CHAIN * np.asarray(height_chain(lifted[keep] * whole))) > 0.15
    with pytest.raises(ValueError, match="window: expected None or an odd positive"):
        metric_scale(lifted, 1.7, window=4)


@pytest.mark.parametrize("height", [0.2, 3.0, float("nan")])
def test_bad_height(height):
    with pytest.raises(ValueError, match="height: expected a standing height in metres"):
        metric_scale(_body()[None], height)
    with pytest.raises(TypeError, match="height"):
        metric_scale(_body()[None], "1.8")  # type: ignore[arg-type]


@pytest.mark.data
def test_height_per_chain_remeasured_on_the_mocap(shared_data):
    """Standing height / height chain on upright frames of the Bandai mocap (every 4th clip)."""
    with np.load(shared_data / "bandai" / "bandai_h36m17.npz") as z:
        names = sorted(z.files)[::4]
        ratios = []
        heights = []
        for name in names:
            p = z[name].astype(np.float64)

            def bone(a, b, p=p):
                return np.linalg.norm(p[:, a] - p[:, b], axis=-1)

            straight = (bone(1, 3) > 0.995 * (bone(1, 2) + bone(2, 3))) & (
                bone(4, 6) > 0.995 * (bone(4, 5) + bone(5, 6)))
            trunk = (p[:, 8] - p[:, 0]) / bone(8, 0)[:, None]
            head = (p[:, 10] - p[:, 8]) / bone(10, 8)[:, None]
            ok = (straight & (trunk[:, 1] > np.cos(np.radians(5)))
                  & (head[:, 1] > np.cos(np.radians(10)))
                  & (np.maximum(p[:, 3, 1], p[:, 6, 1]) < 0.13))
            if ok.any():
                chain = np.asarray(height_chain(p[ok]))
                ratios.append(p[ok, 10, 1] / chain)
                heights.append(p[ok, 10, 1])
    ratio = float(np.median(np.concatenate(ratios)))
    assert ratio == pytest.approx(HEIGHT_PER_CHAIN, abs=0.003)
    assert float(np.median(np.concatenate(heights))) == pytest.approx(BANDAI_STANDING_HEIGHT,
                                                                       abs=0.005)


# --- the translation solver ----------------------------------------------------------------


def _scene(seed: int = 0, noise: float = 1.5):
    rng = np.random.default_rng(seed)
    body = _demo_bodies()[::20]  # 9 real poses
    t_true = np.stack([rng.uniform(-0.8, 0.8, len(body)), rng.uniform(-0.3, 0.3, len(body)),
                       rng.uniform(3.0, 9.0, len(body))], -1)
    uv = _pinhole(body + t_true[:, None]) + rng.normal(0.0, noise, (len(body), 17, 2))
    w = rng.uniform(0.4, 1.0, (len(body), 17))
    return body, t_true, uv, w


def test_noise_free_translation_is_exact():
    body, t_true, _, w = _scene()
    uv = _pinhole(body + t_true[:, None])
    fit = solve_translation(body, uv, K, weights=w)
    np.testing.assert_allclose(fit.translation, t_true, atol=1e-9)
    assert np.asarray(fit.solved).all()
    assert np.nanmax(fit.residual_px) < 1e-6


def test_weighted_least_squares_matches_scipy():
    body, t_true, uv, w = _scene(1)
    fit = solve_translation(body, uv, K, weights=w, robust_scale=None)
    for f in range(len(body)):
        def resid(t, f=f):
            return ((_pinhole(body[f] + t) - uv[f]) * np.sqrt(w[f])[:, None]).ravel()

        ref = scipy.optimize.least_squares(resid, x0=[0.0, 0.0, 5.0], xtol=1e-15, ftol=1e-15,
                                           gtol=1e-15).x
        np.testing.assert_allclose(fit.translation[f], ref, atol=1e-7)
        assert np.linalg.norm(fit.translation[f] - t_true[f]) < 0.05 * t_true[f, 2]


def test_cauchy_solution_matches_a_generic_minimizer():
    body, _, uv, w = _scene(2, noise=3.0)
    uv[:, 13] += [140.0, -90.0]  # an outlier wrist in every frame
    fit = solve_translation(body, uv, K, weights=w)
    for f in range(len(body)):
        side = np.ptp(uv[f], axis=0).max()
        c = 0.05 * side

        def cost(t, f=f, c=c):
            r2 = ((_pinhole(body[f] + t) - uv[f]) ** 2).sum(-1)
            return float((w[f] * 0.5 * c * c * np.log1p(r2 / (c * c))).sum())

        start = np.asarray(fit.translation[f]) + np.array([0.05, -0.05, 0.3])
        ref = scipy.optimize.minimize(cost, start, method="Nelder-Mead",
                                      options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
        np.testing.assert_allclose(fit.translation[f], ref.x, atol=1e-6)
        assert cost(fit.translation[f]) <= ref.fun + 1e-9


def test_outlier_joint_is_rejected():
    body, t_true, uv, w = _scene(3, noise=1.0)
    clean = solve_translation(body, uv, K, weights=w)
    bad = uv.copy()
    bad[:, 15] += [180.0, 120.0]  # right elbow 200 px off
    robust = solve_translation(body, bad, K, weights=w)
    plain = solve_translation(body, bad, K, weights=w, robust_scale=None)
    depth = t_true[:, 2]
    assert np.max(np.abs(robust.translation[:, 2] - clean.translation[:, 2]) / depth) < 0.01
    assert np.median(np.abs(plain.translation[:, 2] - clean.translation[:, 2]) / depth) > 0.02
    assert np.max(robust.weight[:, 15] / w[:, 15]) < 0.05
    assert np.min(robust.weight[:, :15] / w[:, :15]) > 0.5


def test_missing_joints_are_left_out():
    body, _, uv, w = _scene(4)
    holes = uv.copy()
    holes[:, [0, 9, 13]] = np.nan  # NaN pixels
    zero = w.copy()
    zero[:, [0, 9, 13]] = 0.0  # or weight 0
    keep = [j for j in range(17) if j not in (0, 9, 13)]
    ref = solve_translation(body[:, keep], uv[:, keep], K, weights=w[:, keep])
    for kp, ww in ((holes, w), (uv, zero)):
        fit = solve_translation(body, kp, K, weights=ww)
        np.testing.assert_allclose(fit.translation, ref.translation, atol=1e-9)
        assert np.isnan(np.asarray(fit.residual_px)[:, [0, 9, 13]]).all()


def test_one_joint_cannot_fix_the_depth():
    body, t_true, _, _ = _scene()
    uv = _pinhole(body + t_true[:, None])
    one = np.full_like(uv, np.nan)
    one[:, 0] = uv[:, 0]
    fit = solve_translation(body, one, K, min_joints=2)
    assert not np.asarray(fit.solved).any()
    assert np.isnan(fit.translation).all()
    two = one.copy()  # two distinct joints: depth from their projected distance
    two[:, 10] = uv[:, 10]
    fit2 = solve_translation(body, two, K, min_joints=2)
    np.testing.assert_allclose(fit2.translation, t_true, atol=1e-8)
    three = solve_translation(body, two, K)  # the default asks for MIN_JOINTS
    assert MIN_JOINTS > 2 and not np.asarray(three.solved).any()
    with pytest.raises(ValueError, match="min_joints: expected an int >= 2"):
        solve_translation(body, two, K, min_joints=1)


def test_coincident_points_are_not_solved():
    pts = np.zeros((6, 3))
    uv = np.full((6, 2), 300.0)
    assert not bool(solve_translation(pts, uv, K).solved)


def test_shapes_kinds_and_errors():
    body, _, uv, w = _scene()
    fit = solve_translation(torch.from_numpy(body), torch.from_numpy(uv), K,
                            weights=torch.from_numpy(w))
    assert isinstance(fit.translation, torch.Tensor) and fit.translation.shape == (9, 3)
    batched = solve_translation(body.reshape(3, 3, 17, 3), uv.reshape(3, 3, 17, 2), K)
    assert batched.translation.shape == (3, 3, 3) and batched.residual_px.shape == (3, 3, 17)
    with pytest.raises(ValueError, match="keypoints2d: expected shape"):
        solve_translation(body, uv[:, :16], K)
    with pytest.raises(ValueError, match="weights: expected shape"):
        solve_translation(body, uv, K, weights=w[:, :3])
    with pytest.raises(ValueError, match="weights: expected finite non-negative"):
        solve_translation(body, uv, K, weights=-w)


# --- sequences: depth accuracy, gaps, smoothing -----------------------------------------------


def test_pelvis_depth_within_5_percent_with_the_true_height():
    """A real body (the demo's held-out mocap) walked through a hand-built camera; the
    'lifted' poses are the mocap at 0.77x (a network's arbitrary size), noisy 2D."""
    rng = np.random.default_rng(5)
    body = _demo_bodies()
    n = len(body)
    path = np.stack([np.linspace(-1.5, 1.5, n), np.full(n, 0.1), np.linspace(4.0, 8.0, n)], -1)
    uv = _pinhole(body + path[:, None]) + rng.normal(0.0, 2.0, (n, 17, 2))
    lifted = body * 0.77 + rng.normal(0.0, 0.01, body.shape)
    s = float(np.asarray(metric_scale(lifted, BANDAI_STANDING_HEIGHT)))
    traj, _ = solve_trajectory(lifted * s, uv, K)
    err = np.abs(traj[:, 2] - path[:, 2]) / path[:, 2]
    assert np.median(err) < 0.01 and err.max() < 0.05
    # without the height: a typical adult, the depth scales with the assumed height
    s0 = float(np.asarray(metric_scale(lifted)))
    traj0, _ = solve_trajectory(lifted * s0, uv, K)
    ratio = np.median(traj0[:, 2] / path[:, 2])
    assert ratio == pytest.approx(DEFAULT_HEIGHT / BANDAI_STANDING_HEIGHT, rel=0.01)


def test_unsolved_frames_are_interpolated():
    body = np.repeat(_body()[None], 30, 0)
    path = np.stack([np.linspace(-1, 1, 30), np.zeros(30), np.linspace(5, 6, 30)], -1)
    uv = _pinhole(body + path[:, None])
    uv[10:14, 1:] = np.nan  # frames 10-13: only the pelvis is seen
    for smoothing in (None, 0.01):
        traj, fit = solve_trajectory(body, uv, K, smoothing=smoothing)
        assert not np.asarray(fit.solved)[10:14].any() and np.asarray(fit.solved).sum() == 26
        np.testing.assert_allclose(traj, path, atol=1e-6)  # a straight line is kept exactly


def _dense_smoother(t, info, q):
    """The smoother's objective solved densely (independent of the banded solver)."""
    n = len(t)
    A = np.zeros((3 * n, 3 * n))
    b = np.zeros(3 * n)
    for f in range(n):
        A[3 * f: 3 * f + 3, 3 * f: 3 * f + 3] += info[f]
        b[3 * f: 3 * f + 3] += info[f] @ t[f]
    D = np.zeros((n - 2, n))
    for i in range(n - 2):
        D[i, i: i + 3] = (1.0, -2.0, 1.0)
    A += np.kron(D.T @ D, np.eye(3)) / q**2
    return np.linalg.solve(A, b).reshape(n, 3)


def test_smoother_matches_the_dense_solution_and_trusts_x_y_more_than_depth():
    rng = np.random.default_rng(6)
    n = 60
    truth = np.stack([np.linspace(0, 2, n), 0.03 * np.sin(np.arange(n) / 3), np.full(n, 6.0)],
                     -1)
    info = np.zeros((n, 3, 3))
    for f in range(n):  # a typical frame: x, y fixed ~20x better than z, some coupling
        a = rng.normal(size=(3, 3)) * 0.1
        info[f] = np.diag([8e5, 8e5, 2.5e3]) + a @ a.T * 1e2
    # per-frame noise as the information says (noise_px = 4: covariance 16 / info)
    noisy = truth + rng.normal(0.0, 1.0, (n, 3)) * [0.0045, 0.0045, 0.08]
    out = np.asarray(smooth_trajectory(noisy, info, noise_px=4.0, smoothing=0.01))
    np.testing.assert_allclose(out, _dense_smoother(noisy, info / 16.0, 0.01), atol=1e-9)
    raw_z = np.sqrt(np.mean((noisy[:, 2] - truth[:, 2]) ** 2))
    smooth_z = np.sqrt(np.mean((out[:, 2] - truth[:, 2]) ** 2))
    assert smooth_z < 0.5 * raw_z  # depth noise reduced
    assert np.abs(out[:, 0] - noisy[:, 0]).max() < 0.01  # x kept close to the image's
    with pytest.raises(ValueError, match="smoothing"):
        smooth_trajectory(noisy, info, noise_px=4.0, smoothing=-1.0)
    with pytest.raises(ValueError, match="no solved frame"):
        smooth_trajectory(np.full((5, 3), np.nan), np.zeros((5, 3, 3)), noise_px=1.0)


def test_sequences_are_smoothed_separately_and_nonsolvable_ones_are_nan():
    body = np.repeat(_body()[None, None], 2, 0).repeat(8, 1)  # (2, 8, 17, 3)
    uv = _pinhole(body + np.array([0.0, 0.0, 5.0]))
    uv[1] = np.nan
    traj, fit = solve_trajectory(body, uv, K)
    np.testing.assert_allclose(traj[0], np.tile([0.0, 0.0, 5.0], (8, 1)), atol=1e-9)
    assert np.isnan(traj[1]).all() and not np.asarray(fit.solved)[1].any()


def test_a_trajectory_its_frames_cannot_fix_is_a_value_error_naming_the_input():
    """Per-frame solutions 1e13-1e16 m away, known to ~1e-26 pixels^2/m^2 (random pixels that
    no body fits; an untrained net in the ``lift_full`` doctest gave them): the smoother's
    banded system is singular. It raised numpy's LinAlgError ("7th leading minor not positive
    definite"), a ValueError subclass that names nothing."""
    # 4 frames of 4 random joints and random pixels; only the last frame fits (5 m away)
    pts = np.array([[[-0.25, 0.1, 0.54], [0.26, 0.11, 0.45], [0.22, 0.62, -0.4],
                     [0.04, 0.16, -0.2]],
                    [[0.01, -0.32, -0.4], [0.37, -0.72, -0.47], [-0.12, -0.3, 0.29],
                     [0.19, 0.08, 0.46]],
                    [[0.35, 0.34, 0.11], [0.01, 0.26, 0.29], [0.11, 0.05, 0.16],
                     [0.27, 0.3, -0.24]],
                    [[-0.08, 0.22, 0.04], [-0.01, 0.29, -0.03], [0.19, -0.35, 0.52],
                     [-0.18, -0.11, 0.73]]])
    uv = np.array([[[549, 486], [509, 662], [441, 381], [546, 459]],
                   [[604, 589], [504, 633], [663, 511], [634, 493]],
                   [[635, 674], [540, 495], [697, 596], [487, 376]],
                   [[483, 545], [499, 558], [534, 437], [469, 482]]], dtype=np.float64)
    k = (1000.0, 1000.0, 500.0, 500.0)
    fit = solve_translation(pts, uv, k)
    t, info = np.asarray(fit.translation), np.asarray(fit.information)
    assert np.asarray(fit.solved).all() and np.abs(t[:3]).max() > 1e12  # the input it meets
    with pytest.raises(ValueError, match=r"^trajectory: cannot be smoothed: the information "
                                         r"of its solved frames .* does not fix a trajectory "
                                         r"\(translations up to 1\.5e\+16 m\)") as info_:
        smooth_trajectory(t, info, noise_px=5.0)
    assert not isinstance(info_.value, np.linalg.LinAlgError)
    with pytest.raises(ValueError, match=r"^keypoints2d: the sequence: the per-frame positions "
                                         r"that fit the poses to these keypoints give no "
                                         r"trajectory: trajectory: cannot be smoothed") as info_:
        solve_trajectory(pts, uv, k)
    assert not isinstance(info_.value, np.linalg.LinAlgError)
    fine = np.repeat(_body()[None, :4], 4, 0)  # a sequence that fits comes first
    k3 = np.array([[1e3, 0.0, 500.0], [0.0, 1e3, 500.0], [0.0, 0.0, 1.0]])
    fine_uv = _pinhole(fine + np.array([0.0, 0.0, 5.0]), k3)
    with pytest.raises(ValueError, match=r"^keypoints2d: sequence 1: "):
        solve_trajectory(np.stack([fine, pts]), np.stack([fine_uv, uv]), k)


def test_rendered_through_poselift_camera_agrees():
    """The camera module's own projection (with extrinsics) and the hand-built one agree."""
    R, t = look_at(eye=[0.5, 1.5, 6.0], target=[0.0, 0.9, 0.0])
    cam = Camera(R=R, t=t, focal=(1200.0, 1180.0), center=(640.0, 360.0),
                 image_size=(1280, 720))
    world = rest_pose().astype(np.float64)[None]
    pc = np.asarray(world_to_camera(world, cam))
    uv = np.asarray(project(pc, cam))
    fit = solve_translation(pc - pc[:, :1], uv, K)
    np.testing.assert_allclose(fit.translation, pc[:, 0], atol=1e-9)
    np.testing.assert_allclose(camera_to_world_points(fit.translation, cam), world[:, 0],
                               atol=1e-9)


def test_leaf_modules_import_only_leaves():
    """absolute and rarity_flag sit with the leaves (docs/architecture.md)."""
    import ast

    src = Path(poselift.__file__).parent
    leaves = {"poselift._validation", "poselift._registry", "poselift.camera",
              "poselift.absolute", "poselift.partitions", "poselift.rarity",
              "poselift.rarity_lattice", "poselift.skeletons"}
    for name in ("absolute.py", "rarity_flag.py"):
        tree = ast.parse((src / name).read_text())
        found = {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module
                 and node.module.startswith("poselift")}
        found |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                  for a in node.names if a.name.startswith("poselift")}
        assert found <= leaves, (name, found - leaves)
