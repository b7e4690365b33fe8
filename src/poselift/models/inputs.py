"""The input contract of a lifting model: how pixels become what the network takes.

One object per model, built from its config (what torchvision's ``weights.transforms()`` is
for its models), used by everything that feeds a model: :func:`poselift.lift`, protocol
evaluation (:func:`poselift.evaluation.predict_protocol`) and training augmentation
(:class:`~poselift.data.FrameDataset`, :class:`~poselift.data.WindowDataset`). A change to
the inputs is made here once, so training and inference cannot drift apart.

:class:`InputContract` holds the facts (input and output skeleton, score channel,
normalization, temporal receptive field) and the operations:

- :meth:`~InputContract.prepare`: pixels (and which joints are valid) -> model inputs:
  normalization (``"bbox"``: :func:`~poselift.normalization.normalize_bbox`; ``"screen"``:
  :func:`~poselift.camera.normalize_screen`), missing joints set to ``(0, 0)``, and the score
  channel (1 valid, 0 missing) for models with ``in_features=3``;
- :meth:`~InputContract.flip_inputs` / :meth:`~InputContract.flip_outputs`: the horizontal
  mirror of normalized inputs and of predictions (test-time flip averaging);
- :func:`window_offsets` / :meth:`~InputContract.pad`: the edge-padded temporal windows
  (VideoPose3D: the first/last frame repeated; causal models padded on the left only).

Examples:
    >>> import numpy as np, poselift
    >>> contract = InputContract.of(poselift.create_model("sr", skeleton="coco", in_features=3,
    ...                                                  input_norm="bbox", hidden=16))
    >>> contract.skeleton, contract.has_scores, contract.temporal
    ('coco', True, False)
    >>> kp = np.random.default_rng(0).uniform(300, 700, (1, 17, 2))          # (T=1, J, 2)
    >>> contract.prepare(kp).shape
    (1, 17, 3)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from poselift._array_ops import ops_for
from poselift._validation import Array
from poselift.camera import normalize_screen
from poselift.normalization import INPUT_NORMS, TYPICAL_EXTENT_PX, normalize_bbox
from poselift.skeletons import flip_keypoints, flip_poses, get_skeleton

__all__ = ["InputContract", "Scale", "window_offsets"]

Scale = Literal["auto", "frame", "sample", "window", "sequence"]
"""How ``"bbox"`` normalization picks its scale along T: ``"frame"`` per frame, ``"sample"``
one for all T frames (a training window), ``"window"`` a sliding median over the receptive
field (a temporal model on a long sequence, as its training windows saw; the whole sequence
for a receptive field of 1), centred on its frame, or for a causal model ending at its frame
(so that no frame's input depends on later frames), ``"sequence"`` one for the whole
sequence; ``"auto"``: ``"window"`` for temporal models, else ``"frame"``."""


def window_offsets(receptive_field: int, causal: bool = False) -> np.ndarray[Any, Any]:
    """Frame offsets of a temporal window relative to its output frame.

    Centred windows (odd ``receptive_field``) span ``-(R // 2) .. R // 2``; causal windows end
    at the output frame, ``-(R - 1) .. 0``.

    Examples:
        >>> window_offsets(5).tolist(), window_offsets(3, causal=True).tolist()
        ([-2, -1, 0, 1, 2], [-2, -1, 0])
    """
    r = receptive_field
    if isinstance(r, bool) or not isinstance(r, int | np.integer) or r < 1 or (
            not causal and r % 2 == 0):
        raise ValueError(f"receptive_field: expected a positive int (odd unless causal), "
                         f"got {r!r}")
    out: np.ndarray[Any, Any] = (np.arange(-(r - 1), 1) if causal
                                 else np.arange(-(r // 2), r // 2 + 1))
    return out


@dataclass(frozen=True)
class InputContract:
    """What a lifting model takes and gives, and the operations that honour it.

    Attributes:
        skeleton: input skeleton (the 2D keypoints' layout).
        out_skeleton: output skeleton (the 3D joints').
        in_features: channels per input joint: 2 (x, y) or 3 (x, y, score: 1 valid, 0 missing).
        input_norm: ``"screen"`` (image size) or ``"bbox"`` (the person's box).
        receptive_field: frames a temporal model sees per output frame (1 for single-frame).
        causal: a temporal model's window ends at its output frame.
        temporal: the model takes ``(B, T, J, C)`` sequences.

    Examples:
        >>> InputContract(skeleton="coco", in_features=3, input_norm="bbox").extent
        302.0
    """

    skeleton: str = "h36m"
    out_skeleton: str = "h36m"
    in_features: int = 2
    input_norm: str = "screen"
    receptive_field: int = 1
    causal: bool = False
    temporal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "skeleton", get_skeleton(self.skeleton).name)
        object.__setattr__(self, "out_skeleton", get_skeleton(self.out_skeleton).name)
        if self.in_features not in (2, 3):
            raise ValueError(f"in_features: expected 2 or 3, got {self.in_features!r}")
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm: expected one of {INPUT_NORMS}, got "
                             f"{self.input_norm!r}")
        if self.temporal:
            window_offsets(self.receptive_field, self.causal)  # validates

    # --- construction ------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, receptive_field: int = 1,
                    causal: bool | None = None) -> InputContract:
        """The contract of a model config (as :func:`poselift.create_model` stores it).

        Examples:
            >>> InputContract.from_config({"name": "sr_tcn", "skeleton": "coco"}).temporal
            True
        """
        from poselift.models.registry import get_model_entry

        name = config.get("name")
        temporal = False
        if isinstance(name, str):
            try:
                temporal = get_model_entry(name).temporal
            except ValueError:
                temporal = receptive_field > 1
        values = (temporal, str(config.get("skeleton", "h36m")),
                  str(config.get("out_skeleton", "h36m")), int(config.get("in_features", 2)),
                  str(config.get("input_norm", "screen")), int(receptive_field),
                  bool(config.get("causal", False) if causal is None else causal))
        if cls is InputContract:
            return _contract(*values)
        return cls(values[1], values[2], values[3], values[4], values[5], values[6], values[0])

    @classmethod
    def of(cls, model: nn.Module) -> InputContract:
        """The contract of a model built by :func:`poselift.create_model`.

        Any module with a ``config`` dict, ``receptive_field`` and ``causal`` attributes works;
        a module with an ``input_contract`` attribute (an :class:`InputContract`) gives that.

        Examples:
            >>> import poselift
            >>> tcn = poselift.create_model("tcn", channels=16, filter_widths=(3, 3))
            >>> InputContract.of(tcn).receptive_field
            9
        """
        own = getattr(model, "input_contract", None)
        if isinstance(own, InputContract):  # a model made of models (a blend) says it
            return own
        config = getattr(model, "config", None)
        config = config if isinstance(config, Mapping) else {}
        r = int(getattr(model, "receptive_field", 1))
        contract = cls.from_config(config, receptive_field=r,
                                   causal=bool(getattr(model, "causal", False)))
        if not isinstance(config.get("name"), str) and (
                hasattr(model, "strided_twin") or r > 1):
            contract = cls(contract.skeleton, contract.out_skeleton,
                           int(getattr(model, "in_features", contract.in_features)),
                           contract.input_norm, r, contract.causal, True)
        return contract

    # --- facts ---------------------------------------------------------------------------
    @property
    def has_scores(self) -> bool:
        """True when the model takes a score channel (and can be given missing joints)."""
        return self.in_features == 3

    @property
    def extent(self) -> float:
        """The larger side of the keypoints' box after ``"bbox"`` normalization.

        In virtual pixels: :data:`~poselift.normalization.TYPICAL_EXTENT_PX` of the input
        skeleton.

        Raises:
            ValueError: no calibrated extent for the input skeleton.
        """
        if self.skeleton not in TYPICAL_EXTENT_PX:
            raise ValueError(f"skeleton: bounding-box normalization is calibrated for "
                             f"{sorted(TYPICAL_EXTENT_PX)}, not {self.skeleton!r}")
        return TYPICAL_EXTENT_PX[self.skeleton]

    # --- inputs --------------------------------------------------------------------------
    def prepare(
        self,
        keypoints: Array,
        valid: Array | None = None,
        *,
        image_size: tuple[float, float] | Array | None = None,
        scale: Scale = "auto",
        check: bool = True,
        corners: tuple[Any, Any] | None = None,
    ) -> Array:
        """Pixels -> model inputs: normalize, zero the missing joints, add the score channel.

        Args:
            keypoints: ``(..., T, J, 2)`` pixels (T = 1 for single frames), numpy or torch.
            valid: ``(..., T, J)`` bool, the joints present (default: all). Missing joints
                become ``(0, 0)`` with score 0 and do not count for the bounding box.
            image_size: ``(width, height)`` for ``"screen"`` models: a pair, or an array
                ``(..., 2)`` per leading index (e.g. per sample). Without it a ``"screen"``
                model gets bounding-box normalization with one scale per sequence.
                Ignored by ``"bbox"`` models.
            scale: how the bounding-box scale is taken along T (:data:`Scale`).
            check: raise for a frame without a box (below); False: such frames give
                non-finite values where valid (the lifting core's rule takes them).
            corners: ``"bbox"`` normalization: the corners of each frame's box of the valid
                keypoints (:func:`~poselift.normalization.box_corners` of ``keypoints`` and
                ``valid``) when the caller has them; None: found here.

        Returns:
            ``(..., T, J, in_features)``, same kind and dtype as ``keypoints`` (computed in
            numpy for numpy inputs, in torch for tensors: the same arithmetic).

        Raises:
            ValueError: a frame with fewer than two distinct valid keypoints (bbox).

        Examples:
            >>> import numpy as np
            >>> c = InputContract(input_norm="screen")
            >>> kp = np.full((1, 17, 2), 500.0)
            >>> float(c.prepare(kp, image_size=(1000, 1000))[0, 0, 0])  # the image centre
            0.0
        """
        ops = ops_for(keypoints)  # numpy in: numpy operations (one pose: fewer microseconds)
        xy = keypoints
        ok: Any = None if valid is None else ops.as_mask(valid)  # in the keypoints' kind
        if ok is not None and not isinstance(valid, torch.Tensor) and ok.all():
            ok = None  # nothing missing: no mask (fewer operations on a single pose)
        norm: Any
        if self.input_norm == "screen" and image_size is not None:
            if isinstance(xy, np.ndarray):
                norm = self._screen(torch.from_numpy(xy), image_size).numpy()
            else:
                norm = self._screen(xy, image_size)
        else:
            if scale == "auto":
                scale = "window" if self.temporal else "frame"
            extent = self.extent
            if self.input_norm == "screen":  # no image size: one scale per sequence
                scale = "sequence"
            if scale == "frame":
                norm = normalize_bbox(xy, ok, extent=extent, check=check,
                                      corners=corners)
            elif scale == "window" and self.causal and self.receptive_field == 1:
                # a causal window of one frame
                norm = normalize_bbox(xy, ok, extent=extent, check=check,
                                      corners=corners)
            elif scale == "window":
                norm = normalize_bbox(xy, ok, extent=extent, per_sequence=True,
                                      window=self.receptive_field if self.receptive_field > 1
                                      else None, causal=self.causal, check=check,
                                      corners=corners)
            elif scale in ("sample", "sequence"):
                norm = normalize_bbox(xy, ok, extent=extent, per_sequence=True, check=check,
                                      corners=corners)
            else:
                raise ValueError(f"scale: expected one of 'auto', 'frame', 'sample', 'window', "
                                 f"'sequence', got {scale!r}")
        if self.has_scores:  # score 1, then x, y and score 0 where missing
            norm = ops.with_ones(norm)
        if ok is not None:
            norm = ops.zero_missing(norm, ok)
        out: Array = norm
        return out

    @staticmethod
    def _screen(xy: torch.Tensor, image_size: tuple[float, float] | Array) -> torch.Tensor:
        if isinstance(image_size, np.ndarray | torch.Tensor) and np.ndim(image_size) > 1:
            size = torch.as_tensor(image_size, dtype=xy.dtype, device=xy.device)
            lead = xy.ndim - size.ndim  # (S, 2) sizes broadcast over the trailing (T, J) dims
            size = size.reshape(*size.shape[:-1], *([1] * lead), 2)
            w, h = size[..., 0], size[..., 1]
            out = torch.empty_like(xy)
            out[..., 0] = xy[..., 0] / w * 2 - 1
            out[..., 1] = xy[..., 1] / w * 2 - h / w
            return out
        pair = [float(v) for v in image_size]
        if torch.compiler.is_compiling():  # normalize_screen's input checks fix the shapes
            width, height = pair
            return xy / width * 2 - torch.tensor([1.0, height / width], dtype=xy.dtype,
                                                 device=xy.device)
        result = normalize_screen(xy, pair[0], pair[1])
        assert isinstance(result, torch.Tensor)
        return result

    def flip_inputs(self, inputs: Array) -> Array:
        """Mirror normalized inputs ``(..., J, C)``: ``x -> -x`` and left/right swapped.

        Exact for normalized coordinates centred on the person or the image (the shipped
        models' ``"bbox"``, and ``"screen"`` with the principal point at the centre).

        Examples:
            >>> import torch
            >>> x = torch.zeros(17, 2); x[11] = torch.tensor([0.3, 0.1])   # left shoulder
            >>> InputContract().flip_inputs(x)[14].tolist()              # -> right, mirrored
            [-0.30000001192092896, 0.10000000149011612]
        """
        return flip_keypoints(inputs, self.skeleton)

    def flip_outputs(self, poses: Array) -> Array:
        """Mirror predicted poses ``(..., J_out, 3)`` back: ``x -> -x``, left/right swapped."""
        return flip_poses(poses, self.out_skeleton)

    def flip_average(self, net: Callable[[torch.Tensor], torch.Tensor],
                     inputs: torch.Tensor) -> torch.Tensor:
        """Test-time flip averaging: ``net`` on the inputs and on their mirror, averaged.

        The one implementation: both go through ``net`` in one batch, the mirrored
        prediction is mirrored back (:meth:`flip_outputs`) and the two are averaged.

        Args:
            net: the network (or any function of the same shapes), ``(B, ..., J, C)`` ->
                ``(B, ..., J_out, 3)``.
            inputs: ``(B, ..., J, C)`` normalized model inputs (:meth:`flip_inputs`).

        Examples:
            >>> import torch
            >>> c = InputContract()
            >>> x = torch.randn(2, 17, 2)
            >>> net = lambda t: torch.cat([t, torch.zeros_like(t[..., :1])], -1)  # mirror-symmetric
            >>> torch.allclose(c.flip_average(net, x), net(x))
            True
        """
        mirrored = self.flip_inputs(inputs)
        assert isinstance(mirrored, torch.Tensor)
        y = net(torch.cat([inputs, mirrored], 0))
        back = self.flip_outputs(y[inputs.shape[0]:])
        assert isinstance(back, torch.Tensor)
        return (y[: inputs.shape[0]] + back) * 0.5

    def pad(self, sequences: torch.Tensor) -> torch.Tensor:
        """Edge-pad ``(N, T, ...)`` sequences to ``(N, T + R - 1, ...)``.

        A full-sequence pass of the temporal model then returns one output per input frame.

        Examples:
            >>> import torch
            >>> c = InputContract(receptive_field=3, temporal=True)
            >>> c.pad(torch.arange(4.0).reshape(1, 4))[0].tolist()
            [0.0, 0.0, 1.0, 2.0, 3.0, 3.0]
        """
        r = self.receptive_field
        left = r - 1 if self.causal else (r - 1) // 2
        right = 0 if self.causal else r - 1 - left
        n = sequences.shape[0]
        rest = sequences.shape[2:]
        return torch.cat([sequences[:, :1].expand(n, left, *rest), sequences,
                          sequences[:, -1:].expand(n, right, *rest)], 1)

    def offsets(self) -> np.ndarray[Any, Any]:
        """:func:`window_offsets` of this model's receptive field."""
        return window_offsets(self.receptive_field, self.causal)


@functools.lru_cache(maxsize=256)
def _contract(temporal: bool, skeleton: str, out_skeleton: str, in_features: int,
              input_norm: str, receptive_field: int, causal: bool) -> InputContract:
    """The (immutable) contract of these values, validated and built once per distinct values.

    A model's contract is looked up on every ``lift`` call.
    """
    return InputContract(skeleton=skeleton, out_skeleton=out_skeleton,
                         in_features=in_features, input_norm=input_norm,
                         receptive_field=receptive_field, causal=causal, temporal=temporal)
