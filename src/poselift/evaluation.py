"""Batched prediction with test-time flip averaging, and protocol evaluation reports.

:func:`predict` runs any lifting model (single-frame or temporal) over a whole test set:

- single-frame models: ``(N, J, C)`` normalized keypoints -> ``(N, J_out, 3)`` metres;
- temporal models on arrays: ``(T, J, C)`` or ``(N, T, J, C)`` sequences -> one prediction per
  frame, the sequence edge-padded like VideoPose3D (the first/last frame repeated; causal
  models are padded on the left only, so they never look ahead);
- any model on a :class:`~poselift.data.ProtocolData`: its normalized keypoints; temporal
  models gather each sample's window from the samples of the same clip and camera (frames
  must be consecutive: load the protocol with ``frame_step=1``) and run the strided form of
  the network (:meth:`~poselift.models.temporal.TemporalNet.strided_twin`), which gives the
  same output as the full-sequence network with edge padding. ``index`` restricts the
  prediction to some samples (e.g. every 4th frame) while their windows still use all frames.

Test-time flip averaging (``flip_test=True``): the input is mirrored (left/right joints
swapped with the skeleton's ``flip_indices`` and ``x -> -x`` in normalized coordinates, i.e.
about the image centre), predicted, mirrored back (``x -> -x``, joints swapped in the output
skeleton) and averaged with the plain prediction.

:func:`evaluate` turns predictions into the protocol metrics of PROTOCOLS.md (MPJPE, P-MPJPE
in millimetres, PCK@150 mm and AUC in percent, overall and per content, and MPJPE by
occurrence decile when occurrence values are available) as a JSON-ready dict;
:func:`markdown_report` renders it as markdown tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from poselift._progress import ProgressBar
from poselift._validation import (
    Array,
    check_array,
    check_finite,
    check_positive,
    check_shape,
    like,
    to_numpy,
)
from poselift.data.protocols import ProtocolData
from poselift.metrics import auc3d, mpjpe, p_mpjpe, pck3d
from poselift.normalization import TYPICAL_EXTENT_PX, normalize_bbox
from poselift.skeletons import Skeleton, get_skeleton

__all__ = ["LIMB_JOINTS_13", "evaluate", "evaluate_sequences", "locate_samples", "markdown_report",
           "predict", "sequence_indices"]

PCK_THRESHOLD_MM = 150.0
"""PCK threshold of the reports, millimetres (PROTOCOLS.md)."""


# --------------------------------------------------------------------------------------------
# model introspection
# --------------------------------------------------------------------------------------------


def _is_temporal(model: nn.Module) -> bool:
    """True for models that take ``(B, T, J, C)`` sequences."""
    config = getattr(model, "config", None)
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        from poselift.models import get_model_entry

        try:
            return get_model_entry(config["name"]).temporal
        except ValueError:
            pass
    return hasattr(model, "strided_twin") or int(getattr(model, "receptive_field", 1)) > 1


def _in_features(model: nn.Module) -> int:
    """Input channels per joint of a lifting model (2: x, y; 3: x, y, score)."""
    config = getattr(model, "config", None)
    if isinstance(config, dict) and "in_features" in config:
        return int(config["in_features"])
    return int(getattr(model, "in_features", 2))


def _input_norm(model: nn.Module) -> str:
    """How a lifting model's inputs are normalized: ``"screen"`` or ``"bbox"``."""
    config = getattr(model, "config", None)
    return str(config.get("input_norm", "screen")) if isinstance(config, dict) else "screen"


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def _skeletons(model: nn.Module, skeleton: str | Skeleton | None) -> tuple[Skeleton, Skeleton]:
    config = getattr(model, "config", None)
    config = config if isinstance(config, dict) else {}
    in_sk = get_skeleton(skeleton if skeleton is not None else config.get("skeleton", "h36m"))
    out_sk = get_skeleton(config.get("out_skeleton", "h36m"))
    return in_sk, out_sk


