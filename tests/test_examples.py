"""End-to-end runs of examples/train.py and examples/evaluate.py (CI-sized).

The main run uses a slice of the real mocap when ../shared/data is present, else the
synthetic Bandai-format set that train.py writes with --synthetic. Resume, temporal and
distributed runs always use the synthetic set (a few seconds each).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import poselift

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED_DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
HAVE_DATA = (SHARED_DATA / "bandai" / "bandai_h36m17.npz").is_file()


def run(script: str, *args: str, timeout: float = 240, launcher: list[str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    cmd = [*(launcher or [sys.executable]), str(EXAMPLES / script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_train_quick_then_evaluate(tmp_path: Path) -> None:
    out = tmp_path / "run"
    data = ["--data", str(SHARED_DATA)] if HAVE_DATA else ["--synthetic"]
    run("train.py", "--model", "sr", "--quick", "--out", str(out), *data)
    log = read_log(out)
    assert [e["epoch"] for e in log] == [1, 2]
    assert log[1]["samples_seen"] == 2 * log[0]["samples_seen"] > 0
    assert log[1]["train_loss"] < log[0]["train_loss"]
    assert log[1]["lr"] == pytest.approx(0.95 * log[0]["lr"])
    for entry in log:
        assert all(math.isfinite(entry["test"][k]) for k in ("mpjpe", "p_mpjpe", "pck", "auc"))
        assert entry["samples_per_second"] > 0 and entry["eval_seconds"] >= 0
    model = poselift.load_model(out / "checkpoint.pt")
    assert model.config["hidden"] == 128
    assert model.meta["epoch"] == 2 and "--quick" in model.meta["command"]
    assert model.meta["metrics"]["mpjpe"] == pytest.approx(log[1]["test"]["mpjpe"])
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["progress"]["finished"] and state["progress"]["epoch"] == 2
    assert {"optimizer", "scheduler", "rng"} <= set(state)

    ev = tmp_path / "eval"
    run("evaluate.py", "--checkpoint", str(out / "checkpoint.pt"), "--quick", "--labels", "SR",
        "--out", str(ev))
    result = json.loads((ev / "SR_p1-style.json").read_text())
    # same checkpoint, same test slice, same flip test: the training log's number
    assert result["mpjpe"] == pytest.approx(log[1]["test"]["mpjpe"], rel=1e-4)
    assert result["samples"] == log[1]["test"]["samples"]
    assert len(result["deciles"]) == 10 and sum(d["samples"] for d in result["deciles"]) == \
        result["samples"]
    assert sum(c["samples"] for c in result["per_content"].values()) == result["samples"]
    report = (ev / "report.md").read_text()
    assert "| SR |" in report and "occurrence decile" in report
    pytest.importorskip("matplotlib")
    assert (ev / "deciles_p1-style.png").stat().st_size > 0


def test_resume_is_exact(tmp_path: Path) -> None:
    # 1624 synthetic samples per epoch, batch 1024: two batches per epoch
    common = ["--model", "sr", "--quick", "--synthetic", "--batch-size", "1024"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    run("train.py", *common, "--out", str(ref))
    run("train.py", *common, "--out", str(cut), "--time-budget", "0")  # stops after batch 1
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["stopped"] == "time-budget" and summary["epochs_done"] == 0
    assert summary["samples_seen"] == 1024
    run("train.py", *common, "--out", str(cut), "--time-budget", "0", "--resume")  # epoch end
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["stopped"] == "time-budget" and summary["epochs_done"] == 1
    run("train.py", *common, "--out", str(cut), "--resume")
    a = poselift.models.load_checkpoint(ref / "checkpoint.pt")
    b = poselift.models.load_checkpoint(cut / "checkpoint.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert [e["test"] for e in read_log(ref)] == [e["test"] for e in read_log(cut)]
    assert a["meta"]["samples_seen"] == b["meta"]["samples_seen"] == 2 * 1624


def test_temporal_and_sample_budget(tmp_path: Path) -> None:
    out = tmp_path / "tcn"
    run("train.py", "--model", "tcn", "--config", "channels=32", "filter_widths=(3, 3)",
        "--quick", "--synthetic", "--max-samples", "700", "--out", str(out))
    log = read_log(out)
    assert len(log) == 1 and log[0]["samples_seen"] == 700
    assert json.loads((out / "summary.json").read_text())["stopped"] == "max-samples"
    assert poselift.load_model(out / "checkpoint.pt").receptive_field == 9
    ev = tmp_path / "eval"
    run("evaluate.py", "--checkpoint", str(out / "checkpoint.pt"), "--no-deciles", "--no-plots",
        "--labels", "TCN", "--out", str(ev))
    result = json.loads((ev / "TCN_p1-style.json").read_text())
    assert result["mpjpe"] == pytest.approx(log[0]["test"]["mpjpe"], rel=1e-4)


def test_bad_config_is_reported(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train.py"), "--model", "sr",
                           "--config", "hiden=3", "--synthetic", "--quick", "--out",
                           str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "hiden" in proc.stderr


SHARD_RECORDER = """
import json, os, runpy, sys
from pathlib import Path
from poselift import training

log = Path(sys.argv[1]) / f"rank{os.environ.get('RANK', '0')}.jsonl"
sys.argv = sys.argv[2:]


def record(cls):
    real = cls.batch

    def batch(self, idx, *args, **kwargs):  # the samples this process trains on
        with log.open("a") as f:
            f.write(json.dumps([int(i) for i in idx]) + "\\n")
        return real(self, idx, *args, **kwargs)

    cls.batch = batch


record(training.RigSamples)
record(training.AugmentedSamples)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _shards(folder: Path, rank: int) -> list[set[int]]:
    return [set(json.loads(line)) for line in (folder / f"rank{rank}.jsonl").read_text()
            .splitlines()]


