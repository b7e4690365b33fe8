"""Regenerate the tables in docs/*.md that come from the code's registries.

Blocks between ``<!-- BEGIN GENERATED: key -->`` and ``<!-- END GENERATED: key -->`` are
replaced by the output of the generator named ``key``. Run ``python docs/generate.py`` after
changing a registry; ``python docs/generate.py --check`` (used by the tests) fails when a page
is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def _skeletons() -> str:
    from poselift.skeletons import skeleton_table

    return skeleton_table()


def _partitions() -> str:
    from poselift.partitions import list_partitions, partition_table

    builtin = [n for n in list_partitions() if n.split("-")[0] in ("h36m", "coco", "mpi_inf_3dhp")]
    return partition_table(builtin)


def _models() -> str:
    from poselift.models import create_model, get_model_entry, list_models

    rows = [
        "| model | what | input -> output | parameters (default config) | config keys | paper |",
        "|---|---|---|---|---|---|",
    ]
    for name in list_models():
        entry = get_model_entry(name)
        model = create_model(name)
        params = sum(p.numel() for p in model.parameters())
        io = "(B, T, J, 2) -> (B, T', J, 3)" if entry.temporal else "(B, J, 2) -> (B, J, 3)"
        keys = ", ".join(f"`{k}={v!r}`" for k, v in entry.defaults.items())
        rows.append(
            f"| `{name}` | {entry.summary} | {io} | {params / 1e6:.2f}M | {keys} | {entry.paper} |"
        )
    return "\n".join(rows)


GENERATORS: dict[str, Callable[[], str]] = {
    "skeletons": _skeletons,
    "partitions": _partitions,
    "models": _models,
}

_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<key>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=key) -->)",
    re.S,
)


def render(text: str) -> str:
    """Return ``text`` with every generated block refreshed."""

    def fill(m: re.Match[str]) -> str:
        key = m.group("key")
        if key not in GENERATORS:
            raise KeyError(f"unknown generated block {key!r}; known: {sorted(GENERATORS)}")
        return f"{m.group(1)}{GENERATORS[key]().rstrip()}\n{m.group(4)}"

    return _BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    """Refresh (or with ``--check`` verify) every generated block; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a page is out of date")
    args = parser.parse_args(argv)
    stale = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        new = render(text)
        if new != text:
            stale.append(page.name)
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)} (run python docs/generate.py)")
        return 1
    print(("updated: " + ", ".join(stale)) if stale else "docs up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
