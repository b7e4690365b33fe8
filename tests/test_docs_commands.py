"""Every ```bash and ```python block of README.md and docs/*.md runs as written.

Conventions (written in docs/cheatsheet.md and visible in the Markdown source), an HTML comment
on the line just before a block:

- ``<!-- skip-test: why -->``: not run here (needs data, the network, your own detector output,
  or installs packages); the reason is shown when the test lists what it skipped;
- ``<!-- slow-test: why -->``: run only with ``-m slow`` (takes a minute or more);
- ``<!-- test: NAME -->``: run by a dedicated test on made-up inputs (tests/test_detections.py).

Python blocks of one page run in order in one namespace (later blocks may use names of
earlier ones), bash blocks with ``bash -e`` in order; all in a temporary directory that holds
links to the repository's ``examples/``, ``tools/`` and ``docs/``, with ``poselift`` and
``python`` of this environment on the PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!--\s*([\w-]+)(?::\s*([^\n]*?))?\s*-->\n)?```(bash|python)\n(.*?)```",
                   re.S)


def blocks(page: Path) -> list[tuple[int, str, str, str, str]]:
    """(line, language, marker, reason, code) of every bash/python block of ``page``."""
    text = page.read_text()
    out = []
    for m in BLOCK.finditer(text):
        line = text[: m.start()].count("\n") + 1 + (1 if m.group(1) else 0)
        out.append((line, m.group(3), m.group(1) or "", (m.group(2) or "").strip(),
                    m.group(4)))
    return out


def _run_page(page: Path, tmp_path: Path, *, slow: bool) -> list[str]:
    for name in ("examples", "tools", "docs"):
        (tmp_path / name).symlink_to(REPO / name)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = []
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for line, lang, marker, _reason, code in blocks(page):
            if marker in ("skip-test", "test") or (marker == "slow-test") != slow:
                continue
            where = f"{page.relative_to(REPO)}:{line}"
            if lang == "python":
                exec(compile(code, where, "exec"), namespace)
            else:
                result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=tmp_path,
                                        env=env, capture_output=True, text=True, check=False,
                                        timeout=600)
                assert result.returncode == 0, (f"{where} exited {result.returncode}:\n"
                                                f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            ran.append(where)
    finally:
        os.chdir(cwd)
    return ran


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_doc_blocks_run(page, tmp_path):
    _run_page(page, tmp_path, slow=False)


def skip_unless_slow_asked(config: pytest.Config) -> None:
    """pyproject.toml says slow tests run only with ``-m slow``; nothing else enforces it."""
    expr = config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("slow: run with -m slow")


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if any(b[2] == "slow-test" for b in blocks(p))],
                         ids=lambda p: p.name)
def test_slow_doc_blocks_run(page, tmp_path, request):
    skip_unless_slow_asked(request.config)
    assert _run_page(page, tmp_path, slow=True)


def test_every_skip_says_why():
    unknown, silent = [], []
    for page in PAGES:
        for line, _, marker, reason, _ in blocks(page):
            if marker and marker not in ("skip-test", "slow-test", "test"):
                unknown.append(f"{page.name}:{line} {marker}")
            if marker in ("skip-test", "slow-test") and not reason:
                silent.append(f"{page.name}:{line}")
    assert not unknown, f"unknown block markers: {unknown}"
    assert not silent, f"skip-test/slow-test without a reason: {silent}"
