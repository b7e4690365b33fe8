"""Input layouts: which 3D points are projected to make a model's 2D input.

Training data is H36M-17 mocap. A model may take another 2D layout (e.g. COCO-17 from a
detector); an :class:`InputLayout` maps the H36M-17 joints, in camera coordinates, to the 3D
points of the input skeleton *before* projection, so that any layout can be synthesized
from the mocap. The built-in ``"h36m"`` layout is the identity.

Mirroring (horizontal flip) is applied to the H36M-17 points before the layout function,
so a layout needs no flip table of its own as long as it maps joints by name consistently.

To add a layout, register a function ``(..., 17, 3) -> (..., J, 3)`` (torch in, torch out)
together with the name of its registered :class:`~poselift.skeletons.Skeleton`::

    register_input_layout(InputLayout("my-coco", "coco", synthesize_coco_from_h36m))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from poselift._registry import Registry
from poselift.skeletons import get_skeleton

__all__ = ["InputLayout", "get_input_layout", "list_input_layouts", "register_input_layout"]


@dataclass(frozen=True)
class InputLayout:
    """A named mapping from H36M-17 3D joints to an input skeleton's 3D points.

    Args:
        name: registry name.
        skeleton: name of the registered skeleton of the output points (``J`` joints).
        fn: ``(..., 17, 3) -> (..., J, 3)`` torch function (camera coordinates, metres).
        face: indices of the points on the face (nose, eyes, ears), which a detector loses
            together when the face turns away (:class:`~poselift.data.detector.DetectorModel`)
            and whose spacing differs between faces and detectors
            (:class:`~poselift.data.bodies.BodyVariation`); default none.
        face_anchor: the face point the others are measured from (the nose), or None.
        face_normals: for each ``face`` point, the direction it faces in the head's
            (left, up, forward) frame (:func:`~poselift.data.coco_layout.head_frame`): the
            point is visible when this direction points towards the camera.

    Examples:
        >>> import torch
        >>> layout = get_input_layout("h36m")
        >>> layout.num_joints, layout(torch.zeros(2, 17, 3)).shape
        (17, torch.Size([2, 17, 3]))
    """

    name: str
    skeleton: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    face: tuple[int, ...] = ()
    face_anchor: int | None = None
    face_normals: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        n = get_skeleton(self.skeleton).num_joints  # the skeleton must exist
        if any(not 0 <= j < n for j in self.face):
            raise ValueError(f"face: expected joint indices in [0, {n}), got {self.face!r}")
        if self.face_anchor is not None and self.face_anchor not in self.face:
            raise ValueError(f"face_anchor: expected one of the face points {self.face!r}, got "
                             f"{self.face_anchor!r}")
        if len(self.face_normals) != len(self.face):
            raise ValueError(f"face_normals: expected one (left, up, forward) direction per "
                             f"face point ({len(self.face)}), got {len(self.face_normals)}")

    @property
    def num_joints(self) -> int:
        """Number of joints ``J`` of the input skeleton."""
        return get_skeleton(self.skeleton).num_joints

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Map ``(..., 17, 3)`` H36M-17 points to ``(..., J, 3)`` input points."""
        out = self.fn(points)
        if out.shape[:-2] != points.shape[:-2] or out.shape[-2:] != (self.num_joints, 3):
            raise ValueError(
                f"input layout {self.name!r}: expected output shape "
                f"{(*points.shape[:-2], self.num_joints, 3)}, got {tuple(out.shape)}"
            )
        return out


_LAYOUTS: Registry[InputLayout] = Registry("input layout")


def register_input_layout(layout: InputLayout, *, overwrite: bool = False) -> InputLayout:
    """Register ``layout`` under its name.

    Examples:
        >>> lay = InputLayout("doc-h36m-copy", "h36m", lambda p: p.clone())
        >>> register_input_layout(lay).name in list_input_layouts()
        True
    """
    if not isinstance(layout, InputLayout):
        raise TypeError(f"layout: expected an InputLayout, got {type(layout).__name__}")
    return _LAYOUTS.register(layout.name, layout, overwrite=overwrite)


def get_input_layout(name: str | InputLayout) -> InputLayout:
    """The layout registered as ``name`` (an :class:`InputLayout` is passed through).

    Examples:
        >>> get_input_layout("h36m").skeleton
        'h36m'
    """
    if isinstance(name, InputLayout):
        return name
    return _LAYOUTS.get(name)


def list_input_layouts() -> list[str]:
    """Names of the registered input layouts.

    Examples:
        >>> "h36m" in list_input_layouts()
        True
    """
    return _LAYOUTS.names()


register_input_layout(InputLayout("h36m", "h36m", lambda p: p))
