"""Tests of poselift.export: exported programs (pixels in, metres out) against ``lift``.

Small untrained models with non-trivial BatchNorm statistics in the default run; the shipped
weights (export and ``torch.compile``) mostly under ``-m slow`` (each export or compilation
takes 10-70 s on the 2-core CI machine). ONNX tests run when onnx, onnxscript and
onnxruntime are installed (``pip install 'poselift[onnx]' onnxruntime``) and skip otherwise.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

import poselift
from poselift import lift
from poselift.export import LiftingProgram, export_model

torch.set_num_threads(1)

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


def _bn_stats(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
    return net.eval()


def _sr() -> torch.nn.Module:
    torch.manual_seed(0)
    return _bn_stats(poselift.create_model("sr", skeleton="coco", hidden=32, in_features=3,
                                           input_norm="bbox", context_init="random"))


def _tcn(causal: bool) -> torch.nn.Module:
    torch.manual_seed(1)
    return _bn_stats(poselift.create_model("sr_tcn", skeleton="coco", channels=24,
                                           filter_widths=(3, 3), in_features=3,
                                           input_norm="bbox", causal=causal,
                                           context_init="random"))


def _poses(*lead: int, seed: int = 0, missing: bool = True) -> np.ndarray:
    """``(*lead, 17, 3)`` float32 pixels with scores; some joints missing (score or NaN)."""
    rng = np.random.default_rng(seed)
    kp = rng.uniform(250, 750, (*lead, 17, 3)).astype(np.float32)
    kp[..., 2] = rng.uniform(0.35, 1.0, (*lead, 17))
    if missing:
        kp[..., 3, 2] = 0.1  # below the threshold
        kp[..., 5, :2] = np.nan  # no coordinates
        kp[..., 16, 2] = 0.3  # exactly at the threshold: valid
    return kp


def test_pt2_single_frame_equals_lift(tmp_path):
    net = _sr()
    export_model(net, tmp_path / "sr.pt2")
    extra = {"poselift.json": ""}
    program = torch.export.load(tmp_path / "sr.pt2", extra_files=extra).module()
    assert json.loads(extra["poselift.json"])["score_threshold"] == 0.3
    for batch in (1, 6):
        kp = _poses(batch, seed=batch)
        got = program(torch.from_numpy(kp)).detach().numpy()
        want = lift(kp.astype(np.float64), model=net, temporal=False)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
        assert np.all(got[:, 0] == 0)  # pelvis at the origin
    # a pose without two valid joints has no pose: NaN, exported and eager (lift's rule)
    kp = torch.from_numpy(_poses(2, seed=5))
    kp[1, :, 2] = 0.0
    kp[1, 0, 2] = 1.0  # one valid joint: no box
    out = program(kp).detach()
    assert torch.isfinite(out[0]).all() and torch.isnan(out[1]).all()
    torch.testing.assert_close(LiftingProgram(net)(kp), out, equal_nan=True, atol=1e-4,
                               rtol=0)


@pytest.mark.parametrize("causal", [True, False])
def test_pt2_temporal_takes_any_number_of_frames_and_equals_lift(tmp_path, causal):
    net = _tcn(causal)
    export_model(net, tmp_path / "tcn.pt2")
    program = torch.export.load(tmp_path / "tcn.pt2").module()
    for batch, frames in ((1, 1), (2, 4), (1, 23)):
        kp = _poses(batch, frames, seed=frames, missing=False)
        kp[..., 3, 2] = 0.0  # never visible: missing in every frame, as lift treats it
        got = program(torch.from_numpy(kp)).detach().numpy()
        want = lift(kp.astype(np.float64), model=net)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_program_scores_only_decide_validity():
    net = _sr()
    program = LiftingProgram(net, score_threshold=0.5)
    kp = torch.from_numpy(_poses(3, seed=4, missing=False))
    other = kp.clone()
    other[..., 2] = torch.where(kp[..., 2] >= 0.5, 0.99, 0.01)  # same validity, other values
    torch.testing.assert_close(program(other), program(kp))
    want = lift(kp.double().numpy(), model=net, temporal=False, score_threshold=0.5)
    np.testing.assert_allclose(program(kp).detach().numpy(), want, atol=1e-4)


def test_export_errors(tmp_path, monkeypatch):
    net = _sr()
    with pytest.raises(ValueError, match=r"path: expected a \.pt2"):
        export_model(net, tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_model(net, tmp_path / "nope" / "x.pt2")
    with pytest.raises(ValueError, match="'default' is ambiguous"):
        export_model("default", tmp_path / "x.pt2")
    screen = poselift.create_model("sr", skeleton="coco", hidden=16).eval()
    with pytest.raises(ValueError, match="image_size: required"):
        export_model(screen, tmp_path / "x.pt2")
    with pytest.raises(ValueError, match="image_size"):
        LiftingProgram(screen, image_size=(0, 10))
    with pytest.raises(TypeError, match="model"):
        LiftingProgram("sr.coco")  # type: ignore[arg-type]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'poselift\[onnx\]'"):
        export_model(net, tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())  # nothing written


def test_screen_programs_use_the_image_size(tmp_path):
    torch.manual_seed(2)
    net = poselift.create_model("sr", skeleton="coco", hidden=16, in_features=3).eval()
    export_model(net, tmp_path / "s.pt2", image_size=(1280, 720))
    program = torch.export.load(tmp_path / "s.pt2").module()
    kp = _poses(4, seed=6)
    want = lift(kp.astype(np.float64), model=net, temporal=False, image_size=(1280, 720))
    np.testing.assert_allclose(program(torch.from_numpy(kp)).detach().numpy(), want,
                               atol=1e-4)


@pytest.mark.skipif(not HAS_ONNX, reason="needs onnx, onnxscript and onnxruntime")
def test_onnx_single_frame_equals_lift(tmp_path):
    import onnx
    import onnxruntime

    net = _sr()
    export_model(net, tmp_path / "sr.onnx")
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "sr.onnx")).metadata_props}
    assert "metres" in json.loads(meta["poselift"])["output"]
    session = onnxruntime.InferenceSession(str(tmp_path / "sr.onnx"))
    for batch in (1, 5):
        kp = _poses(batch, seed=7 + batch)
        got = session.run(None, {"keypoints": kp})[0]
        want = lift(kp.astype(np.float64), model=net, temporal=False)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


@pytest.mark.skipif(not HAS_ONNX, reason="needs onnx, onnxscript and onnxruntime")
def test_onnx_program_drops_a_far_joint_and_gives_nan_without_a_pose(tmp_path):
    """The far-joint rule (``poselift.core.far_joints``: sort, quantiles, medians) and the
    no-pose rule run in onnxruntime as in ``lift``: a wrist 5000 px from the others is
    missing; frames with 0 and 1 valid joints are NaN."""
    import onnxruntime

    net = _sr()
    export_model(net, tmp_path / "sr.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "sr.onnx"))
    kp = _poses(5, seed=12)
    kp[1, 9, :2] += 5000.0  # a far wrist at a good score
    kp[1, 9, 2] = 0.9
    kp[2, :, 2] = 0.0  # no valid joint
    kp[3, :, 2] = 0.0
    kp[3, 4, 2] = 0.9  # one valid joint
    kp[4, 9, :2] += 5000.0  # far, but with fewer than 8 valid joints nothing is judged far
    kp[4, 10:, 2] = 0.0
    kp[4, :7, 2] = 0.0
    got = session.run(None, {"keypoints": kp})[0]
    with pytest.warns(UserWarning):
        want = lift(kp.astype(np.float64), model=net, temporal=False)
    assert np.isnan(want[2:4]).all() and np.isfinite(want[[0, 1, 4]]).all()
    missing = kp.copy()
    missing[1, 9, 2] = 0.0  # the far wrist, undetected: the same pose
    np.testing.assert_allclose(want[1], lift(missing[1].astype(np.float64), model=net),
                               atol=1e-6)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(want), atol=1e-4, rtol=0)


@pytest.mark.slow  # ~15-45 s: ONNX conversion of a temporal model
@pytest.mark.skipif(not HAS_ONNX, reason="needs onnx, onnxscript and onnxruntime")
def test_onnx_temporal_takes_any_number_of_frames(tmp_path):
    import onnxruntime

    net = _tcn(causal=True)
    export_model(net, tmp_path / "tcn.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "tcn.onnx"))
    for batch, frames in ((1, 1), (2, 13)):
        kp = _poses(batch, frames, seed=frames, missing=False)
        got = session.run(None, {"keypoints": kp})[0]
        np.testing.assert_allclose(got, lift(kp.astype(np.float64), model=net), atol=1e-4)


# --- the shipped weights ------------------------------------------------------------------------


@pytest.mark.slow  # 10-15 s per export
@pytest.mark.parametrize("weights", ["sr.coco", "sr.h36m", "sr_tcn.coco", "sr_tcn.h36m",
                                     "sr_tcn.coco-causal", "sr_tcn.h36m-causal"])
def test_shipped_weights_export_equal_lift(tmp_path, weights):
    export_model(weights, tmp_path / "w.pt2")
    program = torch.export.load(tmp_path / "w.pt2").module()
    temporal = weights.startswith("sr_tcn")
    skeleton = weights.split(".")[1].split("-")[0]
    kp = _poses(2, 30, seed=9, missing=False) if temporal else _poses(8, seed=9)
    got = program(torch.from_numpy(kp)).detach().numpy()
    want = lift(kp.astype(np.float64), model=weights, skeleton=skeleton,
                temporal=None if temporal else False)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def _compiles(weights: str) -> None:
    net = poselift.create_model(weights.split(".")[0], weights=weights).eval()
    temporal = weights.startswith("sr_tcn")
    x = torch.rand(1, net.receptive_field + 2, 17, 3) if temporal else torch.rand(3, 17, 3)
    compiled = torch.compile(net)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), net(x), atol=1e-5, rtol=1e-5)


def test_torch_compile_of_a_shipped_model():
    """The representative case (~20 s on 2 idle cores): the temporal COCO weights."""
    _compiles("sr_tcn.coco")


@pytest.mark.slow  # ~20 s each on 2 idle cores (inductor C++ compilation)
@pytest.mark.parametrize("weights", ["sr.coco", "sr.h36m", "sr_tcn.h36m", "sr_tcn.coco-causal",
                                     "sr_tcn.h36m-causal"])
def test_torch_compile_of_the_other_shipped_models(weights):
    _compiles(weights)


# --- the command line ----------------------------------------------------------------------------


def test_cli_export(tmp_path, capsys, monkeypatch):
    from poselift.cli import main

    net = _sr()
    poselift.save_model(net, tmp_path / "sr.pt")
    assert main(["export", str(tmp_path / "sr.pt"), str(tmp_path / "sr.pt2")]) == 0
    out = capsys.readouterr().out
    assert "sr.pt2" in out and "(B, 17, 3) float32 metres" in out
    program = torch.export.load(tmp_path / "sr.pt2").module()
    kp = _poses(3, seed=10)
    np.testing.assert_allclose(program(torch.from_numpy(kp)).detach().numpy(),
                               lift(kp.astype(np.float64), model=net, temporal=False),
                               atol=1e-4)
    for args, match in (([str(tmp_path / "sr.pt"), str(tmp_path / "x.txt")], "path: expected"),
                        (["no-such-weights", str(tmp_path / "x.pt2")], "model: expected")):
        assert main(["export", *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("poselift: error: ") and err.count("\n") == 1 and match in err
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert main(["export", str(tmp_path / "sr.pt"), str(tmp_path / "x.onnx")]) == 1
    assert "pip install 'poselift[onnx]'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sr.pt", "sr.pt2"]


@pytest.mark.slow  # ~30-120 s (inductor C++ compilation)
def test_torch_compile_of_a_lifting_program():
    program = LiftingProgram(_sr())
    kp = torch.from_numpy(_poses(4, seed=11))
    compiled = torch.compile(program)
    with torch.no_grad():
        torch.testing.assert_close(compiled(kp), program(kp), atol=1e-5, rtol=1e-5)
