"""Protocol evaluation: predictions for protocol samples, scores and reports.

The scoring and reporting layer, on top of :mod:`poselift.prediction` (which
:mod:`poselift.inference` also stands on; neither imports the other):

- :func:`load_test_set` / :func:`predict_test_set`: a protocol's test samples and, for
  temporal models, every frame of their clips (windows need the neighbouring frames), and the
  model's predictions at the test samples;
- :func:`predict_protocol`: predictions for any :class:`~poselift.data.ProtocolData`,
  its pixels turned into model inputs by the model's input contract, as ``lift`` does;
- :func:`evaluate`: the protocol metrics of docs/protocols.md (MPJPE, P-MPJPE in millimetres,
  PCK@150 mm and AUC in percent, overall and per content, and MPJPE by occurrence decile
  when occurrence values are available) as a JSON-ready dict; :func:`markdown_report`
  renders it as markdown tables;
- :func:`evaluate_sequences`: scores of lifted sequences, with (MPJPE, MPJPE-13) and
  without a reference (bone-length steadiness, left/right symmetry).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from poselift._validation import (
    Array,
    check_array,
    check_finite,
    check_positive,
    check_shape,
    to_numpy,
)
from poselift.data.protocols import ProtocolData, base_protocol, load_protocol
from poselift.metrics import MetricAccumulator, mpjpe, p_mpjpe
from poselift.models.inputs import InputContract
from poselift.prediction import predict_windows

__all__ = ["ARM_JOINTS", "LIMB_JOINTS_13", "MISSING_SEED", "TestSet", "evaluate",
           "evaluate_sequences", "load_test_set", "locate_samples", "markdown_report",
           "missing_scores", "predict_protocol", "predict_test_set"]

PCK_THRESHOLD_MM = 150.0
"""PCK threshold of the reports, millimetres (docs/protocols.md)."""


MISSING_SEED = 7
"""Seed of the missing-joint settings of the weights' cards ("missing<k>")."""


def missing_scores(n: int, joints: int, k: int, seed: int = MISSING_SEED
                   ) -> np.ndarray[Any, Any]:
    """``(n, joints)`` float32 scores: 1, except ``k`` distinct random joints per row at 0.

    The "k joints missing per frame" setting of the model cards (same seed: same joints).

    Examples:
        >>> s = missing_scores(4, 17, 2)
        >>> s.shape, (s == 0).sum(axis=1).tolist()
        ((4, 17), [2, 2, 2, 2])
    """
    scores = np.ones((n, joints), np.float32)
    if k:
        if not 0 <= k <= joints:
            raise ValueError(f"k: expected 0..{joints} missing joints, got {k}")
        rng = np.random.default_rng(seed)
        drop = np.argsort(rng.random((n, joints)), axis=1)[:, :k]
        np.put_along_axis(scores, drop, 0.0, axis=1)
    return scores


# --------------------------------------------------------------------------------------------
# protocol prediction
# --------------------------------------------------------------------------------------------


