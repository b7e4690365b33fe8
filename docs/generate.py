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


def _detector_skeletons() -> str:
    from poselift.skeletons import get_skeleton, skeleton_table

    names = ["body_25", "body_25b", "coco_18", "halpe_26", "mediapipe_pose"]
    sources = [f"- `{n}`: {get_skeleton(n).source}" for n in names]
    return skeleton_table(names) + "\n\nSources of the orders:\n\n" + "\n".join(sources)


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


_SETTINGS = (
    ("p1-style/gt", "P1, GT 2D"), ("p1-style/noisy", "P1, noisy 2D (4 px)"),
    ("p1-style/gt/missing1", "P1, GT, 1 joint missing per frame"),
    ("p1-style/gt/missing2", "P1, GT, 2 joints missing per frame"),
    ("p1-style/gt/image_size", "P1, GT, `image_size=(1000, 1000)`"),
    ("p3-rare20/gt", "P3 rare 20 %, GT"), ("p3-rare10/gt", "P3 rare 10 %, GT"),
    ("p2-cross-set/gt", "P2, GT (not held out, see note)"),
    ("p2-cross-set/noisy", "P2, noisy (not held out)"),
)


def _weights() -> str:
    """One model card per shipped weights file, from poselift/weights/cards.json."""
    from poselift.models.zoo import load_cards

    cards = load_cards()
    if not cards:
        return "No weights are shipped in this version."
    out = []
    names = sorted(cards)
    out.append("| | " + " | ".join(f"`{n}`" for n in names) + " |")
    out.append("|---|" + "---|" * len(names))
    out.append("| model | " + " | ".join(cards[n]["summary"] for n in names) + " |")
    out.append("| parameters | " + " | ".join(f"{cards[n]['parameters']:,}" for n in names)
               + " |")
    out.append("| file | " + " | ".join(
        f"{cards[n]['storage']['bytes'] / 2**20:.1f} MiB {cards[n]['storage']['dtype']}"
        for n in names) + " |")
    if any("metrics_clips_every" in cards[n] for n in names):
        out.append("| test clips measured (P1, P2, P3) | " + " | ".join(
            f"every {cards[n]['metrics_clips_every']}th" if "metrics_clips_every" in cards[n]
            else "all" for n in names) + " |")
    for key, label in _SETTINGS:
        cells = []
        for n in names:
            m = cards[n]["metrics"].get(key)
            cells.append("-" if m is None else f"{m['mpjpe']:.1f} / {m['p_mpjpe']:.1f}")
        out.append(f"| {label}: MPJPE / P-MPJPE (mm) | " + " | ".join(cells) + " |")
    out.append("| `poselift demo` clip (held-out elderly bow, detector-like noise, an occluded "
               "wrist): MPJPE (mm) | " + " | ".join(
                   f"{cards[n]['demo_mpjpe_mm']:.1f}" if "demo_mpjpe_mm" in cards[n] else "-"
                   for n in names) + " |")
    wild = sorted({cond for n in names for cond in cards[n].get("wild", {})},
                  key=lambda c: (c != "rig", c != "wild", c))
    if wild:
        out.append("")
        out.append("The wild evaluation ([wild.md](wild.md)), MPJPE-13 / P-MPJPE-13 (mm):")
        out.append("")

        def scores(n: str, cond: str) -> str:
            m = cards[n].get("wild", {}).get(cond)
            return "-" if m is None else f"{m['mpjpe13']:.1f} / {m['p_mpjpe13']:.1f}"

        out += _condition_table(wild, names, scores)
        checked = [c for c in wild if any("motion_ratio" in cards[n].get("wild", {}).get(c, {})
                                          for n in names)]
        if checked:
            out += ["", "Checks that need no 3D on the same inputs (the cards' `wild` section): "
                    "motion ratio (the output's motion over the input's; ~1 when the pose "
                    "follows the input, near 0 when it freezes) / farthest joint from the "
                    "pelvis (m) / for temporal weights, the mean distance (mm) to the "
                    "single-frame weights' output:", ""]

            def checks(n: str, cond: str) -> str:
                m = cards[n].get("wild", {}).get(cond, {})
                if "motion_ratio" not in m:
                    return "-"
                ref = f" / {m['to_reference']:.1f}" if "to_reference" in m else ""
                return f"{m['motion_ratio']:.2f} / {m['max_root_distance']:.2f}{ref}"

            out += _condition_table(checked, names, checks)
    out.append("")
    for n in names:
        c = cards[n]
        t = c["training"]
        out.append(f"**`{n}`**: {c['summary']}. Licence: **{c['licence']}, non-commercial** "
                   f"(training data: {c['data']}). Trained with `{t['command']}` "
                   f"(seed {t['seed']}, {t['epochs']} epochs, {t['samples_seen']:,} samples, "
                   f"{t['wall_time_s'] / 60:.0f} min on {t['machine']}); shipped with "
                   f"`{c['command']}`. float16 storage would move outputs by up to "
                   f"{c['storage']['float16_max_output_diff_mm']:.2f} mm.")
        out.append("")
    out.append(f"Metrics: {cards[names[0]]['metrics_note']}.")
    return "\n".join(out)


