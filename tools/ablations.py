"""Run the paper's ablations on real mocap and write docs/results.md.

Every run trains with examples/train.py under the same budget (the recipe of the reference
measurements in docs/results.md: 8 epochs over the 302,928 P1 training samples, seed 4321,
unless a run says otherwise), then examples/evaluate.py scores it on the protocols of its
table. Runs are resumable: a finished run (its summary.json has no stop reason) is skipped,
an interrupted one resumes from its last checkpoint. On a 2-core machine run either one
runner with the default two threads or two runners with ``--threads 1`` (about the same total
samples/s for SR: ~5,600 per one-thread runner against ~11,500 for one two-thread run alone; a
runner skips a run that another holds, ``runs/<id>/.runner.lock``); two two-thread jobs side
by side slow each other down far more than 2x.

Usage:
    python tools/ablations.py list                       # the runs and their status
    python tools/ablations.py run --only 't2-*'          # train + evaluate pending runs
    python tools/ablations.py run --only 't4-*' --threads 1   # one of two runners
    python tools/ablations.py pack                       # runs/<id>/ -> runs/ablations/
    python tools/ablations.py report                     # print the results tables
    python tools/ablations.py report --write --plots     # into docs/results.md, docs/img
    python tools/ablations.py run --only 't4-*' --dry-run   # the commands it would run
    python tools/ablations.py pack --dir runs/weights-sr-coco-wild --into runs/weights.json
    python tools/ablations.py collect runs/max-gap/*.json --into runs/max-gap.json

A run's working directory ``runs/<id>/`` (checkpoints, logs, evaluation outputs) stays out of
git; its evidence is committed as one record (arguments, per-epoch log, summary and evaluation
results) under its id in the file of its table, ``runs/ablations/<table>.json``, written by
``run`` and ``pack``; the report reads only these. Records hold no absolute machine path: the
checkout's own paths are written relative to it, the data beside it as ``../shared/...``,
the interpreter as ``python`` (see runs/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUNS_DIR = REPO / "runs"
SEED = 4321
P1_EVAL = ("p1-style", "p3-rare20", "p3-rare10")


@dataclass(frozen=True)
class Run:
    """One training run and the protocols it is evaluated on."""

    id: str
    table: str
    label: str
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    protocol: str = "p1-style"
    evaluate: tuple[str, ...] = P1_EVAL
    extra: tuple[str, ...] = ()
    seed: int = SEED

    @property
    def out(self) -> Path:
        return RUNS_DIR / self.id

    @property
    def out_arg(self) -> str:
        """:attr:`out` as the commands name it: relative to the checkout (their working
        directory), e.g. ``runs/t2-sr``, when it is inside it."""
        return str(self.out.relative_to(REPO)) if self.out.is_relative_to(REPO) else str(self.out)

    def train_command(self) -> list[str]:
        cmd = ["python", "examples/train.py", "--model", self.model, "--protocol", self.protocol,
               "--seed", str(self.seed), "--out", self.out_arg]
        if self.config:
            cmd += ["--config", *(f"{k}={v if isinstance(v, str) else repr(v)}"
                                  for k, v in self.config.items())]
        return cmd + list(self.extra)

    def eval_command(self) -> list[str]:
        return ["python", "examples/evaluate.py", "--checkpoint",
                f"{self.out_arg}/checkpoint.pt", "--protocol", *self.evaluate, "--labels",
                self.id, "--no-plots", "--out", f"{self.out_arg}/eval"]


def _runs() -> list[Run]:
    runs: list[Run] = []
    # Table 2: the baselines and SR, P1-trained, evaluated on P1 and the rare subsets.
    for model in ("fc", "gp", "lf", "es", "sfs", "sr"):
        runs.append(Run(f"t2-{model}", "2", model.upper(), model))
    # Table 2, P2 (cross-set): trained on dataset 2, tested on dataset 1.
    for model in ("fc", "gp", "lf", "es", "sfs", "sr"):
        runs.append(Run(f"t2p2-{model}", "2-p2", model.upper(), model, protocol="p2-cross-set",
                        evaluate=("p2-cross-set",)))
    # Table 3: context dimension H with concatenation (group width: 1024 / 5 = ~205).
    for h, label in ((0, "0 (GP)"), (1, "1"), (3, "3"), (10, "10"), (51, "25% (51)"),
                     (205, "100% (205)")):
        runs.append(Run(f"t3-h{h}", "3", label, "sr", {"context_dim": h, "combine": "cat"}))
    # Table 4: number of groups (5 is Table 2's SR run).
    for g in (1, 2, 3, 6, 8, 17):
        runs.append(Run(f"t4-g{g}", "4", str(g), "sr", {"partition": f"h36m-{g}"}))
    # Table 5: joints shuffled among k of the 5 groups (0 is Table 2's SR run).
    for k in (2, 3, 4, 5):
        runs.append(Run(f"t5-s{k}", "5", str(k), "sr",
                        {"partition": f"h36m-5-shuffled{k}-seed0"}))
    # Noisy 2D inputs (4 px), FC vs SR.
    for model in ("fc", "sr"):
        runs.append(Run(f"noisy-{model}", "noisy", model.upper(), model,
                        extra=("--inputs", "noisy")))
    # Temporal, 27 frames: equal budget of 8 epochs over every 16th frame (75,732 windows
    # per epoch), a quarter of the single-frame budget: temporal steps are ~5-10x slower.
    for model in ("tcn", "sr_tcn"):
        for protocol, evals in (("p1-style", P1_EVAL), ("p2-cross-set", ("p2-cross-set",))):
            tag = "p1" if protocol == "p1-style" else "p2"
            label = f"{model.upper().replace('_', '-')} ({tag.upper()}-trained)"
            runs.append(Run(f"temporal-{model}-{tag}", "temporal", label, model,
                            {"filter_widths": (3, 3, 3)}, protocol=protocol,
                            evaluate=evals, extra=("--frame-step", "16")))
    # Recipe side-study (not the tables' recipe): the paper's x0.95 lr decay barely decays in
    # 8 epochs (0.70x at the end) and test error jumps between late epochs; x0.75 per epoch
    # ends at 0.13x. Same budget, FC and SR only.
    for model in ("fc", "sr"):
        runs.append(Run(f"recipe-{model}-lrd075", "recipe", f"{model.upper()}, lr x0.75/epoch",
                        model, extra=("--lr-decay", "0.75")))
    # Seed check: the comparisons that decide the discussion (SR vs its concatenation variant
    # with H=10 vs ES), trained again with a second seed.
    for run_id, label, model, config in (
        ("seed2-sr", "SR, seed 1234", "sr", {}),
        ("seed2-sr-cat-h10", "SR cat H=10, seed 1234", "sr", {"context_dim": 10, "combine": "cat"}),
        ("seed2-es", "ES, seed 1234", "es", {}),
    ):
        runs.append(Run(run_id, "seeds", label, model, config, seed=1234))
    # Context initialization: the SR runs of the tables before context_init existed (a random
    # context map at the start), kept next to the same runs with the current default ("zero").
    random: dict[str, object] = {"context_init": "random"}
    for run_id, label, config, protocol, evals, extra in (
        ("t2-sr", "SR (Table 2)", {}, "p1-style", P1_EVAL, ()),
        ("t3-h1", "SR cat H=1 (Table 3)", {"context_dim": 1, "combine": "cat"}, "p1-style",
         P1_EVAL, ()),
        ("t3-h10", "SR cat H=10 (Table 3)", {"context_dim": 10, "combine": "cat"}, "p1-style",
         P1_EVAL, ()),
        ("noisy-sr", "SR, noisy 2D", {}, "p1-style", P1_EVAL, ("--inputs", "noisy")),
        ("t2p2-sr", "SR on P2", {}, "p2-cross-set", ("p2-cross-set",), ()),
    ):
        key = "ctxinit" if protocol == "p1-style" else "ctxinit-p2"
        runs.append(Run(f"rand-{run_id}", key, f"{label}, random init", "sr",
                        {**config, **random}, protocol=protocol, evaluate=evals, extra=extra))
    # The validation study that chose the context initialization (val-style: three more
    # styles held out of P1 train; P1 test untouched), one thread per run.
    val = ("val-style", "val-rare10")
    one = ("--threads", "1")
    for run_id, label, model, config, seed in (
        ("val-sr-random", "SR, random init", "sr", random, SEED),
        ("val-sr-random-s2", "SR, random init, seed 1234", "sr", random, 1234),
        ("val-sr-zero", "SR, zero init", "sr", {}, SEED),
        ("val-sr-zero-s2", "SR, zero init, seed 1234", "sr", {}, 1234),
        ("val-sr-cat-h10-random", "SR cat H=10, random init", "sr",
         {"context_dim": 10, "combine": "cat", **random}, SEED),
        ("val-es", "ES", "es", {}, SEED),
    ):
        runs.append(Run(run_id, "val", label, model, config, protocol="val-style",
                        evaluate=val, extra=one, seed=seed))
    return runs


RUNS = _runs()


def record_path(run: Run) -> Path:
    """The file holding the run's committed evidence (args, per-epoch log, summary, and the
    evaluation results) under its id: ``runs/ablations/<table>.json``, one file per table,
    packed from the runs' working directories ``runs/<id>/`` (not in git). A reference row
    (REFERENCE_ROWS) reads its run's record in the file of the run's own table."""
    table = next((r.table for r in RUNS if r.id == run.id), run.table)
    name = f"table{table}" if table[0].isdigit() else table
    return RUNS_DIR / "ablations" / f"{name}.json"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def portable(value: Any) -> Any:
    """``value`` (JSON data) with no absolute path of this machine: paths in the checkout
    relative to it, the shared data beside it as ``../shared/...``, the interpreter as
    ``python``."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str):
        for prefix, short in ((sys.executable, "python"), (f"{REPO}/", ""),
                              (f"{REPO.parent}/shared/", "../shared/"),
                              (f"{REPO.parent}/shared", "../shared")):
            value = value.replace(prefix, short)
    return value


