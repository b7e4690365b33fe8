"""Batched forward passes with test-time flip averaging: normalized arrays in, poses out.

The layer under both users of a model: :mod:`poselift.inference` (``lift``, pixels from a
detector) and :mod:`poselift.evaluation` (protocol test sets). Inputs are already model
inputs (:meth:`~poselift.models.inputs.InputContract.prepare`):

- :func:`predict`: single-frame models on ``(..., J, C)``; temporal models on whole sequences
  ``(T, J, C)`` or ``(N, T, J, C)``, one output per input frame: the sequence is edge-padded
  (:meth:`~poselift.models.inputs.InputContract.pad`) and run through the full-sequence
  network in chunks of at most ``batch_size`` output frames, so memory stays bounded
  whatever the length;
- :func:`predict_windows`: temporal models at chosen frames of a frame table, each frame's
  window gathered by index and run through the strided form of the network
  (:meth:`~poselift.models.temporal.TemporalNet.strided_twin`), which gives the same output.

Test-time flip averaging (``flip_test=True``): the input is mirrored
(:meth:`~poselift.models.inputs.InputContract.flip_inputs`), predicted, mirrored back and
averaged with the plain prediction.

The model runs without gradients in eval mode. A module in training mode is never switched
(that would race with other threads using it and leave it changed): it is run through a
private eval-mode copy instead.

Small passes (at most :data:`SMALL_CALL_FRAMES` poses, e.g. one pose) run on one intra-op
thread (:func:`small_call_threads`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from poselift._validation import Array, check_array, check_finite, check_shape, like, to_numpy
from poselift.models.inputs import InputContract
from poselift.progress import ProgressBar
from poselift.skeletons import get_skeleton

__all__ = ["SMALL_CALL_FRAMES", "Place", "device_and_dtype", "eval_model", "predict",
           "predict_checked", "predict_windows", "run_model", "small_call_threads"]

SMALL_CALL_FRAMES = 32
"""Forward passes of at most this many output frames (poses) run on one intra-op thread
(:func:`small_call_threads`); 0 turns that off."""


def small_call_threads(frames: int) -> contextlib.AbstractContextManager[None]:
    """Run a small forward pass on one intra-op thread of the calling thread.

    For ``frames <= SMALL_CALL_FRAMES`` the calling thread's torch intra-op thread count is set
    to 1 for the duration of the block and restored afterwards; larger passes are left
    alone. A pass over a few poses cannot use more threads well, and on a machine whose
    other cores are busy, waiting for them costs far more than the work (one pose: 168 ms
    with 2 threads on a busy 2-core machine, 6.5 ms with one).

    Thread safety: with torch's OpenMP backend ``torch.set_num_threads`` sets the *calling*
    thread's OpenMP and MKL thread counts, so other threads that already ran torch code keep
    theirs; it also sets the default that threads which have not run torch code yet pick up
    on their first parallel operation, so such a thread starting during the block starts
    with 1 thread. Set :data:`SMALL_CALL_FRAMES` to 0 to keep the thread count untouched.

    Examples:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with small_call_threads(1):
        ...     inside = torch.get_num_threads()
        >>> inside, torch.get_num_threads() == before
        (1, True)
    """
    n = torch.get_num_threads()
    if n == 1 or frames > SMALL_CALL_FRAMES:
        return _AS_IS
    return _OneThread(n)


_AS_IS = contextlib.nullcontext()
"""The thread count left as it is (a reusable context manager)."""


class _OneThread:
    """One intra-op thread inside the block, ``n`` again after it (:func:`small_call_threads`).

    A plain class: entered on every small call, cheaper than a generator-based one.
    """

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.n)


def eval_model(model: nn.Module) -> nn.Module:
    """``model`` itself if every submodule is in eval mode, else an eval-mode deep copy.

    Never changes ``model``: callers sharing a module between threads, or training it, keep
    its mode and its weights untouched.

    Examples:
        >>> import poselift
        >>> net = poselift.create_model("fc", hidden=16)          # training mode when built
        >>> eval_model(net) is net, net.training, eval_model(net.eval()) is net
        (False, True, True)
    """
    stack: list[nn.Module | None] = [model]  # every submodule (faster than model.modules())
    while stack:
        m = stack.pop()
        if m is None:
            continue
        if m.training:
            break
        stack.extend(m._modules.values())
    else:
        return model
    clone = copy.deepcopy(model)
    clone.eval()
    return clone


def _joints(skeleton: str) -> int:
    return get_skeleton(skeleton).num_joints


Place = tuple[torch.device, torch.dtype]
"""Where a network runs: the device and dtype of its weights (:func:`device_and_dtype`)."""


def device_and_dtype(model: nn.Module) -> Place:
    """The device and dtype of the model's first parameter or floating-point buffer.

    Depth first (a module's parameters before its buffers); CPU float32 without any. An
    inference copy (:func:`poselift.models.fuse_for_inference`) holds buffers only.

    Examples:
        >>> import torch, poselift
        >>> device_and_dtype(poselift.create_model("sr", hidden=32).double())
        (device(type='cpu'), torch.float64)
    """
    stack = [model]  # depth first, in registration order, as model.parameters() (faster)
    while stack:
        m = stack.pop()
        for p in m._parameters.values():
            if p is not None:
                return p.device, p.dtype
        for b in m._buffers.values():
            if b is not None and b.is_floating_point():
                return b.device, b.dtype
        stack += [c for c in reversed(m._modules.values()) if c is not None]
    return torch.device("cpu"), torch.float32


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or \
            batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    return int(batch_size)


def run_model(net: nn.Module, contract: InputContract, x: torch.Tensor, *,
              flip_test: bool = False, place: Place | None = None) -> torch.Tensor:
    """One forward pass on the network's device and dtype, optionally flip-averaged.

    Test-time flip averaging is
    :meth:`~poselift.models.inputs.InputContract.flip_average`: the input is mirrored, both
    go through the network in one batch, the mirrored prediction is mirrored back and the
    two are averaged.

    Args:
        net: the network (its contract is ``contract``); run as it is (callers pass an
            eval-mode model, :func:`eval_model`).
        contract: the network's input contract.
        x: ``(B, ..., J, C)`` model inputs.
        flip_test: average with the mirrored input's mirrored prediction.
        place: the network's :func:`device_and_dtype` when the caller holds it (a network
            that is not moved, e.g. the lifting core's inference copy); None: found here.

    Returns:
        ``(B, ..., J_out, 3)`` network outputs, on the network's device and dtype.

    Examples:
        >>> import torch, poselift
        >>> net = poselift.create_model("sr", hidden=32).eval()
        >>> c = InputContract.of(net)
        >>> with torch.no_grad():
        ...     run_model(net, c, torch.zeros(2, 17, 2), flip_test=True).shape
        torch.Size([2, 17, 3])
    """
    device, dtype = device_and_dtype(net) if place is None else place
    x = x.to(device, dtype)
    if not flip_test:
        out: torch.Tensor = net(x)
        return out
    return contract.flip_average(net, x)


class _Runner:
    """Runs a network on batches (:func:`run_model`)."""

    def __init__(self, net: nn.Module, contract: InputContract, flip_test: bool,
                 place: Place | None = None) -> None:
        self.net = net
        self.contract = contract
        self.flip_test = flip_test
        self.place = device_and_dtype(net) if place is None else place  # once, not per batch

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ..., J, C)`` inputs -> network outputs ``(B, ..., J_out, 3)``."""
        return run_model(self.net, self.contract, x, flip_test=self.flip_test,
                         place=self.place)


@torch.no_grad()
def predict(
    model: nn.Module,
    inputs: Array,
    *,
    batch_size: int = 4096,
    flip_test: bool = False,
    progress: bool = False,
    padded: bool = False,
) -> Array:
    """Predict 3D poses for a set of normalized inputs, batched, optionally flip-averaged.

    Args:
        model: a lifting model (e.g. from :func:`poselift.create_model`).
        inputs: model inputs (:meth:`~poselift.models.inputs.InputContract.prepare`):
            ``(..., J, C)`` for single-frame models, ``(T, J, C)`` or ``(N, T, J, C)``
            sequences for temporal models (``C >= 2``: x, y[, score]).
        batch_size: samples per forward pass (temporal: output frames per pass).
        flip_test: average with the mirrored input's mirrored prediction.
        progress: show a progress bar over the frames on stderr.
        padded: temporal models: the sequences already hold the context of their first and
            last windows (e.g. a chunk of a longer sequence, or edge-padded by
            :meth:`~poselift.models.inputs.InputContract.pad`): ``T + R - 1`` input frames
            give the T outputs of the frames in between, and no edge padding is added.

    Returns:
        ``(..., J_out, 3)`` metres, root-relative camera coordinates, same leading shape and
        kind (numpy/torch, device) as ``inputs`` (``padded``: ``R - 1`` frames fewer).

    Raises:
        TypeError: ``model`` is not a module or ``inputs`` not an array.
        ValueError: bad shapes, non-finite inputs.

    Examples:
        >>> import torch, poselift
        >>> model = poselift.create_model("sr", hidden=64)
        >>> predict(model, torch.zeros(5, 17, 2), flip_test=True).shape
        torch.Size([5, 17, 3])
        >>> tcn = poselift.create_model("tcn", channels=32, filter_widths=(3, 3))
        >>> predict(tcn, torch.zeros(20, 17, 2)).shape          # every frame of a sequence
        torch.Size([20, 17, 3])
        >>> predict(tcn, torch.zeros(20, 17, 2), padded=True).shape   # 9-frame windows
        torch.Size([12, 17, 3])
    """
    batch_size = _check_batch_size(batch_size)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    contract = InputContract.of(model)
    x = check_array(inputs, "inputs")
    spec = ("(N, T, J, C)" if contract.temporal and x.ndim == 4 else
            "(T, J, C)" if contract.temporal else "(..., J, C)")
    dims = check_shape(x, "inputs", spec, J=_joints(contract.skeleton))
    if dims["C"] < 2:
        raise ValueError(f"inputs: expected at least 2 channels (x, y), got shape "
                         f"{tuple(x.shape)}")
    check_finite(x, "inputs")
    if not isinstance(padded, bool):
        raise TypeError(f"padded: expected True or False, got {padded!r}")
    context = contract.receptive_field - 1 if padded and contract.temporal else 0
    if context and x.shape[-3] <= context:
        raise ValueError(f"inputs: padded sequences need more than R - 1 = {context} frames, "
                         f"got shape {tuple(x.shape)}")
    xt = torch.as_tensor(to_numpy(x)) if isinstance(x, np.ndarray) else x
    if xt.numel() == 0:  # no sample or no frame: the empty result of the right shape
        empty = torch.zeros(*xt.shape[:-2], _joints(contract.out_skeleton), 3)
        return empty.to(x.device) if isinstance(x, torch.Tensor) else empty.numpy()
    out = predict_checked(eval_model(model), contract, xt, batch_size=batch_size,
                          flip_test=flip_test, progress=progress, padded=padded)
    if isinstance(x, torch.Tensor):
        return out.to(x.device)
    return like(out.numpy(), x)


def predict_checked(net: nn.Module, contract: InputContract, xt: torch.Tensor, *,
                    batch_size: int, flip_test: bool = False, progress: bool = False,
                    padded: bool = False, place: Place | None = None) -> torch.Tensor:
    """:func:`predict` on inputs already checked: no validation, CPU float32 result.

    For callers that made the inputs themselves (``lift``'s chunks): ``net`` in eval mode
    (:func:`eval_model`), ``contract`` its contract, ``xt`` finite non-empty model inputs of
    the right shape. Runs without gradients (a caller already in ``torch.inference_mode``
    or ``torch.no_grad``, as the lifting core, enters no second context). ``place``: the
    network's :func:`device_and_dtype` when the caller holds it (see :func:`run_model`).
    """
    if torch.is_grad_enabled():
        with torch.no_grad():
            return predict_checked(net, contract, xt, batch_size=batch_size,
                                   flip_test=flip_test, progress=progress, padded=padded,
                                   place=place)
    context = contract.receptive_field - 1 if padded and contract.temporal else 0
    runner = _Runner(net, contract, flip_test, place)
    frames = math.prod(xt.shape[:-2]) - math.prod(xt.shape[:-3]) * context
    with small_call_threads(frames), \
            ProgressBar(frames, "lifting", unit="frame", enabled=progress) as bar:
        if contract.temporal:
            seqs = xt if xt.ndim == 4 else xt.unsqueeze(0)
            out = _predict_sequences(runner, seqs, batch_size, bar, padded)
            return out if xt.ndim == 4 else out[0]
        flat = xt if xt.ndim == 3 else xt.reshape(-1, *xt.shape[-2:])
        parts = []
        for s in range(0, flat.shape[0], batch_size):
            parts.append(runner(flat[s : s + batch_size]).cpu())
            bar.update(parts[-1].shape[0])
        if len(parts) == 1:
            out = parts[0]
        else:
            out = torch.cat(parts) if parts else torch.zeros(0, _joints(contract.out_skeleton), 3)
        return out if xt.ndim == 3 else out.reshape(*xt.shape[:-2], *out.shape[-2:])


def _predict_sequences(runner: _Runner, seqs: torch.Tensor, batch_size: int,
                       bar: ProgressBar, already_padded: bool = False) -> torch.Tensor:
    """``(N, T, J, C)`` -> ``(N, T, J_out, 3)``: edge-padded full-sequence passes.

    Short sequences go through together (up to ``batch_size`` output frames per pass); a
    long one is cut into chunks of ``batch_size`` output frames, each with the ``R - 1``
    frames of context its windows need, so activations never exceed one chunk.
    ``already_padded``: ``seqs`` hold ``T + R - 1`` frames for T outputs.
    """
    r = runner.contract.receptive_field
    n, t = seqs.shape[0], seqs.shape[1] - (r - 1 if already_padded else 0)
    padded = seqs if already_padded else runner.contract.pad(seqs)
    if t <= batch_size:
        per = max(1, batch_size // (t + r - 1))
        parts = []
        for s in range(0, n, per):
            parts.append(runner(padded[s : s + per]).cpu())
            bar.update(parts[-1].shape[0] * t)
        return torch.cat(parts)
    out = torch.empty(n, t, _joints(runner.contract.out_skeleton), 3)
    for i in range(n):
        for s in range(0, t, batch_size):
            e = min(t, s + batch_size)
            out[i, s:e] = runner(padded[i : i + 1, s : e + r - 1])[0].cpu()
            bar.update(e - s)
    return out


@torch.no_grad()
def predict_windows(
    model: nn.Module,
    frames: torch.Tensor,
    index: np.ndarray[Any, Any],
    windows: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]],
    *,
    batch_size: int = 4096,
    flip_test: bool = False,
    progress: bool = False,
) -> np.ndarray[Any, Any]:
    """Temporal predictions at chosen frames of a frame table, windows gathered by index.

    Args:
        model: a temporal lifting model (with ``strided_twin``) or a single-frame model
            (windows of one frame).
        frames: ``(N, J, C)`` model inputs of every frame (all sequences concatenated).
        index: ``(M,)`` the frames to predict.
        windows: maps a batch of frame indices ``(B,)`` to their windows' frame indices
            ``(B, R)`` (edge-padded within each sequence, e.g.
            :meth:`poselift.data.ProtocolData.window_indices`).
        batch_size: windows per forward pass.
        flip_test: flip averaging.
        progress: progress bar over the predicted frames.

    Returns:
        ``(M, J_out, 3)`` float32 numpy.

    Examples:
        >>> import numpy as np, torch, poselift
        >>> tcn = poselift.create_model("tcn", channels=16, filter_widths=(3,)).eval()
        >>> x = torch.randn(6, 17, 2)                  # one sequence of 6 frames
        >>> def win(i): return np.clip(i[:, None] + np.arange(-1, 2), 0, 5)
        >>> a = predict_windows(tcn, x, np.arange(6), win)
        >>> b = predict(tcn, x).numpy()
        >>> bool(np.allclose(a, b, atol=1e-5))
        True
    """
    batch_size = _check_batch_size(batch_size)
    net = eval_model(model)
    contract = InputContract.of(net)
    make_twin = getattr(net, "strided_twin", None)
    twin: nn.Module = make_twin() if contract.temporal and callable(make_twin) else net
    runner = _Runner(twin, contract, flip_test)
    out = np.empty((len(index), _joints(contract.out_skeleton), 3), dtype=np.float32)
    with ProgressBar(len(index), "predicting", unit="frame", enabled=progress) as bar:
        for s in range(0, len(index), batch_size):
            batch = index[s : s + batch_size]
            if contract.temporal:
                win = torch.from_numpy(np.asarray(windows(batch)))
                y = runner(frames[win])[:, -1]  # (B, 1, J_out, 3) -> its one frame
            else:
                y = runner(frames[torch.from_numpy(np.asarray(batch))])
            out[s : s + len(batch)] = y.cpu().numpy()
            bar.update(len(batch))
    return out
