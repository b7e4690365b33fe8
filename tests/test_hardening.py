"""Regression tests for issue 21: bad input gets a clear error (or the right result).

One test (or a few) per case of the issue, numbered as in the issue. The CLI cases check the
one-line ``poselift: error: ...`` contract through :func:`poselift.cli.main`. Checkpoint
refusal paths (item 11 and the version check) are in tests/test_models.py; property-based
tests of the same boundaries are in tests/test_properties.py.
"""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import poselift
from poselift.cli import SPLIT_GAP, main
from poselift.inference import Lifter, lift
from poselift.metrics import MetricAccumulator, auc3d, mpjpe, p_mpjpe, pck3d
from poselift.models import (
    WeightsEntry,
    clear_model_cache,
    create_model,
    get_weights,
    load_checkpoint,
    load_model,
    register_weights,
    save_model,
    unregister_weights,
)
from poselift.models.checkpoint import atomic_save
from poselift.prediction import predict
from poselift.rarity import OccurrenceScorer, occurrence, pose_similarity

torch.set_num_threads(1)


def _kp(*lead: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(300.0, 700.0, (*lead, 17, 2))


def _sr(in_features: int = 3, seed: int = 0, **extra) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("sr", skeleton="coco", hidden=64, in_features=in_features,
                        input_norm="bbox", **extra).eval()


def _tcn(in_features: int = 3, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("sr_tcn", skeleton="coco", channels=32, filter_widths=(3, 3),
                        in_features=in_features, input_norm="bbox").eval()


def _cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    """Run the CLI in-process; return (exit code, stderr), checking the one-line contract."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    if code != 0:
        assert err.startswith("poselift: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
    return code, err


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ckpt")
    save_model(_sr(), d / "sr.pt")
    save_model(_tcn(), d / "tcn.pt")
    return {"sr": d / "sr.pt", "tcn": d / "tcn.pt"}


def _coco(kp: np.ndarray, image_ids: list, track: object = None) -> list[dict]:
    out = []
    for image_id, pose in zip(image_ids, kp, strict=True):
        flat = np.concatenate([pose, np.full((17, 1), 2.0)], -1).ravel().tolist()
        e = {"image_id": image_id, "category_id": 1, "keypoints": flat, "score": 0.9}
        if track is not None:
            e["track_id"] = track
        out.append(e)
    return out


def _with_v(kp: np.ndarray, v: float = 2.0) -> np.ndarray:
    return np.concatenate([kp, np.full((*kp.shape[:-1], 1), v)], -1)


# --- 1: temporal lift honours batch_size ---------------------------------------------------------


def test_01_temporal_lift_runs_long_sequences_in_chunks_of_batch_size():
    net = _tcn()
    seen: list[int] = []
    handle = net.register_forward_pre_hook(lambda m, a: seen.append(int(a[0].shape[1])))
    kp = _kp(300, seed=1)
    try:
        chunked = lift(kp, model=net, batch_size=50)
    finally:
        handle.remove()
    r = net.receptive_field
    # 300 frames: 6 passes of 50 output frames, each with at most the receptive field's context
    # on both sides (memory is bounded by batch_size, not by the sequence length)
    assert len(seen) == 6 and 50 < max(seen) <= 50 + 2 * (r - 1)
    np.testing.assert_allclose(chunked, lift(kp, model=net), atol=1e-5)


# --- 2: a shared module in training mode is never switched --------------------------------------


def test_02_four_threads_share_a_training_mode_module():
    net = _sr(dropout=0.5).train()  # dropout and BatchNorm behave differently in eval mode
    state = {k: v.clone() for k, v in net.state_dict().items()}
    reference = copy.deepcopy(net).eval()  # what every thread must get
    inputs = [_kp(64, seed=10 + i) for i in range(4)]
    expected = [lift(x, model=reference, temporal=False) for x in inputs]
    results: dict[tuple[int, int], np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(i: int) -> None:
        try:
            start.wait()
            for k in range(6):
                results[i, k] = lift(inputs[i], model=net, temporal=False, batch_size=16)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 24
    for (i, _), got in results.items():
        np.testing.assert_allclose(got, expected[i], atol=1e-6)  # 0 of 24 off
    assert net.training and all(m.training for m in net.modules())  # mode left alone
    for k, v in net.state_dict().items():  # no BatchNorm statistics updated either
        assert torch.equal(v, state[k]), k
    out = predict(net, torch.zeros(3, 17, 3))
    assert net.training and out.shape == (3, 17, 3)


# --- 3: COCO tracks: natural order of string image ids, gaps --------------------------------------


def test_03_string_image_ids_are_ordered_naturally(tmp_path, ckpts, capsys):
    kp = _kp(5, seed=3)
    ids = [f"frame_{n}" for n in (8, 9, 10, 11, 12)]
    entries = _coco(kp, ids, track=7)
    (tmp_path / "in.json").write_text(json.dumps(entries[::-1]))
    code, _ = _cli(capsys, "lift", tmp_path / "in.json", "-o", tmp_path / "out.json",
                   "--model", ckpts["tcn"])
    assert code == 0
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [r["image_id"] for r in doc["results"]] == ids  # not frame_10, 11, 12, 8, 9
    ref = lift(_with_v(kp), model=ckpts["tcn"])
    np.testing.assert_allclose([r["keypoints3d"] for r in doc["results"]], ref, atol=2e-6)


def test_03_gaps_in_image_ids_are_missing_frames_not_consecutive(tmp_path, ckpts, capsys):
    frames = [0, 1, 2, 6, 7, 8]  # frames 3-5 were not detected
    kp = _kp(6, seed=4)
    entries = _coco(kp, [f"img{f:04d}.jpg" for f in frames], track="a")
    (tmp_path / "in.json").write_text(json.dumps(entries))
    assert _cli(capsys, "lift", tmp_path / "in.json", "-o", tmp_path / "out.npz",
                "--model", ckpts["tcn"])[0] == 0
    # reference by hand: a 9-frame sequence with frames 3-5 missing (NaN, score 0)
    full = np.full((9, 17, 3), np.nan)
    full[..., 2] = 0.0
    full[frames] = _with_v(kp)
    ref = lift(full, model=ckpts["tcn"])[frames]
    consecutive = lift(_with_v(kp), model=ckpts["tcn"])
    with np.load(tmp_path / "out.npz") as z:
        np.testing.assert_allclose(z["poses3d_0"], ref, atol=1e-6)
        assert np.abs(z["poses3d_0"] - consecutive).max() > 1e-4  # the timing matters
        assert z["image_id_0"].tolist() == [f"img{f:04d}.jpg" for f in frames]
    # a gap longer than SPLIT_GAP splits the track: each part lifted on its own
    far = [0, 1, 2, 3 + SPLIT_GAP + 1, 4 + SPLIT_GAP + 1]
    (tmp_path / "far.json").write_text(json.dumps(_coco(kp[:5], far, track=1)))
    assert _cli(capsys, "lift", tmp_path / "far.json", "-o", tmp_path / "far.npy",
                "--model", ckpts["tcn"])[0] == 0
    want = np.concatenate([lift(_with_v(kp[:3]), model=ckpts["tcn"]),
                           lift(_with_v(kp[3:5]), model=ckpts["tcn"])])
    np.testing.assert_allclose(np.load(tmp_path / "far.npy"), want, atol=1e-6)


def test_max_gap_is_the_deprecated_name_of_split_gap():
    """Issue 27: ``max_gap`` meant three things; the CLI's track-splitting gap is SPLIT_GAP."""
    import poselift.cli

    with pytest.warns(DeprecationWarning, match="SPLIT_GAP"):
        assert poselift.cli.MAX_GAP == SPLIT_GAP == 30
    with pytest.raises(AttributeError, match="MAX_GAPS"):
        poselift.cli.MAX_GAPS  # noqa: B018


def test_03_duplicate_frames_after_parsing_are_an_error(tmp_path, ckpts, capsys):
    entries = _coco(_kp(2), ["f_8", "f_08"], track=1)
    (tmp_path / "in.json").write_text(json.dumps(entries))
    code, err = _cli(capsys, "lift", tmp_path / "in.json", "-o", tmp_path / "o.json",
                     "--model", ckpts["tcn"])
    assert code == 1 and "several detections in one image" in err


# --- 4: absurd sizes in a checkpoint's config are refused before allocating ----------------------


@pytest.mark.parametrize(("key", "value", "match"), [
    ("hidden", 200_000, r"refused before allocating"),
    ("hidden", 10**12, r"config does not build model 'sr'"),
    ("num_blocks", 10**6, r"more than \d+ parameter tensors"),
])
def test_04_absurd_config_refused_before_allocating(tmp_path, ckpts, capsys, key, value,
                                                    match):
    import time

    payload = load_checkpoint(ckpts["sr"])
    payload["config"] = dict(payload["config"], **{key: value})
    path = tmp_path / "big.pt"
    atomic_save(payload, path)
    assert path.stat().st_size < 100_000
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        load_model(path)
    with pytest.raises(ValueError, match=match):
        lift(_kp(), model=path)
    assert time.perf_counter() - t0 < 10  # nothing was built for real
    np.save(tmp_path / "k.npy", _kp())
    code, err = _cli(capsys, "lift", tmp_path / "k.npy", "-o", tmp_path / "o.npy",
                     "--model", path)
    assert code == 1 and str(path) in err and not (tmp_path / "o.npy").exists()


# --- 5: NaN weights, non-finite image size ------------------------------------------------------


def test_05_nan_weights_are_refused(tmp_path):
    net = _sr()
    with torch.no_grad():
        next(net.parameters())[0] = float("nan")
    with pytest.raises(ValueError, match=r"model: gave \d+ NaN/inf output"):
        lift(_kp(), model=net)
    payload = load_checkpoint(_saved(tmp_path, _sr()))
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][key][0] = float("nan")
    atomic_save(payload, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=rf"state_dict\['{key}'\] holds 1 NaN/inf"):
        load_model(tmp_path / "nan.pt")


def _saved(tmp_path: Path, net: torch.nn.Module, name: str = "m.pt") -> Path:
    save_model(net, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("size", [(float("inf"), 1080), (1920, float("nan")), (-1, 5),
                                  (True, 5), ("1920", 1080), (1920,)])
def test_05_image_size_must_be_two_positive_finite_numbers(size):
    net = create_model("sr", skeleton="coco", hidden=32).eval()  # a "screen" model
    with pytest.raises(ValueError, match=r"image_size: expected \(width, height\)"):
        lift(_kp(), model=net, image_size=size)


# --- 6: storage dtypes --------------------------------------------------------------------------


def test_06_storage_dtype_floating_point_only(tmp_path):
    net = _sr()
    for bad in (torch.int8, torch.bool, "int8", "cuda"):
        with pytest.raises(ValueError, match="storage_dtype: expected None or a floating"):
            save_model(net, tmp_path / "x.pt", storage_dtype=bad)
    with pytest.raises(TypeError, match="storage_dtype"):
        save_model(net, tmp_path / "x.pt", storage_dtype=16)
    assert not (tmp_path / "x.pt").exists()
    save_model(net, tmp_path / "s.pt", storage_dtype="float16")  # a name works
    save_model(net, tmp_path / "t.pt", storage_dtype=torch.float16)
    a, b = load_checkpoint(tmp_path / "s.pt"), load_checkpoint(tmp_path / "t.pt")
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]) and v.dtype == b["state_dict"][k].dtype
    with torch.no_grad():
        next(net.parameters())[0] = 1e6  # beyond float16 (65504)
    with pytest.raises(ValueError, match="cannot hold state_dict"):
        save_model(net, tmp_path / "big.pt", storage_dtype=torch.float16)


