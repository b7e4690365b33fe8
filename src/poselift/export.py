"""Deployment: a model with ``lift``'s normalization in front, as one exportable program.

:class:`LiftingProgram` wraps a lifting model so that it takes **pixels** and returns
**metres**: ``(B, J, 3)`` keypoints (x, y, score) -> ``(B, 17, 3)`` H36M-17 joints, camera
coordinates, pelvis at the origin (temporal models: ``(B, T, J, 3)`` -> ``(B, T, 17, 3)``, any
T). The normalization is the model's own input contract
(:meth:`~poselift.models.inputs.InputContract.prepare`), so the program computes what
:func:`poselift.lift` computes:

- a joint is **valid** when its score is at least ``score_threshold`` (fixed at export,
  default 0.3 as in ``lift``) and its x, y are finite; the score's value is used for nothing
  else (valid joints enter the model with score 1, as in training);
- missing joints enter the model at ``(0, 0)`` with score 0 (the training representation
  of a dropped joint); a model without a score channel needs every joint valid;
- ``"bbox"`` models (the shipped ones): each frame's box of valid joints centred and scaled;
  temporal models take the sliding median scale over their receptive field and are
  edge-padded, one output per input frame;
- a frame with fewer than two distinct valid joints has no pose: NaN, as in ``lift`` and
  :class:`~poselift.StreamingLifter` (the rule of :mod:`poselift.core`, whose
  :class:`~poselift.core.LiftingCore` this program is);
- unlike ``lift``, the program does **not** interpolate missing joints over time (a
  temporal program sees each missing joint as missing in its frame: ``lift(...,
  max_gap=0)`` does the same), and it does not check its input (coordinates that overflow
  float32 give NaN or inf where ``lift`` raises).

So a single-frame program equals ``lift(keypoints, temporal=False)`` on the same input, and a
temporal program equals ``lift(keypoints, max_gap=0)`` (tested within 1e-4 m, frames without
a pose included). The program's outputs do not require grad (its parameters are frozen
copies), so ``.numpy()`` works on them.

**Streaming with an exported causal program**: the program has no state; to get what
:class:`~poselift.StreamingLifter` gives for the newest frame, feed it the last
``2 R - 1`` frames of the track (53 for the shipped 27-frame causal weights: the ``R``
frames of the window and, for the sliding median box scale of the window's first frame,
``R - 1`` before it; fewer at the start of a track) and take its last output frame.

:func:`export_model` writes the program with ``torch.export`` (``.pt2``, load with
``torch.export.load(path).module()``) or as ONNX (``.onnx``, needs the optional
``poselift[onnx]`` extra: onnx and onnxscript), with a dynamic batch size (and number of
frames). The CLI: ``poselift export WEIGHTS OUT.pt2|OUT.onnx``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from poselift._files import atomic_write
from poselift.core import LiftingCore
from poselift.models.resolve import resolve_model
from poselift.skeletons import get_skeleton

__all__ = ["EXPORT_FORMATS", "LiftingProgram", "export_model"]

EXPORT_FORMATS = (".pt2", ".onnx")
"""File types :func:`export_model` writes: torch.export archives and ONNX models."""


class LiftingProgram(LiftingCore):
    """A lifting model that takes pixels and returns metres (see the module docs).

    The :class:`~poselift.core.LiftingCore` of the model (its ``forward`` is the program),
    with what export needs: an example input, dynamic shapes and a description.

    Args:
        model: a lifting model (e.g. :func:`poselift.create_model`), run in eval mode (a
            model in training mode is copied, never switched).
        score_threshold: joints scoring below it are missing (default 0.3, as ``lift``).
        image_size: ``(width, height)`` for ``"screen"`` models (required by them); ignored
            by ``"bbox"`` models.

    Shapes:
        single-frame: ``(B, J, 3)`` -> ``(B, 17, 3)``; temporal: ``(B, T, J, 3)`` ->
        ``(B, T, 17, 3)``; float32 pixels with the score last. NaN for frames with fewer
        than two distinct valid joints.

    Examples:
        >>> import torch, poselift
        >>> net = poselift.create_model("sr", skeleton="coco", in_features=3,
        ...                             input_norm="bbox", hidden=32)           # untrained!
        >>> program = LiftingProgram(net)
        >>> kp = torch.rand(4, 17, 3) * 400 + 300
        >>> program(kp).shape
        torch.Size([4, 17, 3])
    """

    def __init__(self, model: nn.Module, *, score_threshold: float = 0.3,
                 image_size: tuple[float, float] | None = None) -> None:
        super().__init__(model, score_threshold=score_threshold, image_size=image_size)
        if self.contract.input_norm == "screen" and self.image_size is None:
            raise ValueError("image_size: required for a model with input_norm='screen'")
        if self.contract.input_norm == "bbox":
            _ = self.contract.extent  # raises for a skeleton without a calibrated extent

    def example_input(self, batch: int = 2, frames: int | None = None) -> torch.Tensor:
        """A plausible input: ``(batch, [frames,] J, 3)`` pixels of a standing body, score 1."""
        joints = get_skeleton(self.contract.skeleton).num_joints
        gen = torch.Generator().manual_seed(0)
        lead = (batch, frames or self.contract.receptive_field + 2) if self.contract.temporal \
            else (batch,)
        xy = torch.rand(*lead, joints, 2, generator=gen) * torch.tensor([150.0, 400.0]) + 300
        return torch.cat([xy, torch.ones(*lead, joints, 1)], -1)

    def dynamic_shapes(self) -> dict[str, dict[int, Any]]:
        """``torch.export`` dynamic shapes: any batch size (and number of frames)."""
        dims: dict[int, Any] = {0: torch.export.Dim("batch", min=1)}
        if self.contract.temporal:
            dims[1] = torch.export.Dim("frames", min=1)
        return {"keypoints": dims}

    def description(self) -> dict[str, Any]:
        """What the program takes and gives (stored with the exported file)."""
        t = "T, " if self.contract.temporal else ""
        joints = get_skeleton(self.contract.skeleton).num_joints
        return {
            "poselift": "LiftingProgram",
            "input": f"keypoints (B, {t}{joints}, 3) float32 pixels: x, y, score "
                     f"({self.contract.skeleton} joint order)",
            "output": f"poses3d (B, {t}17, 3) float32 metres, H36M-17, camera coordinates "
                      "(x right, y down, z forward), pelvis at the origin",
            "score_threshold": self.score_threshold,
            "image_size": self.image_size,
            "config": dict(getattr(self.model, "config", {}) or {}),
        }


def _check_onnx() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"ONNX export needs {' and '.join(missing)}: pip install "
                          "'poselift[onnx]'")


def export_model(
    model: str | os.PathLike[str] | nn.Module,
    path: str | os.PathLike[str],
    *,
    score_threshold: float = 0.3,
    image_size: tuple[float, float] | None = None,
    check: bool = True,
    opset: int | None = None,
) -> LiftingProgram:
    """Export a model with its normalization (:class:`LiftingProgram`) to ``.pt2`` or ``.onnx``.

    Args:
        model: a weights name (``poselift.list_weights()``), a checkpoint path or a module.
        path: the output file, ``.pt2`` (``torch.export``) or ``.onnx`` (needs
            ``poselift[onnx]``); written atomically.
        score_threshold: joints scoring below it are missing (fixed in the program).
        image_size: ``(width, height)``, for ``"screen"`` models only.
        check: run the ``.pt2`` program on an example and compare it with the eager program
            (within 1e-4 m) before writing.
        opset: ``.onnx``: the ONNX opset version (default: the exporter's); ignored for
            ``.pt2``.

    Returns:
        The exported :class:`LiftingProgram` (eager).

    Raises:
        ValueError: an unknown file type, a model or image size that does not fit.
        ImportError: ``.onnx`` without onnx/onnxscript installed.
        RuntimeError: ``check`` found the exported program differing from the eager one.

    Examples:
        >>> import tempfile, torch, poselift
        >>> net = poselift.create_model("sr", skeleton="coco", in_features=3,
        ...                             input_norm="bbox", hidden=32)           # untrained!
        >>> out = tempfile.mkdtemp() + "/sr.pt2"
        >>> program = export_model(net, out)
        >>> loaded = torch.export.load(out).module()
        >>> loaded(torch.rand(3, 17, 3) * 400 + 300).shape
        torch.Size([3, 17, 3])
    """
    dest = Path(path)
    suffix = dest.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"path: expected a .pt2 (torch.export) or .onnx file, got "
                         f"{str(dest)!r}")
    if suffix == ".onnx":
        _check_onnx()
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"{dest}: the output directory {str(dest.parent)!r} does not "
                                "exist")
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or
                              opset < 1):
        raise ValueError(f"opset: expected None or a positive int, got {opset!r}")
    if not isinstance(model, nn.Module):
        if isinstance(model, str) and model == "default":
            raise ValueError("model: 'default' is ambiguous here; name the weights (e.g. "
                             "'sr.coco' or 'sr_tcn.coco', poselift.list_weights()) or a "
                             "checkpoint path")
        model = resolve_model(model)
    program = LiftingProgram(model, score_threshold=score_threshold,
                             image_size=image_size).eval()
    frozen = copy.deepcopy(program)  # parameters without grad: outputs without grad
    frozen.requires_grad_(False)
    example = program.example_input()
    meta = json.dumps(program.description(), default=str)
    with torch.no_grad(), warnings.catch_warnings():
        # the exporters' internal deprecation and tracing notices are not the user's concern
        warnings.simplefilter("ignore")
        if suffix == ".pt2":
            exported = torch.export.export(frozen, (example,),
                                           dynamic_shapes=program.dynamic_shapes())
            if check:
                probe = program.example_input(batch=3, frames=5)
                diff = float((exported.module()(probe) - frozen(probe)).abs().max())
                if not diff <= 1e-4:
                    raise RuntimeError(f"export: the exported program differs from the eager "
                                       f"one by {diff:.3g} m")
            atomic_write(dest, lambda f: torch.export.save(
                exported, f, extra_files={"poselift.json": meta}))
        else:
            onnx_program = torch.onnx.export(
                frozen, (example,), dynamic_shapes=program.dynamic_shapes(), dynamo=True,
                input_names=["keypoints"], output_names=["poses3d"], verbose=False,
                opset_version=opset)
            assert onnx_program is not None
            _save_onnx(onnx_program, dest, meta)
    return frozen


def _save_onnx(onnx_program: Any, dest: Path, meta: str) -> None:
    """Save with the description in the model's metadata, atomically."""
    import onnx

    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        raw = Path(tmp) / "model.onnx"
        onnx_program.save(str(raw))
        proto = onnx.load(str(raw))
        onnx.helper.set_model_props(proto, {"poselift": meta})
        data = proto.SerializeToString()

    def write(f: IO[bytes]) -> None:
        f.write(data)

    atomic_write(dest, write)
