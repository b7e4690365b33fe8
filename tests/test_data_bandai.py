"""The Bandai BVH converter reproduces the shared npz clips (well under 1 mm)."""

from __future__ import annotations

import numpy as np
import pytest

from poselift.data.bandai import bandai_files, convert_bandai, main
from poselift.data.mocap import load_bandai, read_bandai_meta


@pytest.mark.data
def test_converter_reproduces_shared_clips(shared_data, tmp_path, capsys):
    samples = shared_data / "bandai" / "bvh-samples"
    if not samples.is_dir():
        pytest.skip("no bvh-samples/ in the shared Bandai data")
    assert main([str(samples), "--out", str(tmp_path)]) == 0
    assert "2 clips" in capsys.readouterr().out
    mine = load_bandai(tmp_path)
    theirs = load_bandai(shared_data, names=[c.name for c in mine.clips])
    assert [c.name for c in mine.clips] == ["dataset-1_kick_normal_001",
                                            "dataset-2_walk_normal_001"]
    for a, b in zip(mine.clips, theirs.clips, strict=True):
        assert a.poses.shape == b.poses.shape
        err = np.abs(a.poses.astype(np.float64) - b.poses).max()
        assert err < 1e-4, f"{a.name}: {err * 1000:.4f} mm"  # well under 1 mm
        assert a.meta["dataset"] == b.meta["dataset"]
        assert (a.meta["content"], a.meta["style"], a.fps) == (b.meta["content"],
                                                                b.meta["style"], b.fps)
    ours = read_bandai_meta(tmp_path / "bandai" / "bandai_h36m17_meta.tsv")
    shared = read_bandai_meta(shared_data / "bandai" / "bandai_h36m17_meta.tsv")
    for name, row in ours.items():
        assert row == shared[name]


def test_converter_errors(tmp_path, capsys):
    assert main([str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.bvh").write_text("HIERARCHY\n")
    (tmp_path / "b" / "x.bvh").write_text("HIERARCHY\n")
    with pytest.raises(ValueError, match="two clips named 'x'"):
        bandai_files([tmp_path])
    (tmp_path / "b" / "x.bvh").unlink()
    assert main([str(tmp_path / "a"), "--out", str(tmp_path)]) == 1
    assert "x.bvh" in capsys.readouterr().err
    assert not (tmp_path / "bandai" / "bandai_h36m17.npz").exists()
    with pytest.raises(FileNotFoundError, match="output directory"):
        convert_bandai([tmp_path / "a"], tmp_path / "missing")