def _condition_table(conds: list[str], names: list[str],
                     cell: Callable[[str, str], str]) -> list[str]:
    """A markdown table: a row per condition, a column per weights name, ``cell(name, cond)``."""
    lines = ["| condition | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for cond in conds:
        lines.append(f"| {cond} | " + " | ".join(cell(n, cond) for n in names) + " |")
    return lines


_WILD_ORDER = ("rig", "roll", "high", "lens", "bodies", "face", "no-face", "noise", "occlusion",
               "wild")


def _wild_shipped() -> str:
    """The shipped weights in the wild: the first weights (runs/wild-before.json) -> the cards."""
    import json

    from poselift.models.zoo import load_cards

    cards = load_cards()
    before_file = DOCS.parent / "runs" / "wild-before.json"
    records = json.loads(before_file.read_text()) if before_file.is_file() else {}
    names = [n for n in sorted(cards) if cards[n].get("wild")]
    before = {n: records[f"old-{n}"]["conditions"] for n in names if f"old-{n}" in records}
    conds = [c for c in _WILD_ORDER if any(c in cards[n]["wild"] for n in names)]
    out = ["MPJPE-13 (mm) through `poselift.lift`, every 5th P1 test clip; `a -> b`: the first "
           "shipped weights (`old-<name>` in `runs/wild-before.json`) -> the shipped weights "
           "(their cards); a single number: weights without a first version.", ""]

    def change(n: str, cond: str) -> str:
        now = cards[n]["wild"].get(cond)
        old = before.get(n, {}).get(cond)
        if now is None:
            return "-"
        if old is None:
            return f"{now['mpjpe13']:.1f}"
        return f"{old['mpjpe13']:.1f} -> {now['mpjpe13']:.1f}"

    out += _condition_table(conds, names, change)
    target = next((b["wild"] for b in before.values() if "bone_cv_target" in b.get("wild", {})),
                  None)
    truth = ("" if target is None else f"; the rendered bodies themselves: "
             f"{target['bone_cv_target']:.1f} / {target['asymmetry_target']:.1f}")
    out += ["", "Reference-free checks on `wild` (all conditions at once): bone-length CV / "
            f"left-right asymmetry (%{truth}):", "",
            "| | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|" + "---|" * len(names)]
    for label, src in (("first weights", "before"), ("shipped", "now")):
        cells = []
        for n in names:
            m = (before.get(n, {}) if src == "before" else cards[n]["wild"]).get("wild")
            cells.append("-" if m is None else f"{m['bone_cv']:.1f} / {m['asymmetry']:.1f}")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


GENERATORS: dict[str, Callable[[], str]] = {
    "skeletons": _skeletons,
    "detector-skeletons": _detector_skeletons,
    "partitions": _partitions,
    "models": _models,
    "weights": _weights,
    "wild-shipped": _wild_shipped,
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