def test_ddp_two_processes_train_disjoint_shards_of_one_process_batches(tmp_path: Path) -> None:
    """Two DDP ranks split every batch of a one-process run into disjoint halves (and their
    replicas stay equal). Each process's training samples are recorded by wrapping
    ``source.batch``; precise BN is off so that only training batches are recorded."""
    recorder = tmp_path / "record.py"
    recorder.write_text(SHARD_RECORDER)
    args = ["--model", "sr", "--quick", "--synthetic", "--epochs", "1", "--threads", "1",
            "--precise-bn", "0"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    for folder in (single, ddp):
        (folder / "shards").mkdir(parents=True)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2"]
    for folder, prefix in ((single, [sys.executable]), (ddp, launcher)):
        cmd = [*prefix, str(recorder), str(folder / "shards"), str(EXAMPLES / "train.py"),
               *args, "--out", str(folder / "run")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO)
        assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    batches = _shards(single / "shards", 0)
    rank0, rank1 = _shards(ddp / "shards", 0), _shards(ddp / "shards", 1)
    assert len(batches) == len(rank0) == len(rank1) > 1
    for b, (whole, a, c) in enumerate(zip(batches, rank0, rank1, strict=True)):
        assert not a & c, f"batch {b}: the ranks share {len(a & c)} samples"
        assert a | c == whole, f"batch {b}: the ranks' shards are not the batch"
        assert abs(len(a) - len(c)) <= 1
    seen = set().union(*batches)
    assert len(seen) == sum(map(len, batches))  # an epoch visits every sample once
    summary = json.loads((ddp / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert len(summary["param_digests"]) == 2
    assert summary["param_digests"][0] == summary["param_digests"][1]
    assert summary["buffer_digests"][0] == summary["buffer_digests"][1]
    assert summary["replicas_identical"] is True
    assert summary["samples_seen"] == read_log(ddp / "run")[0]["samples_seen"] == len(seen)


def test_wild_eval_writes_one_result_per_model_and_gap(tmp_path: Path) -> None:
    from poselift.data.synthetic import write_synthetic_bandai

    data = tmp_path / "data"
    write_synthetic_bandai(data)
    torch.manual_seed(0)
    model = poselift.create_model("sr_tcn", skeleton="coco", in_features=3, input_norm="bbox",
                                  filter_widths=(3, 3), channels=32)
    poselift.save_model(model, tmp_path / "tiny.pt")
    out = tmp_path / "wild"
    proc = run("wild_eval.py", "--model", str(tmp_path / "tiny.pt"), "--label", "tiny",
               "--max-gap", "0", "none", "--conditions", "rig", "occlusion", "--data",
               str(data), "--clips-every", "4", "--threads", "1", "--out", str(out))
    assert "| occlusion | tiny@gap0 |" in proc.stdout and "| rig | tiny@gapnone |" in proc.stdout
    docs = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert sorted(docs) == ["tiny@gap0", "tiny@gapnone"]
    assert docs["tiny@gap0"]["lifter_options"] == {"max_gap": 0}
    assert set(docs["tiny@gapnone"]["conditions"]) == {"rig", "occlusion"}
    # without occlusions there is nothing to fill: the gap limit changes nothing
    assert docs["tiny@gap0"]["conditions"]["rig"] == docs["tiny@gapnone"]["conditions"]["rig"]


@pytest.mark.data
def test_real2d_benchmark_scores_mediapipe_as_its_data_card_does(tmp_path: Path,
                                                                  shared_data: Path) -> None:
    if not (shared_data / "real2d" / "pose2sim_balancing.npz").is_file():
        pytest.skip(f"real2d data not found under {shared_data}")
    out = tmp_path / "real2d.json"
    run("real2d_benchmark.py", "--data", str(shared_data), "--inputs", "mediapipe-heavy",
        "--out", str(out), timeout=600)
    r = json.loads(out.read_text())["results"]["mediapipe-heavy"]
    # MediaPipe heavy's own 3D as the data's README measured it independently: 80.8 mm
    assert r["MediaPipe 3D"]["p_mpjpe13"] == pytest.approx(80.8, abs=0.1)
    for label in ("lift", "lift(temporal=False)"):
        assert 30 < r[label]["p_mpjpe13"] < 200 and len(r[label]["cameras"]["p_mpjpe13"]) == 4
        assert 0 < r[label]["max_root_distance"] < 1.5 and r[label]["motion_ratio"] > 0.2
    assert r["lift"]["to_single_frame"] > 0
    # with the hips and legs removed: the arms are scored
    run("real2d_benchmark.py", "--data", str(shared_data), "--inputs", "mediapipe-heavy",
        "--upper-body", "--out", str(out), timeout=600)
    r = json.loads(out.read_text())["results"]["mediapipe-heavy"]
    assert "MediaPipe 3D" not in r  # its 3D saw the legs
    assert r["lift(temporal=False)"]["arm_scale_to_single_frame"] == pytest.approx(1.0)
    for label in ("lift", "lift(temporal=False)"):
        assert 20 < r[label]["p_mpjpe_arms"] < 200 and 0.5 < r[label]["arm_scale"] < 1.5
        assert 0 < r[label]["max_root_distance"] < 1.5 and r[label]["motion_ratio"] > 0.2
    # the detectors' noise statistics behind the temporal training ingredient
    rows = [json.loads(line) for line in
            run("real2d_benchmark.py", "--data", str(shared_data), "--detector-stats",
                timeout=600).stdout.splitlines()]
    openpose = [r for r in rows if r["detector"] == "openpose"]
    assert len(openpose) == 4 and all(0.5 < r["correlation"] < 1 for r in openpose)
    assert all(0.1 < r["noise"] < 1 for r in openpose)
