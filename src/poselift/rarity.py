"""Pose similarity, occurrence and rare-pose subsets (paper Eq. 9-10).

Pose similarity (Eq. 9) of two poses with ``J`` joints, per-joint widths ``sigma_j``::

    PS(a, b) = (1/J) sum_j exp(-|a_j - b_j|^2 / (2 sigma_j^2))

Occurrence (Eq. 10) of a query pose in a reference set of ``M`` poses: the mean similarity,
which is a sum over joints of per-joint 3D Gaussian kernel sums::

    occ(q) = (1/(M J)) sum_j sum_m exp(-|q_j - r_mj|^2 / (2 sigma_j^2))

:func:`occurrence` computes it exactly (method ``"dense"``: chunked float64 evaluation of every
kernel) or to a guaranteed relative tolerance ``rtol`` (method ``"fast"``: per-joint Gauss
transforms on a lattice with a proven error bound, see :mod:`poselift.rarity_lattice`; any
query whose bound is not below ``rtol`` is recomputed exactly). Joints that are identical in
every reference pose (the root of root-relative poses) are summed exactly in closed form.
See docs/rarity.md for the method, its error bound and the measured speed.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import torch

from poselift import rarity_lattice as lattice
from poselift._validation import (
    Array,
    check_array,
    check_choice,
    check_finite,
    check_positive,
    check_real,
    check_shape,
    is_int,
    is_number,
    like,
)

__all__ = ["OccurrenceScorer", "occurrence", "pose_similarity", "rarest"]

Method: TypeAlias = Literal["auto", "dense", "fast"]
_METHODS = ("auto", "dense", "fast")
DEFAULT_RTOL = 1e-7
DEFAULT_CHUNK = 1 << 21
MAX_LATTICE_NODES = 1 << 23
"""Largest lattice (nodes) the fast method builds for one joint (64 MiB of float64)."""
_AUTO_DENSE_PAIRS = 1 << 28
"""``method="auto"`` evaluates densely when N * M * (varying joints) is at most this."""
_DENSE_COST = 1.6e-9
"""Model seconds per kernel evaluation of the dense method (2 cores, float64)."""
_LEVEL1_OCC = 0.02
"""The first fast pass is tuned so that queries with occurrence >= 2% of the maximum pass."""
_LEVEL2_OCC = 1e-4
_MAX_SIGMAS = 1e100
"""Largest ``|coordinate| / sigma``: squared (scaled) distances must stay finite in float64."""
_DIRECT_ABOVE = 512.0
"""Spread (in sigma) beyond which the dense method takes distances directly: the GEMM
expansion's rounding error, ``eps * spread^2``, would exceed ``1e-10`` in the exponent."""


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _sigma_tensor(sigma: object, num_joints: int) -> torch.Tensor:
    """Validate ``sigma`` (scalar or ``(J,)``) and return a float64 ``(J,)`` CPU tensor."""
    if isinstance(sigma, bool | str | bytes):
        raise TypeError(
            f"sigma: expected a positive number or a (J,) array, got {type(sigma).__name__}"
        )
    if isinstance(sigma, int | float | np.floating | np.integer):
        value = float(sigma)
        check_positive(value, "sigma")
        return torch.full((num_joints,), value, dtype=torch.float64)
    if isinstance(sigma, torch.Tensor):
        arr = sigma.detach().cpu().to(torch.float64).numpy()
    elif isinstance(sigma, np.ndarray | Sequence):
        try:
            arr = np.asarray(sigma, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"sigma: expected a positive number or a (J,) array, got {sigma!r}"
            ) from None
    else:
        raise TypeError(
            f"sigma: expected a positive number or a (J,) array, got {type(sigma).__name__}"
        )
    if arr.ndim == 0:
        check_positive(float(arr), "sigma")
        return torch.full((num_joints,), float(arr), dtype=torch.float64)
    if arr.shape != (num_joints,):
        raise ValueError(f"sigma: expected a scalar or shape ({num_joints},), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"sigma: expected positive finite values, got {arr.tolist()}")
    return torch.from_numpy(arr.copy())


def _check_magnitude(x: torch.Tensor, sigma: torch.Tensor, name: str) -> None:
    """``ValueError`` if a coordinate of ``x (N, J, 3)`` is beyond ``_MAX_SIGMAS`` sigma."""
    if x.numel() == 0:
        return
    worst = float((x.abs().amax(dim=(0, 2)) / sigma.to(x.device)).max())
    if worst > _MAX_SIGMAS:
        raise ValueError(
            f"{name}: coordinates up to {worst:.3g} sigma from the origin; expected below "
            f"{_MAX_SIGMAS:.0e} sigma (float64 squares of larger distances overflow); are the "
            "poses and sigma in the same unit?")


def _check_sigma(sigma: object) -> None:
    """Validate ``sigma`` before ``J`` is known (scalar or 1-d)."""
    if isinstance(sigma, torch.Tensor | np.ndarray | Sequence) and not isinstance(sigma, str):
        size = len(sigma) if np.ndim(np.asarray(sigma if not isinstance(sigma, torch.Tensor)
                                                else sigma.detach().cpu())) == 1 else 1
        _sigma_tensor(sigma, size)
    else:
        _sigma_tensor(sigma, 1)


def _poses(x: object, name: str, spec: str, **sizes: int) -> tuple[Array, torch.Tensor]:
    """Validate a pose set and return (original, float64 tensor on its device)."""
    arr = check_array(x, name)
    check_shape(arr, name, spec, **sizes)
    if isinstance(arr, np.ndarray):
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
        check_finite(arr, name)
        return arr, torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
    if arr.is_complex() or arr.dtype == torch.bool:
        raise TypeError(f"{name}: expected a real numeric tensor, got dtype {arr.dtype}")
    check_finite(arr, name)
    return arr, arr.detach().to(torch.float64).contiguous()


def _check_options(method: object, rtol: object, chunk_size: object) -> tuple[str, float, int]:
    m = check_choice(method, "method", _METHODS)
    if not is_number(rtol):
        raise TypeError(f"rtol: expected a number, got {type(rtol).__name__}")
    check_positive(float(rtol), "rtol")
    if float(rtol) >= 1:
        raise ValueError(f"rtol: expected a value below 1, got {rtol!r}")
    if chunk_size is None:
        chunk = DEFAULT_CHUNK
    elif is_int(chunk_size):
        if chunk_size < 1024:
            raise ValueError(f"chunk_size: expected an int >= 1024, got {chunk_size}")
        chunk = int(chunk_size)
    else:
        raise TypeError(f"chunk_size: expected an int or None, got {type(chunk_size).__name__}")
    return m, float(rtol), chunk


# --------------------------------------------------------------------------------------------
# progress reporting
# --------------------------------------------------------------------------------------------


class _Progress:
    """Progress in query-joint units: a callable, a tqdm bar, a stderr line, or nothing."""

    def __init__(self, progress: object, total: int) -> None:
        self.done = 0
        self.total = total
        self._call: Callable[[int, int], object] | None = None
        self._bar: Any = None
        self._line = False
        if progress is None or progress is False:
            return
        if progress is True:
            try:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, desc="occurrence", unit="qj", unit_scale=True)
            except ImportError:  # pragma: no cover - tqdm is optional
                self._line = True
        elif callable(progress):
            self._call = progress
        else:
            raise TypeError(
                f"progress: expected None, True or a callable(done, total), "
                f"got {type(progress).__name__}"
            )

    def grow(self, extra: int) -> None:
        self.total += extra
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def update(self, amount: int) -> None:
        self.done = min(self.total, self.done + amount)
        if self._call is not None:
            self._call(self.done, self.total)
        elif self._bar is not None:
            self._bar.update(amount)
        elif self._line:
            pct = 100.0 * self.done / max(self.total, 1)
            sys.stderr.write(f"\roccurrence: {pct:5.1f}% ({self.done}/{self.total})")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# --------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------


