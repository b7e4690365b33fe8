"""tools/ablations.py through its command line: the run grid and the results tables (no
training: ``run --dry-run``; the runs' directories and records in a temporary ``--runs-dir``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
P1_EVAL = ("p1-style", "p3-rare20", "p3-rare10")  # the protocols of a P1-trained run


def ablations(runs_dir: Path, *args: str) -> str:
    """``python tools/ablations.py --runs-dir runs_dir *args``: its standard output."""
    done = subprocess.run([sys.executable, str(REPO / "tools" / "ablations.py"), "--runs-dir",
                           str(runs_dir), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def pack(runs_dir: Path, run_id: str) -> None:
    """``ablations.py pack`` of one run (it packs runs that have a summary.json)."""
    summary = runs_dir / run_id / "summary.json"
    if not summary.is_file():
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text("{}")
    out = ablations(runs_dir, "pack", "--only", run_id)
    assert out.startswith("packed ") and len(out.splitlines()) == 1


def fake_result(runs_dir: Path, run_id: str, protocol: str, mpjpe: float) -> None:
    """An evaluation result of a run, packed into its table's record file."""
    out = runs_dir / run_id / "eval"
    out.mkdir(parents=True, exist_ok=True)
    result = {"mpjpe": mpjpe, "p_mpjpe": mpjpe / 2}
    (out / f"{run_id}_{protocol}.json").write_text(json.dumps(result))
    pack(runs_dir, run_id)


def tables(runs_dir: Path) -> dict[str, dict[str, str]]:
    """``report``'s tables: per section title, the rows by run label."""
    out: dict[str, dict[str, str]] = {}
    for section in ablations(runs_dir, "report").split("### ")[1:]:
        title, *lines = section.splitlines()
        rows = [line for line in lines if line.startswith("| ")][1:]  # no header
        out[title] = {row.split(" | ")[0].lstrip("| "): row for row in rows}
    return out


def table(runs_dir: Path, analogue: str) -> dict[str, str]:
    """The rows of the table whose title starts with ``analogue``."""
    return next(rows for title, rows in tables(runs_dir).items() if title.startswith(analogue))


def commands(output: str) -> list[list[str]]:
    """The commands a (dry) run printed."""
    return [line[2:].split() for line in output.splitlines() if line.startswith("$ ")]


def listed(runs_dir: Path) -> dict[str, list[str]]:
    """``list``: per run id, its training command."""
    rows = [line.split(maxsplit=2) for line in ablations(runs_dir, "list").splitlines()]
    assert all(len(row) == 3 for row in rows)
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids))  # unique run ids
    return {row[0]: row[2].split()[row[2].split().index("python"):] for row in rows}


def test_run_ids_are_unique_and_commands_name_their_output(tmp_path: Path) -> None:
    runs = listed(tmp_path)
    assert {"t2-sr", "t4-g2", "temporal-tcn-p1"} <= set(runs)
    cmds = commands(ablations(tmp_path, "run", "--dry-run"))  # nothing run yet: every run
    assert len(cmds) == 2 * len(runs)
    for (run_id, train), (got_train, got_eval) in zip(runs.items(), zip(cmds[::2], cmds[1::2],
                                                                        strict=True),
                                                      strict=True):
        assert got_train == train and train[1] == "examples/train.py"
        assert train[train.index("--out") + 1] == f"{tmp_path}/{run_id}"
        assert f"{tmp_path}/{run_id}/checkpoint.pt" in got_eval
        assert got_eval[1] == "examples/evaluate.py"
    assert not list(tmp_path.glob("*/.runner.lock")) and not (tmp_path / "ablations").exists()
    # in the checkout's runs/ (the default), relative to it: the commands as documented
    default = listed(REPO / "runs")["t2-sr"]
    assert default[default.index("--out") + 1] == "runs/t2-sr"


def test_sweep_tables_show_table2_sr_at_its_place(tmp_path: Path) -> None:
    assert list(table(tmp_path, "Table 4")) == ["1", "2", "3", "5 (SR of Table 2)", "6", "8",
                                               "17"]
    assert list(table(tmp_path, "Table 5")) == ["0 (SR of Table 2)", "2", "3", "4", "5"]
    assert len(table(tmp_path, "Table 3")) == 6  # no reference row: H=1 with "cat" is not SR

    fake_result(tmp_path, "t2-sr", "p1-style", 23.74)
    log = [{"epoch": e + 1, "test": {"mpjpe": m}, "train_loss": 0.01}
           for e, m in enumerate((30, 25, 24, 23.74))]
    (tmp_path / "t2-sr" / "log.jsonl").write_text("\n".join(json.dumps(e) for e in log))
    pack(tmp_path, "t2-sr")
    fake_result(tmp_path, "t4-g2", "p3-rare20", 40.0)
    report = ablations(tmp_path, "report")
    head = next(line for line in report.splitlines() if line.startswith("| run |"))
    assert head.startswith("| run | p1-style MPJPE / P-MPJPE (mm) | p3-rare20")
    by_label = table(tmp_path, "Table 4")
    assert by_label["5 (SR of Table 2)"].startswith(
        "| 5 (SR of Table 2) | 23.7 / 11.9 | not run | not run | 25.0, 24.0, 23.7 | - | - |"
    )
    assert f"--out {tmp_path}/t2-sr`" in by_label["5 (SR of Table 2)"]
    assert by_label["2"].startswith("| 2 | not run | 40.0 / 20.0 | not run | - |")
    assert by_label["17"].startswith("| 17 | not run | not run |")


