"""Row plans: a network's eval-mode forward pass for small inputs, as a flat list of row maps.

One pose through the shipped SR network is about 1 MFLOP, but the module-by-module forward
pass runs ~150 torch operations and ~40 module calls for it; on a CPU each costs
microseconds, so per-operation overhead, not arithmetic, sets the latency of one pose or
one streaming push (docs/inference.md, "Speed"). For inputs of at most
:data:`~poselift.nn._sr_core.ROW_FORM_ROWS` rows (poses, or frames of a window) the
networks of :mod:`poselift.models` therefore run a *row plan* instead:

- every layer as a :class:`~poselift.nn._sr_core.RowForm` (an SR layer's groups written
  straight into one output, the context as one small product), with the eval-mode
  BatchNorm that follows it folded into its weights (:meth:`RowForm.with_affine`);
- dropout gone (eval mode), the temporal convolutions' windows unfolded to rows.

The plan is built once and cached on the network (:class:`RowPlanCache`). It is rebuilt when
a parameter or buffer changes (version counter: optimizer steps, ``load_state_dict``;
storage: ``.to()``; identity: ``torch.func.functional_call``, a replaced parameter) and
dropped by ``train()`` / ``eval()``; it is not used when any submodule is in training mode,
with autograd enabled, or while tracing (``torch.compile`` / ``torch.export``): those run the
modules. Not seen (as for the SR layers' own cache): a change made through ``p.data`` in
place (no version bump), and a submodule replaced after the plan was built; call ``eval()``
after such surgery. The plan computes the same function in another order: outputs agree
with the module path within float32 rounding (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

from poselift.nn import _sr_core
from poselift.nn._sr_core import RowForm, SRBase

__all__ = ["RowPlan", "RowPlanCache", "layer_form"]

RowPlan = Callable[[torch.Tensor], torch.Tensor]
"""A network's forward pass for small eval-mode inputs (same input and output as the module)."""


def layer_form(op: nn.Module, norm: nn.Module | None = None) -> RowForm | None:
    """``op`` (an SR layer, ``nn.Linear`` or an unpadded ``nn.Conv1d``) as a row map.

    ``norm``: an eval-mode ``nn.BatchNorm1d`` applied to ``op``'s output, folded in. None
    when ``op`` or ``norm`` is of a kind the row form does not cover.
    """
    if isinstance(op, SRBase):
        form = op.row_form()
    elif isinstance(op, nn.Linear) or (
            isinstance(op, nn.Conv1d) and op.groups == 1 and op.padding in ((0,), "valid")):
        form = RowForm.dense(op.weight, op.bias)
    else:
        return None
    if form is None or norm is None:
        return form
    if not isinstance(norm, nn.BatchNorm1d) or norm.running_mean is None or \
            norm.running_var is None:
        return None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return form.with_affine(scale.detach(), shift.detach())


def _walk(net: nn.Module) -> tuple[list[nn.Module], list[dict[str, Any]]] | None:
    """Every module of ``net`` and their parameter and buffer dictionaries.

    None if a module is in training mode.
    """
    modules: list[nn.Module] = []
    tables: list[dict[str, Any]] = []
    stack = [net]
    while stack:
        module = stack.pop()
        if module.training:
            return None
        modules.append(module)
        # the non-empty ones: what the plan can depend on (an empty table stays unused)
        tables += [t for t in (module._parameters, module._buffers) if t]
        stack += [m for m in module._modules.values() if m is not None]
    return modules, tables


def _tensors(tables: list[dict[str, Any]]) -> list[torch.Tensor]:
    """The tensors in the modules' dictionaries now.

    Swapped ones included, as ``torch.func.functional_call`` swaps them in.
    """
    return [t for table in tables for t in table.values() if t is not None]


class _Built(NamedTuple):
    """A built plan and what it was built from."""

    modules: list[nn.Module]
    tables: list[dict[str, Any]]
    tensors: list[torch.Tensor]  # kept alive: their ids below are never reused
    ids: list[int]
    versions: list[int]
    storage: list[int]
    plan: RowPlan | None


class RowPlanCache:
    """The cached row plan of one network (see the module docs).

    ``get(net, build, rows)`` returns the plan to run, building it with ``build()`` on first
    use and whenever a parameter or buffer it was built from changed (version counter:
    optimizer steps, ``load_state_dict``; storage: ``.to()``, ``p.data = ...``), or None when
    the modules must run: more than ``ROW_FORM_ROWS`` rows, a module in training mode,
    autograd enabled, tracing, or a network the plan does not cover (``build()`` gave None).

    The check costs one pass over the modules found when the plan was built and the tensors
    they hold now (a parameter swapped in, as by ``torch.func.functional_call``, gives a
    rebuild): a submodule replaced afterwards is not seen; the networks drop their plan on
    ``train()`` / ``eval()``, so call ``eval()`` after such surgery. Copies and pickles of a
    network hold an empty cache.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget the plan: the next ``get`` builds it again."""
        # one tuple, replaced at once: threads sharing a network never see half a state
        self._state: _Built | None = None

    def get(self, net: nn.Module, build: Callable[[], RowPlan | None], rows: int
            ) -> RowPlan | None:
        """The plan for ``net`` and an input of ``rows`` rows now, or None (see above)."""
        if torch.compiler.is_compiling() or torch.compiler.is_exporting() or \
                torch.is_grad_enabled() or not 0 < rows <= _sr_core.ROW_FORM_ROWS:
            return None  # (tracing first: no guard on a symbolic number of rows)
        state = self._state
        try:
            if state is not None and not any([m.training for m in state.modules]):
                tensors = _tensors(state.tables)
                if [id(t) for t in tensors] == state.ids and \
                        [t._version for t in tensors] == state.versions and \
                        [t.data_ptr() for t in tensors] == state.storage:
                    return state.plan
            found = _walk(net)
            if found is None:  # training mode somewhere: the modules run
                return None
            modules, tables = found
            tensors = _tensors(tables)
            built = _Built(modules, tables, tensors, [id(t) for t in tensors],
                           [t._version for t in tensors], [t.data_ptr() for t in tensors],
                           None)
        except RuntimeError:  # tensors without storage (fake tensors while tracing)
            self._state = None
            return None
        with torch.inference_mode(False), torch.no_grad():  # plain tensors, reusable
            plan = build()
        self._state = built._replace(plan=plan)
        return plan

    def __deepcopy__(self, memo: dict[int, Any]) -> RowPlanCache:
        return RowPlanCache()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

