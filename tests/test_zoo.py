"""Shipped weights: model cards, sizes, golden outputs, card metrics, the demo and the plot."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import poselift
from poselift.demo import load_demo_sample
from poselift.inference import DEFAULT_WEIGHTS, Lifter
from poselift.models import get_weights, list_weights, load_checkpoint, load_model, weights_card
from poselift.models.blend import blend_spec
from poselift.models.zoo import CARDS_FILE, LICENCE, WEIGHTS_DIR, load_cards
from poselift.streaming import DEFAULT_STREAMING_WEIGHTS

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "golden"
SHIPPED = sorted({part for name in (*DEFAULT_WEIGHTS.values(), *DEFAULT_STREAMING_WEIGHTS.values())
                  for part in (blend_spec(name) or (name,))})


def _ship(*args: str, data: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run tools/ship_weights.py (maintainer tooling: tested as a command, never imported)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "ship_weights.py"), *args,
                           "--data", str(data)], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=1800, check=False)
    if check:
        assert proc.returncode == 0, f"{args}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


def _largest_difference(proc: subprocess.CompletedProcess[str]) -> float:
    """The mm figure of ``check``'s last line ("largest MPJPE difference from the card: X mm")."""
    match = re.search(r"largest MPJPE difference from the card: ([0-9.]+) mm", proc.stdout)
    assert match is not None, proc.stdout[-2000:]
    return float(match.group(1))


def test_every_default_weight_is_shipped_with_a_card():
    cards = load_cards()
    assert sorted(cards) == SHIPPED == sorted(list_weights())
    for name in SHIPPED:
        assert (WEIGHTS_DIR / cards[name]["file"]).is_file()


def test_weights_sizes():
    # six float32 files (four for lift, two causal ones for streaming; float16 would move
    # outputs by more than 0.1 mm, docs/weights.md): the wheel stays under 40 MiB
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.pt"))
    assert total < 40 * 2**20, f"shipped weights take {total / 2**20:.1f} MiB (limit 40)"
    for name in ("sr.coco", "sr.h36m"):
        assert get_weights(name).path.stat().st_size < 5 * 2**20


@pytest.mark.parametrize("name", SHIPPED)
def test_card_matches_the_model(name: str):
    card = weights_card(name)
    model = poselift.create_model(card["model"], weights=name)
    assert sum(p.numel() for p in model.parameters()) == card["parameters"]
    assert json.loads(json.dumps(model.config)) == card["config"]  # JSON: tuples are lists
    assert model.config["skeleton"] == card["input_skeleton"]
    assert model.config["in_features"] == 3  # score channel: missing joints are lifted
    assert int(model.receptive_field) == card["receptive_field"]
    assert card["temporal"] == poselift.models.get_model_entry(card["model"]).temporal
    assert card["licence"] == LICENCE == "CC BY-NC 4.0" and card["non_commercial"] is True
    assert "Bandai" in card["data"]
    assert card["training"]["command"].count("examples/train.py") == 1
    path = get_weights(name).path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["storage"]["sha256"]
    assert card["storage"]["bytes"] == path.stat().st_size
    # the card's metrics (measured on ../shared data, checked against it in
    # test_card_metrics_reproduce_through_lift) must at least agree with each other
    m = {key: value["mpjpe"] for key, value in card["metrics"].items()}
    assert 30.0 <= m["p1-style/gt"] <= 48.0  # measured 34.7-43.1 mm for the six weights
    assert m["p1-style/gt/image_size"] == m["p1-style/gt"]  # bbox models ignore the image size
    assert m["p1-style/gt"] <= m["p1-style/gt/missing1"] <= m["p1-style/gt/missing2"]
    assert m["p1-style/gt"] < m["p1-style/noisy"] and m["p2-cross-set/gt"] < m[
        "p2-cross-set/noisy"]
    assert m["p1-style/gt"] < m["p3-rare20/gt"] < m["p3-rare10/gt"]  # rarer poses are harder
    assert m["p1-style/gt"] < m["p1-style/other-bodies-cameras"] < 2.2 * m["p1-style/gt"]
    for key, value in card["metrics"].items():
        assert value["p_mpjpe"] < value["mpjpe"] <= 2.2 * m["p1-style/gt"], key
    if card["temporal"]:  # the CI slice (every 20th clip) is close to the full test set
        slice_gt = card["check_metrics"]["p1-style/gt"]["mpjpe"]
        assert abs(slice_gt - m["p1-style/gt"]) < 1.0
    # the wild section has the checks that need no 3D for every condition (docs/wild.md):
    # on the clean rig the output moves with the input and stays near the pelvis; temporal
    # weights are compared with the single-frame weights of their skeleton
    for cond, scores in card["wild"].items():
        assert {"jitter", "motion_ratio", "max_root_distance", "far_frames"} <= set(scores), cond
        assert ("to_reference" in scores) == card["temporal"], cond
    rig = card["wild"]["rig"]
    assert 0.5 < rig["motion_ratio"] < 1.5 and rig["max_root_distance"] < 1.5
    assert rig["far_frames"] == 0
    if card["temporal"]:
        assert 5.0 < rig["to_reference"] < 60.0
        assert DEFAULT_WEIGHTS[(card["input_skeleton"], False)] in card["wild_note"]
    # the model's own copy of the licence travels with the file
    assert load_model(path).meta["licence"] == LICENCE  # type: ignore[union-attr]