def _check_index(index: object, n: int) -> np.ndarray[Any, Any]:
    idx = np.asarray(to_numpy(index) if isinstance(index, torch.Tensor) else index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ValueError(f"index: a boolean mask needs shape ({n},), got {idx.shape}")
        return np.flatnonzero(idx)
    if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"index: expected a 1-D array of sample indices or a boolean mask, "
                         f"got shape {idx.shape} dtype {idx.dtype}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"index: expected indices in [0, {n}), got values in "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    return idx.astype(np.int64)


def predict_protocol(
    model: nn.Module,
    data: ProtocolData,
    *,
    index: Array | Sequence[int] | None = None,
    batch_size: int = 4096,
    flip_test: bool = False,
    progress: bool = False,
) -> np.ndarray[Any, Any]:
    """Predictions of a model for the samples of a protocol split.

    The samples' pixels become model inputs by the model's input contract
    (:meth:`~poselift.data.ProtocolData.model_inputs`: as :func:`poselift.lift` does); a
    model with a score channel gets score 1 for every joint. Temporal models gather each
    sample's window from the samples of the same clip and camera (frames must be
    consecutive: load the protocol with ``frame_step=1`` and choose the evaluated samples
    with ``index``) and run the strided form of the network
    (:func:`~poselift.prediction.predict_windows`), which gives the same output as the
    full-sequence network with edge padding.

    Args:
        model: a lifting model.
        data: the protocol samples (e.g. :func:`~poselift.data.load_protocol`).
        index: predict these samples only (indices or a boolean mask); temporal windows still
            use all samples.
        batch_size: samples per forward pass.
        flip_test: average with the mirrored input's mirrored prediction.
        progress: progress bar on stderr.

    Returns:
        ``(N, J_out, 3)`` (or ``(len(index), J_out, 3)``) float32 metres, root-relative camera
        coordinates.

    Raises:
        TypeError: ``data`` is not a ProtocolData.
        ValueError: the model's input skeleton does not match, non-consecutive frames for a
            temporal model.

    Examples:
        >>> import poselift
        >>> from poselift.data.protocols import _toy_protocol
        >>> model = poselift.create_model("sr", hidden=16)
        >>> predict_protocol(model, _toy_protocol(), flip_test=True).shape
        (8, 17, 3)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(data, ProtocolData):
        raise TypeError(f"data: expected a ProtocolData, got {type(data).__name__}")
    contract = InputContract.of(model)
    idx = np.arange(len(data), dtype=np.int64) if index is None else _check_index(index,
                                                                                   len(data))
    frames = torch.from_numpy(data.model_inputs(contract))
    r = contract.receptive_field

    def windows(batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return data.window_indices(r, causal=contract.causal, index=batch)

    return predict_windows(model, frames, idx, windows, batch_size=batch_size,
                           flip_test=flip_test, progress=progress)


@dataclass(frozen=True)
class TestSet:
    """A protocol's test samples, with every frame of their clips for temporal models.

    Attributes:
        samples: the evaluated samples (e.g. every 4th frame, or a P3 rare subset).
        frames: every frame of the samples' clips (``frame_step=1``), or None when only
            single-frame models are evaluated.
        index: positions of ``samples`` in ``frames`` (:func:`locate_samples`), or None.
    """

    samples: ProtocolData
    frames: ProtocolData | None = None
    index: np.ndarray[Any, Any] | None = None


def load_test_set(
    protocol: str,
    root: str | Path,
    inputs: Literal["gt", "noisy"] = "gt",
    *,
    layout: str = "h36m",
    temporal: bool = False,
    frame_step: int | None = None,
    clips_every: int = 1,
    with_occurrence: bool = False,
    progress: bool = False,
) -> TestSet:
    """Load a protocol's test samples (and, ``temporal``, all frames of their clips).

    Args:
        protocol: a Bandai protocol name (:data:`~poselift.data.PROTOCOLS`).
        root: the directory holding ``bandai/``.
        inputs: ``"gt"`` or ``"noisy"`` 2D.
        layout: the 2D layout (the model's input skeleton).
        temporal: also load every frame of the test clips, for temporal windows.
        frame_step: test samples at frames ``0, s, 2s, ...`` (default: the protocol's).
        clips_every: every k-th test clip only (quick runs).
        with_occurrence: P1/val-style: fill the samples' occurrence (deciles).
        progress: progress messages on stderr.

    Examples:
        >>> ts = load_test_set("p1-style", "../shared/data", temporal=True)  # doctest: +SKIP
        >>> len(ts.samples), len(ts.frames)  # doctest: +SKIP
        (118440, 472116)
    """
    samples = load_protocol(protocol, root, "test", inputs, frame_step=frame_step,
                            layout=layout, with_occurrence=with_occurrence,
                            progress=progress).every_kth_clip(clips_every)
    if not temporal:
        return TestSet(samples)
    frames = load_protocol(base_protocol(protocol), root, "test", inputs, frame_step=1,
                           layout=layout, progress=progress)
    frames = frames.subset(np.flatnonzero(np.isin(frames.clip, np.unique(samples.clip))))
    return TestSet(samples, frames, locate_samples(frames, samples))


def predict_test_set(model: nn.Module, test: TestSet, *, batch_size: int = 4096,
                     flip_test: bool = False, progress: bool = False) -> np.ndarray[Any, Any]:
    """Predictions of ``model`` at ``test.samples`` (temporal windows from ``test.frames``).

    Raises:
        ValueError: a temporal model and a test set loaded without its frames.
    """
    if InputContract.of(model).temporal and InputContract.of(model).receptive_field > 1:
        if test.frames is None or test.index is None:
            raise ValueError("test: a temporal model needs the test set's frames "
                             "(load_test_set(..., temporal=True))")
        return predict_protocol(model, test.frames, index=test.index, batch_size=batch_size,
                                flip_test=flip_test, progress=progress)
    return predict_protocol(model, test.samples, batch_size=batch_size, flip_test=flip_test,
                            progress=progress)


# --------------------------------------------------------------------------------------------
# matching samples between protocol sets
# --------------------------------------------------------------------------------------------


def locate_samples(data: ProtocolData, samples: ProtocolData) -> np.ndarray[Any, Any]:
    """Positions in ``data`` of the samples of ``samples``, matched by (clip, frame, camera).

    Used to evaluate temporal models: predict on the full-frame protocol (``frame_step=1``)
    at the samples of the subsampled one (``frame_step=4``, or a P3 rare subset).

    Args:
        data: the superset (e.g. ``load_protocol("p1-style", root, "test", frame_step=1)``).
        samples: the samples to find (e.g. ``load_protocol("p3-rare10", root, "test")``).

    Returns:
        ``(len(samples),)`` int64 indices into ``data``.

    Raises:
        TypeError: arguments are not ProtocolData.
        ValueError: some samples are missing from ``data`` (the message names the first).

    Examples:
        >>> from poselift.data.protocols import _toy_protocol
        >>> full = _toy_protocol()
        >>> locate_samples(full, full.subset([5, 2])).tolist()
        [5, 2]
    """
    for name, value in (("data", data), ("samples", samples)):
        if not isinstance(value, ProtocolData):
            raise TypeError(f"{name}: expected a ProtocolData, got {type(value).__name__}")
    _, inv = np.unique(np.concatenate([data.clip, samples.clip]), return_inverse=True)
    clip_a, clip_b = inv[: len(data)], inv[len(data):]
    frames = int(max(data.frame.max(initial=0), samples.frame.max(initial=0))) + 1
    cams = int(max(data.camera.max(initial=0), samples.camera.max(initial=0))) + 1
    key_a = (clip_a.astype(np.int64) * frames + data.frame) * cams + data.camera
    key_b = (clip_b.astype(np.int64) * frames + samples.frame) * cams + samples.camera
    order = np.argsort(key_a, kind="stable")
    pos = np.searchsorted(key_a[order], key_b)
    pos = np.minimum(pos, max(len(data) - 1, 0))
    found = order[pos] if len(data) else np.zeros(len(samples), np.int64)
    bad = np.flatnonzero(key_a[found] != key_b) if len(data) else np.arange(len(samples))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"samples: {bad.size} of {len(samples)} samples are not in data, e.g. clip "
            f"{samples.clip[i]!r} frame {int(samples.frame[i])} camera {int(samples.camera[i])}"
        )
    return found.astype(np.int64)


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


_ACCUMULATED = ("mpjpe", "p_mpjpe", "pck3d", "auc3d")
_KEYS = {"mpjpe": "mpjpe", "p_mpjpe": "p_mpjpe", "pck3d": "pck", "auc3d": "auc"}


def _report(pred: np.ndarray[Any, Any], target: np.ndarray[Any, Any], groups: object
            ) -> tuple[dict[str, float], dict[Hashable, dict[str, float]],
                       dict[Hashable, int]]:
    """(overall, per group, group sizes) of the report metrics, via the accumulator."""
    acc = MetricAccumulator(_ACCUMULATED, scale=1000.0, pck_threshold=PCK_THRESHOLD_MM)
    acc.update(pred, target, groups=groups)
    rep = acc.compute()

    def row(values: dict[str, float]) -> dict[str, float]:
        return {_KEYS[m]: values[m] * (100.0 if m in ("pck3d", "auc3d") else 1.0)
                for m in _ACCUMULATED}

    per = {g: row({m: rep.per_group[m][g] for m in _ACCUMULATED}) for g in rep.group_counts}
    return row(rep.overall), per, dict(rep.group_counts)


def evaluate(
    predictions: Array,
    data: ProtocolData | Array,
    *,
    content: Sequence[str] | np.ndarray[Any, Any] | None = None,
    occurrence: Array | None = None,
    deciles: int = 10,
) -> dict[str, Any]:
    """Protocol metrics of predictions against ground truth, as a JSON-ready dict.

    All distances are in millimetres (inputs in metres); PCK (at 150 mm) and AUC (0-150 mm,
    31 thresholds) in percent. Means are frame-weighted (every sample counts once), computed
    with :class:`~poselift.metrics.MetricAccumulator`.

    Args:
        predictions: ``(N, J, 3)`` metres (e.g. from :func:`predict_protocol`).
        data: a :class:`~poselift.data.ProtocolData` (targets ``poses3d``, ``content`` and,
            when present, ``occurrence`` are taken from it), or ``(N, J, 3)`` target metres.
        content: ``(N,)`` labels for the per-content table (default: ``data.content``).
        occurrence: ``(N,)`` occurrence values (default: ``data.occurrence``); when given,
            MPJPE is also reported by occurrence decile (rarest first, paper Fig. 5).
        deciles: number of occurrence bins (equal sample counts).

    Returns:
        ``{"samples", "mpjpe", "p_mpjpe", "pck", "auc", "pck_threshold_mm",
        "per_content": {label: {"samples", "mpjpe", "p_mpjpe", "pck", "auc"}},
        "deciles": [{"decile", "samples", "occurrence_min", "occurrence_max", "mpjpe",
        "p_mpjpe"}, ...] or None}``, plus ``protocol``, ``split``, ``inputs`` for ProtocolData.

    Raises:
        ValueError: shapes disagree, or labels/occurrence have the wrong length.

    Examples:
        >>> import numpy as np
        >>> target = np.zeros((4, 17, 3))
        >>> pred = target + np.array([0.03, 0.04, 0.0])              # 50 mm off everywhere
        >>> r = evaluate(pred, target, content=["walk", "walk", "run", "bow"],
        ...              occurrence=np.array([0.3, 0.1, 0.2, 0.4]), deciles=2)
        >>> round(r["mpjpe"], 6), r["pck"], r["per_content"]["run"]["samples"]
        (50.0, 100.0, 1)
        >>> [d["occurrence_max"] for d in r["deciles"]]
        [0.2, 0.4]
    """
    pred = check_array(predictions, "predictions")
    if isinstance(data, ProtocolData):
        target: Array = data.poses3d
        content = data.content if content is None else content
        occurrence = data.occurrence if occurrence is None else occurrence
    else:
        target = check_array(data, "data")
    dims = check_shape(target, "data", "(N, J, 3)")
    check_shape(pred, "predictions", "(N, J, 3)", N=dims["N"], J=dims["J"])
    if isinstance(deciles, bool) or not isinstance(deciles, int) or deciles < 1:
        raise ValueError(f"deciles: expected a positive int, got {deciles!r}")
    n = dims["N"]
    p = to_numpy(pred).astype(np.float64)
    t = to_numpy(target).astype(np.float64)
    labels = None
    if content is not None:
        labels = np.asarray(content)
        if labels.shape != (n,):
            raise ValueError(f"content: expected {n} labels, got shape {labels.shape}")
        labels = labels.astype(str)
    occ = None
    if occurrence is not None:
        occ = to_numpy(check_array(occurrence, "occurrence")).astype(np.float64)
        if occ.shape != (n,):
            raise ValueError(f"occurrence: expected shape ({n},), got {occ.shape}")
        check_finite(occ, "occurrence")
    nan = dict.fromkeys(("mpjpe", "p_mpjpe", "pck", "auc"), math.nan)
    if n:
        overall, per, counts = _report(p, t, labels)
    else:
        overall, per, counts = dict(nan), {}, {}
    result: dict[str, Any] = {"samples": n, **overall, "pck_threshold_mm": PCK_THRESHOLD_MM}
    if isinstance(data, ProtocolData):
        result = {"protocol": data.name, "split": data.split, "inputs": data.inputs, **result}
    result["per_content"] = ({str(g): {"samples": counts[g], **per[g]}
                              for g in sorted(counts, key=str)} if labels is not None else {})
    result["deciles"] = None
    if occ is not None:
        order = np.argsort(occ, kind="stable")
        code = np.empty(n, dtype=np.int64)
        bins = np.array_split(order, deciles)
        for k, sel in enumerate(bins):
            code[sel] = k
        _, per_bin, _ = _report(p, t, code) if n else ({}, {}, {})
        rows = []
        for k, sel in enumerate(bins):
            means = per_bin.get(k, nan)
            rows.append({"decile": k + 1, "samples": int(sel.size),
                         "occurrence_min": float(occ[sel].min()) if sel.size else None,
                         "occurrence_max": float(occ[sel].max()) if sel.size else None,
                         "mpjpe": means["mpjpe"], "p_mpjpe": means["p_mpjpe"]})
        result["deciles"] = rows
    return result


ARM_JOINTS = (11, 12, 13, 14, 15, 16)
"""Shoulders, elbows and wrists of H36M-17."""

ARM_BONES = ((11, 12), (12, 13), (14, 15), (15, 16))
"""Upper arms and forearms of H36M-17 (left shoulder-elbow, elbow-wrist, then right)."""

LIMB_JOINTS_13 = (0, 1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)
"""The pelvis and the 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists) of
H36M-17: the joints every detector and mocap skeleton places alike (MPJPE-13)."""


def evaluate_sequences(
    predictions: Sequence[Array],
    targets: Sequence[Array],
    *,
    frame_step: int = 4,
    inputs: Sequence[Array] | None = None,
) -> dict[str, Any]:
    """Scores of lifted sequences, with and without a reference.

    Args:
        predictions: one ``(T_i, 17, 3)`` H36M-17 sequence per clip, metres, pelvis-relative.
        targets: the matching ground truth, same shapes.
        frame_step: score frames ``0, s, 2s, ...`` of every sequence (the reference-free
            checks use every frame).
        inputs: the 2D input of each sequence, ``(T_i, J, 2|3)`` pixels (and a score), for
            the motion check (optional).

    Returns:
        A JSON-ready dict, distances in mm: ``mpjpe``, ``p_mpjpe`` (all 17 joints),
        ``mpjpe13``, ``p_mpjpe13`` (:data:`LIMB_JOINTS_13`, aligned on those joints only),
        ``p_mpjpe_arms`` (:data:`ARM_JOINTS`, aligned on those joints only: what is left to
        score when the lower body is out of view),
        frame-weighted over the scored frames; ``bone_cv`` (mean over sequences and bones of
        each bone length's coefficient of variation over the sequence, in %) and
        ``asymmetry`` (mean left/right relative bone-length difference, in %) of the
        predictions, and the same of the targets (``bone_cv_target``,
        ``asymmetry_target``: what a perfect lifter would show); the checks that need no
        reference (:mod:`poselift.metrics`): ``jitter`` (mean acceleration of the 13 joints,
        mm per frame squared, and ``jitter_target``), ``max_root_distance`` (the farthest
        any joint lies from the pelvis in any frame, metres), ``far_frames`` (frames with a
        joint more than 1.5 m from the pelvis) and, with ``inputs``, ``motion_ratio`` (mean
        over sequences of output over input motion, about 1 when the output follows its
        input); ``arm_scale``: the length of the predicted arms (:data:`ARM_BONES`, summed
        over the scored frames where both poses are finite) over the true arms' (P-MPJPE
        aligns scale away, so a body drawn too small shows here); ``sequences`` and
        ``frames`` (scored).

    Examples:
        >>> import numpy as np
        >>> t = [np.random.default_rng(0).normal(size=(8, 17, 3))]
        >>> r = evaluate_sequences([t[0] + [0.01, 0.0, 0.0]], t)
        >>> round(r["mpjpe"], 6), r["frames"]
        (10.0, 2)
    """
    if len(predictions) != len(targets):
        raise ValueError(f"predictions: expected one per target sequence ({len(targets)}), "
                         f"got {len(predictions)}")
    if isinstance(frame_step, bool) or not isinstance(frame_step, int) or frame_step < 1:
        raise ValueError(f"frame_step: expected a positive int, got {frame_step!r}")
    from poselift.metrics import (
        FAR_FROM_PELVIS,
        bone_length_cv,
        limb_asymmetry,
        mean_acceleration,
        motion_ratio,
        root_distance,
    )

    if inputs is not None and len(inputs) != len(targets):
        raise ValueError(f"inputs: expected one per target sequence ({len(targets)}), got "
                         f"{len(inputs)}")

    mask = np.zeros(17, dtype=bool)
    mask[list(LIMB_JOINTS_13)] = True
    arms = np.zeros(17, dtype=bool)
    arms[list(ARM_JOINTS)] = True
    sums = dict.fromkeys(("mpjpe", "p_mpjpe", "mpjpe13", "p_mpjpe13", "p_mpjpe_arms"), 0.0)
    cv: list[np.ndarray[Any, Any]] = []
    asym: list[np.ndarray[Any, Any]] = []
    jitter: list[tuple[float, float]] = []
    motion: list[float] = []
    far_frames = 0
    max_root = 0.0
    frames = 0
    arm_lengths = np.zeros(2)  # predicted, true
    bone_a, bone_b = [a for a, _ in ARM_BONES], [b for _, b in ARM_BONES]
    for k, (pred, target) in enumerate(zip(predictions, targets, strict=True)):
        p = to_numpy(check_array(pred, f"predictions[{k}]")).astype(np.float64)
        t = to_numpy(check_array(target, f"targets[{k}]")).astype(np.float64)
        check_shape(t, f"targets[{k}]", "(T, 17, 3)")
        check_shape(p, f"predictions[{k}]", "(T, 17, 3)", T=t.shape[0])
        ps, ts = p[::frame_step] * 1000.0, t[::frame_step] * 1000.0
        n = len(ps)
        frames += n
        sums["mpjpe"] += float(np.asarray(mpjpe(ps, ts))) * n
        sums["p_mpjpe"] += float(np.asarray(p_mpjpe(ps, ts))) * n
        sums["mpjpe13"] += float(np.asarray(mpjpe(ps, ts, mask=mask))) * n
        sums["p_mpjpe13"] += float(np.asarray(p_mpjpe(ps, ts, mask=mask))) * n
        sums["p_mpjpe_arms"] += float(np.asarray(p_mpjpe(ps, ts, mask=arms))) * n
        lengths = np.stack([np.linalg.norm(x[:, bone_a] - x[:, bone_b], axis=-1).sum(-1)
                            for x in (ps, ts)])
        arm_lengths += lengths[:, np.isfinite(lengths).all(0)].sum(-1)
        if len(p) > 1:
            cv.append(np.stack([np.asarray(bone_length_cv(p)), np.asarray(bone_length_cv(t))]))
        asym.append(np.stack([np.asarray(limb_asymmetry(p)).mean(0),
                              np.asarray(limb_asymmetry(t)).mean(0)]))
        far = np.asarray(root_distance(p))
        far_frames += int((far > FAR_FROM_PELVIS).sum())
        max_root = max(max_root, float(far.max()))
        if len(p) >= 3:
            j13 = list(LIMB_JOINTS_13)
            jitter.append((float(mean_acceleration(p[:, j13])) * 1000,
                           float(mean_acceleration(t[:, j13])) * 1000))
        if inputs is not None and len(p) >= 2:
            motion.append(float(motion_ratio(p, to_numpy(check_array(inputs[k],
                                                                      f"inputs[{k}]")))))
    result: dict[str, Any] = {"sequences": len(targets), "frames": frames}
    result.update({k: v / frames if frames else math.nan for k, v in sums.items()})
    cv_mean = np.mean(cv, axis=(0, 2)) * 100 if cv else np.full(2, math.nan)
    asym_mean = np.mean(asym, axis=(0, 2)) * 100 if asym else np.full(2, math.nan)
    result.update(bone_cv=float(cv_mean[0]), bone_cv_target=float(cv_mean[1]),
                  asymmetry=float(asym_mean[0]), asymmetry_target=float(asym_mean[1]))
    jit = np.mean(jitter, axis=0) if jitter else np.full(2, math.nan)
    result.update(jitter=float(jit[0]), jitter_target=float(jit[1]),
                  max_root_distance=max_root, far_frames=far_frames,
                  arm_scale=float(arm_lengths[0] / arm_lengths[1]) if arm_lengths[1] > 0
                  else math.nan)
    if inputs is not None:
        result["motion_ratio"] = float(np.mean(motion)) if motion else math.nan
    return result


def _fmt(value: object, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_report(result: dict[str, Any], *, title: str | None = None, digits: int = 1) -> str:
    """Render an :func:`evaluate` result as markdown: overall, per content, per decile.

    Args:
        result: the dict returned by :func:`evaluate` (or loaded back from its JSON).
        title: an optional ``##`` heading.
        digits: decimals shown.

    Returns:
        Markdown text.

    Examples:
        >>> import numpy as np
        >>> r = evaluate(np.full((2, 17, 3), 0.01), np.zeros((2, 17, 3)), content=["a", "b"])
        >>> print(markdown_report(r).splitlines()[2])
        | all | 2 | 17.3 | 0.0 | 100.0 | 87.1 |
    """
    check_positive(digits, "digits", allow_zero=True)
    head = "| {} | samples | MPJPE (mm) | P-MPJPE (mm) | PCK@{:g} (%) | AUC (%) |"
    pck_mm = float(result.get("pck_threshold_mm", PCK_THRESHOLD_MM))
    lines: list[str] = []
    if title:
        lines += [f"## {title}", ""]

    def row(label: str, r: dict[str, Any]) -> str:
        cells = [_fmt(r.get(k), digits) for k in ("mpjpe", "p_mpjpe", "pck", "auc")]
        return f"| {label} | {r.get('samples', '-')} | " + " | ".join(cells) + " |"

    lines += [head.format("set", pck_mm), "|---|---|---|---|---|---|", row("all", result)]
    per_content = result.get("per_content") or {}
    if per_content:
        lines += ["", head.format("content", pck_mm), "|---|---|---|---|---|---|"]
        lines += [row(str(k), v) for k, v in per_content.items()]
    deciles = result.get("deciles")
    if deciles:
        lines += ["", "MPJPE by occurrence decile (1 = rarest):", "",
                  "| decile | samples | occurrence | MPJPE (mm) | P-MPJPE (mm) |",
                  "|---|---|---|---|---|"]
        for d in deciles:
            occ = f"{_fmt(d.get('occurrence_min'), 4)}-{_fmt(d.get('occurrence_max'), 4)}"
            lines.append(f"| {d['decile']} | {d['samples']} | {occ} | "
                         f"{_fmt(d.get('mpjpe'), digits)} | {_fmt(d.get('p_mpjpe'), digits)} |")
    return "\n".join(lines)
