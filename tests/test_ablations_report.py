"""tools/ablations.py: the run grid and the generated results tables (no training)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ablations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("ablations", REPO / "tools" / "ablations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ablations", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RUNS_DIR", tmp_path)
    return module


def fake_result(runs_dir: Path, run_id: str, protocol: str, mpjpe: float) -> None:
    out = runs_dir / run_id / "eval"
    out.mkdir(parents=True, exist_ok=True)
    result = {"mpjpe": mpjpe, "p_mpjpe": mpjpe / 2}
    (out / f"{run_id}_{protocol}.json").write_text(json.dumps(result))
    repack(runs_dir, run_id)


def repack(runs_dir: Path, run_id: str) -> None:
    """Pack a run's directory into runs/ablations/<table>.json as ablations.py does (the report
    reads only the packed records)."""
    module = sys.modules["ablations"]
    run = next(r for r in module.RUNS if r.id == run_id)
    assert run.out == runs_dir / run_id
    module.pack(run)


def test_run_ids_are_unique_and_commands_name_their_output(ablations: ModuleType) -> None:
    ids = [r.id for r in ablations.RUNS]
    assert len(ids) == len(set(ids))
    for run in ablations.RUNS:
        cmd = run.train_command()
        assert cmd[cmd.index("--out") + 1] == f"runs/{run.id}"
        assert f"runs/{run.id}/checkpoint.pt" in run.eval_command()


def test_sweep_tables_show_table2_sr_at_its_place(ablations: ModuleType, tmp_path: Path) -> None:
    groups = [r.label for r in ablations.table_runs("4")]
    assert groups == ["1", "2", "3", "5 (SR of Table 2)", "6", "8", "17"]
    shuffled = [r.label for r in ablations.table_runs("5")]
    assert shuffled == ["0 (SR of Table 2)", "2", "3", "4", "5"]
    assert len(ablations.table_runs("3")) == 6  # no reference row: H=1 with "cat" is not SR

    fake_result(tmp_path, "t2-sr", "p1-style", 23.74)
    log = [{"epoch": e + 1, "test": {"mpjpe": m}} for e, m in enumerate((30, 25, 24, 23.74))]
    (tmp_path / "t2-sr" / "log.jsonl").write_text("\n".join(json.dumps(e) for e in log))
    repack(tmp_path, "t2-sr")
    fake_result(tmp_path, "t4-g2", "p3-rare20", 40.0)
    rows = ablations.table(ablations.table_runs("4"), ablations.P1_EVAL).splitlines()
    assert rows[0].startswith("| run | p1-style MPJPE / P-MPJPE (mm) | p3-rare20")
    by_label = {row.split(" | ")[0].lstrip("| "): row for row in rows[2:]}
    assert by_label["5 (SR of Table 2)"].startswith(
        "| 5 (SR of Table 2) | 23.7 / 11.9 | not run | not run | 25.0, 24.0, 23.7 | - | - |"
    )
    assert "--out runs/t2-sr`" in by_label["5 (SR of Table 2)"]
    assert by_label["2"].startswith("| 2 | not run | 40.0 / 20.0 | not run | - |")
    assert by_label["17"].startswith("| 17 | not run | not run |")


def test_sweep_plot(ablations: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert not ablations._plot_sweeps(plt, tmp_path / "none.png")  # nothing run: no file
    assert not (tmp_path / "none.png").exists()
    fake_result(tmp_path, "t3-h1", "p1-style", 25.0)
    fake_result(tmp_path, "t2-sr", "p3-rare20", 34.0)
    assert ablations._plot_sweeps(plt, tmp_path / "sweeps.png")
    assert (tmp_path / "sweeps.png").stat().st_size > 0


def test_temporal_table_marks_protocols_a_run_is_not_evaluated_on(
    ablations: ModuleType, tmp_path: Path
) -> None:
    protocols = (*ablations.P1_EVAL, "p2-cross-set")
    fake_result(tmp_path, "temporal-tcn-p1", "p1-style", 40.0)
    rows = {r.split(" | ")[0].lstrip("| "): r
            for r in ablations.table(ablations.table_runs("temporal"), protocols).splitlines()}
    # P1-trained: scored on P1 (p3 still to run), not on P2; P2-trained: scored on P2 only
    assert rows["TCN (P1-trained)"].startswith(
        "| TCN (P1-trained) | 40.0 / 20.0 | not run | not run | - |")
    assert rows["TCN (P2-trained)"].startswith("| TCN (P2-trained) | - | - | - | not run |")


def test_runner_overrides_threads_resumes_partial_runs_and_skips_done_ones(
    ablations: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(ablations, "_shell", calls.append)
    (tmp_path / "t4-g2").mkdir()
    (tmp_path / "t4-g2" / "checkpoint.pt").write_bytes(b"")  # partial: resumed
    ablations.run_all("t4-g[23]", None, threads=1)
    train_g2, eval_g2, train_g3, eval_g3 = calls
    assert train_g2[-3:] == ["--resume", "--threads", "1"]
    assert train_g3[-2:] == ["--threads", "1"] and "--resume" not in train_g3
    assert eval_g2[-2:] == eval_g3[-2:] == ["--threads", "1"]

    calls.clear()
    ablations.run_all("t4-g3", None)  # no override: the run's own command
    assert calls[0] == ablations.RUNS[[r.id for r in ablations.RUNS].index("t4-g3")].train_command()

    for protocol in ablations.P1_EVAL:  # done: not run again
        fake_result(tmp_path, "t4-g3", protocol, 30.0)
    (tmp_path / "t4-g3" / "summary.json").write_text(json.dumps({"wall_time": 600.0,
                                                                 "samples_seen": 10}))
    (tmp_path / "t4-g3" / "args.json").write_text(json.dumps({"threads": 1}))
    repack(tmp_path, "t4-g3")
    calls.clear()
    ablations.run_all("t4-g3", None, threads=1)
    assert calls == []
    row = next(r for r in ablations.table(ablations.table_runs("4"), ablations.P1_EVAL)
               .splitlines() if r.startswith("| 3 |"))
    assert "| 10.0 min, 1 thread |" in row

    # resumed with other threads: each epoch's log line says which; older lines count as args.json
    (tmp_path / "t4-g3" / "args.json").write_text(json.dumps({"threads": 2}))
    (tmp_path / "t4-g3" / "log.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in ({"epoch": 1, "threads": 1}, {"epoch": 2})))
    repack(tmp_path, "t4-g3")
    assert ablations._threads(ablations.RUNS[[r.id for r in ablations.RUNS].index("t4-g3")]) \
        == "1-2 threads"
    (tmp_path / "t4-g3" / "log.jsonl").write_text(json.dumps({"epoch": 1}) + "\n")
    repack(tmp_path, "t4-g3")
    row = next(r for r in ablations.table(ablations.table_runs("4"), ablations.P1_EVAL)
               .splitlines() if r.startswith("| 3 |"))
    assert "| 10.0 min, 2 threads |" in row


def test_runner_skips_a_run_another_runner_holds_and_takes_over_stale_locks(
    ablations: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess

    calls: list[list[str]] = []
    monkeypatch.setattr(ablations, "_shell", calls.append)
    lock = tmp_path / "t4-g2" / ".runner.lock"
    lock.parent.mkdir()
    lock.write_text(str(os.getpid()))  # a live process holds it
    ablations.run_all("t4-g2", None)
    assert calls == [] and lock.read_text() == str(os.getpid())

    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(str(dead.pid))  # its runner is gone: taken over, released after
    ablations.run_all("t4-g2", None)
    assert [c[1] for c in calls] == ["examples/train.py", "examples/evaluate.py"]
    assert not lock.exists()

    held = []
    with ablations.claim(ablations.RUNS[0]) as first:
        with ablations.claim(ablations.RUNS[0]) as second:
            held = [first, second]
    assert held == [True, False]
    assert not (tmp_path / ablations.RUNS[0].id / ".runner.lock").exists()


def test_pack_stores_one_portable_record_per_run_in_its_tables_file(
    ablations: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "t4-g2").mkdir()
    args = {"data": str(ablations.REPO.parent / "shared" / "data"), "threads": 1,
            "command": f"{sys.executable} {ablations.REPO / 'examples' / 'train.py'} --out x"}
    (tmp_path / "t4-g2" / "args.json").write_text(json.dumps(args))
    fake_result(tmp_path, "t4-g3", "p1-style", 30.0)
    repack(tmp_path, "t4-g2")
    path = tmp_path / "ablations" / "table4.json"
    records = json.loads(path.read_text())
    assert list(records) == ["t4-g3", "t4-g2"]  # the second run joined the first one's file
    assert records["t4-g2"]["args"] == {"data": "../shared/data", "threads": 1,
                                        "command": "python examples/train.py --out x"}
    assert records["t4-g3"]["eval"]["p1-style"]["mpjpe"] == 30.0
    # a reference row (t2-sr shown in Table 4) reads the run's record in Table 2's file
    fake_result(tmp_path, "t2-sr", "p1-style", 23.0)
    assert (tmp_path / "ablations" / "table2.json").is_file()
    ref = next(r for r in ablations.table_runs("4") if r.id == "t2-sr")
    assert ablations._load(ref, "p1-style")["mpjpe"] == 23.0
