"""Tests for poselift.rarity (paper Eq. 9-10) against plain float64 loops."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from poselift import rarity_lattice as lattice
from poselift.rarity import OccurrenceScorer, occurrence, pose_similarity, rarest

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _reseed() -> None:
    """Every test draws the same data whatever the order the tests run in."""
    global RNG
    RNG = np.random.default_rng(7)


def naive_occurrence(queries: np.ndarray, reference: np.ndarray, sigma: Any) -> Any:
    """Eq. 10 by a plain loop over queries, float64 (the independent reference)."""
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (queries.shape[1],))
    out = []
    for q in queries:
        d2 = ((q[None] - reference) ** 2).sum(-1)  # (M, J)
        out.append(np.mean(np.exp(-d2 / (2 * s * s))))
    return np.array(out)


def poses(num: int, joints: int = 17, scale: float = 0.12, root: bool = True) -> np.ndarray:
    p = RNG.normal(scale=scale, size=(num, joints, 3))
    if root:
        p[:, 0] = 0.0
    return p


def rel_err(a: Any, b: Any) -> float:
    return float(np.max(np.abs(a - b) / b))


# ---------------------------------------------------------------------------- Eq. 9


def test_pose_similarity_hand_values_and_broadcasting() -> None:
    a = np.zeros((17, 3))
    b = np.zeros((17, 3))
    b[:, 1] = 0.1
    assert float(pose_similarity(a, a, 0.1)) == 1.0
    assert float(pose_similarity(a, b, 0.1)) == pytest.approx(np.exp(-0.5))
    b2 = b.copy()
    b2[0] = 0.0  # one joint exact
    assert float(pose_similarity(a, b2, 0.1)) == pytest.approx((1 + 16 * np.exp(-0.5)) / 17)
    sig = np.full(17, 0.1)
    sig[1:] = 0.05
    assert float(pose_similarity(a, b2, sig)) == pytest.approx((1 + 16 * np.exp(-2.0)) / 17)
    many = RNG.normal(size=(4, 1, 17, 3))
    assert pose_similarity(many, RNG.normal(size=(5, 17, 3)), 0.3).shape == (4, 5)


def test_pose_similarity_torch_differentiable() -> None:
    a = torch.randn(3, 17, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 17, 3, dtype=torch.float64)
    out = pose_similarity(a, b, 0.5)
    assert isinstance(out, torch.Tensor) and out.shape == (3,)
    assert torch.autograd.gradcheck(lambda x: torch.as_tensor(pose_similarity(x, b, 0.5)), (a,))


def test_occurrence_is_mean_pose_similarity() -> None:
    ref, q = poses(50), poses(5)
    expected = [float(np.mean(pose_similarity(qq[None], ref, 0.1))) for qq in q]
    np.testing.assert_allclose(occurrence(q, ref, 0.1), expected, rtol=1e-12)


# ---------------------------------------------------------------------------- Eq. 10


@pytest.mark.parametrize("method", ["dense", "fast", "auto"])
def test_occurrence_matches_naive_loop_random(method: Any) -> None:
    ref, q = poses(2000), poses(200)
    expected = naive_occurrence(q, ref, 0.1)
    got = occurrence(q, ref, 0.1, method=method)
    assert rel_err(got, expected) < 1e-6
    if method == "dense":
        assert rel_err(got, expected) < 1e-12


def test_fast_per_joint_sigma_no_constant_joint_and_outliers() -> None:
    ref = poses(4000, joints=6, scale=0.25, root=False)
    q = poses(200, joints=6, scale=0.25, root=False)
    q[:4] += 1.5  # planted outliers: occurrence below 1e-12
    sigma = np.linspace(0.05, 0.2, 6)
    expected = naive_occurrence(q, ref, sigma)
    assert expected[:4].max() < 1e-12
    got = occurrence(q, ref, sigma, method="fast")
    assert rel_err(got, expected) < 1e-6  # relative accuracy holds for the outliers too


def test_fast_uses_the_lattice_and_meets_its_bound() -> None:
    ref = torch.from_numpy(poses(5000)[:, 5])
    q = torch.from_numpy(poses(400)[:, 5])
    pl = lattice.plan(tuple(q.min(0).values.tolist()), tuple(q.max(0).values.tolist()),
                      tuple(ref.min(0).values.tolist()), tuple(ref.max(0).values.tolist()),
                      400, 5000, 0.1, 1e-9, 1 << 22)
    assert pl is not None
    got = lattice.gauss_sum(q, ref, 0.1, pl)
    exact = torch.exp(-((q[:, None] - ref[None]) ** 2).sum(-1) / 0.02).sum(1)
    assert float((got - exact).abs().max()) <= pl.error * 5000
    assert float((got - exact).abs().max()) > 0  # really approximated, not a dense fallback


@pytest.mark.parametrize(("n", "k"), [(6, 10.0), (8, 7.0), (8, 13.0), (10, 6.0), (12, 5.0)])
def test_delta_table_bounds_independent_measurement(n: int, k: float) -> None:
    """Re-measure the 1D interpolate-convolve-interpolate error at random points."""
    h = 1.0 / k
    x = RNG.uniform(-3, 3, 4000)
    y = x + RNG.uniform(-6, 6, 4000)
    offs = np.arange(n) - (n // 2 - 1)

    def weights(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = np.floor(u / h)
        t = u / h - f
        w = np.ones((u.size, n))
        for i in range(n):
            for m in range(n):
                if m != i:
                    w[:, i] *= (t - offs[m]) / (offs[i] - offs[m])
        return (f[:, None] + offs) * h, w

    gx, wx = weights(x)
    gy, wy = weights(y)
    approx = np.einsum("pi,pij,pj->p", wx, np.exp(-((gx[:, :, None] - gy[:, None]) ** 2) / 2), wy)
    err = np.abs(approx - np.exp(-((x - y) ** 2) / 2)).max()
    table = lattice.DELTA_TABLE[n][lattice.DELTA_KS.index(k)]
    assert err <= table * 1.0001
    assert err >= table / 20  # the table is not wildly pessimistic either


def test_constant_joints_are_exact_and_handled_per_joint() -> None:
    ref = poses(500, joints=6)
    ref[:, 3] = [0.1, 0.2, 0.3]  # constant joint, non-zero
    q = poses(40, joints=6)
    expected = naive_occurrence(q, ref, 0.1)
    assert rel_err(occurrence(q, ref, 0.1, method="dense"), expected) < 1e-12
    assert rel_err(occurrence(q, ref, 0.1, method="fast"), expected) < 1e-6
    identical = np.zeros((10, 17, 3))
    np.testing.assert_array_equal(occurrence(identical[:2], identical, 0.1), [1.0, 1.0])


def test_chunking_does_not_change_the_result() -> None:
    ref, q = poses(700, joints=3), poses(50, joints=3)
    a = occurrence(q, ref, 0.1, method="dense")
    b = occurrence(q, ref, 0.1, method="dense", chunk_size=1024)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    c = occurrence(q, ref, 0.1, method="fast", chunk_size=4096)
    assert rel_err(c, a) < 1e-6


def test_kinds_dtypes_and_empty_queries() -> None:
    ref, q = poses(100), poses(6)
    out_np = occurrence(q, ref, 0.1)
    out_t = occurrence(torch.from_numpy(q).float(), torch.from_numpy(ref).float(), 0.1)
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float64
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float64
    np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-5)
    mixed = occurrence(torch.from_numpy(q), ref, 0.1)  # reference may be numpy
    assert isinstance(mixed, torch.Tensor)
    assert occurrence(q[:0], ref, 0.1).shape == (0,)


def test_progress_callable_and_bar(capsys: pytest.CaptureFixture[str]) -> None:
    ref, q = poses(400, joints=5), poses(30, joints=5)
    calls: list[tuple[int, int]] = []
    occurrence(q, ref, 0.1, method="dense", progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1] == 30 * 4
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))
    calls.clear()
    occurrence(q, ref, 0.1, method="fast", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1]
    occurrence(q, ref, 0.1, progress=True)
    assert "occurrence" in capsys.readouterr().err
    with pytest.raises(TypeError, match="progress"):
        occurrence(q, ref, 0.1, method="dense", progress="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- rarest


def test_rarest_finds_planted_outliers_and_counts() -> None:
    ref = poses(2000, joints=6)
    q = poses(200, joints=6)
    planted = [3, 50, 77, 120, 199]
    q[planted, 1:] += 0.8  # every joint but the root far away: rare
    found = rarest(q, ref, 2.5, 0.1, method="fast")  # 2.5% of 200 = 5
    assert sorted(found.tolist()) == planted
    occ = occurrence(q, ref, 0.1)
    assert np.all(np.diff(occ[found]) >= 0)  # rarest first
    assert occ[found].max() < np.delete(occ, planted).min()
    assert len(rarest(q, ref, 10, 0.1)) == 20
    assert len(rarest(q[:5], ref, 10, 0.1)) == 1  # 0.5 rounds half up
    assert len(rarest(q[:3], ref, 10, 0.1)) == 0  # 0.3 rounds down
    assert isinstance(rarest(torch.from_numpy(q), ref, 10, 0.1), torch.Tensor)


def test_rarest_ties_are_stable() -> None:
    ref = poses(50)
    q = np.repeat(poses(1), 6, axis=0)  # six identical queries: all tied
    assert rarest(q, ref, 50, 0.1).tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------- scorer


def test_scorer_matches_occurrence_and_round_trips(tmp_path: Path) -> None:
    ref, q = poses(600, joints=6), poses(20, joints=6)
    sigma = np.linspace(0.08, 0.12, 6)
    scorer = OccurrenceScorer(sigma, method="fast").fit(ref)
    assert scorer.is_fitted and scorer.num_references == 600
    np.testing.assert_allclose(scorer.score(q), occurrence(q, ref, sigma), rtol=1e-6)
    scorer = OccurrenceScorer(sigma, method="dense").fit(ref)
    path = tmp_path / "scorer.pt"
    torch.save(scorer.state_dict(), path)
    state = torch.load(path, weights_only=True)
    clone = OccurrenceScorer(1.0)
    clone.load_state_dict(state)
    assert clone.method == "dense" and clone.num_references == 600
    np.testing.assert_allclose(clone.score(q), scorer.score(q), rtol=1e-12)
    np.testing.assert_array_equal(clone.rarest(q, 10), rarest(q, ref, 10, sigma))
    with pytest.raises(RuntimeError, match="fit"):
        OccurrenceScorer(0.1).score(q)
    with pytest.raises(ValueError, match="missing keys"):
        clone.load_state_dict({"sigma": torch.ones(17)})
    with pytest.raises(ValueError, match="queries"):
        scorer.score(poses(3, joints=5))


# ---------------------------------------------------------------------------- errors


def test_bad_inputs_raise_clear_errors() -> None:
    ref, q = poses(10), poses(3)
    with pytest.raises(TypeError, match="queries"):
        occurrence(q.tolist(), ref, 0.1)
    with pytest.raises(ValueError, match=r"queries: expected shape \(N, J, 3\)"):
        occurrence(q[0], ref, 0.1)
    with pytest.raises(ValueError, match="reference: expected shape"):
        occurrence(q, ref[:, :16], 0.1)
    with pytest.raises(ValueError, match="at least one pose"):
        occurrence(q, ref[:0], 0.1)
    with pytest.raises(ValueError, match="sigma"):
        occurrence(q, ref, -0.1)
    with pytest.raises(ValueError, match=r"sigma: expected a scalar or shape \(17,\)"):
        occurrence(q, ref, np.ones(16))
    with pytest.raises(ValueError, match="sigma: expected positive"):
        occurrence(q, ref, np.r_[np.ones(16), np.nan])
    with pytest.raises(TypeError, match="sigma"):
        occurrence(q, ref, "0.1")  # type: ignore[arg-type]
    bad = q.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="queries: expected finite"):
        occurrence(bad, ref, 0.1)
    with pytest.raises(ValueError, match="method"):
        occurrence(q, ref, 0.1, method="exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rtol"):
        occurrence(q, ref, 0.1, rtol=0.0)
    with pytest.raises(ValueError, match="chunk_size"):
        occurrence(q, ref, 0.1, chunk_size=10)
    with pytest.raises(ValueError, match="percent"):
        rarest(q, ref, 0, 0.1)
    with pytest.raises(ValueError, match="percent"):
        rarest(q, ref, 150, 0.1)
    with pytest.raises(TypeError, match="same kind"):
        pose_similarity(q, torch.from_numpy(q), 0.1)
    with pytest.raises(ValueError, match="broadcastable"):
        pose_similarity(q, poses(4), 0.1)


# ---------------------------------------------------------------------------- real data


def _bandai_camera_poses(data: Path, clips: int, step: int) -> Any:
    """Root-relative camera-coordinate poses of the docs/protocols.md rig (4 cameras)."""
    arrays = np.load(data / "bandai" / "bandai_h36m17.npz")
    with open(data / "bandai" / "bandai_h36m17_meta.tsv", newline="") as f:
        names = [row["name"] for row in csv.DictReader(f, delimiter="\t")]
    pick = np.random.default_rng(0).choice(len(names), clips, replace=False)
    world = np.concatenate([arrays[names[i]][::step].astype(np.float64) for i in pick])
    world = world - world[:, :1]
    rots = []
    for a in np.deg2rad([45.0, 135.0, 225.0, 315.0]):
        z = np.array([0.0, 0.9, 0.0]) - np.array([5 * np.sin(a), 1.6, 5 * np.cos(a)])
        z /= np.linalg.norm(z)
        y = -(np.array([0.0, 1.0, 0.0]) - z[1] * z)
        y /= np.linalg.norm(y)
        rots.append(np.stack([np.cross(y, z), y, z]))
    return np.einsum("kab,fjb->kfja", np.stack(rots), world).reshape(-1, 17, 3)


@pytest.mark.data
def test_real_poses_fast_and_dense_match_naive_loop(shared_data: Path) -> None:
    everything = _bandai_camera_poses(shared_data, clips=120, step=3)
    rng = np.random.default_rng(1)
    ref = everything[rng.choice(len(everything), 8000, replace=False)]
    q = everything[rng.choice(len(everything), 100, replace=False)].copy()
    q[:3, 1:] += np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -2.0]])[:, None]
    expected = naive_occurrence(q, ref, 0.1)
    assert rel_err(occurrence(q, ref, 0.1, method="dense"), expected) < 1e-12
    fast = occurrence(q, ref, 0.1, method="fast")
    assert rel_err(fast, expected) < 1e-6
    assert set(np.argsort(fast)[:3].tolist()) == {0, 1, 2}