def test_sweep_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    runs, img = tmp_path / "runs", tmp_path / "img"
    ablations(runs, "report", "--plots", "--img-dir", str(img))
    assert not (img / "ablation_sweeps.png").exists()  # nothing run: no sweep plot
    fake_result(runs, "t3-h1", "p1-style", 25.0)
    fake_result(runs, "t2-sr", "p3-rare20", 34.0)
    out = ablations(runs, "report", "--plots", "--img-dir", str(img))
    assert f"wrote {img / 'ablation_sweeps.png'}" in out
    assert (img / "ablation_sweeps.png").stat().st_size > 0


def test_temporal_table_marks_protocols_a_run_is_not_evaluated_on(tmp_path: Path) -> None:
    fake_result(tmp_path, "temporal-tcn-p1", "p1-style", 40.0)
    rows = table(tmp_path, "Temporal models")
    head = next(line for line in ablations(tmp_path, "report").split("### Temporal")[1]
                .splitlines() if line.startswith("| run |"))
    assert " | ".join(f"{p} MPJPE" for p in (*P1_EVAL, "p2-cross-set")) in \
        head.replace(" / P-MPJPE (mm)", "")
    # P1-trained: scored on P1 (p3 still to run), not on P2; P2-trained: scored on P2 only
    assert rows["TCN (P1-trained)"].startswith(
        "| TCN (P1-trained) | 40.0 / 20.0 | not run | not run | - |")
    assert rows["TCN (P2-trained)"].startswith("| TCN (P2-trained) | - | - | - | not run |")


def test_runner_overrides_threads_resumes_partial_runs_and_skips_done_ones(
    tmp_path: Path
) -> None:
    (tmp_path / "t4-g2").mkdir()
    (tmp_path / "t4-g2" / "checkpoint.pt").write_bytes(b"")  # partial: resumed
    out = ablations(tmp_path, "run", "--only", "t4-g[23]", "--threads", "1", "--dry-run")
    train_g2, eval_g2, train_g3, eval_g3 = commands(out)
    assert train_g2[-3:] == ["--resume", "--threads", "1"]
    assert train_g3[-2:] == ["--threads", "1"] and "--resume" not in train_g3
    assert eval_g2[-2:] == eval_g3[-2:] == ["--threads", "1"]

    out = ablations(tmp_path, "run", "--only", "t4-g3", "--dry-run")  # the run's own command
    assert commands(out)[0] == listed(tmp_path)["t4-g3"]

    for protocol in P1_EVAL:  # done: not run again
        fake_result(tmp_path, "t4-g3", protocol, 30.0)
    (tmp_path / "t4-g3" / "summary.json").write_text(json.dumps({"wall_time": 600.0,
                                                                 "samples_seen": 10}))
    (tmp_path / "t4-g3" / "args.json").write_text(json.dumps({"threads": 1}))
    pack(tmp_path, "t4-g3")
    assert commands(ablations(tmp_path, "run", "--only", "t4-g3", "--threads", "1",
                              "--dry-run")) == []
    assert "| 10.0 min, 1 thread |" in table(tmp_path, "Table 4")["3"]

    # resumed with other threads: each epoch's log line says which; older lines count as args.json
    (tmp_path / "t4-g3" / "args.json").write_text(json.dumps({"threads": 2}))
    (tmp_path / "t4-g3" / "log.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in ({"epoch": 1, "threads": 1}, {"epoch": 2})))
    pack(tmp_path, "t4-g3")
    assert "| 10.0 min, 1-2 threads |" in table(tmp_path, "Table 4")["3"]
    (tmp_path / "t4-g3" / "log.jsonl").write_text(json.dumps({"epoch": 1}) + "\n")
    pack(tmp_path, "t4-g3")
    assert "| 10.0 min, 2 threads |" in table(tmp_path, "Table 4")["3"]


def test_runner_skips_a_run_another_runner_holds_and_takes_over_stale_locks(
    tmp_path: Path
) -> None:
    lock = tmp_path / "t4-g2" / ".runner.lock"
    lock.parent.mkdir()
    lock.write_text(str(os.getpid()))  # a live process (this one) holds it
    out = ablations(tmp_path, "run", "--only", "t4-g2", "--dry-run")
    assert commands(out) == [] and "t4-g2: another runner holds it; skipping" in out
    assert lock.read_text() == str(os.getpid())

    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(str(dead.pid))  # its runner is gone: taken over, released after
    out = ablations(tmp_path, "run", "--only", "t4-g2", "--dry-run")
    assert [c[1] for c in commands(out)] == ["examples/train.py", "examples/evaluate.py"]
    assert not lock.exists()


def test_pack_stores_one_portable_record_per_run_in_its_tables_file(tmp_path: Path) -> None:
    (tmp_path / "t4-g2").mkdir()
    args = {"data": str(REPO.parent / "shared" / "data"), "threads": 1,
            "command": f"{sys.executable} {REPO / 'examples' / 'train.py'} --out x"}
    (tmp_path / "t4-g2" / "args.json").write_text(json.dumps(args))
    fake_result(tmp_path, "t4-g3", "p1-style", 30.0)
    pack(tmp_path, "t4-g2")
    path = tmp_path / "ablations" / "table4.json"
    records = json.loads(path.read_text())
    assert list(records) == ["t4-g3", "t4-g2"]  # the second run joined the first one's file
    assert records["t4-g2"]["args"] == {"data": "../shared/data", "threads": 1,
                                        "command": "python examples/train.py --out x"}
    assert records["t4-g3"]["eval"]["p1-style"]["mpjpe"] == 30.0
    # a reference row (t2-sr shown in Table 4) reads the run's record in Table 2's file
    fake_result(tmp_path, "t2-sr", "p1-style", 23.0)
    assert (tmp_path / "ablations" / "table2.json").is_file()
    assert table(tmp_path, "Table 4")["5 (SR of Table 2)"].startswith(
        "| 5 (SR of Table 2) | 23.0 / 11.5 |")
