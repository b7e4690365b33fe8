"""Model and weight registries (tables only): ``register_model``, ``list_models``, ``list_weights``.

A model is a builder function registered with :func:`register_model`. Its keyword-only
parameters (with defaults) are the model's config keys: registering is all it takes for
``list_models``, :func:`~poselift.models.create_model`, the model table in the docs and the
parametrized tests to pick it up.

Weights are named ``"<model>.<tag>"`` and registered with :func:`register_weights`; they live
inside the package (no download at run time) and carry a model card (``meta``).

This module holds the tables and nothing that builds or reads models: building is
:mod:`poselift.models.factory`, file I/O :mod:`poselift.models.checkpoint` (timm's split).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from poselift._registry import Registry

__all__ = [
    "LEGACY_CONFIG",
    "UNIVERSAL_CONFIG",
    "ModelEntry",
    "WeightsEntry",
    "get_model_entry",
    "get_weights",
    "list_models",
    "list_weights",
    "register_model",
    "register_weights",
    "unregister_model",
    "unregister_weights",
]

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)


@dataclass(frozen=True)
class ModelEntry:
    """A registered model builder.

    Attributes:
        name: registry name, e.g. ``"sr"``.
        builder: the function that builds the model from keyword-only config values.
        defaults: the builder's config keys and default values.
        temporal: True for models that take ``(B, T, J, 2)`` sequences.
        paper: where the model comes from (section / equation / reference).
        summary: one line for tables.
    """

    name: str
    builder: Builder
    defaults: Mapping[str, Any]
    temporal: bool
    paper: str
    summary: str


@dataclass(frozen=True)
class WeightsEntry:
    """Pretrained weights shipped inside the package.

    Attributes:
        name: ``"<model>.<tag>"``.
        path: checkpoint file (written by :func:`poselift.save_model`).
        meta: the model card: skeletons, training data and licence, recipe and command,
            metrics, parameter count.
    """

    name: str
    path: Path
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name part of ``name``."""
        return self.name.split(".", 1)[0]


UNIVERSAL_CONFIG: dict[str, Any] = {"input_norm": "screen"}
"""Config keys every model has, the contract of its inputs (not passed to the builder):
``input_norm``: how pixels become model inputs, ``"screen"`` (the camera's image size) or
``"bbox"`` (the person's box, :mod:`poselift.normalization`)."""

LEGACY_CONFIG: dict[str, Any] = {"context_init": "random"}
"""Config keys added after checkpoints were first written, with the value such older
checkpoints were trained with: :func:`~poselift.models.load_model` fills them in for a model
whose builder has the key when the stored config lacks it (``context_init``: SR layers were
initialized with a random context map before the key existed)."""

_MODELS: Registry[ModelEntry] = Registry("model")
_WEIGHTS: Registry[WeightsEntry] = Registry("weights")


def register_model(
    name: str, *, temporal: bool = False, paper: str = "", summary: str = ""
) -> Callable[[B], B]:
    """Decorator that registers a model builder under ``name``.

    The builder must take keyword-only parameters, each with a default; they are the model's
    config keys. Duplicate names raise ``ValueError``.

    Examples:
        >>> import torch
        >>> @register_model("doc_linear", summary="a doc example")
        ... def doc_linear(*, width: int = 4) -> torch.nn.Module:
        ...     return torch.nn.Linear(width, width)
        >>> from poselift.models import create_model
        >>> m = create_model("doc_linear", width=3)
        >>> m.config, m.receptive_field
        ({'name': 'doc_linear', 'width': 3, 'input_norm': 'screen'}, 1)
        >>> unregister_model("doc_linear")
    """

    def wrap(builder: B) -> B:
        params = inspect.signature(builder).parameters.values()
        bad = [p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY
               or p.default is inspect.Parameter.empty]
        if bad:
            raise TypeError(
                f"model builder {name!r}: parameters {bad} must be keyword-only with defaults"
            )
        defaults = {p.name: p.default for p in params}
        _MODELS.register(
            name,
            ModelEntry(name, builder, defaults, temporal, paper, summary or name),
        )
        return builder

    return wrap


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry of model ``name`` (unknown names raise listing the known ones)."""
    return _MODELS.get(name)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, sorted, optionally filtered by a shell pattern (``"sr*"``).

    Examples:
        >>> {"fc", "sr", "tcn", "sr_tcn"} <= set(list_models())
        True
        >>> list_models("sr*")
        ['sr', 'sr_tcn']
    """
    return _MODELS.names(pattern)


def unregister_model(name: str) -> None:
    """Remove model ``name`` from the registry (for tests and interactive experiments)."""
    _MODELS.unregister(name)


def register_weights(entry: WeightsEntry, *, overwrite: bool = False) -> WeightsEntry:
    """Register shipped weights; the model part of the name must be a registered model."""
    if "." not in entry.name:
        raise ValueError(f"weights name must look like '<model>.<tag>', got {entry.name!r}")
    _MODELS.get(entry.model)
    return _WEIGHTS.register(entry.name, entry, overwrite=overwrite)


def unregister_weights(name: str) -> None:
    """Remove weights ``name`` from the registry (for tests and interactive experiments)."""
    _WEIGHTS.unregister(name)


def get_weights(name: str) -> WeightsEntry:
    """The registered weights ``name`` (``"<model>.<tag>"``)."""
    return _WEIGHTS.get(name)


def list_weights(model: str | None = None) -> list[str]:
    """Names of shipped weights, all or those of ``model``.

    Examples:
        >>> all(w.startswith("sr") for w in list_weights("sr"))
        True
    """
    if model is not None:
        _MODELS.get(model)
        return [w for w in _WEIGHTS.names() if _WEIGHTS.get(w).model == model]
    return _WEIGHTS.names()
