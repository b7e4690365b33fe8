"""Tests of the poselift command line, with a small *untrained* checkpoint (no weights exist)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from poselift.cli import main
from poselift.inference import lift
from poselift.models import create_model, save_model
from poselift.skeletons import get_skeleton

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    sr = create_model("sr", skeleton="coco", hidden=64, in_features=3).eval()
    tcn = create_model("sr_tcn", skeleton="coco", channels=32, filter_widths=(3, 3)).eval()
    save_model(sr, d / "sr.pt")
    save_model(tcn, d / "tcn.pt")
    return {"sr": str(d / "sr.pt"), "tcn": str(d / "tcn.pt")}


def _kp(*lead, seed=0):
    return np.random.default_rng(seed).uniform(200.0, 800.0, (*lead, 17, 2))


def _run(*argv):
    return main([str(a) for a in argv])


def _coco_entries(kp, image_ids, track=None, v=2.0):
    out = []
    for image_id, pose in zip(image_ids, kp, strict=True):
        flat = np.concatenate([pose, np.full((17, 1), v)], -1).ravel().tolist()
        e = {"image_id": image_id, "category_id": 1, "keypoints": flat, "score": 0.9}
        if track is not None:
            e["track_id"] = track
        out.append(e)
    return out


def test_npy_roundtrip_matches_lift(tmp_path, ckpts):
    kp = _kp(12)
    np.save(tmp_path / "in.npy", kp)
    assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "out.npy", "--model",
                ckpts["tcn"], "--image-size", 1000, 800) == 0
    got = np.load(tmp_path / "out.npy")
    ref = lift(kp, model=ckpts["tcn"], image_size=(1000, 800))
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert got.shape == (12, 17, 3)


def test_npz_and_json_dict_with_scores(tmp_path, ckpts):
    kp = _kp(4, seed=1)
    scores = np.ones((4, 17))
    scores[2, 3] = 0.0  # interpolated over time
    np.savez(tmp_path / "in.npz", keypoints2d=kp, scores=scores)
    assert _run("lift", tmp_path / "in.npz", "-o", tmp_path / "out.npz", "--model",
                ckpts["tcn"]) == 0
    ref = lift(kp, scores=scores, model=ckpts["tcn"])
    with np.load(tmp_path / "out.npz") as z:
        np.testing.assert_allclose(z["poses3d"], ref, atol=1e-6)
    (tmp_path / "in.json").write_text(json.dumps({"keypoints2d": kp.tolist(),
                                                  "scores": scores.tolist()}))
    assert _run("lift", tmp_path / "in.json", "-o", tmp_path / "out.json", "--model",
                ckpts["tcn"]) == 0
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["units"] == "metres" and doc["skeleton"] == "h36m"
    np.testing.assert_allclose(np.array(doc["poses3d"]), ref, atol=2e-6)


def test_coco_results_one_person_per_image(tmp_path, ckpts):
    kp = _kp(3, seed=2)
    entries = _coco_entries(kp, [30, 10, 20])
    entries[0]["keypoints"][3 * 5 + 2] = 0.0  # v = 0: left shoulder not detected in image 30
    (tmp_path / "res.json").write_text(json.dumps(entries))
    assert _run("lift", tmp_path / "res.json", "-o", tmp_path / "out.json", "--model",
                ckpts["sr"]) == 0
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [r["image_id"] for r in doc["results"]] == [10, 20, 30]
    # reference: images lifted independently with the single-frame model (score channel)
    order = [1, 2, 0]
    with_v = np.concatenate([kp, np.full((3, 17, 1), 2.0)], -1)
    with_v[0, 5, 2] = 0.0
    ref = lift(with_v[order], model=ckpts["sr"], temporal=False)
    np.testing.assert_allclose(np.array([r["keypoints3d"] for r in doc["results"]]), ref,
                               atol=2e-6)


def test_coco_results_with_tracks(tmp_path, ckpts):
    a, b = _kp(7, seed=3), _kp(5, seed=4)
    entries = _coco_entries(a, list(range(7)), track=1) + _coco_entries(b, list(range(2, 7)),
                                                                       track=2)
    entries = entries[::-1]  # any order in the file
    (tmp_path / "res.json").write_text(json.dumps(entries))
    assert _run("lift", tmp_path / "res.json", "-o", tmp_path / "out.npz", "--model",
                ckpts["tcn"]) == 0
    with np.load(tmp_path / "out.npz") as z:
        for i, (kp, ids, track) in enumerate([(a, range(7), 1), (b, range(2, 7), 2)]):
            ref = lift(np.concatenate([kp, np.full((len(kp), 17, 1), 2.0)], -1),
                       model=ckpts["tcn"])
            np.testing.assert_allclose(z[f"poses3d_{i}"], ref, atol=1e-6)
            assert z[f"image_id_{i}"].tolist() == list(ids)
            assert int(z[f"track_id_{i}"]) == track
    # two tracks of different lengths cannot be one .npy: error, nothing written
    assert _run("lift", tmp_path / "res.json", "-o", tmp_path / "out.npy", "--model",
                ckpts["tcn"]) == 1
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps([{"image_id": 1, "keypoints": [1, 2, 3]}]), "expected 51 numbers"),
        (json.dumps(_coco_entries(_kp(2), [5, 5])), "image_id 5 has several people"),
        (json.dumps({"foo": 1}), "expected a COCO keypoint result list"),
        (json.dumps({"keypoints2d": [[1, 2]] * 16}), "keypoints2d: expected shape"),
        (json.dumps([]), "no detections"),
    ],
)
def test_malformed_input_one_line_error_nothing_written(tmp_path, ckpts, capsys, content,
                                                        match):
    (tmp_path / "bad.json").write_text(content)
    out = tmp_path / "out.npy"
    out.write_bytes(b"previous")
    assert _run("lift", tmp_path / "bad.json", "-o", out, "--model", ckpts["sr"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("poselift: error: ") and err.count("\n") == 1, err
    assert match in err
    assert out.read_bytes() == b"previous"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "out.npy"]  # no temp


def test_unreadable_and_missing_files(tmp_path, capsys):
    assert _run("lift", tmp_path / "nope.npy", "-o", tmp_path / "o.npy") == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "x.npy").write_bytes(b"garbage")
    assert _run("lift", tmp_path / "x.npy", "-o", tmp_path / "o.npy") == 1
    assert "unreadable" in capsys.readouterr().err
    np.save(tmp_path / "k.npy", _kp())
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "o.txt") == 1
    assert "unsupported output type" in capsys.readouterr().err
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "missing_dir" / "o.npy") == 1
    assert "does not exist" in capsys.readouterr().err


def test_default_model_without_weights_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import poselift.inference as inf

    monkeypatch.setattr(inf, "list_weights", lambda: [])  # as if none were shipped
    np.save(tmp_path / "k.npy", _kp())
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "o.npy") == 1
    err = capsys.readouterr().err
    assert "no shipped single-frame weights" in err and "'sr.coco'" in err
    assert not (tmp_path / "o.npy").exists()


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["lift", "only-input"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2


def test_models_command_and_python_m(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "sr_tcn" in out and "pretrained weights:" in out
    proc = subprocess.run([sys.executable, "-m", "poselift", "models"], capture_output=True,
                          text=True, timeout=120, env={"OMP_NUM_THREADS": "1",
                                                       **__import__("os").environ})
    assert proc.returncode == 0 and "models:" in proc.stdout


# --- every flag of `poselift lift` has an effect that a test sees -------------------------------


def test_independent_flag_uses_the_single_frame_model(tmp_path):
    kp = _kp(30, seed=5)  # the shipped weights: sr_tcn.coco for sequences, sr.coco per frame
    np.save(tmp_path / "seq.npy", kp)
    assert _run("lift", tmp_path / "seq.npy", "-o", tmp_path / "ind.npy", "--independent") == 0
    assert _run("lift", tmp_path / "seq.npy", "-o", tmp_path / "seq_out.npy") == 0
    ind, seq = np.load(tmp_path / "ind.npy"), np.load(tmp_path / "seq_out.npy")
    np.testing.assert_allclose(ind, lift(kp, temporal=False), atol=1e-6)
    np.testing.assert_allclose(seq, lift(kp), atol=1e-6)
    assert np.abs(ind - seq).max() > 1e-3  # the flag changes the model


def test_no_fix_swaps_flag_keeps_the_detectors_labels(tmp_path):
    t = np.arange(40)[:, None, None]
    kp = _kp(seed=6) + 10 * np.sin(t / 5 + np.arange(34).reshape(17, 2))  # smooth motion
    kp[15:25] = kp[15:25][:, get_skeleton("coco").flip_indices]  # a run of mirrored labels
    np.save(tmp_path / "seq.npy", kp)
    assert _run("lift", tmp_path / "seq.npy", "-o", tmp_path / "kept.npy", "--no-fix-swaps") == 0
    assert _run("lift", tmp_path / "seq.npy", "-o", tmp_path / "fixed.npy") == 0
    kept, fixed = np.load(tmp_path / "kept.npy"), np.load(tmp_path / "fixed.npy")
    np.testing.assert_allclose(kept, lift(kp, fix_swaps=False), atol=1e-6)
    np.testing.assert_allclose(fixed, lift(kp), atol=1e-6)
    assert np.abs(kept - fixed)[15:25].max() > 1e-3  # the flag changes the labels


def test_independent_flag_with_a_checkpoint(tmp_path, ckpts):
    kp = _kp(8, seed=6)
    scores = np.ones((8, 17))
    scores[3, 4] = 0.0
    np.savez(tmp_path / "in.npz", keypoints2d=kp, scores=scores)
    assert _run("lift", tmp_path / "in.npz", "-o", tmp_path / "a.npy", "--model", ckpts["sr"],
                "--independent") == 0
    assert _run("lift", tmp_path / "in.npz", "-o", tmp_path / "b.npy", "--model",
                ckpts["sr"]) == 0
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    np.testing.assert_allclose(a, lift(kp, scores=scores, model=ckpts["sr"], temporal=False),
                               atol=1e-6)
    np.testing.assert_allclose(b, lift(kp, scores=scores, model=ckpts["sr"]), atol=1e-6)
    assert np.abs(a[3] - b[3]).max() > 1e-4  # zeroed joint vs joint interpolated over time


def test_flip_test_flag(tmp_path, ckpts):
    kp = _kp(6, seed=7)
    np.save(tmp_path / "in.npy", kp)
    assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "f.npy", "--model", ckpts["sr"],
                "--flip-test", "--independent") == 0
    got = np.load(tmp_path / "f.npy")
    np.testing.assert_allclose(got, lift(kp, model=ckpts["sr"], flip_test=True, temporal=False),
                               atol=1e-6)
    assert np.abs(got - lift(kp, model=ckpts["sr"], temporal=False)).max() > 1e-4


def test_score_threshold_flag(tmp_path, ckpts):
    kp = _kp(6, seed=8)
    scores = np.ones((6, 17))
    scores[2, 7] = 0.4  # present at the default 0.3, missing at 0.5
    np.savez(tmp_path / "in.npz", keypoints2d=kp, scores=scores)
    assert _run("lift", tmp_path / "in.npz", "-o", tmp_path / "t.npy", "--model", ckpts["tcn"],
                "--score-threshold", 0.5) == 0
    got = np.load(tmp_path / "t.npy")
    np.testing.assert_allclose(got, lift(kp, scores=scores, model=ckpts["tcn"],
                                         score_threshold=0.5), atol=1e-6)
    assert np.abs(got - lift(kp, scores=scores, model=ckpts["tcn"])).max() > 1e-4
    for bad in ("-1", "nan"):
        assert _run("lift", tmp_path / "in.npz", "-o", tmp_path / "u.npy", "--model",
                    ckpts["tcn"], "--score-threshold", bad) == 1
    with pytest.raises(SystemExit) as e:
        _run("lift", tmp_path / "in.npz", "-o", tmp_path / "u.npy", "--score-threshold", "x")
    assert e.value.code == 2
    assert not (tmp_path / "u.npy").exists()


def test_skeleton_h36m_flag(tmp_path, ckpts, capsys):
    torch.manual_seed(1)
    h36m = create_model("sr", skeleton="h36m", hidden=64, in_features=3).eval()
    save_model(h36m, tmp_path / "h36m.pt")
    kp = _kp(4, seed=9)
    np.save(tmp_path / "in.npy", kp)
    assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "o.npy", "--model",
                tmp_path / "h36m.pt", "--skeleton", "h36m", "--independent") == 0
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"),
                               lift(kp, skeleton="h36m", model=h36m, temporal=False), atol=1e-6)
    # the shipped h36m weights through the default model
    assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "d.npy", "--skeleton", "h36m") == 0
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), lift(kp, skeleton="h36m"),
                               atol=1e-6)
    capsys.readouterr()
    assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "x.npy", "--model", ckpts["sr"],
                "--skeleton", "h36m") == 1
    assert "skeleton: the model takes 'coco' keypoints" in capsys.readouterr().err


def test_device_and_batch_size_flags(tmp_path, ckpts, capsys, monkeypatch):
    import poselift.core

    seen = []
    real = poselift.core.predict_checked

    def recording(model, contract, inputs, **kwargs):
        # the inference copy holds buffers only (BatchNorm folded, no trainable parameters)
        seen.append((kwargs["batch_size"], next(model.buffers()).device))
        return real(model, contract, inputs, **kwargs)

    monkeypatch.setattr(poselift.core, "predict_checked", recording)
    kp = _kp(40, seed=10)
    np.save(tmp_path / "in.npy", kp)
    assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "o.npy", "--model", ckpts["tcn"],
                "--device", "cpu", "--batch-size", 7) == 0
    assert seen == [(7, torch.device("cpu"))]  # a "screen" model: one scale, one sequence
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), lift(kp, model=ckpts["tcn"]),
                               atol=1e-5)
    capsys.readouterr()
    for flag, value, match in (("--batch-size", 0, "batch_size: expected a positive int"),
                               ("--device", "meta", "device: 'meta'"),
                               ("--device", "cuda:99", "device: 'cuda:99'")):
        assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "x.npy", "--model",
                    ckpts["tcn"], flag, value) == 1
        err = capsys.readouterr().err
        assert err.startswith("poselift: error: ") and err.count("\n") == 1 and match in err
    assert not (tmp_path / "x.npy").exists()


def test_progress_flag(tmp_path, ckpts, capsys):
    np.save(tmp_path / "in.npy", _kp(12, seed=11))
    args = ["lift", tmp_path / "in.npy", "-o", tmp_path / "o.npy", "--model", ckpts["tcn"]]
    assert _run(*args, "--progress", "on") == 0
    captured = capsys.readouterr()
    assert "lifting: 12/12 frames (100%" in captured.err
    assert "lifted 12 pose(s)" in captured.out
    for mode in ("off", "auto"):  # auto: only for 20,000 frames or more
        assert _run(*args, "--progress", mode) == 0
        assert "lifting:" not in capsys.readouterr().err  # (random poses: warnings only)


# --- issue 29 (outputs all or nothing, messages) and issue 28 (whole result, BVH frames) ----


def test_npy_output_of_several_equal_length_tracks_says_a_npy_holds_one_array(tmp_path, ckpts,
                                                                             capsys):
    entries = _coco_entries(_kp(5, seed=3), list(range(5)), track=1) + _coco_entries(
        _kp(5, seed=4), list(range(5)), track=2)
    (tmp_path / "res.json").write_text(json.dumps(entries))
    assert _run("lift", tmp_path / "res.json", "-o", tmp_path / "x.npy", "--model",
                ckpts["tcn"]) == 1
    err = capsys.readouterr().err
    assert "holds 2 tracks; a .npy file holds one array" in err
    assert "different lengths" not in err and not (tmp_path / "x.npy").exists()


def test_lift_leaves_no_output_when_the_bvh_path_is_a_directory(tmp_path, ckpts, capsys):
    # was: y.npz written, then a raw error naming a temporary file
    np.save(tmp_path / "k.npy", _kp(6))
    (tmp_path / "t.bvh").mkdir()
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "y.npz", "--bvh",
                tmp_path / "t.bvh", "--model", ckpts["tcn"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 't.bvh'}: is a directory" in err and ".tmp" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.npy", "t.bvh"]


def test_lift_leaves_no_output_when_the_bvh_directory_does_not_exist(tmp_path, ckpts, capsys):
    # the issue's `poselift lift k.npy -o y.npz --bvh /unwritable/t.bvh`: y.npz was left
    np.save(tmp_path / "k.npy", _kp(6))
    bvh = tmp_path / "unwritable" / "t.bvh"
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "y.npz", "--bvh", bvh,
                "--model", ckpts["tcn"]) == 1
    err = capsys.readouterr().err
    assert err == (f"poselift: error: {bvh}: the output directory "
                   f"'{tmp_path / 'unwritable'}' does not exist (--bvh)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.npy"]


def test_lift_checks_every_track_bvh_before_writing_any(tmp_path, ckpts, capsys):
    entries = _coco_entries(_kp(5, seed=3), list(range(5)), track=1) + _coco_entries(
        _kp(6, seed=4), list(range(6)), track=2)
    (tmp_path / "res.json").write_text(json.dumps(entries))
    (tmp_path / "t_2.bvh").mkdir()  # the second track's file cannot be written
    assert _run("lift", tmp_path / "res.json", "-o", tmp_path / "y.json", "--bvh",
                tmp_path / "t.bvh", "--model", ckpts["tcn"]) == 1
    assert f"{tmp_path / 't_2.bvh'}: is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.json", "t_2.bvh"]


def test_a_failing_later_write_leaves_earlier_outputs_untouched(tmp_path, ckpts, capsys,
                                                                monkeypatch):
    import poselift.cli as cli

    np.save(tmp_path / "k.npy", _kp(6))
    (tmp_path / "y.npz").write_bytes(b"old")

    def full_disk(data):
        def write(f):
            f.write(data[:10])
            raise OSError(28, "No space left on device")
        return write

    monkeypatch.setattr(cli, "_bytes_writer", full_disk)  # the BVH text: written after y.npz
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "y.npz", "--bvh",
                tmp_path / "t.bvh", "--model", ckpts["tcn"]) == 1
    err = capsys.readouterr().err
    assert f"No space left on device: '{tmp_path / 't.bvh'}'" in err and ".tmp" not in err
    assert (tmp_path / "y.npz").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.npy", "y.npz"]


@pytest.mark.parametrize(("argv", "match"), [
    (["--png", "p.txt"], "p.txt: unsupported --png type '.txt'; expected .png"),
    (["-o", "d.txt"], "d.txt: unsupported -o type '.txt'; expected .npz"),
    (["--png", "missing/p.png"], "the output directory"),
])
def test_demo_checks_every_output_before_running(tmp_path, capsys, monkeypatch, argv, match):
    import poselift.demo as demo

    ran = []
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: ran.append(1))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "-o", "d.npz", *argv]) == 1
    assert match in capsys.readouterr().err and not ran
    assert list(tmp_path.iterdir()) == []


def test_demo_removes_its_npz_when_the_png_fails(tmp_path, capsys, monkeypatch):
    import poselift.demo as demo

    def half(output, png, **kwargs):
        Path(output).write_bytes(b"npz")
        raise RuntimeError("plot failed")

    monkeypatch.setattr(demo, "run_demo", half)
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "-o", "d.npz", "--png", "p.png"]) == 1
    assert "plot failed" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_lift_with_intrinsics_writes_the_whole_lift_result(tmp_path, ckpts):
    from poselift.inference import lift_full

    kp = _kp(12, seed=5)
    kp[3, :, :] = np.nan  # a frame without any joint: not solved, reprojection NaN -> null
    np.save(tmp_path / "k.npy", kp)
    intr = (1000.0, 1000.0, 500.0, 500.0)
    ref = lift_full(kp, model=ckpts["tcn"], intrinsics=intr, root="camera")
    args = ["--model", ckpts["tcn"], "--intrinsics", *intr, "--root", "camera"]
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "y.npz", *args) == 0
    with np.load(tmp_path / "y.npz") as z:
        np.testing.assert_allclose(z["poses3d"], ref.poses, atol=1e-5)
        np.testing.assert_allclose(z["trajectory"], ref.trajectory, atol=1e-5)
        np.testing.assert_allclose(z["scale"], ref.scale, rtol=1e-6)
        np.testing.assert_allclose(z["reprojection_px"], ref.reprojection_px, rtol=1e-5)
        assert z["solved"].tolist() == ref.solved.tolist() and not z["solved"][3]
        np.testing.assert_allclose(z["occurrence"], ref.rarity.occurrence, rtol=1e-6)
        assert z["rare"].tolist() == ref.rarity.rare.tolist()
        assert z["rare_groups"].tolist() == ref.rarity.rare_groups.tolist()
        assert str(z["model"]) == str(ckpts["tcn"]) and str(z["root"]) == "camera"
        assert float(z["height"]) == 1.7
    assert _run("lift", tmp_path / "k.npy", "-o", tmp_path / "y.json", "--bvh",
                tmp_path / "y.bvh", "--fps", 25, *args) == 0
    doc = json.loads((tmp_path / "y.json").read_text())  # strict JSON: NaN written as null
    assert doc["fps"] == 25.0 and doc["weights"] == str(ckpts["tcn"]) and doc["height"] == 1.7
    np.testing.assert_allclose(doc["trajectory"], ref.trajectory, atol=2e-6)
    assert doc["reprojection_px"][3] is None and doc["solved"] == ref.solved.tolist()
    assert doc["rare"] == ref.rarity.rare.tolist()


def test_bvh_from_detections_has_every_frame_of_the_clip(tmp_path, ckpts):
    from poselift.data import read_bvh
    from poselift.data.bvh import bvh_to_h36m

    folder = tmp_path / "op"
    folder.mkdir()
    rng = np.random.default_rng(0)
    body = np.concatenate([rng.uniform(0, 1, (17, 2)) * [60, 170] + 300, np.ones((17, 1))], -1)
    for f in range(30):  # detected in frames 5..24 except 12; every frame has its file
        moved = body + np.array([3.0 * f, 0, 0])
        moved[9:11, 1] -= 4.0 * f  # the wrists rise: the 3D pose changes from frame to frame
        people = [] if f < 5 or f > 24 or f == 12 else [moved]
        doc = {"people": [{"pose_keypoints_2d": p.ravel().tolist()} for p in people]}
        (folder / f"clip_{f:012d}_keypoints.json").write_text(json.dumps(doc))
    assert _run("lift", folder, "--skeleton", "coco", "-o", tmp_path / "y.npz", "--bvh",
                tmp_path / "y.bvh", "--model", ckpts["tcn"], "--min-track-length", 5) == 0
    bvh = read_bvh(tmp_path / "y.bvh")
    assert bvh.num_frames == 30  # was 19: only the frames in which the person was detected
    pos = bvh_to_h36m(bvh, "poselift", units="cm")
    np.testing.assert_allclose(pos[:5], np.repeat(pos[5:6], 5, 0), atol=1e-6)  # first held
    np.testing.assert_allclose(pos[25:], np.repeat(pos[24:25], 5, 0), atol=1e-6)  # last held
    assert np.abs(pos[12] - pos[11]).max() > 0  # inside the track: the interpolated pose


def test_warnings_are_one_line_without_source(tmp_path, ckpts, capsys):
    kp = np.concatenate([_kp(12, seed=11), np.full((12, 17, 1), 90.0)], -1)  # 0-100 scores
    np.save(tmp_path / "in.npy", kp)
    assert _run("lift", tmp_path / "in.npy", "-o", tmp_path / "o.npy", "--model",
                ckpts["tcn"]) == 0
    err = capsys.readouterr().err
    assert "poselift: warning: keypoints2d[..., 2]: expected scores in [0, 1]" in err
    assert ".py:" not in err and "Warning:" not in err
