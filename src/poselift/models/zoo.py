"""Pretrained weights shipped inside the package (``poselift/weights``).

Every shipped checkpoint has a model card in ``weights/cards.json`` (written by
``tools/ship_weights.py``): the model and its config, the training data and its licence,
the recipe and exact command, the parameter count, the metrics measured through
:func:`poselift.lift` and the fp16 storage error. Importing :mod:`poselift.models` registers
every card whose checkpoint file is present, so :func:`poselift.list_weights` lists them and
``create_model(model, weights=name)`` / ``poselift.lift(model=name)`` load them (no download).

The weights are trained on the Bandai-Namco-Research-Motiondataset (CC BY-NC 4.0): they are
for **non-commercial use only** (the poselift code itself is MIT).

Examples:
    >>> card = weights_card("sr.coco")
    >>> card["licence"], card["input_skeleton"], card["parameters"]
    ('CC BY-NC 4.0', 'coco', 946656)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from poselift.models.registry import WeightsEntry, get_weights, register_weights

__all__ = ["CARDS_FILE", "LICENCE", "WEIGHTS_DIR", "load_cards", "weights_card"]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
"""Directory of the shipped checkpoints (package data)."""

CARDS_FILE = WEIGHTS_DIR / "cards.json"
"""The model cards, ``{weights name: card}``."""

LICENCE = "CC BY-NC 4.0"
"""Licence of the shipped weights (that of their training data)."""


def load_cards(path: Path = CARDS_FILE) -> dict[str, dict[str, Any]]:
    """All model cards in ``path`` (``{}`` when the file does not exist).

    Examples:
        >>> isinstance(load_cards(), dict)
        True
    """
    if not path.is_file():
        return {}
    cards: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return cards


def weights_card(name: str) -> dict[str, Any]:
    """The model card of shipped weights ``name`` (see :func:`poselift.list_weights`)."""
    return dict(get_weights(name).meta)


def _register_shipped() -> None:
    for name, card in load_cards().items():
        path = WEIGHTS_DIR / str(card["file"])
        if path.is_file():
            register_weights(WeightsEntry(name, path, card), overwrite=True)


_register_shipped()