# --- 7: devices ---------------------------------------------------------------------------------


def test_07_unavailable_devices_are_clear_errors(tmp_path, capsys, ckpts):
    bad = ["meta", "cuda:99", "nonsense", "cuda:-1"]
    if not torch.cuda.is_available():
        bad.append("cuda")
    for device in bad:
        with pytest.raises(ValueError, match="device: "):
            lift(_kp(), model=ckpts["sr"], device=device)
    np.save(tmp_path / "k.npy", _kp())
    for device in bad:
        code, err = _cli(capsys, "lift", tmp_path / "k.npy", "-o", tmp_path / "o.npy",
                         "--model", ckpts["sr"], "--device", device)
        assert code == 1 and "device: " in err
    assert not (tmp_path / "o.npy").exists()


# --- 8-10, 13, 19: CLI readers -------------------------------------------------------------------


def test_08_truncated_npz(tmp_path, capsys):
    np.savez(tmp_path / "full.npz", keypoints2d=_kp(50))
    data = (tmp_path / "full.npz").read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 40):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        code, err = _cli(capsys, "lift", tmp_path / "cut.npz", "-o", tmp_path / "o.npy")
        assert code == 1 and "cut.npz: unreadable" in err


def test_09_numbers_beyond_float64(tmp_path, capsys):
    huge_int = "1" + "0" * 400
    for text, match in [
        ('{"keypoints2d": [[1e400, 2]' + ", [1, 2]" * 16 + "]}", "expected finite pixel"),
        ('{"keypoints2d": [[' + huge_int + ", 2]" + ", [1, 2]" * 16 + "]}",
         "keypoints2d: expected real numbers"),
        ('[{"image_id": 1, "keypoints": [' + huge_int + ", 1, 1" + ", 1" * 48 + "]}]",
         "entry 0: keypoints: expected real numbers"),
        ('[{"image_id": ' + huge_int + ', "keypoints": [1' + ", 1" * 50 + "]}]",
         "entry 0: image_id: expected an integer (int64) or a string"),
    ]:
        (tmp_path / "in.json").write_text(text)
        code, err = _cli(capsys, "lift", tmp_path / "in.json", "-o", tmp_path / "o.npy")
        assert code == 1 and match in err, err