class _Runner:
    """Runs a network on batches, with optional flip averaging, in eval mode, no grad."""

    def __init__(self, net: nn.Module, in_sk: Skeleton, out_sk: Skeleton, flip_test: bool,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.net = net
        self.flip_test = flip_test
        self.device = device
        self.dtype = dtype
        self.in_flip = torch.tensor(in_sk.flip_indices, device=device)
        self.out_flip = torch.tensor(out_sk.flip_indices, device=device)
        self.sign = torch.tensor([-1.0, 1.0, 1.0], dtype=dtype, device=device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ..., J, C)`` inputs -> network outputs ``(B, ..., J_out, 3)``."""
        x = x.to(self.device, self.dtype)
        if not self.flip_test:
            out: torch.Tensor = self.net(x)
            return out
        mirrored = x.index_select(-2, self.in_flip).clone()
        mirrored[..., 0] = -mirrored[..., 0]
        y: torch.Tensor = self.net(torch.cat([x, mirrored], 0))
        plain, back = y[: x.shape[0]], y[x.shape[0]:]
        back = back.index_select(-2, self.out_flip) * self.sign
        return (plain + back) * 0.5


# --------------------------------------------------------------------------------------------
# temporal windows over ProtocolData
# --------------------------------------------------------------------------------------------


class _Sequences:
    """Samples grouped into (clip, camera) sequences ordered by frame, for window gathering."""

    def __init__(self, data: ProtocolData) -> None:
        n = len(data)
        _, clip_id = np.unique(data.clip, return_inverse=True)
        cams = int(data.camera.max(initial=0)) + 1
        order = np.lexsort((data.frame, data.camera, clip_id))
        key = clip_id[order].astype(np.int64) * cams + data.camera[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.zeros(0, int)
        counts = np.diff(np.r_[starts, n])
        group = np.repeat(np.arange(len(starts)), counts)
        frames = data.frame[order]
        if n and not np.array_equal(frames - frames[starts][group], np.arange(n) - starts[group]):
            raise ValueError(
                "data: temporal models need consecutive frames in every (clip, camera) "
                f"sequence, but data has frame_step={data.frame_step} or missing frames; load "
                "the protocol with frame_step=1 and select the evaluated samples with index="
            )
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        self.order = order
        self.rank = rank
        self.start = starts[group]
        self.count = counts[group]

    def windows(self, index: np.ndarray[Any, Any], offsets: np.ndarray[Any, Any]
                ) -> np.ndarray[Any, Any]:
        """``(B, R)`` sample indices of the edge-padded windows of samples ``index``."""
        p = self.rank[index]
        start = self.start[p][:, None]
        pos = (p - self.start[p])[:, None] + offsets[None, :]
        pos = np.clip(pos, 0, (self.count[p] - 1)[:, None])
        out: np.ndarray[Any, Any] = self.order[start + pos]
        return out


def sequence_indices(data: ProtocolData) -> list[np.ndarray[Any, Any]]:
    """Sample indices of every (clip, camera) sequence of ``data``, each in frame order.

    ``data`` must hold consecutive frames (``frame_step=1``), as temporal models need.

    Examples:
        >>> from poselift.data.protocols import _toy_protocol
        >>> [s.tolist() for s in sequence_indices(_toy_protocol())]
        [[0, 4], [1, 5], [2, 6], [3, 7]]
    """
    seqs = _Sequences(data)
    return np.split(seqs.order, np.unique(seqs.start)[1:])


def _offsets(receptive_field: int, causal: bool) -> np.ndarray[Any, Any]:
    r = receptive_field
    return np.arange(-(r - 1), 1) if causal else np.arange(-(r // 2), r // 2 + 1)


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    return batch_size


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


@torch.no_grad()
def predict(
    model: nn.Module,
    inputs: Array | ProtocolData,
    *,
    index: Array | Sequence[int] | None = None,
    batch_size: int = 4096,
    flip_test: bool = False,
    skeleton: str | Skeleton | None = None,
    progress: bool = False,
) -> Array:
    """Predict 3D poses for a whole set of inputs, batched, optionally flip-averaged.

    The model runs in eval mode without gradients on its own device (its training/eval mode
    is restored afterwards).

    Args:
        model: a lifting model (e.g. from :func:`poselift.create_model`).
        inputs: normalized screen coordinates, ``(N, J, C)`` (any leading dims) for
            single-frame models, ``(T, J, C)`` or ``(N, T, J, C)`` sequences for temporal
            models (``C >= 2``: x, y[, score...]); or a :class:`~poselift.data.ProtocolData`
            (its pixels are normalized with its image sizes, or per sample by their bounding
            box for ``input_norm="bbox"`` models; a model with a score channel,
            ``in_features=3``, gets score 1 for every joint).
        index: ProtocolData only: predict these samples (indices or a boolean mask); temporal
            windows still gather their neighbouring frames from all samples.
        batch_size: samples (windows, or frames of sequences) per forward pass.
        flip_test: average with the mirrored input's mirrored prediction.
        skeleton: input skeleton, for the flip (default: the model's ``config["skeleton"]``
            or ``"h36m"``).
        progress: array inputs: show a progress bar over the frames on stderr (tqdm when
            installed and stderr is a terminal, else a line every 2 s).

    Returns:
        ``(..., J_out, 3)`` metres, root-relative camera coordinates: same leading shape and
        kind as ``inputs`` for arrays; a float32 numpy ``(N, J_out, 3)`` (or
        ``(len(index), J_out, 3)``) for ProtocolData.

    Raises:
        TypeError: ``inputs`` is neither an array nor a ProtocolData.
        ValueError: bad shapes, non-consecutive frames for a temporal model on ProtocolData.

    Examples:
        >>> import torch, poselift
        >>> model = poselift.create_model("sr", hidden=64)
        >>> x = torch.zeros(5, 17, 2)
        >>> predict(model, x, flip_test=True).shape
        torch.Size([5, 17, 3])
        >>> tcn = poselift.create_model("tcn", channels=32, filter_widths=(3, 3))
        >>> predict(tcn, torch.zeros(20, 17, 2)).shape          # every frame of a sequence
        torch.Size([20, 17, 3])
    """
    batch_size = _check_batch_size(batch_size)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    temporal = _is_temporal(model)
    in_sk, out_sk = _skeletons(model, skeleton)
    device, dtype = _model_device_dtype(model)
    was_training = model.training
    model.eval()
    try:
        if isinstance(inputs, ProtocolData):
            return _predict_protocol(model, inputs, index, batch_size, flip_test, temporal,
                                     in_sk, out_sk, device, dtype)
        if index is not None:
            raise ValueError("index: only supported when inputs is a ProtocolData")
        x = check_array(inputs, "inputs")
        spec = "(N, T, J, C)" if temporal and x.ndim == 4 else (
            "(T, J, C)" if temporal else "(..., J, C)")
        dims = check_shape(x, "inputs", spec, J=in_sk.num_joints)
        if dims["C"] < 2:
            raise ValueError(f"inputs: expected at least 2 channels (x, y), got shape "
                             f"{tuple(x.shape)}")
        check_finite(x, "inputs")
        xt = torch.as_tensor(to_numpy(x)) if isinstance(x, np.ndarray) else x
        runner = _Runner(model, in_sk, out_sk, flip_test, device, dtype)
        frames = int(np.prod(xt.shape[:-2]))
        with ProgressBar(frames, "lifting", unit="frame", enabled=progress) as bar:
            if temporal:
                seqs = xt if xt.ndim == 4 else xt.unsqueeze(0)
                out = _predict_sequences(model, runner, seqs, batch_size, bar)
                out = out if xt.ndim == 4 else out[0]
            else:
                flat = xt.reshape(-1, *xt.shape[-2:])
                parts = []
                for s in range(0, flat.shape[0], batch_size):
                    parts.append(runner(flat[s : s + batch_size]).cpu())
                    bar.update(parts[-1].shape[0])
                out = (torch.cat(parts) if parts else torch.zeros(0, out_sk.num_joints, 3))
                out = out.reshape(*xt.shape[:-2], *out.shape[-2:])
        if isinstance(x, torch.Tensor):
            return out.to(x.device)
        return like(out.numpy(), x)
    finally:
        model.train(was_training)


def _predict_sequences(model: nn.Module, runner: _Runner, seqs: torch.Tensor,
                       batch_size: int, bar: ProgressBar | None = None) -> torch.Tensor:
    """``(N, T, J, C)`` sequences -> ``(N, T, J_out, 3)``, edge-padded full-sequence passes."""
    r = int(getattr(model, "receptive_field", 1))
    causal = bool(getattr(model, "causal", False))
    left = r - 1 if causal else (r - 1) // 2
    right = 0 if causal else r - 1 - left
    n, t = seqs.shape[:2]
    padded = torch.cat([seqs[:, :1].expand(n, left, *seqs.shape[2:]), seqs,
                        seqs[:, -1:].expand(n, right, *seqs.shape[2:])], 1)
    per = max(1, batch_size // (t + r - 1))
    parts = []
    for s in range(0, n, per):
        parts.append(runner(padded[s : s + per]).cpu())
        if bar is not None:
            bar.update(parts[-1].shape[0] * t)
    return torch.cat(parts)


def _bbox_normalized(data: ProtocolData, extent: float, window: int | None
                     ) -> np.ndarray[Any, Any]:
    """Bounding-box normalized keypoints of every sample, as ``poselift.lift`` does.

    ``window=None``: one scale per frame (single-frame models); else per (clip, camera)
    sequence the median of the larger sides over a centred window of that many frames
    (temporal models: their receptive field, one scale per training window).
    """
    kp = data.keypoints2d.astype(np.float64)
    if window is None:
        return np.asarray(normalize_bbox(kp[:, None], extent=extent))[:, 0].astype(np.float32)
    out = np.empty(kp.shape, np.float32)
    for part in sequence_indices(data):
        out[part] = np.asarray(normalize_bbox(kp[part], extent=extent, per_sequence=True,
                                              window=window))
    return out


def _predict_protocol(
    model: nn.Module, data: ProtocolData, index: object, batch_size: int, flip_test: bool,
    temporal: bool, in_sk: Skeleton, out_sk: Skeleton, device: torch.device,
    dtype: torch.dtype,
) -> np.ndarray[Any, Any]:
    n = len(data)
    idx = np.arange(n, dtype=np.int64) if index is None else _check_index(index, n)
    if in_sk.num_joints != data.keypoints2d.shape[1]:
        raise ValueError(f"inputs: the model takes {in_sk.num_joints} joints "
                         f"({in_sk.name}), the ProtocolData has {data.keypoints2d.shape[1]}")
    if _input_norm(model) == "bbox":  # as poselift.lift: per frame, or one scale per sequence
        if in_sk.name not in TYPICAL_EXTENT_PX:
            raise ValueError(f"model: input_norm='bbox' is calibrated for "
                             f"{sorted(TYPICAL_EXTENT_PX)}, not {in_sk.name!r}")
        r = int(getattr(model, "receptive_field", 1))
        kp = torch.from_numpy(_bbox_normalized(data, TYPICAL_EXTENT_PX[in_sk.name],
                                               r if temporal and r > 1 else None))
    else:
        kp = torch.from_numpy(data.normalized_keypoints())
    feats = _in_features(model)
    if feats == 3:  # a score channel: every joint of a ProtocolData is visible
        kp = torch.cat([kp, torch.ones(*kp.shape[:-1], 1, dtype=kp.dtype)], -1)
    elif feats != 2:
        raise ValueError(f"model: expected in_features 2 or 3 for ProtocolData inputs, got {feats}")
    out = np.empty((len(idx), out_sk.num_joints, 3), dtype=np.float32)
    if temporal:
        r = int(getattr(model, "receptive_field", 1))
        causal = bool(getattr(model, "causal", False))
        make_twin = getattr(model, "strided_twin", None)
        twin: nn.Module = make_twin() if callable(make_twin) else model
        twin.eval()
        runner = _Runner(twin, in_sk, out_sk, flip_test, device, dtype)
        seqs = _Sequences(data)
        offsets = _offsets(r, causal)
        for s in range(0, len(idx), batch_size):
            win = torch.from_numpy(seqs.windows(idx[s : s + batch_size], offsets))
            y = runner(kp[win])  # (B, 1, J_out, 3)
            out[s : s + batch_size] = y[:, -1].cpu().numpy()
        return out
    runner = _Runner(model, in_sk, out_sk, flip_test, device, dtype)
    for s in range(0, len(idx), batch_size):
        sel = torch.from_numpy(idx[s : s + batch_size])
        out[s : s + batch_size] = runner(kp[sel]).cpu().numpy()
    return out


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


def _means(values: dict[str, np.ndarray[Any, Any]], sel: np.ndarray[Any, Any]
           ) -> dict[str, float]:
    return {k: float(v[sel].mean()) if sel.size else math.nan for k, v in values.items()}


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
    31 thresholds) in percent. Means are frame-weighted (every sample counts once).

    Args:
        predictions: ``(N, J, 3)`` metres (e.g. from :func:`predict`).
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
    p = to_numpy(pred).astype(np.float64) * 1000.0
    t = to_numpy(target).astype(np.float64) * 1000.0
    values = {
        "mpjpe": np.asarray(mpjpe(p, t, reduction="none")),
        "p_mpjpe": np.asarray(p_mpjpe(p, t, reduction="none")),
        "pck": 100.0 * np.asarray(pck3d(p, t, PCK_THRESHOLD_MM, reduction="none")),
        "auc": 100.0 * np.asarray(auc3d(p, t, reduction="none")),
    }
    everything = np.arange(n)
    result: dict[str, Any] = {"samples": n, **_means(values, everything),
                              "pck_threshold_mm": PCK_THRESHOLD_MM}
    if isinstance(data, ProtocolData):
        result = {"protocol": data.name, "split": data.split, "inputs": data.inputs, **result}
    per_content: dict[str, Any] = {}
    if content is not None:
        labels = np.asarray(content)
        if labels.shape != (n,):
            raise ValueError(f"content: expected {n} labels, got shape {labels.shape}")
        names, code = np.unique(labels.astype(str), return_inverse=True)
        for k, name in enumerate(names):
            sel = np.flatnonzero(code == k)
            per_content[str(name)] = {"samples": int(sel.size), **_means(values, sel)}
    result["per_content"] = per_content
    result["deciles"] = None
    if occurrence is not None:
        occ_arr = check_array(occurrence, "occurrence")
        occ = to_numpy(occ_arr).astype(np.float64)
        if occ.shape != (n,):
            raise ValueError(f"occurrence: expected shape ({n},), got {occ.shape}")
        check_finite(occ, "occurrence")
        order = np.argsort(occ, kind="stable")
        rows = []
        for k, sel in enumerate(np.array_split(order, deciles)):
            row: dict[str, Any] = {"decile": k + 1, "samples": int(sel.size),
                                   "occurrence_min": float(occ[sel].min()) if sel.size else None,
                                   "occurrence_max": float(occ[sel].max()) if sel.size else None}
            means = _means(values, sel)
            row.update(mpjpe=means["mpjpe"], p_mpjpe=means["p_mpjpe"])
            rows.append(row)
        result["deciles"] = rows
    return result


LIMB_JOINTS_13 = (0, 1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)
"""The pelvis and the 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists) of
H36M-17: the joints every detector and mocap skeleton places alike (MPJPE-13)."""


def evaluate_sequences(
    predictions: Sequence[Array],
    targets: Sequence[Array],
    *,
    frame_step: int = 4,
) -> dict[str, Any]:
    """Scores of lifted sequences, with and without a reference.

    Args:
        predictions: one ``(T_i, 17, 3)`` H36M-17 sequence per clip, metres, pelvis-relative.
        targets: the matching ground truth, same shapes.
        frame_step: score frames ``0, s, 2s, ...`` of every sequence (the reference-free
            checks use every frame).

    Returns:
        A JSON-ready dict, distances in mm: ``mpjpe``, ``p_mpjpe`` (all 17 joints),
        ``mpjpe13``, ``p_mpjpe13`` (:data:`LIMB_JOINTS_13`, aligned on those joints only),
        frame-weighted over the scored frames; ``bone_cv`` (mean over sequences and bones of
        each bone length's coefficient of variation over the sequence, in %) and
        ``asymmetry`` (mean left/right relative bone-length difference, in %) of the
        predictions, and the same of the targets (``bone_cv_target``,
        ``asymmetry_target``: what a perfect lifter would show); ``sequences`` and
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
    from poselift.metrics import bone_length_cv, limb_asymmetry

    mask = np.zeros(17, dtype=bool)
    mask[list(LIMB_JOINTS_13)] = True
    sums = dict.fromkeys(("mpjpe", "p_mpjpe", "mpjpe13", "p_mpjpe13"), 0.0)
    cv: list[np.ndarray[Any, Any]] = []
    asym: list[np.ndarray[Any, Any]] = []
    frames = 0
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
        if len(p) > 1:
            cv.append(np.stack([np.asarray(bone_length_cv(p)), np.asarray(bone_length_cv(t))]))
        asym.append(np.stack([np.asarray(limb_asymmetry(p)).mean(0),
                              np.asarray(limb_asymmetry(t)).mean(0)]))
    result: dict[str, Any] = {"sequences": len(targets), "frames": frames}
    result.update({k: v / frames if frames else math.nan for k, v in sums.items()})
    cv_mean = np.mean(cv, axis=(0, 2)) * 100 if cv else np.full(2, math.nan)
    asym_mean = np.mean(asym, axis=(0, 2)) * 100 if asym else np.full(2, math.nan)
    result.update(bone_cv=float(cv_mean[0]), bone_cv_target=float(cv_mean[1]),
                  asymmetry=float(asym_mean[0]), asymmetry_target=float(asym_mean[1]))
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
