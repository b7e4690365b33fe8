"""Project-level checks: README commands, CI script, generated docs, public API surface."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import poselift

REPO = Path(__file__).resolve().parents[1]

# Removing or renaming a public name is a visible decision: update this list, API.md and
# CHANGELOG.md together.
PUBLIC_API = {
    "KeypointWarning",
    "Lifter",
    "Partition",
    "lift",
    "lift_full",
    "SRConv1d",
    "SRLinear",
    "camera",
    "create_model",
    "data",
    "detections",
    "evaluation",
    "list_models",
    "list_weights",
    "load_model",
    "metrics",
    "nn",
    "prediction",
    "rarity",
    "save_model",
    "Skeleton",
    "StreamingLifter",
    "__version__",
    "convert_keypoints",
    "get_partition",
    "get_skeleton",
    "list_partitions",
    "list_skeletons",
    "register_partition",
    "register_skeleton",
    "shuffled_partition",
    "to_absolute",
}


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_readme_quickstart_has_exactly_two_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands)
    demo, test = commands
    assert demo.endswith("&& poselift demo"), "the main job is the demo"
    # a user's install line keeps the user's torch; the project's build command pins the CPU wheel
    assert "torch" not in demo.split("&&")[0], demo
    assert test.startswith("python -m pip install torch==2.13.0 "), test
    ci = [s for s in (REPO / ".ci" / "run").read_text().splitlines()
          if s.strip() and not s.lstrip().startswith("#")]
    assert ci[-1] == test, "the README's test command must be .ci/run's last command, verbatim"
    # ... run inside a virtual environment that .ci/run creates and activates itself
    venv = next(i for i, s in enumerate(ci) if s.startswith("python -m venv "))
    assert any(s.startswith("source ") and s.endswith("/bin/activate\"") for s in ci[venv:-1])
    assert ci[0] == "set -euo pipefail"
    assert "bash .ci/package " in "\n".join(ci), "the packaging check runs in CI"


def test_public_api_surface():
    assert set(poselift.__all__) == PUBLIC_API
    for name in poselift.__all__:
        assert hasattr(poselift, name), name


def test_generated_docs_are_current():
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "generate.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_version_single_source():
    from poselift._version import __version__

    assert poselift.__version__ == __version__
    assert 'dynamic = ["version"]' in (REPO / "pyproject.toml").read_text()


def _import_graph() -> dict[str, set[str]]:
    """Module -> the poselift modules it imports (anywhere in the file, lazy imports too)."""
    import ast

    src = REPO / "src"
    mods = {}
    for p in (src / "poselift").rglob("*.py"):
        name = ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        mods[name] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            graph[m] |= {t for t in names if t in mods and t != m and not m.startswith(t + ".")}
    return graph


def test_no_import_circle_anywhere():
    graph = _import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle = [*stack[stack.index(t):], t]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_layers_import_downwards_only():
    graph = _import_graph()

    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            m = todo.pop()
            if m == b:
                return True
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
        return False

    assert not reaches("poselift.inference", "poselift.evaluation")
    assert not reaches("poselift.evaluation", "poselift.inference")
    assert not reaches("poselift.prediction", "poselift.data.protocols")
    for leaf in ("poselift.skeletons", "poselift.camera", "poselift.metrics",
                 "poselift.normalization", "poselift.rarity"):
        uppers = ("poselift.models.factory", "poselift.inference", "poselift.data.augment")
        assert not any(reaches(leaf, up) for up in uppers), leaf


def test_examples_use_public_names_only():
    pattern = re.compile(r"from poselift[\w.]* import [^\n]*\b_\w+|poselift(?:\.\w+)*\._[a-z]\w*")
    scripts = [p for folder in ("examples", "tools", "benchmarks")
               for p in sorted((REPO / folder).glob("*.py"))]
    for path in scripts:
        found = pattern.findall(path.read_text())
        assert not found, f"{path.name} uses private names: {found}"


def test_train_script_stays_thin():
    """Lines of code (docstrings, comments and blank lines not counted: the script is split
    into documented steps a reader can follow, issue 27) stay under 500."""
    import ast

    text = (REPO / "examples" / "train.py").read_text()
    docs: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and node.body and \
                isinstance(first := node.body[0], ast.Expr) and \
                isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            docs.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines = sum(1 for i, line in enumerate(text.splitlines(), 1)
                if i not in docs and line.strip() and not line.lstrip().startswith("#"))
    assert lines < 500, f"examples/train.py has {lines} lines of code: move library logic " \
                        "into poselift"


def test_mypy_passes_without_the_optional_extras():
    """Every third-party module src/poselift imports besides the runtime dependencies is an
    optional extra: mypy must not need it installed (CI type-checks without the extras)."""
    import ast
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    ignored = {m.removesuffix(".*") for o in config["tool"]["mypy"]["overrides"]
               if o.get("ignore_missing_imports") for m in o["module"]}
    runtime = {"torch", "numpy", "scipy", "typing_extensions", "poselift"}
    imported = set()
    for p in (REPO / "src" / "poselift").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    optional = imported - runtime - set(sys.stdlib_module_names)
    assert optional, "the scan found no optional import at all: is it still scanning src?"
    assert optional <= ignored, f"optional imports mypy would need installed: {optional - ignored}"


def test_cli_version(capsys):
    import pytest

    from poselift.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"poselift {poselift.__version__}\n"


# Private names still imported across modules, outside issue 27's rooms (left to their owners).
PRIVATE_IMPORTS_LEFT: set[tuple[str, str]] = set()


def test_no_module_imports_another_modules_private_name():
    """``from m import _x`` across modules (issue 27); public names of private modules are fine."""
    import ast

    src = REPO / "src"
    found = set()
    for p in (src / "poselift").rglob("*.py"):
        mod = ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("poselift"):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        found.add((mod, f"{node.module}.{a.name}"))
    assert found <= PRIVATE_IMPORTS_LEFT, sorted(found - PRIVATE_IMPORTS_LEFT)


def test_import_poselift_does_not_import_scipy():
    """scipy costs ~0.6 s to import: only the functions that need it import it (issue 28)."""
    import subprocess
    import sys

    code = "import sys, poselift; print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out