def test_10_deeply_nested_json(tmp_path, capsys):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    code, err = _cli(capsys, "lift", tmp_path / "deep.json", "-o", tmp_path / "o.npy")
    assert code == 1 and "nested too deeply" in err
    value: object = 1.0
    for _ in range(70):  # deeper than numpy's 64 dimensions, within Python's recursion limit
        value = [value]
    (tmp_path / "n.json").write_text(json.dumps({"keypoints2d": value}))
    code, err = _cli(capsys, "lift", tmp_path / "n.json", "-o", tmp_path / "o.npy")
    assert code == 1 and "keypoints2d" in err


def test_13_cli_rejects_non_real_arrays(tmp_path, capsys):
    kp = _kp()
    for name, arr in [("bool", kp > 500), ("complex", kp + 1j), ("str", kp.astype(str))]:
        np.save(tmp_path / f"{name}.npy", arr)
        code, err = _cli(capsys, "lift", tmp_path / f"{name}.npy", "-o", tmp_path / "o.npy")
        assert code == 1 and "expected real numbers" in err, (name, err)
    (tmp_path / "s.json").write_text(json.dumps({"keypoints2d": kp.astype(str).tolist()}))
    code, err = _cli(capsys, "lift", tmp_path / "s.json", "-o", tmp_path / "o.npy")
    assert code == 1 and "keypoints2d: expected real numbers" in err