@pytest.mark.parametrize("name", SHIPPED)
def test_golden_outputs(name: str):
    card = weights_card(name)
    with np.load(GOLDEN / f"{name}.npz") as z:
        inputs, expected = z["inputs"], z["outputs"]
        holed, expected_missing, expected_flip = (z["inputs_missing"], z["outputs_missing"],
                                                  z["outputs_flip"])
    kw = {"skeleton": card["input_skeleton"], "model": name, "temporal": card["temporal"]}
    out = poselift.lift(inputs, **kw)
    np.testing.assert_allclose(out, expected, atol=1e-5)  # 0.01 mm
    # missing joints (NaN, and scores below the threshold) and flip averaging
    missing = ~np.isfinite(holed[..., :2]).all(-1)
    if holed.shape[-1] == 3:
        missing |= holed[..., 2] < 0.3
    assert missing.sum() >= 40 and missing.all(0).any()  # incl. a joint never visible
    np.testing.assert_allclose(poselift.lift(holed, **kw), expected_missing, atol=1e-5)
    np.testing.assert_allclose(poselift.lift(inputs, flip_test=True, **kw), expected_flip,
                               atol=1e-5)
    assert np.abs(expected_missing - expected).max() > 0.01  # both cases change the output
    assert np.abs(expected_flip - expected).max() > 0.01
    assert out.shape == (*inputs.shape[:-1], 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-7)  # pelvis at the origin
    # torch in, torch out, same numbers
    t = poselift.lift(torch.from_numpy(inputs), skeleton=card["input_skeleton"], model=name,
                      temporal=card["temporal"])
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), expected, atol=1e-5)


def test_default_model_resolves_to_the_shipped_weights():
    lifter = Lifter()
    for (skeleton, temporal), name in DEFAULT_WEIGHTS.items():
        net = lifter.model_for(skeleton, temporal)
        parts = blend_spec(name)
        # sequences: the temporal and the single-frame weights averaged
        assert (parts is not None) == temporal
        nets = (net.temporal, net.single) if parts else (net,)
        for part, part_net in zip(parts or (name,), nets, strict=True):
            assert json.loads(json.dumps(part_net.config)) == weights_card(part)["config"]
        assert lifter.model_for(skeleton, temporal) is net  # cached


def test_single_frame_weights_use_the_score_channel_for_missing_joints():
    with np.load(GOLDEN / "sr.coco.npz") as z:
        kp = z["inputs"][:8, :, :2].copy()
    full = poselift.lift(kp, skeleton="coco", temporal=False)
    scores = np.ones(kp.shape[:-1], np.float32)
    scores[:, 9] = 0.0  # left wrist missing
    missing = poselift.lift(kp, skeleton="coco", scores=scores, temporal=False)
    moved = poselift.lift(np.where(np.arange(17)[:, None] == 9, kp + 300.0, kp),
                          skeleton="coco", scores=scores, temporal=False)
    np.testing.assert_allclose(missing, moved, atol=1e-6)  # the missing joint's pixels unused
    err = np.linalg.norm(missing - full, axis=-1).mean() * 1000
    # still a similar pose: one joint less moves the others a little (measured 16.4 mm with
    # the first sr.coco, 19.3 mm with the wild-recipe one), not a different pose
    assert 5.0 < err < 30.0


