"""Repository hygiene: no machine paths in tracked files, self-contained docs, a small runs/."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Absolute paths of a machine (its home, scratch and work folders), not of the system: a
# shebang's /usr/bin/env is fine, /work/..., /root/..., /tmp/..., /home/... are not. The
# lookbehind keeps URLs and relative paths (a/work/b, ../tmp/x) out.
MACHINE_PATH = re.compile(
    rb"(?<![\w.:/~-])/(?:" + b"|".join([b"work", b"root", b"tmp", b"home", b"Users", b"mnt",
                                        b"opt", b"srv", b"scratch"]) + rb")/[\w.-]")
DESIGN_NOTES = ("NOTES.md", "PROTOCOLS.md", "STYLE.md", "API.md", "ARCHITECTURE.md",
                "shared/design")


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True,
                         check=True).stdout
    return [f for f in out.decode().split("\0") if f and (REPO / f).is_file()]


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_machine_path_pattern():
    hits = [b'"data": "/work/shared/data"', b"--out /tmp/exp/v-sr", b"/root/.pyenv/x",
            b"(/home/me/x.npy)"]
    misses = [b"#!/usr/bin/env bash", b"https://example.org/tmp/x", b"../shared/data",
              b"runs/work/x", b"${TMPDIR:-/tmp}", b"~/tmp/x"]
    assert all(MACHINE_PATH.search(h) for h in hits)
    assert not any(MACHINE_PATH.search(m) for m in misses)


def test_no_tracked_file_holds_an_absolute_machine_path():
    found = []
    for name in _tracked():
        if name == "tests/test_repository.py":  # the pattern's own examples
            continue
        data = (REPO / name).read_bytes()
        found += [f"{name}: {m.group().decode(errors='replace')}..."
                  for m in MACHINE_PATH.finditer(data)]
    assert not found, "absolute machine paths:\n" + "\n".join(found[:20])


def test_runs_hold_evidence_only_and_a_small_share_of_the_files():
    tracked = _tracked()
    runs = [f for f in tracked if f.startswith("runs/")]
    assert not [f for f in runs if f.endswith(".log")], "raw logs belong out of git"
    assert len(runs) <= 0.15 * len(tracked), f"{len(runs)} of {len(tracked)} files in runs/"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M):
        slug = _slug(heading)
        anchors.add(slug if slug not in counts else f"{slug}-{counts[slug]}")
        counts[slug] = counts.get(slug, 0) + 1
    return anchors


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)


def test_slugs_like_github():
    assert _slug("Reference measurements: the official SRNet code on this data") == \
        "reference-measurements-the-official-srnet-code-on-this-data"
    assert _slug("Human3.6M protocols") == "human36m-protocols"
    assert _slug("The evaluation rig: `h36m-like`, deterministic") == \
        "the-evaluation-rig-h36m-like-deterministic"


def test_every_relative_link_in_the_docs_resolves_inside_the_repository():
    broken = []
    for page in _pages():
        for link in _links(page):
            if re.match(r"[a-z]+:", link):  # https:, mailto:
                continue
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.is_relative_to(REPO):
                broken.append(f"{page.name}: {link} (outside the repository)")
            elif not target.exists():
                broken.append(f"{page.name}: {link} (no such file)")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
                broken.append(f"{page.name}: {link} (no such heading)")
    assert not broken, "\n".join(broken)


def test_docs_do_not_rely_on_the_developers_design_notes():
    found = [f"{p.name}: {note}" for p in _pages() for note in DESIGN_NOTES
             if note in p.read_text()]
    assert not found, found


def test_the_index_lists_every_docs_page():
    index = REPO / "docs" / "index.md"
    linked = {(index.parent / link.partition("#")[0]).resolve() for link in _links(index)}
    missing = sorted(p.name for p in (REPO / "docs").glob("*.md")
                     if p != index and p.resolve() not in linked)
    assert not missing, missing
