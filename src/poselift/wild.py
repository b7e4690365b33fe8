"""The wild evaluation: held-out motion under each test condition, lifted through ``lift``.

The conditions (:data:`poselift.data.wild.CONDITIONS`: rolled and high cameras, lenses and
framing, other bodies, the face turned away or missing, detector noise, occlusions, all at
once) are rendered from held-out clips (:func:`poselift.data.wild.render_condition`) and
lifted exactly as a user lifts detector output: pixels with a score, ``image_size=None``,
whole sequences for temporal models, frames one by one for single-frame models. Scores:
:func:`poselift.evaluation.evaluate_sequences` (MPJPE, P-MPJPE on 17 and on 13 joints,
bone-length steadiness, left/right symmetry, and the checks that need no 3D: jitter, motion
of the output against motion of the input, the farthest joint from the pelvis; with a
``reference`` lifter, how far the two lifters' outputs are apart).

This module stands above both :mod:`poselift.inference` and :mod:`poselift.evaluation`.

Examples:
    >>> import tempfile, poselift
    >>> from poselift.data import load_bandai
    >>> from poselift.data.synthetic import write_synthetic_bandai
    >>> ms = load_bandai(write_synthetic_bandai(tempfile.mkdtemp()))
    >>> net = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox",
    ...                             hidden=16)                            # untrained!
    >>> r = evaluate_conditions(net, ms.select(list(ms.names[:2])), ["rig", "no-face"])
    >>> sorted(r), r["rig"]["sequences"]
    (['no-face', 'rig'], 2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn

from poselift.data.mocap import MotionSet
from poselift.data.wild import CONDITIONS, WildClip, render_condition
from poselift.evaluation import evaluate_sequences
from poselift.inference import Lifter
from poselift.models.inputs import InputContract

__all__ = ["FACE_CONDITIONS", "applicable_conditions", "evaluate_conditions", "output_distance"]

FACE_CONDITIONS = ("face", "no-face")
"""Conditions about face points: they apply to input layouts with a face (COCO)."""


def applicable_conditions(skeleton: str) -> list[str]:
    """The conditions that mean something for a model taking ``skeleton`` input.

    Examples:
        >>> "no-face" in applicable_conditions("h36m"), "no-face" in applicable_conditions("coco")
        (False, True)
    """
    return [c for c in CONDITIONS if skeleton == "coco" or c not in FACE_CONDITIONS]


def evaluate_conditions(
    model: str | os.PathLike[str] | nn.Module,
    motion: MotionSet,
    conditions: Sequence[str] | None = None,
    *,
    frame_step: int = 4,
    seed: int = 0,
    rendered: dict[tuple[str, str], list[WildClip]] | None = None,
    report: Callable[[str, dict[str, Any]], None] | None = None,
    lifter_options: Mapping[str, Any] | None = None,
    reference: str | os.PathLike[str] | nn.Module | None = None,
) -> dict[str, dict[str, Any]]:
    """Scores of a lifter on held-out motion under each test condition.

    Args:
        model: what :func:`poselift.lift` takes as ``model`` (a weights name, a checkpoint
            path or a module); its input skeleton decides the layout, its kind (single-frame
            or temporal) how sequences are lifted.
        motion: held-out world motion (e.g. ``protocol_motion("p1-style", root, "test")``).
        conditions: names from :data:`~poselift.data.wild.CONDITIONS` (default: all that apply
            to the model's input skeleton).
        frame_step: score every ``frame_step``-th frame.
        seed: the rendering seed (the same seed renders the same inputs for every model).
        rendered: a cache ``{(condition, skeleton): clips}`` shared between models.
        report: called with ``(condition, scores)`` after each condition.
        lifter_options: keyword arguments for :class:`~poselift.Lifter` (e.g.
            ``{"max_gap": 5}`` or ``{"score_threshold": 0.1}``).
        reference: a second lifter (e.g. the single-frame weights beside temporal ones),
            run on the same inputs with the same options; adds ``to_reference``: the mean
            distance (mm) between the two root-relative outputs over the scored frames where
            both have a pose (a check that needs no 3D: how much the model departs from it).

    Returns:
        ``{condition: evaluate_sequences(...) result}`` (plus ``to_reference``).
    """
    module = _module(model)
    lifter = Lifter(module, **dict(lifter_options or {}))
    contract = InputContract.of(module)
    ref_lifter = ref_contract = None
    if reference is not None:
        ref_module = _module(reference)
        ref_contract = InputContract.of(ref_module)
        if ref_contract.skeleton != contract.skeleton:
            raise ValueError(f"reference: takes {ref_contract.skeleton!r} input, the model "
                             f"{contract.skeleton!r}; they must read the same keypoints")
        ref_lifter = Lifter(ref_module, **dict(lifter_options or {}))
    cache = {} if rendered is None else rendered
    out: dict[str, dict[str, Any]] = {}
    for cond in conditions or applicable_conditions(contract.skeleton):
        key = (cond, contract.skeleton)
        if key not in cache:
            cache[key] = render_condition(motion, cond, layout=contract.skeleton, seed=seed)
        clips = cache[key]
        preds = [np.asarray(lifter.lift(c.keypoints, skeleton=contract.skeleton,
                                        temporal=contract.temporal)) for c in clips]
        out[cond] = evaluate_sequences(preds, [c.targets for c in clips], frame_step=frame_step,
                                       inputs=[c.keypoints for c in clips])
        if ref_lifter is not None and ref_contract is not None:
            refs = [np.asarray(ref_lifter.lift(c.keypoints, skeleton=contract.skeleton,
                                               temporal=ref_contract.temporal)) for c in clips]
            out[cond]["to_reference"] = output_distance(preds, refs, frame_step=frame_step)
        if report is not None:
            report(cond, out[cond])
    return out


def output_distance(a: Sequence[np.ndarray], b: Sequence[np.ndarray], *,
                    frame_step: int = 1) -> float:
    """Mean joint distance (mm) between two lifters' outputs of the same sequences.

    Args:
        a: per sequence, poses ``(T, J, 3)`` in metres (root-relative, as ``lift`` returns).
        b: the other lifter's poses of the same sequences, the same shapes.
        frame_step: use every ``frame_step``-th frame.

    Returns:
        The mean over the used frames where both have a pose (NaN if there is none).

    Examples:
        >>> p = np.zeros((4, 17, 3)); q = p.copy(); q[..., 0] = 0.01
        >>> q[1] = np.nan
        >>> round(output_distance([p], [q]), 6)
        10.0
    """
    total, count = 0.0, 0
    for x, y in zip(a, b, strict=True):
        x = np.asarray(x, dtype=np.float64)[::frame_step]
        y = np.asarray(y, dtype=np.float64)[::frame_step]
        d = np.linalg.norm(x - y, axis=-1).mean(-1)
        ok = np.isfinite(d)
        total += float(d[ok].sum())
        count += int(ok.sum())
    return total / count * 1000.0 if count else float("nan")


def _module(model: str | os.PathLike[str] | nn.Module) -> nn.Module:
    """The network behind a weights name, a checkpoint path or a module."""
    if isinstance(model, nn.Module):
        return model
    from poselift.models import create_model, get_weights, list_weights, load_model

    name = os.fspath(model)
    if name in list_weights():
        return create_model(get_weights(name).model, weights=name)
    return load_model(name)
