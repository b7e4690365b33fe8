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
    "Lifter",
    "Partition",
    "lift",
    "SRConv1d",
    "SRLinear",
    "camera",
    "create_model",
    "data",
    "evaluation",
    "list_models",
    "list_weights",
    "load_model",
    "metrics",
    "nn",
    "rarity",
    "save_model",
    "Skeleton",
    "__version__",
    "convert_keypoints",
    "get_partition",
    "get_skeleton",
    "list_partitions",
    "list_skeletons",
    "register_partition",
    "register_skeleton",
    "shuffled_partition",
}


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_readme_quickstart_has_exactly_two_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands)
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci, "the README's test command must appear verbatim in .ci/run"
    assert commands[0].endswith("&& poselift demo"), "the main job is the demo"


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