@pytest.mark.parametrize(("track", "image_id", "match"), [
    ({"a": 1}, 1, "entry 0: track_id: expected an integer (int64) or a string, got dict"),
    ([1, 2], 1, "entry 0: track_id: expected an integer (int64) or a string, got list"),
    (1.5, 1, "entry 0: track_id: expected an integer (int64) or a string, got float"),
    (1, {"a": 1}, "entry 0: image_id: expected an integer (int64) or a string, got dict"),
    (1, True, "entry 0: image_id: expected an integer (int64) or a string, got bool"),
])
def test_19_unhashable_or_odd_ids_name_file_entry_and_field(tmp_path, capsys, track, image_id,
                                                            match):
    entries = _coco(_kp(1), [1], track=1)
    entries[0]["track_id"] = track
    entries[0]["image_id"] = image_id
    (tmp_path / "in.json").write_text(json.dumps(entries))
    code, err = _cli(capsys, "lift", tmp_path / "in.json", "-o", tmp_path / "o.json")
    assert code == 1 and str(tmp_path / "in.json") in err and match in err, err


# --- 11: unreadable checkpoints name the file (refusal paths: tests/test_models.py) --------------


def test_11_corrupt_checkpoints_name_the_file(tmp_path, ckpts):
    data = ckpts["sr"].read_bytes()
    for name, content in [("half.pt", data[: len(data) // 2]), ("tail.pt", data[:-100]),
                          ("random.pt", np.random.default_rng(0).bytes(5000)),
                          ("empty.pt", b""), ("text.pt", b"PK\x03\x04 not a zip at all")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: (cannot read|refused|not a poselift)"):
            load_model(tmp_path / name)
    payload = load_checkpoint(ckpts["sr"])
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = [1.0, 2.0]  # a non-tensor
    atomic_save(payload, tmp_path / "list.pt")
    with pytest.raises(ValueError, match=rf"state_dict\['{key}'\] is a list, expected a torch"):
        load_model(tmp_path / "list.pt")


# --- 12: empty inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "temporal"), [((0, 17, 2), None), ((0, 17, 2), False),
                                                 ((0, 5, 17, 2), None), ((2, 0, 17, 2), None),
                                                 ((0, 17, 3), None)])
def test_12_empty_inputs_give_empty_outputs(shape, temporal):
    net = _tcn() if temporal is None else _sr()
    out = lift(np.zeros(shape), model=net, temporal=temporal)
    assert isinstance(out, np.ndarray) and out.shape == (*shape[:-2], 17, 3)
    assert out.dtype == np.float32
    t = lift(torch.zeros(shape), model=net, temporal=temporal)
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (*shape[:-2], 17, 3)


def test_12_empty_input_through_the_cli(tmp_path, ckpts, capsys):
    np.save(tmp_path / "e.npy", np.zeros((0, 17, 2)))
    assert _cli(capsys, "lift", tmp_path / "e.npy", "-o", tmp_path / "o.npy", "--model",
                ckpts["tcn"])[0] == 0
    assert np.load(tmp_path / "o.npy").shape == (0, 17, 3)


# --- 13: dtypes -----------------------------------------------------------------------------------


def test_13_dtypes_real_numbers_only():
    net = _sr()
    kp = _kp()
    with pytest.raises(TypeError, match="keypoints2d: expected real numbers, got dtype torch"):
        lift(torch.from_numpy(kp).to(torch.complex64), model=net)
    with pytest.raises(TypeError, match="keypoints2d: expected real numbers"):
        lift(kp + 0j, model=net)
    for scores in (np.ones(17) + 0j, np.array(["1"] * 17), np.array([1.0] * 17, dtype=object),
                   torch.ones(17, dtype=torch.complex64)):
        with pytest.raises(TypeError, match="scores: expected real numbers"):
            lift(kp, scores=scores, model=net)
    visible = np.ones(17, bool)
    visible[4] = False  # bool scores: visibility flags, as 1.0 / 0.0
    np.testing.assert_array_equal(lift(kp, scores=visible, model=net),
                                  lift(kp, scores=visible.astype(float), model=net))
    z = torch.zeros(2, 17, 3, dtype=torch.complex128)
    with pytest.raises(TypeError, match="pred: expected real numbers"):
        mpjpe(z, z)
    with pytest.raises(TypeError, match="pred: expected real numbers"):
        mpjpe(np.zeros((2, 17, 3)) + 0j, np.zeros((2, 17, 3)))


# --- 14: numpy scalars --------------------------------------------------------------------------


def test_14_numpy_scalars_are_numbers():
    net = create_model("sr", skeleton="coco", hidden=32).eval()
    kp = _kp(6)
    ref = lift(kp, model=net, image_size=(1920, 1080), temporal=False, batch_size=8,
               score_threshold=0.3)
    got = lift(kp, model=net, image_size=(np.int64(1920), np.int64(1080)), temporal=False,
               batch_size=np.int64(8), score_threshold=np.float32(0.3))
    np.testing.assert_array_equal(got, ref)
    assert Lifter(net, batch_size=np.int64(8)).batch_size == 8
    from poselift.nn import SRConv1d, SRLinear

    torch.manual_seed(0)
    a = SRLinear([np.int64(2), 3], np.array([4, 4]))
    torch.manual_seed(0)
    b = SRLinear([2, 3], [4, 4])
    x = torch.randn(5, 5)
    assert a.in_groups == (2, 3) and type(a.in_groups[0]) is int
    torch.testing.assert_close(a(x), b(x))
    assert SRConv1d([2, 3], [4, 4], np.int64(3)).kernel_size == 3
    with pytest.raises(ValueError, match="in_groups"):
        SRLinear([np.bool_(True), 3], [4, 4])
    with pytest.raises(ValueError, match="batch_size"):
        Lifter(net, batch_size=np.float64(8))


# --- 15, 16: output files -----------------------------------------------------------------------


def test_15_cli_outputs_get_ordinary_permissions(tmp_path, ckpts, capsys):
    np.save(tmp_path / "k.npy", _kp())
    old = os.umask(0o022)
    try:
        for suffix in (".npy", ".npz", ".json"):
            out = tmp_path / f"o{suffix}"
            assert _cli(capsys, "lift", tmp_path / "k.npy", "-o", out, "--model",
                        ckpts["sr"])[0] == 0
            assert stat.S_IMODE(out.stat().st_mode) == 0o644, suffix  # not 0600
            out.chmod(0o640)  # an overwritten file keeps its permissions
            assert _cli(capsys, "lift", tmp_path / "k.npy", "-o", out, "--model",
                        ckpts["sr"])[0] == 0
            assert stat.S_IMODE(out.stat().st_mode) == 0o640, suffix
        os.umask(0o077)
        assert _cli(capsys, "lift", tmp_path / "k.npy", "-o", tmp_path / "p.npy", "--model",
                    ckpts["sr"])[0] == 0
        assert stat.S_IMODE((tmp_path / "p.npy").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_16_demo_output_name_is_used_as_given(tmp_path, capsys, monkeypatch):
    import poselift.demo as demo

    for target, match in [(tmp_path / "x.json", "unsupported -o type '.json'; expected .npz"),
                          (tmp_path, "is a directory"),
                          (tmp_path / "no" / "x.npz", "does not exist")]:
        code, err = _cli(capsys, "demo", "-o", target, "--no-png")
        assert code == 1 and match in err, err
    assert not list(tmp_path.iterdir())
    # the npz is written atomically: a failure while writing leaves the old file untouched
    out = tmp_path / "d.npz"
    out.write_bytes(b"previous")

    def broken(f, **arrays):
        f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(demo.np, "savez_compressed", broken)
    code, err = _cli(capsys, "demo", "-o", out, "--no-png")
    assert code == 1 and "disk full" in err
    assert out.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["d.npz"]
    monkeypatch.undo()
    summary = demo.run_demo(out, None, echo=lambda s: None)
    assert summary["output"] == str(out)
    with np.load(out) as z:
        assert z["poses3d"].shape == (172, 17, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]  # no x.npz.npz etc.


# --- 17, 18: metrics and rarity with NaN and extreme values -------------------------------------


def test_17_nan_propagates_through_every_metric():
    rng = np.random.default_rng(17)
    pred, target = rng.normal(size=(4, 17, 3)), rng.normal(size=(4, 17, 3))
    bad = pred.copy()
    bad[2, 5, 1] = np.nan
    for fn in (mpjpe, p_mpjpe, pck3d, auc3d):
        kw = {"threshold": 1.0} if fn is pck3d else {}
        per = fn(bad, target, reduction="none", **kw)
        clean = fn(pred, target, reduction="none", **kw)
        assert np.isnan(per[2]), fn.__name__
        np.testing.assert_allclose(np.delete(per, 2), np.delete(clean, 2), err_msg=fn.__name__)
        assert np.isnan(fn(bad, target, **kw)), fn.__name__
    # a masked NaN joint is not part of the alignment nor of the mean
    mask = np.ones((4, 17), bool)
    mask[2, 5] = False
    np.testing.assert_allclose(p_mpjpe(bad, target, mask=mask, reduction="none"),
                               p_mpjpe(pred, target, mask=mask, reduction="none"))
    acc = MetricAccumulator(metrics=("mpjpe", "p_mpjpe", "pck3d", "auc3d"))
    acc.update(bad, target)  # no LinAlgError
    assert all(np.isnan(v) for v in acc.compute().overall.values())
    with pytest.raises(ValueError, match="a: expected finite values"):
        pose_similarity(bad, target, 0.1)  # as occurrence: rarity takes finite poses only
    with pytest.raises(ValueError, match="queries: expected finite values"):
        occurrence(bad, target, 0.1)


def test_18_occurrence_with_extreme_sigma_and_coordinates():
    rng = np.random.default_rng(18)
    ref = rng.normal(scale=0.1, size=(50, 17, 3))
    want = occurrence(ref[:5], ref, 0.1)
    naive = [np.mean(np.exp(-((q[None] - ref) ** 2).sum(-1) / 0.02)) for q in ref[:5]]
    np.testing.assert_allclose(want, naive, rtol=1e-12)
    # the same poses in another unit: the same occurrences (sigma=1e-300 was a
    # ZeroDivisionError, coordinates ~1e200 a silent NaN)
    for unit in (1e-299, 1e-150, 1e150, 1e201):
        for method in ("dense", "fast"):
            got = occurrence(ref[:5] * unit, ref * unit, 0.1 * unit, method=method)
            np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=f"{unit} {method}")
        np.testing.assert_allclose(pose_similarity(ref[:5] * unit, ref[5:10] * unit, 0.1 * unit),
                                   pose_similarity(ref[:5], ref[5:10], 0.1), rtol=1e-9)
    # sigma tiny against the spread: exact (each query only matches itself), no rounding blow-up
    np.testing.assert_allclose(occurrence(ref[:5], ref, 1e-9), 1 / 50, rtol=1e-12)
    # beyond 1e100 sigma the squares overflow float64: refused, never NaN
    for q, r, name in ((ref[:3] * 1e200, ref, "queries"), (ref[:3], ref * 1e200, "reference")):
        with pytest.raises(ValueError, match=f"{name}: coordinates up to .* sigma"):
            occurrence(q, r, 0.1)
    with pytest.raises(ValueError, match="queries: coordinates up to"):
        occurrence(ref[:3], ref * 1e-300, 1e-300)
    with pytest.raises(ValueError, match="reference: coordinates"):
        OccurrenceScorer(0.1).fit(ref * 1e200)
    far = ref[:3] + 1e50  # far away but representable: occurrence 0, not NaN
    assert np.all(occurrence(far, ref, 0.1) == 0.0)


# --- 20: data readers ---------------------------------------------------------------------------


def test_20_h36m_keys_and_bvh_offsets(tmp_path):
    from poselift.data import DataError, load_h36m
    from poselift.data.bvh import read_bvh

    np.savez(tmp_path / "a.npz", positions_3d={"S9": {7: np.zeros((4, 32, 3))}})
    with pytest.raises(DataError, match=r"a.npz: 'positions_3d': expected str keys.*action of "
                                        r"'S9' 7 \(int\)"):
        load_h36m(tmp_path / "a.npz")
    bvh = ("HIERARCHY\nROOT hip\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n"
           " JOINT knee\n {\n  OFFSET 0 {} 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n"
           "  End Site\n  {\n   OFFSET 0 -40 0\n  }\n }\n}\nMOTION\nFrames: 1\n"
           "Frame Time: 0.033\n0 0 0 0 0 0\n")
    for value in ("nan", "inf", "-inf"):
        (tmp_path / "x.bvh").write_text(bvh.replace("{}", value, 1))
        with pytest.raises(DataError, match=rf"x.bvh: line 8: expected a finite number for "
                                            rf"OFFSET y, got '{value}'"):
            read_bvh(tmp_path / "x.bvh")
    (tmp_path / "x.bvh").write_text(bvh.replace("{}", "-40", 1))
    assert read_bvh(tmp_path / "x.bvh").offsets[1].tolist() == [0.0, -40.0, 0.0]


# --- 21: a model's forward on numpy -----------------------------------------------------------


@pytest.mark.parametrize("name", ["sr", "fc", "tcn", "sr_tcn"])
def test_21_forward_on_numpy_is_a_type_error(name):
    model = create_model(name, hidden=16) if name in ("sr", "fc") else \
        create_model(name, channels=16, filter_widths=(3,))
    x = np.zeros((2, 17, 2)) if name in ("sr", "fc") else np.zeros((2, 3, 17, 2))
    with pytest.raises(TypeError, match="keypoints: expected a torch.Tensor, got ndarray"):
        model(x)


# --- 22: shipped weights are checked against their card's SHA-256 -------------------------------


def test_22_flipped_bytes_in_weights_are_refused(tmp_path):
    shipped = get_weights("sr.coco")
    data = bytearray(shipped.path.read_bytes())
    data[len(data) // 2] ^= 0x40  # one bit in the tensor data: loads fine without a checksum
    (tmp_path / "bad.pt").write_bytes(bytes(data))
    load_model(tmp_path / "bad.pt")  # a plain checkpoint path has no card to check against
    register_weights(WeightsEntry("sr.test-tampered", tmp_path / "bad.pt", shipped.meta))
    clear_model_cache()
    try:
        card_sha = shipped.meta["storage"]["sha256"][:12]
        with pytest.raises(ValueError, match=r"weights 'sr.test-tampered': .* has SHA-256 .*"
                                             rf"its model card says {card_sha}"):
            create_model("sr", weights="sr.test-tampered")
        with pytest.raises(ValueError, match="damaged or was replaced"):
            lift(_kp(), model="sr.test-tampered")
    finally:
        unregister_weights("sr.test-tampered")
        clear_model_cache()


# --- 23: Ctrl-C --------------------------------------------------------------------------------


def test_23_ctrl_c_is_one_line_and_leaves_nothing(tmp_path, ckpts, capsys, monkeypatch):
    np.save(tmp_path / "k.npy", _kp(30))

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Lifter, "lift", interrupted)
    code, err = _cli(capsys, "lift", tmp_path / "k.npy", "-o", tmp_path / "o.npy", "--model",
                     ckpts["tcn"])
    assert code == 130 and err == "poselift: error: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.npy"]