def _dense_joint(
    q: torch.Tensor, r: torch.Tensor, sigma: float, chunk: int, progress: _Progress
) -> torch.Tensor:
    """Exact ``sum_m exp(-|q - r_m|^2 / (2 sigma^2))`` for ``q (N, 3)``, ``r (M, 3)``.

    float64 throughout; squared distances come from one GEMM per block on coordinates centred
    on the reference mean (so the expansion |q|^2 + |r|^2 - 2 q.r loses no accuracy), and at
    most ``chunk`` kernel values are held at once. When the points spread over more than
    :data:`_DIRECT_ABOVE` sigma from that centre, the expansion would lose the kernels in
    rounding (its error grows with the spread squared): distances are then taken directly.
    """
    center = r.mean(0)
    rc = r - center
    qc = q - center
    inv = 1.0 / (2.0 * sigma * sigma)
    spread = max(float(rc.abs().max()), float(qc.abs().max()) if len(q) else 0.0) / sigma
    direct = spread > _DIRECT_ABOVE
    ones_r = torch.ones(r.shape[0], 1, dtype=r.dtype, device=r.device)
    ones_q = torch.ones(q.shape[0], 1, dtype=q.dtype, device=q.device)
    # arg = (2 inv q).r - inv |q|^2 - inv |r|^2 = -inv |q - r|^2
    ra = torch.cat([rc, ones_r, -inv * (rc * rc).sum(1, keepdim=True)], 1).T.contiguous()
    qa = torch.cat([2.0 * inv * qc, -inv * (qc * qc).sum(1, keepdim=True), ones_q], 1)
    n, m = q.shape[0], r.shape[0]
    bq = max(1, min(n, 256))
    br = max(1, min(m, chunk // bq))
    out = torch.zeros(n, dtype=q.dtype, device=q.device)
    buf = torch.empty(bq * br, dtype=q.dtype, device=q.device)
    for q0 in range(0, n, bq):
        q1 = min(n, q0 + bq)
        acc = out[q0:q1]
        for r0 in range(0, m, br):
            r1 = min(m, r0 + br)
            blk = buf[: (q1 - q0) * (r1 - r0)].view(q1 - q0, r1 - r0)
            if direct:
                d = torch.cdist(qc[q0:q1], rc[r0:r1],
                                compute_mode="donot_use_mm_for_euclid_dist")
                torch.mul(d.square_(), -inv, out=blk)
            else:
                torch.mm(qa[q0:q1], ra[:, r0:r1], out=blk)
            blk.exp_()
            acc += blk.sum(1)
        progress.update(q1 - q0)
    return out


def _dense(
    q: torch.Tensor,
    r: torch.Tensor,
    sigma: torch.Tensor,
    joints: Sequence[int],
    chunk: int,
    progress: _Progress,
) -> torch.Tensor:
    out = torch.zeros(q.shape[0], dtype=torch.float64, device=q.device)
    for j in joints:
        out += _dense_joint(q[:, j], r[:, j], float(sigma[j]), chunk, progress)
    return out


_MARGIN = 3.0
"""Queries farther than this many sigma outside the references' bounding box (per joint) are
summed exactly for that joint instead of enlarging the lattice."""


def _inside(qj: torch.Tensor, rj: torch.Tensor, sigma: float) -> torch.Tensor:
    lo = rj.min(0).values - _MARGIN * sigma
    hi = rj.max(0).values + _MARGIN * sigma
    return ((qj >= lo) & (qj <= hi)).all(1)


def _triple(v: torch.Tensor) -> tuple[float, float, float]:
    return float(v[0]), float(v[1]), float(v[2])


def _plans(
    q: torch.Tensor, r: torch.Tensor, sigma: torch.Tensor, joints: Sequence[int], delta: float
) -> dict[int, lattice.LatticePlan | None]:
    out: dict[int, lattice.LatticePlan | None] = {}
    for j in joints:
        rj = r[:, j]
        qj = q[:, j][_inside(q[:, j], rj, float(sigma[j]))]
        if qj.shape[0] == 0:
            out[j] = None
            continue
        out[j] = lattice.plan(
            _triple(qj.min(0).values),
            _triple(qj.max(0).values),
            _triple(rj.min(0).values),
            _triple(rj.max(0).values),
            int(qj.shape[0]),
            r.shape[0],
            float(sigma[j]),
            delta,
            MAX_LATTICE_NODES,
        )
    return out


def _lattice_joint(
    q: torch.Tensor,
    r: torch.Tensor,
    sigma: float,
    plan: lattice.LatticePlan,
    chunk: int,
    progress: _Progress,
) -> torch.Tensor:
    """One joint by the lattice; queries outside the references' box (plus margin) exactly."""
    inside = _inside(q, r, sigma)
    out = torch.empty(q.shape[0], dtype=torch.float64, device=q.device)
    if bool(inside.all()):
        out = lattice.gauss_sum(q.contiguous(), r.contiguous(), sigma, plan, chunk=chunk)
    else:
        idx = inside.nonzero().squeeze(1)
        out[idx] = lattice.gauss_sum(q[idx].contiguous(), r.contiguous(), sigma, plan,
                                     chunk=chunk)
        far = (~inside).nonzero().squeeze(1)
        out[far] = _dense_joint(q[far], r, sigma, chunk, _Progress(None, 0))
    progress.update(q.shape[0])
    return out


def _occurrence_sums(
    q: torch.Tensor,
    r: torch.Tensor,
    sigma: torch.Tensor,
    method: str,
    rtol: float,
    chunk: int,
    progress: object,
) -> torch.Tensor:
    """``occ(q)`` for ``q (N, J, 3)``, ``r (M, J, 3)`` float64 tensors (see module docstring).

    Computed in units of sigma (coordinates divided by ``sigma_j``, kernels of width 1): the
    kernels are unchanged, and with coordinates below ``_MAX_SIGMAS`` (checked by the
    callers) no square overflows, whatever the poses' unit and ``sigma``.
    """
    n, num_joints = q.shape[0], q.shape[1]
    m = r.shape[0]
    total = torch.zeros(n, dtype=torch.float64, device=q.device)
    if n == 0:
        return total
    q = q / sigma[None, :, None]
    r = r / sigma[None, :, None]
    sigma = torch.ones_like(sigma)
    constant = [j for j in range(num_joints) if bool((r[:, j] == r[0, j]).all())]
    varying = [j for j in range(num_joints) if j not in constant]
    for j in constant:  # exact: every reference has the same joint position
        d2 = ((q[:, j] - r[0, j]) ** 2).sum(-1)
        total += m * torch.exp(-d2 / (2.0 * float(sigma[j]) ** 2))
    if not varying:
        return total / (m * num_joints)

    prog = _Progress(progress, n * len(varying))
    try:
        plans: dict[int, lattice.LatticePlan | None] = {}
        small = n * m * len(varying) <= _AUTO_DENSE_PAIRS
        if method == "fast" or (method == "auto" and not small):
            delta1 = rtol * _LEVEL1_OCC / 3.0
            plans = _plans(q, r, sigma, varying, delta1)
            if method == "auto":
                fast_cost = sum(p.cost for p in plans.values() if p is not None)
                dense_cost = _DENSE_COST * n * m * sum(p is not None for p in plans.values())
                if fast_cost >= dense_cost:
                    plans = {}
        fast_joints = [j for j in varying if plans.get(j) is not None]
        dense_joints = [j for j in varying if j not in fast_joints]
        total += _dense(q, r, sigma, dense_joints, chunk, prog)
        if not fast_joints:
            return total / (m * num_joints)

        fast = torch.zeros_like(total)
        err = 0.0
        for j in fast_joints:
            pl = plans[j]
            assert pl is not None
            fast += _lattice_joint(q[:, j], r[:, j], float(sigma[j]), pl, chunk, prog)
            err += pl.error * m
        bad = _failing(total + fast, err, rtol)
        if bool(bad.any()):
            idx = bad.nonzero().squeeze(1)
            redo = _redo(q[idx], r, sigma, fast_joints, rtol, chunk, prog, total[idx])
            fast[idx] = redo
        return (total + fast) / (m * num_joints)
    finally:
        prog.close()


def _failing(approx_sum: torch.Tensor, err: float, rtol: float) -> torch.Tensor:
    """Queries whose guaranteed relative error bound ``err / (sum - err)`` exceeds ``rtol``."""
    lower = approx_sum - err
    return (lower <= 0) | (err > rtol * lower)


def _redo(
    q: torch.Tensor,
    r: torch.Tensor,
    sigma: torch.Tensor,
    joints: Sequence[int],
    rtol: float,
    chunk: int,
    prog: _Progress,
    exact_part: torch.Tensor,
) -> torch.Tensor:
    """Recompute the ``joints`` part for queries that failed the first bound check.

    A second, more accurate lattice pass is used when its model cost beats dense evaluation;
    whatever still fails its bound is evaluated exactly.
    """
    n, m = q.shape[0], r.shape[0]
    prog.grow(n * len(joints))
    dense_cost = _DENSE_COST * n * m * len(joints)
    delta2 = rtol * _LEVEL2_OCC / 3.0
    plans = _plans(q, r, sigma, joints, delta2)
    if all(p is not None for p in plans.values()) and (
        sum(p.cost for p in plans.values() if p is not None) < dense_cost
    ):
        out = torch.zeros(n, dtype=torch.float64, device=q.device)
        err = 0.0
        for j in joints:
            pl = plans[j]
            assert pl is not None
            out += _lattice_joint(q[:, j], r[:, j], float(sigma[j]), pl, chunk, prog)
            err += pl.error * m
        bad = _failing(exact_part + out, err, rtol)
        if bool(bad.any()):
            idx = bad.nonzero().squeeze(1)
            prog.grow(int(idx.shape[0]) * len(joints))
            out[idx] = _dense(q[idx], r, sigma, joints, chunk, prog)
        return out
    return _dense(q, r, sigma, joints, chunk, prog)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def pose_similarity(a: Array, b: Array, sigma: float | Array | Sequence[float]) -> Array:
    """Pose similarity (paper Eq. 9): the mean over joints of a Gaussian of the joint distance.

    ``PS(a, b) = (1/J) sum_j exp(-|a_j - b_j|^2 / (2 sigma_j^2))``, in ``[0, 1]``, 1 for equal
    poses. Differentiable with torch inputs.

    Args:
        a: ``(..., J, 3)`` poses.
        b: ``(..., J, 3)`` poses, broadcastable against ``a`` (same kind).
        sigma: positive width in the poses' unit, a scalar or one per joint ``(J,)``.

    Returns:
        ``(...)`` similarities (the broadcast leading shape), same kind as ``a``.

    Raises:
        TypeError: not arrays/tensors of real numbers, mixed kinds, or a bad ``sigma`` type.
        ValueError: shapes not ``(..., J, 3)``/not broadcastable, NaN/inf values, or
            ``sigma`` not positive.

    Examples:
        >>> import numpy as np
        >>> a = np.zeros((17, 3))
        >>> float(pose_similarity(a, a, 0.1))
        1.0
        >>> b = a.copy()
        >>> b[:, 0] = 0.1                       # every joint 1 sigma away
        >>> round(float(pose_similarity(a, b, 0.1)), 6) == round(float(np.exp(-0.5)), 6)
        True
    """
    x = check_array(a, "a")
    y = check_array(b, "b")
    if isinstance(x, np.ndarray) != isinstance(y, np.ndarray):
        raise TypeError(
            f"a and b: expected the same kind (both numpy or both torch), got "
            f"{type(x).__name__} and {type(y).__name__}"
        )
    dims = check_shape(x, "a", "(..., J, 3)")
    check_shape(y, "b", "(..., J, 3)", J=dims["J"])
    for arr, name in ((x, "a"), (y, "b")):  # as occurrence: real, finite poses only
        check_real(arr, name)
        check_finite(arr, name)
    sig = _sigma_tensor(sigma, dims["J"])
    if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
        try:
            shape = np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise ValueError(
                f"b: expected a shape broadcastable to a's {x.shape}, got {y.shape}"
            ) from None
        del shape
        s = sig.numpy()[:, None]  # in units of sigma: no 1 / sigma^2 to overflow
        with np.errstate(over="ignore"):  # a distance beyond ~1e154 sigma: kernel 0
            d = (np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)) / s
            return np.asarray(np.exp(-0.5 * (d * d).sum(-1)).mean(-1))
    assert isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
    try:
        torch.broadcast_shapes(x.shape, y.shape)  # type: ignore[no-untyped-call]
    except RuntimeError:
        raise ValueError(
            f"b: expected a shape broadcastable to a's {tuple(x.shape)}, got {tuple(y.shape)}"
        ) from None
    dtype = torch.promote_types(x.dtype, y.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    st = sig.to(device=x.device, dtype=dtype)[:, None]
    dt = (x.to(dtype) - y.to(dtype)) / st
    return torch.exp(-0.5 * (dt * dt).sum(-1)).mean(-1)


def occurrence(
    queries: Array,
    reference: Array,
    sigma: float | Array | Sequence[float],
    *,
    method: Method = "auto",
    rtol: float = DEFAULT_RTOL,
    chunk_size: int | None = None,
    progress: bool | Callable[[int, int], object] | None = None,
) -> Array:
    """Occurrence (paper Eq. 10): the mean pose similarity of each query to a reference set.

    ``occ(q) = (1/(M J)) sum_m sum_j exp(-|q_j - r_mj|^2 / (2 sigma_j^2))``.

    Methods are

    - ``"dense"``: every kernel value in float64, chunked (exact up to float64 rounding).
    - ``"fast"``: per-joint Gauss transforms on a lattice (order and spacing chosen from
      ``rtol``) with a guaranteed error bound; queries whose bound is not below ``rtol`` (e.g.
      extreme outliers) are recomputed, finally exactly. The result is always within ``rtol``
      (relative) of the exact value. Joints where no lattice fits in memory are done densely.
    - ``"auto"``: dense for small problems (``N * M * J <= 2**28``) or when the cost model
      favours it, else fast.

    Joints that are identical in every reference pose (e.g. the root of root-relative poses)
    are always summed exactly in closed form.

    Args:
        queries: ``(N, J, 3)`` poses, any unit (e.g. metres, root-relative camera coordinates).
        reference: ``(M, J, 3)`` poses in the same unit, ``M >= 1`` (numpy or torch).
        sigma: positive kernel width in the poses' unit, scalar or ``(J,)`` (paper: 0.1 m).
        method: ``"auto"``, ``"dense"`` or ``"fast"``.
        rtol: relative tolerance guaranteed by the fast method (default 1e-7).
        chunk_size: at most about this many kernel values (float64) are held at once
            (default ``2**21``, 16 MiB); the fast method's lattices are capped at ``2**23`` nodes.
        progress: ``None``; ``True`` for a tqdm bar (or a stderr line without tqdm); or a
            callable ``progress(done, total)`` in query-joint units (``total`` may grow when
            some queries need a second pass).

    Returns:
        ``(N,)`` float64 occurrences in ``[0, 1]``, same kind (and device) as ``queries``.

    Raises:
        TypeError: inputs are not arrays/tensors or options have the wrong type.
        ValueError: bad shapes, non-finite values, empty reference, bad sigma/options,
            coordinates beyond 1e100 sigma (their squares would overflow float64).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ref = rng.normal(scale=0.1, size=(500, 17, 3))
        >>> q = ref[:3]
        >>> occ = occurrence(q, ref, 0.1)
        >>> occ.shape, bool(np.all((occ > 0) & (occ <= 1)))
        ((3,), True)
        >>> slow = [np.mean(np.exp(-((qq - ref) ** 2).sum(-1) / 0.02)) for qq in q]
        >>> bool(np.allclose(occ, slow, rtol=1e-12))
        True
    """
    meth, tol, chunk = _check_options(method, rtol, chunk_size)
    q_in, q = _poses(queries, "queries", "(N, J, 3)")
    _, r = _poses(reference, "reference", "(M, J, 3)", J=int(q.shape[1]))
    if r.shape[0] == 0:
        raise ValueError("reference: expected at least one pose, got shape (0, J, 3)")
    sig = _sigma_tensor(sigma, int(q.shape[1]))
    _check_magnitude(q, sig, "queries")
    _check_magnitude(r, sig, "reference")
    with torch.no_grad():
        r = r.to(q.device)
        occ = _occurrence_sums(q, r, sig.to(q.device), meth, tol, chunk, progress)
    return _result(occ, q_in)


def _result(occ: torch.Tensor, like_this: Array) -> Array:
    if isinstance(like_this, torch.Tensor):
        return occ.to(like_this.device)
    return like(occ.cpu().numpy(), like_this)


def _count(num: int, percent: float) -> int:
    """Number of rarest poses: ``floor(num * percent / 100 + 0.5)`` (round half up)."""
    return max(0, min(num, math.floor(num * percent / 100.0 + 0.5)))


def _rarest_indices(occ: torch.Tensor, percent: float) -> torch.Tensor:
    k = _count(int(occ.shape[0]), percent)
    order = torch.sort(occ, stable=True).indices
    return order[:k]


def _check_percent(percent: object) -> float:
    if not is_number(percent):
        raise TypeError(f"percent: expected a number in (0, 100], got {type(percent).__name__}")
    if not (0 < float(percent) <= 100):
        raise ValueError(f"percent: expected a number in (0, 100], got {percent!r}")
    return float(percent)


def rarest(
    queries: Array,
    reference: Array,
    percent: float,
    sigma: float | Array | Sequence[float],
    *,
    method: Method = "auto",
    rtol: float = DEFAULT_RTOL,
    chunk_size: int | None = None,
    progress: bool | Callable[[int, int], object] | None = None,
) -> Array:
    """Indices of the ``percent`` % of queries with the lowest occurrence (paper Sec. 4).

    The count is ``floor(N * percent / 100 + 0.5)`` (round half up, e.g. 10% of 118,440 is
    11,844). Indices are ordered rarest first; ties keep the queries' order (stable sort).

    Args:
        queries: ``(N, J, 3)`` poses.
        reference: ``(M, J, 3)`` poses.
        percent: ``R`` in ``(0, 100]``.
        sigma: kernel width in the poses' unit, scalar or ``(J,)``.
        method: see :func:`occurrence`.
        rtol: see :func:`occurrence`.
        chunk_size: see :func:`occurrence`.
        progress: see :func:`occurrence`.

    Returns:
        int64 indices into ``queries``: a numpy array or a torch tensor like ``queries``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ref = rng.normal(scale=0.05, size=(300, 5, 3))
        >>> q = rng.normal(scale=0.05, size=(20, 5, 3))
        >>> q[7] += 0.5                                   # an outlier
        >>> rarest(q, ref, 5, 0.1).tolist()
        [7]
    """
    pct = _check_percent(percent)
    occ = occurrence(queries, reference, sigma, method=method, rtol=rtol,
                     chunk_size=chunk_size, progress=progress)
    occ_t = occ if isinstance(occ, torch.Tensor) else torch.from_numpy(np.asarray(occ))
    idx = _rarest_indices(occ_t, pct)
    if isinstance(queries, torch.Tensor):
        return idx
    return idx.numpy()


class OccurrenceScorer:
    """Occurrence against a fixed reference set: fit once, score many query sets.

    Args:
        sigma: kernel width in the poses' unit, scalar or ``(J,)`` (checked against ``J`` at
            :meth:`fit`).
        method: ``"auto"``, ``"dense"`` or ``"fast"`` (see :func:`occurrence`).
        rtol: relative tolerance of the fast method.
        chunk_size: memory bound, see :func:`occurrence`.

    The state (:meth:`state_dict`) holds only tensors and plain values, so it can be saved with
    ``torch.save`` and loaded with ``torch.load(..., weights_only=True)``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ref = rng.normal(scale=0.1, size=(200, 17, 3))
        >>> scorer = OccurrenceScorer(sigma=0.1).fit(ref)
        >>> scorer.score(ref[:2]).shape
        (2,)
        >>> clone = OccurrenceScorer(sigma=1.0)
        >>> clone.load_state_dict(scorer.state_dict())
        >>> bool(np.allclose(clone.score(ref[:2]), scorer.score(ref[:2])))
        True
    """

    def __init__(
        self,
        sigma: float | Array | Sequence[float],
        *,
        method: Method = "auto",
        rtol: float = DEFAULT_RTOL,
        chunk_size: int | None = None,
    ) -> None:
        self.method, self.rtol, self._chunk = _check_options(method, rtol, chunk_size)
        self.chunk_size = chunk_size
        _check_sigma(sigma)
        self.sigma = sigma
        self._reference: torch.Tensor | None = None
        self._sig: torch.Tensor | None = None

    @property
    def is_fitted(self) -> bool:
        """Whether a reference set is loaded."""
        return self._reference is not None

    @property
    def num_references(self) -> int:
        """``M``, the number of reference poses (0 before :meth:`fit`)."""
        return 0 if self._reference is None else int(self._reference.shape[0])

    def fit(self, reference: Array) -> OccurrenceScorer:
        """Store the reference set ``(M, J, 3)`` (float64 copy); returns ``self``.

        Examples:
            >>> import numpy as np
            >>> OccurrenceScorer(0.1).fit(np.zeros((4, 17, 3))).num_references
            4
        """
        _, r = _poses(reference, "reference", "(M, J, 3)")
        if r.shape[0] == 0:
            raise ValueError("reference: expected at least one pose, got shape (0, J, 3)")
        self._sig = _sigma_tensor(self.sigma, int(r.shape[1]))
        _check_magnitude(r, self._sig, "reference")
        self._reference = r.clone()
        return self

    def _fitted(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._reference is None or self._sig is None:
            raise RuntimeError("OccurrenceScorer: call fit(reference) or load_state_dict() first")
        return self._reference, self._sig

    def score(
        self, queries: Array, *, progress: bool | Callable[[int, int], object] | None = None
    ) -> Array:
        """Occurrence of each query ``(N, J, 3)`` -> ``(N,)`` float64, like :func:`occurrence`.

        Examples:
            >>> import numpy as np
            >>> scorer = OccurrenceScorer(0.1).fit(np.zeros((4, 17, 3)))
            >>> scorer.score(np.zeros((2, 17, 3))).tolist()
            [1.0, 1.0]
        """
        ref, sig = self._fitted()
        q_in, q = _poses(queries, "queries", "(N, J, 3)", J=int(ref.shape[1]))
        _check_magnitude(q, sig, "queries")
        with torch.no_grad():
            occ = _occurrence_sums(q, ref.to(q.device), sig.to(q.device), self.method,
                                   self.rtol, self._chunk, progress)
        return _result(occ, q_in)

    def rarest(
        self,
        queries: Array,
        percent: float,
        *,
        progress: bool | Callable[[int, int], object] | None = None,
    ) -> Array:
        """Indices of the ``percent`` % rarest queries, as :func:`rarest`.

        Examples:
            >>> import numpy as np
            >>> scorer = OccurrenceScorer(0.1).fit(np.zeros((4, 2, 3)))
            >>> scorer.rarest(np.array([[[0.0] * 3] * 2, [[1.0] * 3] * 2]), 50).tolist()
            [1]
        """
        pct = _check_percent(percent)
        occ = self.score(queries, progress=progress)
        occ_t = occ if isinstance(occ, torch.Tensor) else torch.from_numpy(np.asarray(occ))
        idx = _rarest_indices(occ_t, pct)
        return idx if isinstance(queries, torch.Tensor) else idx.numpy()

    def state_dict(self) -> dict[str, Any]:
        """Plain state: ``sigma`` (float64 ``(J,)`` tensor), ``reference``, and the options.

        Examples:
            >>> import numpy as np
            >>> sorted(OccurrenceScorer(0.1).fit(np.zeros((1, 2, 3))).state_dict())
            ['chunk_size', 'method', 'reference', 'rtol', 'sigma']
        """
        ref, sig = self._fitted()
        return {
            "sigma": sig.clone(),
            "reference": ref.clone(),
            "method": self.method,
            "rtol": self.rtol,
            "chunk_size": self.chunk_size,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (e.g. after ``torch.load(weights_only=True)``).

        Examples:
            >>> import numpy as np
            >>> a = OccurrenceScorer(0.1).fit(np.zeros((3, 2, 3)))
            >>> b = OccurrenceScorer(0.5)
            >>> b.load_state_dict(a.state_dict())
            >>> b.num_references, float(b.sigma[0])
            (3, 0.1)
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state: expected a mapping, got {type(state).__name__}")
        missing = {"sigma", "reference"} - set(state)
        if missing:
            raise ValueError(f"state: missing keys {sorted(missing)}")
        _, ref = _poses(state["reference"], "state['reference']", "(M, J, 3)")
        if ref.shape[0] == 0:
            raise ValueError("state['reference']: expected at least one pose")
        sig = _sigma_tensor(state["sigma"], int(ref.shape[1]))
        method, rtol, chunk = _check_options(
            state.get("method", self.method), state.get("rtol", self.rtol),
            state.get("chunk_size", self.chunk_size),
        )
        self.method, self.rtol, self._chunk = method, rtol, chunk
        self.chunk_size = state.get("chunk_size", self.chunk_size)
        self._reference = ref.cpu().clone()
        self._sig = sig
        self.sigma = sig.clone()

    def __repr__(self) -> str:
        return (
            f"OccurrenceScorer(method={self.method!r}, rtol={self.rtol}, "
            f"references={self.num_references})"
        )
