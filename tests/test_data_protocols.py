"""Tests for poselift.data.protocols on a small synthetic Bandai root and on the real data."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import poselift.data.protocols as protocols
from poselift.data import (
    PROTOCOLS,
    base_protocol,
    load_protocol,
    p1_test_occurrence,
    protocol_motion,
    protocol_occurrence,
    rare_percent,
)

# (name, dataset, content, style, frames): P1 test = elderly/youthful (2), old/childish (1)
CLIPS = [
    ("dataset-1_bow_old_001", 1, "bow", "old", 9),
    ("dataset-1_bow_angry_001", 1, "bow", "angry", 13),
    ("dataset-1_kick_childish_001", 1, "kick", "childish", 7),
    ("dataset-1_kick_normal_001", 1, "kick", "normal", 11),
    ("dataset-2_walk_normal_001", 2, "walk", "normal", 23),
    ("dataset-2_walk_elderly_001", 2, "walk", "elderly", 17),
    ("dataset-2_run_active_001", 2, "run", "active", 19),
    ("dataset-2_run_youthful_001", 2, "run", "youthful", 14),
    ("dataset-2_wave-left-hand_feminine_001", 2, "wave-left-hand", "feminine", 21),
]
P1_TEST = {"dataset-1_bow_old_001", "dataset-1_kick_childish_001", "dataset-2_walk_elderly_001",
           "dataset-2_run_youthful_001"}

BASE = np.array([
    [0, 0.9, 0], [-0.1, 0.9, 0], [-0.1, 0.5, 0], [-0.1, 0.1, 0],
    [0.1, 0.9, 0], [0.1, 0.5, 0], [0.1, 0.1, 0],
    [0, 1.15, 0], [0, 1.35, 0], [0, 1.45, 0.08], [0, 1.6, 0.02],
    [0.17, 1.32, 0], [0.2, 1.05, 0], [0.22, 0.8, 0],
    [-0.17, 1.32, 0], [-0.2, 1.05, 0], [-0.22, 0.8, 0],
])


def _poses(frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None]
    amp = rng.uniform(0.02, 0.3, (1, 17, 3))
    p = BASE + amp * np.sin(0.4 * t + rng.uniform(0, 6, (1, 17, 3)))
    p[:, 0] = BASE[0]  # the pelvis moves only by the walk below
    p[..., [0, 2]] += rng.normal(size=2) + 0.05 * t[..., 0, None]
    return p.astype(np.float32)


def write_bandai(root: Path, clips=CLIPS, seed: int = 0) -> Path:
    folder = root / "bandai"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "bandai_h36m17.npz",
             **{n: _poses(f, seed + i) for i, (n, _, _, _, f) in enumerate(clips)})
    rows = ["name\tdataset\tcontent\tstyle\tframes\tfps"]
    rows += [f"{n}\t{d}\t{c}\t{s}\t{f}\t30" for n, d, c, s, f in clips]
    (folder / "bandai_h36m17_meta.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_bandai(tmp_path / "data")


def _expected(names: set[str], step: int, clips=CLIPS) -> int:
    return 4 * sum(math.ceil(f / step) for n, _, _, _, f in clips if n in names)


def test_sizes_follow_the_meta_formula(root: Path):
    every = {c[0] for c in CLIPS}
    d2 = {c[0] for c in CLIPS if c[1] == 2}
    cases = {("p1-style", "test"): P1_TEST, ("p1-style", "train"): every - P1_TEST,
             ("p2-cross-set", "train"): d2, ("p2-cross-set", "test"): every - d2,
             ("p3-rare10", "train"): every - P1_TEST}
    for step in (1, 4, 5):
        for (name, split), names in cases.items():
            d = load_protocol(name, root, split, frame_step=step)
            assert len(d) == _expected(names, step), (name, split, step)
            assert set(d.clip) == names and d.frame_step == step
            assert d.keypoints2d.shape == (len(d), 17, 2) and d.poses3d.shape == (len(d), 17, 3)
    d = load_protocol("p1-style", root, "test")
    assert d.frame_step == 4 and len(d) == _expected(P1_TEST, 4)
    assert protocol_motion("p1-style", root, "test").names == tuple(
        n for n, *_ in CLIPS if n in P1_TEST)


def _rig_camera_points(root: Path, d, i: int) -> np.ndarray:
    """Sample ``i``'s H36M-17 joints in its camera's coordinates, re-derived in plain numpy
    from docs/protocols.md's rig description (4 cameras at 45/135/225/315 deg, 5 m from the
    pelvis, 1.6 m high, looking at the pelvis at 0.9 m)."""
    with np.load(root / "bandai" / "bandai_h36m17.npz") as z:
        world = z[str(d.clip[i])][d.frame[i]].astype(np.float64)
    a = math.radians((45, 135, 225, 315)[d.camera[i]])
    p = world[0]
    eye = np.array([p[0] + 5 * math.sin(a), 1.6, p[2] + 5 * math.cos(a)])
    z_ax = np.array([p[0], 0.9, p[2]]) - eye
    z_ax /= np.linalg.norm(z_ax)
    x_ax = np.cross(z_ax, [0.0, 1.0, 0.0])
    x_ax /= np.linalg.norm(x_ax)
    y_ax = np.cross(z_ax, x_ax)
    return (world - eye) @ np.stack([x_ax, y_ax, z_ax]).T


def test_sample_layout_and_independent_projection(root: Path):
    d = load_protocol("p1-style", root, "test", frame_step=3)
    assert d.camera[:8].tolist() == [0, 1, 2, 3] * 2 and d.frame[:8].tolist() == [0] * 4 + [3] * 4
    np.testing.assert_array_equal(d.poses3d[:, 0], 0.0)
    row = {n: (c, s) for n, _, c, s, _ in CLIPS}
    assert all((c, s) == row[n] for n, c, s in zip(d.clip, d.content, d.style, strict=True))
    assert d.image_size == (1000, 1000) and (d.image_sizes == 1000).all()
    # independent numpy re-derivation of sample 13 from docs/protocols.md's rig description
    i = 13
    cam = _rig_camera_points(root, d, i)
    uv = 1145.0 * cam[:, :2] / cam[:, 2:] + 500.0
    np.testing.assert_allclose(d.keypoints2d[i], uv, atol=1e-3)
    np.testing.assert_allclose(d.poses3d[i], cam - cam[:1], atol=1e-5)
    assert (d.keypoints2d[..., 1].reshape(len(d), 17)[:, 10] < d.keypoints2d[:, 0, 1]).all()


def test_coco_layout_projects_the_synthesized_points_through_the_same_cameras(root: Path):
    from poselift.data.coco_layout import H36M_FOR_COCO, synthesize_coco_from_h36m

    h36m = load_protocol("p1-style", root, "test", frame_step=3)
    coco = load_protocol("p1-style", root, "test", frame_step=3, layout="coco")
    assert coco.info["layout"] == "coco" and h36m.info["layout"] == "h36m"
    np.testing.assert_array_equal(coco.poses3d, h36m.poses3d)  # targets stay H36M-17
    np.testing.assert_array_equal(coco.clip, h36m.clip)
    for c, j in enumerate(H36M_FOR_COCO):  # shared joints: the same projected point
        if j is not None:
            np.testing.assert_allclose(coco.keypoints2d[:, c], h36m.keypoints2d[:, j], atol=1e-3)
    # all 17 points of sample 13 re-derived by hand (camera maths as above)
    i = 13
    cam = _rig_camera_points(root, coco, i)
    pts = synthesize_coco_from_h36m(torch.from_numpy(cam)).numpy()
    np.testing.assert_allclose(coco.keypoints2d[i], 1145.0 * pts[:, :2] / pts[:, 2:] + 500.0,
                               atol=1e-3)
    # noisy: the same per-clip noise as the H36M layout, joint slot by joint slot
    h36m_noisy = load_protocol("p1-style", root, "test", "noisy", frame_step=3)
    coco_noisy = load_protocol("p1-style", root, "test", "noisy", frame_step=3, layout="coco")
    np.testing.assert_allclose(coco_noisy.keypoints2d - coco.keypoints2d,
                               h36m_noisy.keypoints2d - h36m.keypoints2d, atol=1e-3)
    with pytest.raises(ValueError, match="mpii"):
        load_protocol("p1-style", root, "test", layout="mpii")


def test_noisy_inputs_are_seeded_and_consistent(root: Path):
    gt = load_protocol("p1-style", root, "test", frame_step=1)
    noisy = load_protocol("p1-style", root, "test", "noisy", frame_step=1)
    again = load_protocol("p1-style", root, "test", "noisy", frame_step=1)
    np.testing.assert_array_equal(noisy.keypoints2d, again.keypoints2d)
    noise = (noisy.keypoints2d - gt.keypoints2d).astype(np.float64)
    assert abs(noise.std() - 4.0) < 0.25 and abs(noise.mean()) < 0.25
    np.testing.assert_array_equal(noisy.poses3d, gt.poses3d)
    sub = load_protocol("p1-style", root, "test", "noisy", frame_step=3)
    np.testing.assert_array_equal(sub.keypoints2d, noisy.keypoints2d[noisy.frame % 3 == 0])
    assert noisy.info["noise_sigma_px"] == 4.0


def test_model_inputs_follow_the_contract(root: Path):
    from poselift.camera import normalize_screen
    from poselift.models.inputs import InputContract
    from poselift.normalization import normalize_bbox

    d = load_protocol("p2-cross-set", root, "test")
    np.testing.assert_allclose(d.model_inputs(InputContract()),
                               normalize_screen(d.keypoints2d, 1000, 1000), atol=1e-6)
    with_score = d.model_inputs(InputContract(in_features=3, input_norm="bbox"))
    np.testing.assert_array_equal(with_score[..., 2], 1.0)
    ref = normalize_bbox(d.keypoints2d.astype(np.float64)[:, None], extent=322.0)[:, 0]
    np.testing.assert_allclose(with_score[..., :2], ref, atol=1e-6)
    # a temporal bbox model: one sliding-median scale per (clip, camera) sequence
    full = load_protocol("p2-cross-set", root, "test", frame_step=1)
    tcn = InputContract(input_norm="bbox", receptive_field=3, temporal=True)
    x = full.model_inputs(tcn)
    seq = full.sequences()[0]
    want = normalize_bbox(full.keypoints2d[seq].astype(np.float64), extent=322.0,
                          per_sequence=True, window=3)
    np.testing.assert_allclose(x[seq], want, atol=1e-6)
    with pytest.raises(ValueError, match="consecutive"):
        d.model_inputs(tcn)
    coco = load_protocol("p2-cross-set", root, "test", layout="coco")
    assert coco.model_inputs(InputContract(skeleton="coco")).shape == (len(coco), 17, 2)


def test_every_kth_clip(root: Path):
    d = load_protocol("p2-cross-set", root, "test")
    clips = list(dict.fromkeys(d.clip))
    sub = d.every_kth_clip(2)
    assert list(dict.fromkeys(sub.clip)) == clips[::2]
    assert d.every_kth_clip(1) is d


def test_window_indices(root: Path):
    d = load_protocol("p2-cross-set", root, "test", frame_step=1)
    idx = d.window_indices(5)
    assert idx.shape == (len(d), 5)
    assert (d.clip[idx] == d.clip[:, None]).all() and (d.camera[idx] == d.camera[:, None]).all()
    frames = d.frame[idx]
    n = {c[0]: c[4] for c in CLIPS}
    last = np.array([n[c] - 1 for c in d.clip])
    want = np.clip(d.frame[:, None] + np.arange(-2, 3), 0, last[:, None])
    np.testing.assert_array_equal(frames, want)
    causal = d.window_indices(3, causal=True)
    np.testing.assert_array_equal(d.frame[causal[:, -1]], d.frame)
    with pytest.raises(ValueError, match="frame_step=1"):
        load_protocol("p2-cross-set", root, "test", frame_step=2).window_indices(3)
    with pytest.raises(ValueError, match="receptive_field"):
        d.window_indices(4)


def test_bad_arguments(root: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="name: expected one of"):
        load_protocol("p4", root, "test")
    with pytest.raises(ValueError, match="split"):
        load_protocol("p1-style", root, "val")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inputs"):
        load_protocol("p1-style", root, "test", "detections")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frame_step"):
        load_protocol("p1-style", root, "test", frame_step=0)
    with pytest.raises(FileNotFoundError, match="Bandai data not found"):
        load_protocol("p1-style", tmp_path / "empty", "test")


# --- P3 -------------------------------------------------------------------------------------


def _brute_occurrence(queries: np.ndarray, reference: np.ndarray, sigma: float) -> np.ndarray:
    """Paper Eq. 9-10 written out directly (float64)."""
    q = torch.from_numpy(queries.astype(np.float64))
    r = torch.from_numpy(reference.astype(np.float64))
    out = []
    for s in range(0, len(q), 256):
        d2 = ((q[s : s + 256, None] - r[None]) ** 2).sum(-1)
        out.append(torch.exp(-d2 / (2 * sigma**2)).mean(-1).mean(-1))
    return torch.cat(out).numpy()


@pytest.fixture()
def rarity() -> None:
    pytest.importorskip("poselift.rarity")


@pytest.mark.usefixtures("rarity")
def test_p3_sizes_selection_and_cache(root: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    p1 = load_protocol("p1-style", root, "test", frame_step=2)
    ref = load_protocol("p1-style", root, "train", frame_step=3)
    occ = _brute_occurrence(p1.poses3d, ref.poses3d, 0.1)
    for percent in (10, 20):
        p3 = load_protocol(f"p3-rare{percent}", root, "test", frame_step=2, reference_step=3,
                           cache_dir=cache)
        assert len(p3) == round(len(p1) * percent / 100)
        chosen = np.sort(np.argsort(occ, kind="stable")[: len(p3)])
        np.testing.assert_allclose(p3.occurrence, occ[chosen], rtol=1e-6)
        assert p3.occurrence.max() <= np.delete(occ, chosen).min()
        np.testing.assert_array_equal(p3.poses3d, p1.poses3d[chosen])
        np.testing.assert_array_equal(p3.keypoints2d, p1.keypoints2d[chosen])
        assert p3.info["candidates"] == len(p1)
    assert p3.info["occurrence_cache"] == "hit"  # the second protocol reused the first's
    # the same subset as poselift.rarity.rarest (count rule and tie order)
    from poselift.rarity import rarest

    np.testing.assert_array_equal(np.sort(rarest(p1.poses3d, ref.poses3d, 20, 0.1)), chosen)
    assert len(list(cache.glob("p1-occurrence-*.npz"))) == 1
    train = load_protocol("p3-rare10", root, "train", frame_step=2)
    assert len(train) == _expected({c[0] for c in CLIPS} - P1_TEST, 2)
    # noisy P3 = the same subset of noisy P1 test
    noisy = load_protocol("p3-rare20", root, "test", "noisy", frame_step=2, reference_step=3,
                          cache_dir=cache)
    p1n = load_protocol("p1-style", root, "test", "noisy", frame_step=2)
    np.testing.assert_array_equal(noisy.keypoints2d, p1n.keypoints2d[chosen])
    # with_occurrence on P1 test
    full = load_protocol("p1-style", root, "test", frame_step=2, reference_step=3,
                         with_occurrence=True, cache_dir=cache)
    np.testing.assert_allclose(full.occurrence, occ, rtol=1e-6)


# validation split inside P1 train: exhausted (2), tired/sad (1) held out
VAL_CLIPS = [
    *CLIPS,
    ("dataset-1_bow_tired_001", 1, "bow", "tired", 10),
    ("dataset-1_kick_sad_001", 1, "kick", "sad", 6),
    ("dataset-2_walk_exhausted_001", 2, "walk", "exhausted", 15),
    ("dataset-2_run_exhausted_001", 2, "run", "exhausted", 12),
]
VAL_TEST = {"dataset-1_bow_tired_001", "dataset-1_kick_sad_001", "dataset-2_walk_exhausted_001",
            "dataset-2_run_exhausted_001"}


def test_protocol_names():
    assert [base_protocol(n) for n in PROTOCOLS] == [
        "p1-style", "p2-cross-set", "p1-style", "p1-style", "val-style", "val-style",
        "val-style"]
    assert [rare_percent(n) for n in PROTOCOLS] == [None, None, 10.0, 20.0, None, 10.0, 20.0]
    with pytest.raises(ValueError, match="name"):
        base_protocol("p3-rare30")


@pytest.mark.usefixtures("rarity")
def test_validation_split_is_inside_p1_train_and_selects_its_rarest(tmp_path: Path):
    root = write_bandai(tmp_path / "data", clips=VAL_CLIPS)
    every = {c[0] for c in VAL_CLIPS}
    p1_train = {c.name for c in protocol_motion("p1-style", root, "train")}
    assert p1_train == every - P1_TEST
    val_train = {c.name for c in protocol_motion("val-style", root, "train")}
    val_test = {c.name for c in protocol_motion("val-style", root, "test")}
    assert val_test == VAL_TEST and val_train == p1_train - VAL_TEST
    for name in ("val-style", "val-rare10"):
        train = load_protocol(name, root, "train", frame_step=2)
        assert set(train.clip) == val_train
        assert len(train) == _expected(val_train, 2, VAL_CLIPS)
    val = load_protocol("val-style", root, "test", frame_step=2)
    assert set(val.clip) == VAL_TEST and len(val) == _expected(VAL_TEST, 2, VAL_CLIPS)
    ref = load_protocol("val-style", root, "train", frame_step=3)
    occ = _brute_occurrence(val.poses3d, ref.poses3d, 0.1)
    cache = tmp_path / "cache"
    got, status = protocol_occurrence("val-style", root, frame_step=2, reference_step=3,
                                  cache_dir=cache)
    assert status == "miss"
    np.testing.assert_allclose(got, occ, rtol=1e-6)
    rare = load_protocol("val-rare20", root, "test", frame_step=2, reference_step=3,
                         cache_dir=cache)
    assert rare.info["occurrence_cache"] == "hit"
    chosen = np.sort(np.argsort(occ, kind="stable")[: round(0.2 * len(val))])
    np.testing.assert_array_equal(rare.poses3d, val.poses3d[chosen])
    # its own cache entry: P1's is neither used nor overwritten
    assert len(list(cache.glob("val-style-occurrence-*.npz"))) == 1
    assert not list(cache.glob("p1-occurrence-*.npz"))
    with pytest.raises(ValueError, match="name"):
        protocol_occurrence("p2-cross-set", root)


@pytest.mark.usefixtures("rarity")
def test_stale_cache_is_never_used(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "cache"
    kw = dict(frame_step=3, reference_step=4, cache_dir=cache)
    occ1, status = p1_test_occurrence(root, **kw)
    assert status == "miss"
    assert p1_test_occurrence(root, **kw)[1] == "hit"
    # other parameters -> other key
    assert p1_test_occurrence(root, **{**kw, "sigma": 0.2})[1] == "miss"
    assert p1_test_occurrence(root, **{**kw, "reference_step": 5})[1] == "miss"
    # a new code version invalidates
    monkeypatch.setattr(protocols, "CACHE_VERSION", protocols.CACHE_VERSION + 1)
    assert p1_test_occurrence(root, **kw)[1] == "miss"
    monkeypatch.undo()
    # new data contents (same file names): recomputed, and equal to the brute force
    write_bandai(root, seed=100)
    occ2, status = p1_test_occurrence(root, **kw)
    assert status == "miss" and not np.allclose(occ1, occ2)
    p1 = load_protocol("p1-style", root, "test", frame_step=3)
    ref = load_protocol("p1-style", root, "train", frame_step=4)
    np.testing.assert_allclose(occ2, _brute_occurrence(p1.poses3d, ref.poses3d, 0.1), rtol=1e-6)
    # an entry whose stored key differs from the expected one is not trusted
    for f in cache.glob("p1-occurrence-*.npz"):
        with np.load(f) as z:
            key = str(z["key"]).replace('"cache_version"', '"cache_version_old"')
            np.savez(f, key=np.array(key), value=np.zeros_like(z["value"]))
    occ3, status = p1_test_occurrence(root, **kw)
    assert status == "miss"
    np.testing.assert_array_equal(occ3, occ2)
    # $POSELIFT_CACHE is the default location
    monkeypatch.setenv("POSELIFT_CACHE", str(tmp_path / "env-cache"))
    p1_test_occurrence(root, frame_step=3, reference_step=4)
    assert list((tmp_path / "env-cache").glob("p1-occurrence-*.npz"))


# --- the real data --------------------------------------------------------------------------


def _meta(shared: Path) -> list[dict[str, str]]:
    with (shared / "bandai" / "bandai_h36m17_meta.tsv").open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _is_test(r: dict[str, str]) -> bool:
    return (r["dataset"] == "2" and r["style"] in ("elderly", "youthful")) or (
        r["dataset"] == "1" and r["style"] in ("old", "childish"))


@pytest.mark.data
def test_real_p1_p2_sizes_equal_the_meta_formula(shared_data: Path):
    rows = _meta(shared_data)
    n = lambda sel, s: 4 * sum(math.ceil(int(r["frames"]) / s) for r in rows if sel(r))  # noqa: E731
    want = {
        ("p1-style", "train"): n(lambda r: not _is_test(r), 4),
        ("p1-style", "test"): n(_is_test, 4),
        ("p2-cross-set", "train"): n(lambda r: r["dataset"] == "2", 4),
        ("p2-cross-set", "test"): n(lambda r: r["dataset"] == "1", 4),
    }
    assert want[("p1-style", "train")] == 302_928 and want[("p1-style", "test")] == 118_440
    # every frame: exactly frames x 4 cameras
    frames = sum(int(r["frames"]) for r in rows if r["dataset"] == "1")
    assert len(load_protocol("p2-cross-set", shared_data, "test", frame_step=1)) == 4 * frames
    for (name, split), size in want.items():
        d = load_protocol(name, shared_data, split)
        assert len(d) == size, (name, split)
        if split == "test":
            assert 0 < d.keypoints2d.min() and d.keypoints2d.max() < 1000  # all in the image
            assert np.abs(d.poses3d).max() < 1.5


@pytest.mark.data
@pytest.mark.usefixtures("rarity")
def test_real_p3_is_10_and_20_percent_of_p1_test_on_a_slice(shared_data: Path, tmp_path: Path):
    kw = dict(frame_step=120, reference_step=120, cache_dir=tmp_path)
    p1 = load_protocol("p1-style", shared_data, "test", frame_step=120)
    rows = _meta(shared_data)
    assert len(p1) == 4 * sum(math.ceil(int(r["frames"]) / 120) for r in rows if _is_test(r))
    val = load_protocol("val-style", shared_data, "test", frame_step=120)
    assert set(val.style) == {"exhausted", "tired", "sad"}
    assert not set(val.clip) & set(p1.clip)
    assert not set(val.clip) & set(load_protocol("val-style", shared_data, "train",
                                                 frame_step=120).clip)
    r10 = load_protocol("p3-rare10", shared_data, "test", **kw)
    r20 = load_protocol("p3-rare20", shared_data, "test", **kw)
    assert len(r10) == round(0.1 * len(p1)) and len(r20) == round(0.2 * len(p1))
    assert r20.info["occurrence_cache"] == "hit"
    key = lambda d: set(zip(d.clip, d.frame, d.camera, strict=True))  # noqa: E731
    assert key(r10) <= key(r20) <= key(p1)
    assert r10.occurrence.max() <= r20.occurrence.max()