def store(collection: Path, key: str, record: Any) -> Path:
    """Put ``record`` under ``key`` in the JSON file ``collection`` (made portable, keys kept in
    insertion order); safe against another runner storing into the same file."""
    collection.parent.mkdir(parents=True, exist_ok=True)
    with open(collection.with_name(collection.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = _read(collection) or {}
        records[key] = portable(record)
        tmp = collection.with_name(collection.name + ".tmp")
        tmp.write_text(json.dumps(records, indent=1) + "\n")
        tmp.replace(collection)
    return collection


def pack_dir(out: Path, into: Path, **extra: Any) -> Path:
    """Store train.py's outputs in the directory ``out`` (args, summary, per-epoch log) plus
    ``extra`` fields under ``out``'s name in the collection ``into``; returns ``into``."""
    log = out / "log.jsonl"
    record = {
        "id": out.name, **extra,
        "args": _read(out / "args.json") or {},
        "summary": _read(out / "summary.json") or {},
        "log": ([json.loads(line) for line in log.read_text().splitlines() if line.strip()]
                if log.is_file() else []),
    }
    return store(into, out.name, record)


def pack(run: Run) -> Path:
    """Store the run's record (train.py's and evaluate.py's outputs in ``runs/<id>/``) in
    ``runs/ablations/<table>.json``."""
    return pack_dir(run.out, record_path(run), train_command=shlex.join(run.train_command()),
                    eval_command=shlex.join(run.eval_command()),
                    eval={p: r for p in run.evaluate
                          if (r := _read(run.out / "eval" / f"{run.id}_{p}.json")) is not None})


def collect(files: list[Path], into: Path) -> Path:
    """Store JSON files (e.g. examples/wild_eval.py's, one per label) under their stems in one
    collection ``into``."""
    for f in files:
        store(into, f.stem, json.loads(f.read_text()))
    return into


def _record(run: Run) -> dict[str, Any]:
    """The run's packed record ({} when it has none)."""
    record: dict[str, Any] = (_read(record_path(run)) or {}).get(run.id) or {}
    return record


def status(run: Run) -> str:
    summary_path = run.out / "summary.json"
    if summary_path.is_file():
        info = json.loads(summary_path.read_text())
    else:
        info = _record(run).get("summary")
        if not info:
            return "partial" if (run.out / "checkpoint.pt").is_file() else "pending"
    if info.get("stopped"):
        return f"stopped ({info['stopped']})"
    evaluated = all((run.out / "eval" / f"{run.id}_{p}.json").is_file()
                    or p in _record(run).get("eval", {}) for p in run.evaluate)
    return "done" if evaluated else "trained"


def _echo(cmd: list[str]) -> None:
    print("$ " + shlex.join(cmd), flush=True)


def _shell(cmd: list[str]) -> None:
    _echo(cmd)
    subprocess.run(cmd, cwd=REPO, check=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextlib.contextmanager
def claim(run: Run) -> Iterator[bool]:
    """Hold ``runs/<id>/.runner.lock`` while a runner works on ``run``; False if another holds it.

    Lets two runners share one run list without training the same run twice. A lock left by a
    runner that no longer exists (killed) is taken over.
    """
    run.out.mkdir(parents=True, exist_ok=True)
    lock = run.out / ".runner.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            holder = lock.read_text().strip()
            if holder.isdigit() and _alive(int(holder)):
                yield False
                return
            lock.unlink(missing_ok=True)
    else:
        yield False
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield True
    finally:
        lock.unlink(missing_ok=True)


def run_all(pattern: str, budget: float | None, threads: int | None = None,
            dry_run: bool = False) -> None:
    """Train and evaluate the matching runs that are not done, resuming partial ones.

    ``threads`` overrides the torch threads of training and evaluation (e.g. 1 for each of two
    runners sharing a 2-core machine). ``dry_run``: print the commands without running them
    (nothing is trained, evaluated or packed; the runs' locks are taken and released).
    """
    start = time.monotonic()
    override = ["--threads", str(threads)] if threads is not None else []
    for run in RUNS:
        if not fnmatch.fnmatchcase(run.id, pattern):
            continue
        if budget is not None and time.monotonic() - start > budget:
            print(f"time budget of {budget:.0f} s used up; stopping before {run.id}")
            return
        if status(run) == "done":
            continue
        with claim(run) as mine:
            if not mine:
                print(f"{run.id}: another runner holds it; skipping")
                continue
            shell = _echo if dry_run else _shell
            if status(run) != "trained":
                resume = ["--resume"] if (run.out / "checkpoint.pt").is_file() else []
                shell(run.train_command() + resume + override)
            shell(run.eval_command() + override)
            if not dry_run:
                print(f"packed {pack(run)}")


def _load(run: Run, protocol: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = _record(run).get("eval", {}).get(protocol)
    return result


def _run_json(run: Run, name: str) -> dict[str, Any]:
    """The run's ``"summary"`` or ``"args"`` (train.py's JSON outputs), {} if absent."""
    value: dict[str, Any] = _record(run).get(name, {})
    return value


def _last_epochs(run: Run, n: int = 3) -> str:
    """The training protocol's test MPJPE after the last n epochs: how much the end point moves."""
    tests = [e["test"]["mpjpe"] for e in _log(run) if e.get("test")][-n:]
    return ", ".join(f"{t:.1f}" for t in tests) if tests else "-"


def _threads(run: Run) -> str:
    """The torch threads a run trained with, e.g. "1 thread", or "1-2 threads" for a run resumed
    with other threads: each epoch's log line records them; lines without (logs before that
    field existed) count as the run's last arguments (args.json)."""
    fallback = _run_json(run, "args").get("threads")
    recorded = {e.get("threads", fallback) for e in _log(run)} or {fallback}
    used: set[int] = {t for t in recorded if t is not None}
    if not used:
        return ""
    low, high = min(used), max(used)
    if low == high:
        return f"{low} thread{'s' if low > 1 else ''}"
    return f"{low}-{high} threads"


def table(runs: list[Run], protocols: tuple[str, ...]) -> str:
    """Markdown table: one row per run, MPJPE / P-MPJPE per protocol, budget and command."""
    head = "| run | " + " | ".join(f"{p} MPJPE / P-MPJPE (mm)" for p in protocols)
    head += " | test MPJPE, last 3 epochs | samples seen | train wall time | command |"
    rows = [head, "|---|" + "---|" * (len(protocols) + 4)]
    for run in runs:
        cells = []
        for p in protocols:
            r = _load(run, p)
            if r:
                cells.append(f"{r['mpjpe']:.1f} / {r['p_mpjpe']:.1f}")
            else:  # "-": this run is not evaluated on p by design (e.g. a P2-trained one on P1)
                cells.append("not run" if p in run.evaluate else "-")
        s = _run_json(run, "summary")
        seen = f"{s['samples_seen']:,}" if "samples_seen" in s else "-"
        wall = f"{s['wall_time'] / 60:.1f} min" if "wall_time" in s else "-"
        if wall != "-" and (threads := _threads(run)):
            wall += f", {threads}"
        cmd = "`" + shlex.join(run.train_command()) + "`"
        cells += [_last_epochs(run), seen, wall, cmd]
        rows.append(f"| {run.label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# Rows that show a run of another table again, at their place in this one, without training
# it twice: Tables 4 and 5 vary one setting of Table 2's SR run (5 groups, none shuffled), and
# the seed check sets its second seed next to the first.
REFERENCE_ROWS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "4": (("5 (SR of Table 2)", "t2-sr", 3),),
    "5": (("0 (SR of Table 2)", "t2-sr", 0),),
    "seeds": (("SR, seed 4321 (Table 2)", "t2-sr", 0), ("SR cat H=10, seed 4321 (Table 3)",
              "t3-h10", 2), ("ES, seed 4321 (Table 2)", "t2-es", 4)),
    "ctxinit": (("SR (Table 2), zero init", "t2-sr", 1),
                ("SR cat H=1 (Table 3), zero init", "t3-h1", 3),
                ("SR cat H=10 (Table 3), zero init", "t3-h10", 5),
                ("SR, noisy 2D, zero init", "noisy-sr", 7)),
    "ctxinit-p2": (("SR on P2, zero init", "t2p2-sr", 1),),
}


def table_runs(key: str) -> list[Run]:
    """The rows of one table, with the reference rows of REFERENCE_ROWS inserted."""
    runs = [r for r in RUNS if r.table == key]
    by_id = {r.id: r for r in RUNS}
    for label, run_id, position in REFERENCE_ROWS.get(key, ()):
        runs.insert(position, replace(by_id[run_id], table=key, label=label))
    return runs


def report() -> str:
    """The generated part of docs/results.md."""
    parts = []
    titles = {
        "2": ("Table 2 analogue: baselines vs SR (P1-trained, GT 2D)", P1_EVAL),
        "2-p2": ("Table 2 analogue on P2 (cross-set: trained on dataset 2, tested on 1)",
                 ("p2-cross-set",)),
        "3": ("Table 3 analogue: context dimension H (concatenation)", P1_EVAL),
        "4": ("Table 4 analogue: number of groups", P1_EVAL),
        "5": ("Table 5 analogue: joints shuffled among k of 5 groups", P1_EVAL),
        "noisy": ("Noisy 2D inputs (4 px Gaussian), FC vs SR", P1_EVAL),
        "temporal": ("Temporal models, 27 frames", (*P1_EVAL, "p2-cross-set")),
        "seeds": ("Seed check: SR, SR cat H=10 and ES with a second seed", P1_EVAL),
        "recipe": ("Recipe side-study: lr decay x0.75 per epoch instead of x0.95 (FC, SR)",
                   P1_EVAL),
        "ctxinit": ("Context initialization: random (before context_init existed) vs zero "
                    "(now)", P1_EVAL),
        "ctxinit-p2": ("Context initialization on P2", ("p2-cross-set",)),
        "val": ("Validation study (val-style, P1 test untouched): the choice of the context "
                "initialization", ("val-style", "val-rare10")),
    }
    for key, (title, protocols) in titles.items():
        parts.append(f"### {title}\n\n{table(table_runs(key), protocols)}")
    parts.append("### Learning curves (P1 test MPJPE after each epoch)\n\n"
                 + learning_curves_table())
    parts.append("### MPJPE by occurrence decile on P1 test (paper Fig. 5b analogue)\n\n"
                 + deciles_table())
    parts.append("### P1 MPJPE per content\n\n" + content_table())
    return "\n\n".join(parts)


def _by_ids(ids: tuple[str, ...]) -> list[Run]:
    """The runs with these ids, in this order."""
    by_id = {r.id: r for r in RUNS}
    return [by_id[i] for i in ids]


def _log(run: Run) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = _record(run).get("log", [])
    return log


def learning_curves_table(ids: tuple[str, ...] | None = None) -> str:
    """P1 test MPJPE after every epoch (the learning curves), as a markdown table."""
    ids = COMPARED if ids is None else ids
    runs = _by_ids(ids)
    logs = {r.id: _log(r) for r in runs}
    epochs = max((len(v) for v in logs.values()), default=0)
    head = "| epoch | " + " | ".join(f"{r.label} MPJPE / train loss" for r in runs) + " |"
    rows = [head, "|---|" + "---|" * len(runs)]
    for e in range(epochs):
        cells = []
        for r in runs:
            entry = logs[r.id][e] if e < len(logs[r.id]) else None
            cells.append(f"{entry['test']['mpjpe']:.1f} / {entry['train_loss'] * 1000:.1f}"
                         if entry and entry.get("test") else "-")
        rows.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


COMPARED = ("t2-fc", "t2-es", "t2-sfs", "rand-t2-sr", "t2-sr")
"""The runs of the per-epoch, per-decile and per-content tables: the paper's Fig. 5 trio (FC,
SFS, SR), ES (the strongest baseline here) and SR with the earlier random context init."""


def deciles_table(ids: tuple[str, ...] = COMPARED) -> str:
    """MPJPE by occurrence decile on P1 test (paper Fig. 5b), rarest first."""
    runs = _by_ids(ids)
    results = {r.id: _load(r, "p1-style") for r in runs}
    head = "| decile (1 = rarest) | " + " | ".join(r.label for r in runs) + " |"
    rows = [head, "|---|" + "---|" * len(runs)]
    for k in range(10):
        cells = []
        for r in runs:
            res = results[r.id]
            dec = (res or {}).get("deciles") or []
            cells.append(f"{dec[k]['mpjpe']:.1f}" if k < len(dec) else "-")
        rows.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def content_table(ids: tuple[str, ...] = COMPARED) -> str:
    """P1 MPJPE per content (action), to see where each model loses."""
    runs = _by_ids(ids)
    results = {r.id: _load(r, "p1-style") for r in runs}
    contents = sorted({c for res in results.values() if res
                       for c in (res.get("per_content") or {})})
    head = "| content | " + " | ".join(r.label for r in runs) + " |"
    rows = [head, "|---|" + "---|" * len(runs)]
    for c in contents:
        cells = []
        for r in runs:
            per = (results[r.id] or {}).get("per_content") or {}
            cells.append(f"{per[c]['mpjpe']:.1f}" if c in per else "-")
        rows.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot(out: Path) -> list[Path]:
    """Learning curves and the rarity-decile plot (paper Fig. 5) as PNGs (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    runs = [r for r in RUNS if r.table == "2"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for r in runs:
        log = [e for e in _log(r) if e.get("test")]
        if log:
            ax[0].plot([e["epoch"] for e in log], [e["test"]["mpjpe"] for e in log], "o-",
                       label=r.label)
            ax[1].plot([e["epoch"] for e in log], [e["train_loss"] * 1000 for e in log], "o-",
                       label=r.label)
    ax[0].set(xlabel="epoch", ylabel="P1 test MPJPE (mm)", title="test error")
    ax[1].set(xlabel="epoch", ylabel="train L1 loss (mm per coordinate)", title="training loss")
    ax[0].legend()
    fig.tight_layout()
    path = out / "learning_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        res = _load(r, "p1-style")
        dec = (res or {}).get("deciles") or []
        if dec:
            ax.plot([d["decile"] for d in dec], [d["mpjpe"] for d in dec], "o-", label=r.label)
    ax.set(xlabel="occurrence decile (1 = rarest 10% of P1 test)", ylabel="MPJPE (mm)",
           title="Error by pose rarity (paper Fig. 5b analogue)")
    ax.legend()
    fig.tight_layout()
    path = out / "rarity_deciles.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    path = out / "ablation_sweeps.png"
    if _plot_sweeps(plt, path):
        written.append(path)
    return written


def _plot_sweeps(plt: Any, path: Path) -> bool:
    """Tables 3-5 as three panels (P1 and P3 rare 20% against the swept setting)."""
    panels = (("3", "context dimension H (concatenation)"), ("4", "number of groups"),
              ("5", "groups with shuffled joints (of 5)"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    drawn = False
    for ax, (key, xlabel) in zip(axes, panels, strict=True):
        runs = table_runs(key)
        ticks = [r.label.split(" (")[0] for r in runs]
        for protocol, name in (("p1-style", "P1"), ("p3-rare20", "P3 rare 20%")):
            points = [(i, res["mpjpe"]) for i, r in enumerate(runs)
                      if (res := _load(r, protocol))]
            if points:
                drawn = True
                ax.plot(*zip(*points, strict=True), "o-", label=name)
        ax.set_xticks(range(len(runs)), ticks)
        ax.set(xlabel=xlabel, ylabel="MPJPE (mm)", title=f"Table {key} analogue")
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    if drawn:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def main(argv: list[str] | None = None) -> int:
    global RUNS_DIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="the runs' working directories and their packed records "
                             "(default: runs/ of this checkout)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list the runs and their status")
    p_run = sub.add_parser("run", help="train and evaluate pending runs, one at a time")
    p_run.add_argument("--only", default="*", help="shell pattern over run ids")
    p_run.add_argument("--budget", type=float, default=None,
                       help="stop starting new runs after this many seconds")
    p_run.add_argument("--threads", type=int, default=None,
                       help="torch threads per run, overriding the run's own (default: 2)")
    p_run.add_argument("--dry-run", action="store_true",
                       help="print the commands of the pending runs without running them")
    p_pack = sub.add_parser("pack", help="store runs/<id>/ in runs/ablations/<table>.json (the "
                                         "committed evidence of a run)")
    p_pack.add_argument("--only", default="*", help="shell pattern over run ids")
    p_pack.add_argument("--dir", type=Path, nargs="*", default=None,
                        help="pack these train.py output directories instead (e.g. the runs "
                             "of shipped weights), into --into")
    p_pack.add_argument("--into", type=Path, default=None,
                        help="the collection --dir packs into (default: runs/weights.json)")
    p_col = sub.add_parser("collect", help="store JSON files under their stems in one file "
                                           "(e.g. examples/wild_eval.py's outputs)")
    p_col.add_argument("files", type=Path, nargs="+")
    p_col.add_argument("--into", type=Path, required=True)
    p_rep = sub.add_parser("report", help="print the results tables")
    p_rep.add_argument("--write", action="store_true",
                       help="replace the tables between the RESULTS markers of docs/results.md")
    p_rep.add_argument("--plots", action="store_true",
                       help="also write docs/img/learning_curves.png, rarity_deciles.png and "
                       "ablation_sweeps.png (the last one once some sweep run is evaluated)")
    p_rep.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img",
                       help="where --plots writes (default: docs/img)")
    args = parser.parse_args(argv)
    if args.runs_dir is not None:
        RUNS_DIR = args.runs_dir.resolve()
    if args.cmd == "list":
        for run in RUNS:
            print(f"{run.id:28s} {status(run):18s} {shlex.join(run.train_command())}")
    elif args.cmd == "run":
        run_all(args.only, args.budget, args.threads, dry_run=args.dry_run)
    elif args.cmd == "pack" and args.dir:
        into = args.into or RUNS_DIR / "weights.json"
        for out in args.dir:
            print(f"packed {out} into {pack_dir(out, into)}")
    elif args.cmd == "collect":
        print(f"collected {len(args.files)} file(s) into {collect(args.files, args.into)}")
    elif args.cmd == "pack":
        for run in RUNS:
            if fnmatch.fnmatchcase(run.id, args.only) and (run.out / "summary.json").is_file():
                print(f"packed {pack(run)}")
    elif args.write:
        page = REPO / "docs" / "results.md"
        text = page.read_text()
        begin, end = "<!-- BEGIN RESULTS -->\n", "<!-- END RESULTS -->"
        head, rest = text.split(begin, 1)
        page.write_text(head + begin + report() + "\n" + end + rest.split(end, 1)[1])
        print(f"updated {page}")
    else:
        print(report())
    if args.cmd == "report" and args.plots:
        args.img_dir.mkdir(parents=True, exist_ok=True)
        for path in plot(args.img_dir):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