@pytest.mark.data
def test_card_metrics_reproduce_through_lift(shared_data: Path):
    """``tools/ship_weights.py check`` recomputes a card's metrics through ``lift``."""
    for name in ("sr.coco", "sr.h36m"):  # single-frame: the full P1/P3 test sets
        proc = _ship("check", name, "--only", "p1-style/gt", "p3-rare10/gt", data=shared_data)
        assert "p1-style/gt " in proc.stdout and "p3-rare10/gt " in proc.stdout  # measured
        assert _largest_difference(proc) <= 0.02, name
    for name in ("sr_tcn.coco", "sr_tcn.h36m"):  # temporal: the CI slice stored in the card
        every = str(weights_card(name)["check_clips_every"])
        proc = _ship("check", name, "--clips-every", every, "--only", "p1-style/gt",
                     data=shared_data)
        assert _largest_difference(proc) <= 0.02, name


def test_cards_file_is_sorted_json():
    text = CARDS_FILE.read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------------------------
# demo and plot
# ---------------------------------------------------------------------------------------------


def test_demo_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from poselift.cli import main

    out = tmp_path / "demo.npz"
    assert main(["demo", "-o", str(out), "--no-png"]) == 0
    text = capsys.readouterr().out
    assert "sr_tcn.coco" in text and "sr.coco" in text and "MPJPE vs mocap" in text
    with np.load(out) as z:
        assert z["poses3d"].shape == z["reference3d"].shape == (172, 17, 3)
        err = np.linalg.norm(z["poses3d"] - z["reference3d"], axis=-1).mean() * 1000
        err_single = np.linalg.norm(z["poses3d_single"] - z["reference3d"], axis=-1).mean() * 1000
    # the demo's figures are lift's on the sample (the same default weights, no second path)
    sample = load_demo_sample()
    kp, gt = sample["keypoints2d"], sample["poses3d"]
    for temporal, got in ((True, err), (False, err_single)):
        direct = poselift.lift(kp, skeleton="coco", temporal=temporal)
        assert got == pytest.approx(np.linalg.norm(direct - gt, axis=-1).mean() * 1000, abs=1e-3)
    # a held-out clip (elderly bow, a rare pose): the figures recorded in the cards when the
    # weights were shipped (tools/ship_weights.py record_demo)
    # the default for sequences averages the temporal and the single-frame weights: a convex
    # mix of the two, so (up to the smoothing's few frames of motion) no worse than the mean
    # of their card figures
    parts = blend_spec(DEFAULT_WEIGHTS[("coco", True)])
    assert parts is not None
    assert err <= np.mean([weights_card(p)["demo_mpjpe_mm"] for p in parts]) + 2.0
    assert err_single == pytest.approx(
        weights_card(DEFAULT_WEIGHTS[("coco", False)])["demo_mpjpe_mm"], abs=0.01)
    assert main(["demo", "-o", str(tmp_path / "no" / "demo.npz")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_demo_png(tmp_path: Path):
    pytest.importorskip("matplotlib")
    from poselift.demo import run_demo

    summary = run_demo(tmp_path / "d.npz", tmp_path / "d.png", echo=lambda s: None)
    png = (tmp_path / "d.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert summary["temporal"]["model"] == DEFAULT_WEIGHTS[("coco", True)]


def test_plot_lift_checks_shapes():
    pytest.importorskip("matplotlib")
    from poselift.viz import plot_lift

    kp = np.random.default_rng(0).uniform(300, 700, (5, 17, 2))
    fig = plot_lift(kp, np.zeros((5, 17, 3)), skeleton="coco", frames=[0, 4])
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="poses3d"):
        plot_lift(kp, np.zeros((4, 17, 3)), skeleton="coco")
    with pytest.raises(ValueError, match="keypoints2d"):
        plot_lift(kp[:, :16], np.zeros((5, 17, 3)), skeleton="coco")
    with pytest.raises(ValueError, match="frames"):
        plot_lift(kp, np.zeros((5, 17, 3)), skeleton="coco", frames=[5])


def test_progress_bar_lines(capsys: pytest.CaptureFixture[str]):
    net = poselift.create_model("sr", skeleton="coco", hidden=32)
    kp = np.random.default_rng(0).uniform(300, 700, (3000, 17, 2))
    Lifter(net, progress=True, batch_size=1000).lift(kp, skeleton="coco", temporal=False)
    err = capsys.readouterr().err
    assert "lifting: 3,000/3,000 frames (100%" in err
    Lifter(net, progress=None).lift(kp, skeleton="coco", temporal=False)  # < 20,000: quiet
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match="progress"):
        Lifter(net, progress="yes")  # type: ignore[arg-type]


@pytest.mark.data
def test_demo_sample_is_reproducible_from_the_mocap(shared_data: Path, tmp_path: Path):
    import subprocess

    out = tmp_path / "demo.npz"
    subprocess.run([sys.executable, str(REPO / "tools" / "make_demo_sample.py"), "--data",
                    str(shared_data), "--out", str(out)], check=True, capture_output=True)
    from poselift.demo import DEMO_SAMPLE

    with np.load(out) as new, np.load(DEMO_SAMPLE) as shipped:
        assert sorted(new.files) == sorted(shipped.files)
        for key in new.files:
            np.testing.assert_array_equal(new[key], shipped[key], err_msg=key)


@pytest.mark.data
def test_compare_a_shipped_checkpoint_with_its_own_card(shared_data: Path, tmp_path: Path):
    """``tools/ship_weights.py compare`` puts a run's figures next to a card's."""
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(get_weights("sr.h36m").path, run / "checkpoint.pt")
    args = ["compare", "--run", str(run), "--only", "p3-rare10/gt"]
    rows = _ship(*args, "--name", "sr.h36m", data=shared_data).stdout.splitlines()
    assert rows[-3] == (f"| setting | {run} MPJPE (mm) | sr.h36m MPJPE (mm) | difference (mm) |")
    ref = weights_card("sr.h36m")["metrics"]["p3-rare10/gt"]["mpjpe"]
    assert rows[-1].startswith(f"| p3-rare10/gt | {ref:.1f} | {ref:.1f} | ")
    assert rows[-1].endswith(("| +0.0 |", "| -0.0 |"))
    # every 40th clip: the card of single-frame weights holds no such slice: nothing to compare
    row = _ship(*args, "--name", "sr.h36m", "--clips-every", "40",
                data=shared_data).stdout.splitlines()[-1]
    assert re.fullmatch(r"\| p3-rare10/gt \| [0-9.]+ \| - \| - \|", row), row
    wrong = _ship(*args, "--name", "sr.coco", data=shared_data, check=False)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "single-frame h36m model; sr.coco is a single-frame coco" in wrong.stderr


@pytest.mark.parametrize("name", SHIPPED)
def test_card_float16_storage_claim_without_data(name: str, tmp_path: Path):
    """The card's float16 storage figure, where it can be checked without ../shared: on the
    bundled demo sample (all the ship script measures for temporal weights; for single-frame
    weights it also measures 20,000 P1 poses, so the demo gives a lower bound)."""
    card = weights_card(name)
    skeleton, temporal = card["input_skeleton"], card["temporal"]
    full = load_model(get_weights(name).path).eval()
    poselift.save_model(full, tmp_path / "half.pt", storage_dtype=torch.float16)
    half = load_model(tmp_path / "half.pt").eval()
    from poselift.demo import load_demo_sample

    sample = load_demo_sample()
    kp = np.asarray(sample["keypoints2d"] if skeleton == "coco" else sample["keypoints2d_h36m"])
    diff = float(np.abs(poselift.lift(kp, skeleton=skeleton, model=full, temporal=temporal)
                        - poselift.lift(kp, skeleton=skeleton, model=half,
                                        temporal=temporal)).max()) * 1000
    claimed = card["storage"]["float16_max_output_diff_mm"]
    if temporal:
        assert diff == pytest.approx(claimed, abs=1e-3)
    else:
        assert 0.0 < diff <= claimed + 1e-3
    assert card["storage"]["dtype"] == ("float16" if claimed <= 0.1 else "float32")
    stored = load_checkpoint(get_weights(name).path)["state_dict"]
    assert {str(t.dtype) for t in stored.values() if t.is_floating_point()} == {
        f"torch.{card['storage']['dtype']}"}


@pytest.mark.parametrize("skeleton", sorted(DEFAULT_STREAMING_WEIGHTS))
def test_streaming_default_weights_are_shipped_causal_models(skeleton: str):
    import warnings

    name = DEFAULT_STREAMING_WEIGHTS[skeleton]
    card = weights_card(name)
    assert card["config"]["causal"] is True and card["temporal"] and card["receptive_field"] > 1
    assert card["input_skeleton"] == skeleton
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the causal weights are there
        stream = poselift.StreamingLifter(skeleton)
    assert stream.weights == name and stream.receptive_field == card["receptive_field"]
    with np.load(GOLDEN / f"{name}.npz") as z:
        kp = z["inputs"]  # the golden input sequence, (40, 17, 3) px + score
    pushed = np.stack([stream.push(frame) for frame in kp])
    # a push is lift on the frames so far, last frame; with a causal model that is offline lift
    np.testing.assert_allclose(pushed, poselift.lift(kp, skeleton=skeleton, model=name),
                               atol=2e-5)