def _catches_sigint(pid: int) -> bool | None:
    """Whether process ``pid`` has a handler for SIGINT (Linux: /proc); None if unknown."""
    import signal

    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    caught = int(next(s for s in status.splitlines() if s.startswith("SigCgt:")).split()[1], 16)
    return bool(caught >> (signal.SIGINT - 1) & 1)


def test_23_sigint_in_a_real_process(tmp_path):
    """Ctrl-C in a real process: exit 130, one line, no output file.

    Deterministic by waiting for events, never for a delay: a child inherits an *ignored*
    SIGINT from a parent started in the background of a non-interactive shell (``cmd &``, some
    CI runners), and Python then installs no handler, so the signal was lost and the job ran to
    its end (exit 0). The child therefore gets SIGINT's default back before it starts (Python
    then installs its handler), the test waits for the first progress line (we are inside the
    lifting loop, far from its end) and, on Linux, checks the handler is installed before it
    sends the signal.
    """
    import signal
    import subprocess
    import sys

    # 200,000 poses in batches of 16: far more than the 2 s until the first progress line
    np.save(tmp_path / "k.npy", _kp(200_000, seed=1).astype(np.float32))
    proc = subprocess.Popen([sys.executable, "-m", "poselift", "lift", str(tmp_path / "k.npy"),
                             "-o", str(tmp_path / "o.npy"), "--progress", "on",
                             "--batch-size", "16", "--independent"],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stderr is not None
        for _ in range(50):  # the first progress line (after any warning): we are inside lift
            line = proc.stderr.readline()
            if line.startswith("lifting: ") or not line:
                break
        assert line.startswith("lifting: ") and "(100%" not in line, line
        assert _catches_sigint(proc.pid) in (True, None), "the child has no SIGINT handler"
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, rest
    last = [s for s in rest.replace("\r", "\n").splitlines() if s.strip()][-1]
    assert last == "poselift: error: interrupted" and "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.npy"]


