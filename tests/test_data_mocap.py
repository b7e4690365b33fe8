"""Tests for poselift.data.mocap: the MotionSet container and the Bandai npz + TSV reader."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from poselift.data import Clip, DataError, MotionSet, load_bandai

HEADER = "name\tdataset\tcontent\tstyle\tframes\tfps\n"


def _write_root(tmp_path: Path, clips: dict[str, np.ndarray], rows: list[str] | None = None,
                ) -> Path:
    folder = tmp_path / "bandai"
    folder.mkdir()
    np.savez(folder / "bandai_h36m17.npz", **clips)
    if rows is None:
        rows = [f"{n}\t2\twalk\tnormal\t{len(a)}\t30" for n, a in clips.items()]
    (folder / "bandai_h36m17_meta.tsv").write_text(HEADER + "\n".join(rows) + "\n")
    return tmp_path


def _poses(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(frames, 17, 3)).astype(np.float32)


def test_motionset_basics_and_validation():
    a = Clip("a", _poses(3), 30.0, {"style": "old"})
    b = Clip("b", _poses(4), 30.0, {"style": "normal"})
    ms = MotionSet((a, b), source="mem")
    assert len(ms) == 2 and ms.num_frames == 7 and ms.names == ("a", "b")
    assert ms["b"] is b and ms[0] is a and "a" in ms and "c" not in ms
    assert ms.filter(lambda c: c.meta["style"] == "old").names == ("a",)
    assert ms.select(["b", "a"]).names == ("b", "a")
    with pytest.raises(KeyError, match="no clip named 'c' in mem"):
        ms["c"]
    with pytest.raises(ValueError, match="duplicate clip name"):
        MotionSet((a, a))
    with pytest.raises(ValueError, match=r"expected poses of shape \(F, 17, 3\)"):
        MotionSet((Clip("x", np.zeros((3, 16, 3), np.float32), 30.0),))
    with pytest.raises(ValueError, match="up"):
        MotionSet((a,), up="x")


def test_to_y_up_is_a_proper_rotation():
    p = _poses(2)
    ms = MotionSet((Clip("a", p, 50.0),), up="z").to_y_up()
    q = ms["a"].poses
    np.testing.assert_allclose(q[..., 1], p[..., 2])  # old z (up) is the new y
    # distances kept and handedness kept: the triple product keeps its sign
    d = lambda x: np.linalg.norm(x[:, 1] - x[:, 2], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(q), d(p), rtol=1e-6)
    v = lambda x: np.einsum("fi,fi->f", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]),  # noqa: E731
                            x[:, 3] - x[:, 0])
    np.testing.assert_allclose(v(q), v(p), rtol=1e-5)
    assert MotionSet((Clip("a", p, 30.0),)).to_y_up()["a"].poses is p


def test_load_bandai_synthetic(tmp_path: Path):
    root = _write_root(tmp_path, {"c1": _poses(5), "c2": _poses(3, 1)},
                       ["c2\t1\tbow\told\t3\t30", "c1\t2\twalk\tnormal\t5\t30"])
    ms = load_bandai(root)
    assert ms.names == ("c2", "c1")  # TSV order
    assert ms["c2"].meta == {"dataset": 1, "content": "bow", "style": "old", "subject": "",
                             "source": "bandai"}
    np.testing.assert_array_equal(ms["c1"].poses, _poses(5))
    assert load_bandai(root / "bandai", names=["c1"]).names == ("c1",)
    with pytest.raises(FileNotFoundError, match="Bandai data not found"):
        load_bandai(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("clips", "rows", "match"),
    [
        ({"c1": _poses(5), "c2": _poses(3)}, ["c1\t2\twalk\tnormal\t5\t30"],
         r"bandai_h36m17_meta.tsv: no row for clip 'c2' of .*bandai_h36m17.npz"),
        ({"c1": _poses(5)}, ["c1\t2\twalk\tnormal\t5\t30", "c9\t2\twalk\tnormal\t5\t30"],
         r"bandai_h36m17.npz: clip 'c9': listed in bandai_h36m17_meta.tsv but missing"),
        ({"c1": np.zeros((5, 16, 3), np.float32)}, None,
         r"bandai_h36m17.npz: clip 'c1': expected shape \(F, 17, 3\) with F >= 1, "
         r"got \(5, 16, 3\)"),
        ({"c1": np.where(np.arange(5)[:, None, None] == 2, np.nan, _poses(5))}, None,
         r"clip 'c1': 51 NaN/inf values in poses \(frames \[2\]\)"),
        ({"c1": _poses(5)}, ["c1\t2\twalk\tnormal\t6\t30"], "has 5 frames but .* says 6"),
        ({"c1": _poses(5)}, ["c1\t2\twalk\tnormal\tfive\t30"], r"meta.tsv: line 2: invalid"),
        ({"c1": _poses(5)}, ["c1\t2\twalk"], "line 2: expected 6 columns, got 3"),
        ({"c1": _poses(5)}, ["c1\t2\twalk\tnormal\t5\t30"] * 2, "duplicate clip 'c1'"),
    ],
)
def test_load_bandai_bad_data(tmp_path: Path, clips, rows, match):
    root = _write_root(tmp_path, clips, rows)
    with pytest.raises(DataError, match=match):
        load_bandai(root)


def test_load_bandai_skip_counts(tmp_path: Path):
    clips = {"good": _poses(4), "nan": np.full((4, 17, 3), np.nan, np.float32),
             "shape": np.zeros((4, 17, 2), np.float32), "orphan": _poses(2)}
    rows = [f"{n}\t2\twalk\tnormal\t4\t30" for n in ("good", "nan", "shape")]
    root = _write_root(tmp_path, clips, rows)
    with pytest.warns(RuntimeWarning, match="skipped 3 bad clip"):
        ms = load_bandai(root, on_bad="skip")
    assert ms.names == ("good",) and ms.num_skipped == 3
    assert sum("'orphan'" in m for m in ms.skipped) == 1
    with pytest.raises(ValueError, match="on_bad"):
        load_bandai(root, on_bad="ignore")  # type: ignore[arg-type]


def test_garbled_npz_and_header(tmp_path: Path):
    root = _write_root(tmp_path, {"c1": _poses(2)})
    (root / "bandai" / "bandai_h36m17.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="bandai_h36m17.npz: cannot read the npz archive"):
        load_bandai(root)
    (root / "bandai" / "bandai_h36m17_meta.tsv").write_text("clip\tframes\n")
    with pytest.raises(DataError, match="expected the header columns"):
        load_bandai(root)


# --- the real data ------------------------------------------------------------------------


@pytest.mark.data
def test_real_bandai_counts_and_handedness(shared_data: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ms = load_bandai(shared_data)
    assert len(ms) == 3076 and ms.num_frames == 416845 and ms.num_skipped == 0
    assert {c.meta["dataset"] for c in ms} == {1, 2}
    assert all(c.fps == 30.0 for c in ms)
    # +Y up, right-handed, correct left/right labels: while walking forward, the left hip
    # lies on the walker's left (up x forward)
    walk = ms["dataset-2_walk_normal_001"].poses.astype(np.float64)
    forward = walk[-1, 0] - walk[0, 0]
    left = np.cross([0.0, 1.0, 0.0], forward)
    assert ((walk[:, 4] - walk[:, 1]) @ left > 0).all()
    assert (walk[:, 10, 1] > walk[:, 0, 1]).all()  # head top above the pelvis
    height = walk[:, 10, 1].max() - walk[:, [3, 6], 1].min()
    assert 1.3 < height < 1.7 and math.isfinite(height)
