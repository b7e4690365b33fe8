"""Tests for poselift.metrics against hand-built cases, SciPy and an independent Procrustes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from poselift.metrics import (
    MetricAccumulator,
    auc3d,
    mpjpe,
    mpjve,
    n_mpjpe,
    p_mpjpe,
    pck3d,
)

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _reseed() -> None:
    global RNG
    RNG = np.random.default_rng(1234)


def horn_similarity(x: np.ndarray, y: np.ndarray) -> Any:
    """Independent reference: best proper rotation by Horn's quaternion method (1987), scale by
    least squares, translation by centroids; returns x aligned to y. x, y: (J, 3)."""
    mx, my = x.mean(0), y.mean(0)
    a, b = x - mx, y - my
    s = a.T @ b  # S_ij = sum a_i b_j
    sxx, sxy, sxz = s[0]
    syx, syy, syz = s[1]
    szx, szy, szz = s[2]
    n = np.array([
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ])
    vals, vecs = np.linalg.eigh(n)
    w, qx, qy, qz = vecs[:, np.argmax(vals)]
    rot = Rotation.from_quat([qx, qy, qz, w]).as_matrix()
    scale = np.sum(b * (a @ rot.T)) / np.sum(a * a)
    return scale * a @ rot.T + my


def random_rotation(rng: np.random.Generator) -> Any:
    return Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()


# ---------------------------------------------------------------------------- MPJPE family


def test_mpjpe_hand_values_and_reductions() -> None:
    target = np.zeros((2, 3, 3))
    pred = target.copy()
    pred[0, 0] = [3.0, 4.0, 0.0]  # 5
    pred[1, 2] = [0.0, 0.0, 6.0]  # 6
    assert mpjpe(pred, target) == pytest.approx(11.0 / 6.0)
    np.testing.assert_allclose(mpjpe(pred, target, reduction="none"), [5 / 3, 2.0])
    np.testing.assert_allclose(mpjpe(pred, target, reduction="per_joint"), [2.5, 0.0, 3.0])
    mask = np.array([[True, False, False], [True, True, True]])
    assert mpjpe(pred, target, mask=mask) == pytest.approx(11.0 / 4.0)
    np.testing.assert_allclose(mpjpe(pred, target, mask=mask, reduction="none"), [5.0, 2.0])
    np.testing.assert_allclose(
        mpjpe(pred, target, mask=mask, reduction="per_joint"), [2.5, 0.0, 6.0]
    )


def test_mpjpe_fully_masked_sample_is_nan_but_mean_ignores_it() -> None:
    pred, target = np.ones((2, 4, 3)), np.zeros((2, 4, 3))
    mask = np.array([[False] * 4, [True] * 4])
    per = mpjpe(pred, target, mask=mask, reduction="none")
    assert np.isnan(per[0]) and per[1] == pytest.approx(np.sqrt(3))
    assert mpjpe(pred, target, mask=mask) == pytest.approx(np.sqrt(3))


def test_numpy_in_numpy_out_torch_in_torch_out() -> None:
    p, t = RNG.normal(size=(4, 17, 3)), RNG.normal(size=(4, 17, 3))
    for fn in (mpjpe, p_mpjpe, n_mpjpe, pck3d, auc3d):
        out_np = fn(p, t, reduction="none")
        out_t = fn(torch.from_numpy(p), torch.from_numpy(t), reduction="none")
        assert isinstance(out_np, np.ndarray) and isinstance(out_t, torch.Tensor)
        np.testing.assert_allclose(out_np, out_t.numpy(), rtol=1e-12, atol=1e-12)
    assert isinstance(mpjpe(p, t), np.floating)
    assert isinstance(mpjpe(torch.from_numpy(p), torch.from_numpy(t)), torch.Tensor)


def test_arbitrary_leading_dims() -> None:
    p, t = RNG.normal(size=(2, 3, 5, 17, 3)), RNG.normal(size=(2, 3, 5, 17, 3))
    assert p_mpjpe(p, t, reduction="none").shape == (2, 3, 5)
    assert mpjpe(p[0, 0, 0], t[0, 0, 0], reduction="none").shape == ()
    flat = p_mpjpe(p.reshape(-1, 17, 3), t.reshape(-1, 17, 3), reduction="none")
    np.testing.assert_allclose(p_mpjpe(p, t, reduction="none").reshape(-1), flat)


def test_p_mpjpe_similarity_copy_is_zero() -> None:
    target = RNG.normal(size=(8, 17, 3))
    rots = np.stack([random_rotation(RNG) for _ in range(8)])
    scales = RNG.uniform(0.2, 5.0, size=(8, 1, 1))
    shifts = RNG.normal(size=(8, 1, 3)) * 10
    pred = scales * np.einsum("nab,njb->nja", rots, target) + shifts
    assert np.all(p_mpjpe(pred, target, reduction="none") < 1e-9)
    assert mpjpe(pred, target) > 1.0


def test_p_mpjpe_does_not_align_a_reflection() -> None:
    target = RNG.normal(size=(17, 3))
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    err = float(p_mpjpe(mirrored, target))
    # an orthogonal (reflection-allowing) Procrustes would align it perfectly
    r, _ = orthogonal_procrustes(mirrored - mirrored.mean(0), target - target.mean(0))
    assert np.linalg.det(r) < 0
    assert err > 0.1
    # and our value is the best proper rotation (Horn's quaternion method)
    ref = np.linalg.norm(horn_similarity(mirrored, target) - target, axis=-1).mean()
    assert err == pytest.approx(ref, rel=1e-9)


def test_p_mpjpe_matches_horn_on_random_data() -> None:
    pred, target = RNG.normal(size=(50, 17, 3)), RNG.normal(size=(50, 17, 3))
    ours = p_mpjpe(pred, target, reduction="none")
    ref = [
        np.linalg.norm(horn_similarity(p, t) - t, axis=-1).mean()
        for p, t in zip(pred, target, strict=True)
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_p_mpjpe_matches_scipy_on_noisy_similarity_copies() -> None:
    # near-similarity copies: the best orthogonal matrix is a rotation, so SciPy's
    # reflection-allowing Procrustes is a valid reference
    for _ in range(20):
        target = RNG.normal(size=(17, 3))
        pred = 1.7 * target @ random_rotation(RNG).T + RNG.normal(size=3)
        pred += RNG.normal(scale=0.05, size=pred.shape)
        a, b = pred - pred.mean(0), target - target.mean(0)
        r, s = orthogonal_procrustes(a, b)
        assert np.linalg.det(r) > 0
        aligned = (s / np.sum(a * a)) * a @ r + target.mean(0)
        ref = np.linalg.norm(aligned - target, axis=-1).mean()
        assert float(p_mpjpe(pred, target)) == pytest.approx(ref, rel=1e-6)
        # scipy.spatial.procrustes standardizes both sets: its disparity equals our
        # squared residual over |target - mean|^2 after the same optimal similarity
        _, _, disparity = scipy_procrustes(target, pred)
        res = np.sum((aligned - target) ** 2) / np.sum(b * b)
        assert res == pytest.approx(disparity, rel=1e-6)


def test_p_mpjpe_with_mask_ignores_masked_joints_in_alignment() -> None:
    target = RNG.normal(size=(17, 3))
    pred = 2.0 * target @ random_rotation(RNG).T + 1.0
    pred[3] += 100.0  # garbage joint, masked out
    mask = np.ones(17, dtype=bool)
    mask[3] = False
    assert float(p_mpjpe(pred, target, mask=mask)) < 1e-9
    assert float(p_mpjpe(pred, target)) > 1.0


def test_degenerate_inputs_are_finite_and_documented() -> None:
    target = RNG.normal(size=(2, 17, 3))
    pred = np.zeros((2, 17, 3))
    pred[1] = 5.0  # all joints identical
    expected = np.linalg.norm(target - target.mean(1, keepdims=True), axis=-1).mean(1)
    np.testing.assert_allclose(p_mpjpe(pred, target, reduction="none"), expected)
    np.testing.assert_allclose(
        n_mpjpe(np.zeros_like(target), target, reduction="none"),
        np.linalg.norm(target, axis=-1).mean(1),
    )
    pt = torch.zeros(2, 17, 3, dtype=torch.float64, requires_grad=True)
    loss = p_mpjpe(pt, torch.from_numpy(target)) + n_mpjpe(pt, torch.from_numpy(target))
    loss.backward()  # type: ignore[no-untyped-call]
    assert pt.grad is not None
    assert torch.isfinite(loss) and torch.isfinite(pt.grad).all()
    same = torch.from_numpy(target).clone().requires_grad_(True)
    mpjpe(same, torch.from_numpy(target)).backward()  # type: ignore[no-untyped-call]
    assert same.grad is not None and torch.isfinite(same.grad).all()  # zero distance


def test_n_mpjpe_matches_least_squares_scale() -> None:
    pred, target = RNG.normal(size=(10, 17, 3)), RNG.normal(size=(10, 17, 3))
    ours = n_mpjpe(pred, target, reduction="none")
    for k in range(10):
        s, *_ = np.linalg.lstsq(pred[k].reshape(-1, 1), target[k].reshape(-1), rcond=None)
        ref = np.linalg.norm(s[0] * pred[k] - target[k], axis=-1).mean()
        assert ours[k] == pytest.approx(ref, rel=1e-10)
    assert float(n_mpjpe(3.0 * target, target)) < 1e-12


def test_gradcheck_float64() -> None:
    p = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 5, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: mpjpe(x, t), (p,))
    assert torch.autograd.gradcheck(lambda x: p_mpjpe(x, t), (p,))
    assert torch.autograd.gradcheck(lambda x: n_mpjpe(x, t), (p,))
    seq = torch.randn(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)
    seq_t = torch.randn(2, 4, 5, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: mpjve(x, seq_t), (seq,))


def test_p_mpjpe_usable_as_loss() -> None:
    t = torch.randn(4, 17, 3, dtype=torch.float64)
    p = (t * 1.3 + 0.2 * torch.randn_like(t)).requires_grad_(True)
    opt = torch.optim.Adam([p], lr=0.01)
    first = float(p_mpjpe(p, t).detach())
    for _ in range(100):
        opt.zero_grad()
        loss = p_mpjpe(p, t)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    assert float(p_mpjpe(p, t).detach()) < 0.5 * first


# ---------------------------------------------------------------------------- MPJVE


def test_mpjve_hand_values_axis_and_mask() -> None:
    target = np.zeros((2, 4, 3, 3))
    pred = target.copy()
    pred[:, 2:, 0, 0] = 3.0  # joint 0 jumps by 3 between frames 1 and 2
    np.testing.assert_allclose(mpjve(pred, target, reduction="none"), [[0, 1, 0]] * 2)
    assert float(mpjve(pred, target)) == pytest.approx(1.0 / 3.0 / 1.0 * 1.0 / 3.0 * 3.0)
    moved = np.moveaxis(pred, 1, 0)  # frames first: (T, B, J, 3)
    np.testing.assert_allclose(
        mpjve(moved, np.moveaxis(target, 1, 0), axis=0, reduction="none"), [[0, 0], [1, 1], [0, 0]]
    )
    mask = np.ones((2, 4, 3), dtype=bool)
    mask[:, 2, 0] = False  # the jump is invisible
    assert float(mpjve(pred, target, mask=mask)) == 0.0
    with pytest.raises(ValueError, match="axis"):
        mpjve(pred, target, axis=-2)
    with pytest.raises(ValueError, match="2 frames"):
        mpjve(pred[:, :1], target[:, :1])


# ---------------------------------------------------------------------------- PCK / AUC


def test_pck_and_auc_hand_values() -> None:
    target = np.zeros((1, 4, 3))
    pred = np.zeros((1, 4, 3))
    pred[0, :, 0] = [0.0, 50.0, 150.0, 1000.0]
    assert float(pck3d(pred, target)) == pytest.approx(0.5)  # 0 and 50 < 150; 150 is not
    assert float(pck3d(pred, target, threshold=150.0001)) == pytest.approx(0.75)
    np.testing.assert_allclose(pck3d(pred, target, reduction="per_joint"), [1, 1, 0, 0])
    # AUC over 0, 5, ..., 150: error 0 is correct at 30 of 31 thresholds (not at 0), error 50
    # at 20 (55..150), error 150 and 1000 at none
    assert float(auc3d(pred, target)) == pytest.approx((30 + 20) / 31 / 4)
    assert float(auc3d(pred, target, thresholds=[10.0, 100.0])) == pytest.approx(3 / 8)
    metres = pred / 1000.0
    assert float(pck3d(metres, target, threshold=0.15)) == pytest.approx(0.5)
    assert float(auc3d(metres, target, np.linspace(0, 0.15, 31))) == pytest.approx(50 / 124)


def test_pck_torch_no_grad_needed() -> None:
    p = torch.zeros(2, 17, 3, requires_grad=True)
    out = pck3d(p, torch.zeros(2, 17, 3))
    assert float(out) == 1.0 and not out.requires_grad


# ---------------------------------------------------------------------------- errors


def test_bad_inputs_raise_clear_errors() -> None:
    a = np.zeros((2, 17, 3))
    with pytest.raises(TypeError, match="pred"):
        mpjpe([[0.0, 0.0, 0.0]], a)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="same kind"):
        mpjpe(a, torch.zeros(2, 17, 3))  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"pred: expected shape \(\.\.\., J, 3\)"):
        mpjpe(np.zeros((2, 17, 2)), np.zeros((2, 17, 2)))
    with pytest.raises(ValueError, match="target: expected the same shape"):
        mpjpe(a, np.zeros((3, 17, 3)))
    with pytest.raises(ValueError, match="reduction"):
        mpjpe(a, a, reduction="sum")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="mask: expected a boolean"):
        mpjpe(a, a, mask=np.ones((2, 17)))
    with pytest.raises(ValueError, match="mask: expected a shape broadcastable"):
        mpjpe(a, a, mask=np.ones((2, 16), dtype=bool))
    with pytest.raises(ValueError, match="threshold"):
        pck3d(a, a, threshold=-1.0)
    with pytest.raises(ValueError, match="thresholds"):
        auc3d(a, a, thresholds=[[1.0]])  # type: ignore[list-item]


# ---------------------------------------------------------------------------- accumulator


def test_accumulator_matches_functions_over_batches() -> None:
    pred, target = RNG.normal(size=(30, 17, 3)), RNG.normal(size=(30, 17, 3))
    groups = np.array(["walk", "run", "bow"])[RNG.integers(0, 3, size=30)]
    metrics = ("mpjpe", "p_mpjpe", "n_mpjpe", "pck3d", "auc3d")
    acc = MetricAccumulator(metrics=metrics, pck_threshold=1.5,
                            auc_thresholds=np.linspace(0, 2, 5))
    for s in (slice(0, 7), slice(7, 20), slice(20, 30)):
        acc.update(torch.from_numpy(pred[s]), torch.from_numpy(target[s]), groups=list(groups[s]))
    rep = acc.compute()
    assert rep.num_samples == 30
    assert rep.overall["mpjpe"] == pytest.approx(float(mpjpe(pred, target)))
    assert rep.overall["p_mpjpe"] == pytest.approx(float(p_mpjpe(pred, target)))
    assert rep.overall["n_mpjpe"] == pytest.approx(float(n_mpjpe(pred, target)))
    assert rep.overall["pck3d"] == pytest.approx(float(pck3d(pred, target, 1.5)))
    assert rep.overall["auc3d"] == pytest.approx(float(auc3d(pred, target, np.linspace(0, 2, 5))))
    np.testing.assert_allclose(rep.per_joint["p_mpjpe"],
                               p_mpjpe(pred, target, reduction="per_joint"))
    for g in ("walk", "run", "bow"):
        sel = groups == g
        assert rep.group_counts[g] == int(sel.sum())
        assert rep.per_group["mpjpe"][g] == pytest.approx(float(mpjpe(pred[sel], target[sel])))
    table = rep.to_markdown()
    header = "| group | samples | MPJPE | P-MPJPE | N-MPJPE | PCK (%) | AUC (%) |"
    assert table.splitlines()[0] == header
    assert table.splitlines()[-1].startswith("| all | 30 |")
    assert len(rep.to_markdown("joint").splitlines()) == 2 + 17 + 1
    acc.reset()
    with pytest.raises(ValueError, match="nothing accumulated"):
        acc.compute()


def test_accumulator_mask_scale_and_errors() -> None:
    acc = MetricAccumulator(metrics=("mpjpe",), scale=1000.0,
                            joint_names=[f"j{i}" for i in range(3)])
    pred, target = np.full((2, 3, 3), 0.001), np.zeros((2, 3, 3))
    mask = np.array([[True, True, False], [True, False, False]])
    acc.update(pred, target, mask=mask, groups="a")
    rep = acc.compute()
    assert rep.overall["mpjpe"] == pytest.approx(np.sqrt(3))
    assert np.isnan(rep.per_joint["mpjpe"][2])
    assert "| j2 | - |" in rep.to_markdown("joint")
    with pytest.raises(ValueError, match="one label per sample"):
        acc.update(pred, target, groups=["a"])
    with pytest.raises(ValueError, match="J=3"):
        acc.update(np.zeros((1, 4, 3)), np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="metrics"):
        MetricAccumulator(metrics=("mpjve",))


def test_reference_free_checks_by_hand():
    from poselift.metrics import mean_acceleration, motion_ratio, root_distance

    t = np.arange(6.0)
    seq = np.zeros((6, 17, 3))
    seq[:, 5, 0] = t**2 / 2                     # one joint accelerating at 1 per frame squared
    assert float(mean_acceleration(seq)) == pytest.approx(1 / 17)
    assert np.asarray(mean_acceleration(np.stack([seq, 2 * seq]))).tolist() == \
        pytest.approx([1 / 17, 2 / 17])
    pose = np.zeros((2, 17, 3))
    pose[0, 3] = [0.0, 1.2, 0.5]
    pose[1, 16] = [2.0, 0.0, 0.0]
    pose[1, 0] = [0.5, 0.0, 0.0]                # the root moves: distances from it
    assert np.asarray(root_distance(pose)).tolist() == pytest.approx([1.3, 1.5])
    # motion: a 2D input whose arm swings; an output following it gives 1, a frozen one 0,
    # one moving half as much 0.5
    rng = np.random.default_rng(1)
    kp = np.tile(rng.uniform(0, 100, (1, 17, 2)), (10, 1, 1))
    kp[:, 9, 0] += np.linspace(0, 40, 10)
    lifted = np.concatenate([kp / 100, np.full((10, 17, 1), 3.0)], -1)
    assert float(motion_ratio(lifted, kp)) == pytest.approx(1.0)
    assert float(motion_ratio(lifted[:1].repeat(10, 0), kp)) == pytest.approx(0.0)
    half = lifted.copy()
    half[:, 9, 0] = lifted[0, 9, 0] + (lifted[:, 9, 0] - lifted[0, 9, 0]) / 2
    assert 0.4 < float(motion_ratio(half, kp)) < 0.6
    # lost joints (score 0) are left out of the input's motion
    scored = np.concatenate([kp, np.ones((10, 17, 1))], -1)
    scored[:, 9, 2] = 0
    with np.errstate(invalid="ignore"):
        assert np.isnan(float(motion_ratio(lifted, scored))) or \
            float(motion_ratio(lifted, scored)) > 1e3
    with pytest.raises(ValueError, match="keypoints"):
        motion_ratio(lifted, kp[..., :1])