# --- 24: save into a missing directory ---------------------------------------------------------


def test_24_save_model_into_a_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"m\.pt: the output directory .*missing.* "
                                                r"does not exist"):
        save_model(_sr(), tmp_path / "missing" / "m.pt")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save_model(_sr(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert poselift.save_model is save_model


# --- issue 29: BVH permissions, numpy scalars, messages that say what is wrong --------------


def _walk() -> np.ndarray:
    from poselift.data.synthetic import rest_pose

    return np.stack([rest_pose() + np.array([0.0, 0.0, 0.01 * f]) for f in range(4)])


def test_image_size_takes_a_one_dimensional_numpy_array():
    """The docs accept numpy numbers for ``image_size``; ``np.array([w, h])`` was refused
    ("expected (width, height) ... got array([1280,  720])") by every path."""
    from poselift.export import LiftingProgram

    net = create_model("sr", skeleton="coco", hidden=32, in_features=3).eval()  # "screen"
    kp = np.concatenate([_kp(4), np.full((4, 17, 1), 0.9)], -1)
    want = lift(kp, model=net, image_size=(1280, 720), temporal=False)
    for size in (np.array([1280, 720]), np.array([1280.0, 720.0], np.float32)):
        np.testing.assert_array_equal(lift(kp, model=net, image_size=size, temporal=False),
                                      want)
        np.testing.assert_array_equal(Lifter(net).lift(kp, image_size=size, temporal=False),
                                      want)
        stream = poselift.StreamingLifter("coco", net, image_size=size)
        np.testing.assert_allclose(np.stack([stream.push(f) for f in kp]), want, atol=1e-6)
        program = LiftingProgram(net, image_size=size)
        np.testing.assert_allclose(program(torch.from_numpy(kp).float()).detach().numpy(), want,
                                   atol=1e-4)
    for bad in (np.array([True, True]), np.array([[1280, 720]]), np.array([1280, 720, 3]),
                np.array([1280, -720]), np.array(["1280", "720"])):
        with pytest.raises(ValueError, match=r"image_size: expected \(width, height\)"):
            lift(kp, model=net, image_size=bad)


def test_bvh_files_get_the_permissions_of_every_other_output(tmp_path):
    from poselift._files import new_file_mode
    from poselift.data.bvh_export import poses_to_bvh, write_bvh

    bvh = poses_to_bvh(_walk(), up="y")
    old = os.umask(0o022)
    try:
        write_bvh(tmp_path / "new.bvh", bvh)  # was 0600 (mkstemp's mode)
        assert stat.S_IMODE((tmp_path / "new.bvh").stat().st_mode) == new_file_mode() == 0o644
        (tmp_path / "ro.bvh").write_text("old")
        os.chmod(tmp_path / "ro.bvh", 0o444)
        write_bvh(tmp_path / "ro.bvh", bvh)  # replaced, keeping its mode (was 0600)
        assert stat.S_IMODE((tmp_path / "ro.bvh").stat().st_mode) == 0o444
        assert (tmp_path / "ro.bvh").read_text().startswith("HIERARCHY")
    finally:
        os.umask(old)


def test_save_bvh_onto_a_directory_names_the_directory(tmp_path):
    from poselift.data.bvh_export import poses_to_bvh, write_bvh

    (tmp_path / "d.bvh").mkdir()
    with pytest.raises(IsADirectoryError, match=r"d.bvh: is a directory") as info:
        write_bvh(tmp_path / "d.bvh", poses_to_bvh(_walk(), up="y"))
    assert ".tmp" not in str(info.value) and sorted(os.listdir(tmp_path)) == ["d.bvh"]


def test_bvh_fps_takes_numpy_scalars():
    from poselift.data.bvh_export import poses_to_bvh

    assert poses_to_bvh(_walk(), fps=np.float32(25)).fps == 25.0
    assert poses_to_bvh(_walk(), fps=np.int64(50)).fps == 50.0
    with pytest.raises(ValueError, match="fps: expected a positive number"):
        poses_to_bvh(_walk(), fps=np.bool_(True))


def test_pose_rarity_of_a_nan_pose_says_it_is_not_finite():
    from poselift.rarity_flag import pose_rarity

    with pytest.raises(ValueError, match=r"poses: expected finite values, found 51 NaN/inf"):
        pose_rarity(np.full((17, 3), np.nan))  # was "pose has zero size"


def test_pose_rarity_refuses_complex_poses():
    from poselift.data.synthetic import rest_pose
    from poselift.rarity_flag import pose_rarity

    with pytest.raises(TypeError, match=r"poses: expected real numbers, got dtype complex128"):
        pose_rarity(rest_pose().astype(complex))  # was scored with the imaginary part dropped


def test_absurd_intrinsics_are_a_value_error_not_a_linalg_error():
    from poselift.absolute import as_intrinsics, solve_translation

    with pytest.raises(ValueError, match=r"intrinsics: fx, fy, cx, cy must be at most 1e\+08 "
                                         r"pixels, got 1e\+300"):
        as_intrinsics((1e300, 1e300, 500.0, 500.0))
    body = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.1], [0.0, -0.5, 0.0], [-0.2, 0.4, -0.1]])
    with pytest.raises(ValueError, match="intrinsics"):  # was LinAlgError from the solver
        solve_translation(body, np.full((4, 2), 500.0), (1e300, 1e300, 500.0, 500.0))


@pytest.mark.parametrize("frames", [None, 12])
def test_intrinsics_in_normalized_units_are_named_not_the_joint_count(frames):
    """Issue 29 row 14: ``intrinsics=(1.145, 1.145, .5, .5)`` with keypoints in pixels said
    "needs at least 4 valid joints (at most 17)": every joint was valid."""
    from poselift.demo import load_demo_sample

    kp = load_demo_sample()["keypoints2d"]
    kp = kp[0] if frames is None else kp[:frames]
    with pytest.raises(ValueError, match=r"intrinsics: \(fx, fy, cx, cy\) = \(1\.145, 1\.145, "
                                         r"0\.5, 0\.5\) put the keypoints .* degrees from the "
                                         r"optical axis.* normalized units") as info:
        poselift.lift_full(kp, intrinsics=(1.145, 1.145, 0.5, 0.5))
    assert "valid joint" not in str(info.value)
    # the same keypoints with the intrinsics in pixels are solved, 5.5 m away
    fit = poselift.lift_full(kp, intrinsics=(1145.0, 1145.0, 500.0, 500.0))
    assert np.all(fit.solved) and 3.0 < float(np.mean(fit.trajectory[..., 2])) < 9.0


def test_a_principal_point_outside_the_image_is_named():
    from poselift.demo import load_demo_sample

    kp = load_demo_sample()["keypoints2d"][0]
    with pytest.raises(ValueError, match=r"intrinsics: .* principal point \(cx, cy\)"):
        poselift.lift_full(kp, intrinsics=(1145.0, 1145.0, 1e6, 500.0))


def test_a_checkpoint_with_a_zero_batchnorm_variance_is_refused(tmp_path):
    """Issue 29: ``running_var = 0`` lifted to poses of ~3e8 m without being refused."""
    net = _sr()
    key = next(k for k in net.state_dict() if k.endswith("running_var"))
    kp = np.concatenate([_kp(3), np.full((3, 17, 1), 0.9)], -1)
    for value in (0.0, -1e-3):
        broken = copy.deepcopy(net)
        broken.state_dict()[key][5] = value
        save_model(broken, tmp_path / "bn.pt")
        with pytest.raises(ValueError, match=rf"bn\.pt: state_dict\['{re.escape(key)}'\] \(a "
                                             r"BatchNorm running variance\) holds 1 value\(s\) "
                                             r"<= 0"):
            load_model(tmp_path / "bn.pt")
        clear_model_cache()
        with pytest.raises(ValueError, match="BatchNorm running variance"):
            lift(kp, model=tmp_path / "bn.pt")
    # a tiny positive variance (the shipped sr_tcn.h36m holds 3e-8) is a variance
    tiny = copy.deepcopy(net)
    tiny.state_dict()[key][5] = 3e-8
    save_model(tiny, tmp_path / "tiny.pt")
    load_model(tmp_path / "tiny.pt")
