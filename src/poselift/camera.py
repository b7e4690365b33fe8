"""Cameras: projection with Human3.6M distortion, screen normalization, virtual rigs.

Conventions (see ``docs/camera.md``):

- World and camera coordinates are metres. Camera coordinates follow OpenCV: x right,
  y down, z forward (along the optical axis). Pixels: u right, v down, origin at the
  top-left corner of the image.
- Extrinsics map world to camera coordinates: ``x_cam = R @ x_world + t``. The camera centre
  in world coordinates is ``-R.T @ t`` (:attr:`Camera.position`).
- Mocap worlds in poselift are right-handed with +Y up (the Bandai data); :func:`look_at`
  takes the world's up vector, so the axis flip between "+Y up" and "y down" is handled
  there: a point above the pelvis projects above it in the image (smaller ``v``).
- Batching: a :class:`Camera` may hold a batch of cameras (``batch_shape``). Its batch dims
  line up with the *leading* dims of the points, size-1 dims broadcast: a camera of batch
  shape ``(4, F)`` projects points ``(1, F, 17, 3)`` to ``(4, F, 17, 2)``, and an
  unbatched camera projects points of any shape (VideoPose3D's ``(N, *, 3)`` rule).

Functions taking arrays accept numpy arrays or torch tensors and return the same kind; the
camera's parameters are stored as torch tensors and cast to the points' dtype and device.

The deterministic evaluation rig of docs/protocols.md is :data:`H36M_LIKE` (a :class:`RigSpec`,
built with :func:`rig_cameras`); :class:`RandomRig` samples cameras around it for training.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import torch

from poselift._registry import Registry
from poselift._validation import Array, check_array, check_finite, check_shape

__all__ = [
    "H36M_LIKE",
    "NOMINAL_STATURE",
    "Camera",
    "RandomRig",
    "RigSpec",
    "camera_to_world",
    "get_rig",
    "list_rigs",
    "look_at",
    "normalize_screen",
    "project",
    "register_rig",
    "rig_cameras",
    "unnormalize_screen",
    "world_to_camera",
]

_ArrayLike = Array | float | Sequence[Any]

NOMINAL_STATURE = 1.7
"""Standing height in metres that :class:`RandomRig` uses to turn ``person_height`` (the
fraction of the frame a person spans) into a focal length."""

MIN_CAMERA_HEIGHT = 0.2
"""Lowest camera height (metres above the floor) :class:`RandomRig` places a camera at when
``elevation_deg`` asks for a view from below."""


def _tensor(value: object, name: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Convert ``value`` (float, sequence, numpy, torch) to a floating torch tensor."""
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else value.to(dtype)
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected numbers, an array or a tensor, got {value!r}") from exc


def _pair(value: _ArrayLike, name: str) -> torch.Tensor:
    """A ``(..., 2)`` tensor from a scalar (used for both entries) or a ``(..., 2)`` array."""
    t = _tensor(value, name)
    if t.ndim == 0:
        return t.expand(2).clone()
    if t.shape[-1] != 2:
        raise ValueError(f"{name}: expected a scalar or shape (..., 2), got {tuple(t.shape)}")
    return t


@dataclass(frozen=True, eq=False, init=False)
class Camera:
    """A pinhole camera (or a batch of them) with optional Human3.6M lens distortion.

    Args:
        R: ``(..., 3, 3)`` world-to-camera rotation.
        t: ``(..., 3)`` world-to-camera translation in metres (``x_cam = R x_world + t``).
        focal: ``(..., 2)`` focal lengths ``(fx, fy)`` in pixels (a scalar means fx = fy).
        center: ``(..., 2)`` principal point ``(cx, cy)`` in pixels.
        image_size: ``(width, height)`` in pixels, shared by the whole batch.
        radial: optional ``(..., 3)`` radial distortion ``(k1, k2, k3)``.
        tangential: optional ``(..., 2)`` tangential distortion ``(p1, p2)``.

    Parameters may be floats, sequences, numpy arrays or tensors; they are stored as torch
    tensors (float64 unless a floating tensor was given) and their batch dims must broadcast
    together. ``batch_shape`` is the broadcast of every parameter's batch dims.

    Examples:
        >>> import numpy as np
        >>> cam = Camera(R=np.eye(3), t=[0.0, 0.0, 0.0], focal=1000.0, center=(500.0, 400.0),
        ...              image_size=(1000, 800))
        >>> cam.batch_shape, cam.fx.item(), cam.cy.item()
        ((), 1000.0, 400.0)
        >>> project(np.array([0.5, -0.2, 5.0]), cam).tolist()   # 500 + 1000 * 0.5 / 5
        [600.0, 360.0]
    """

    R: torch.Tensor
    t: torch.Tensor
    focal: torch.Tensor
    center: torch.Tensor
    image_size: tuple[int, int]
    radial: torch.Tensor | None = None
    tangential: torch.Tensor | None = None
    batch_shape: tuple[int, ...] = field(init=False)

    def __init__(
        self,
        R: _ArrayLike,
        t: _ArrayLike,
        focal: _ArrayLike,
        center: _ArrayLike,
        image_size: tuple[int, int] | Sequence[int],
        radial: _ArrayLike | None = None,
        tangential: _ArrayLike | None = None,
    ) -> None:
        R = _tensor(R, "R")
        t = _tensor(t, "t")
        focal = _pair(focal, "focal")
        center = _pair(center, "center")
        check_shape(R, "R", "(..., 3, 3)")
        check_shape(t, "t", "(..., 3)")
        params: list[tuple[str, torch.Tensor, int]] = [
            ("R", R, 2), ("t", t, 1), ("focal", focal, 1), ("center", center, 1),
        ]
        k: torch.Tensor | None = None
        p: torch.Tensor | None = None
        if radial is not None:
            k = _tensor(radial, "radial")
            check_shape(k, "radial", "(..., 3)")
            params.append(("radial", k, 1))
        if tangential is not None:
            p = _tensor(tangential, "tangential")
            check_shape(p, "tangential", "(..., 2)")
            params.append(("tangential", p, 1))
        for name, value, _ in params:
            check_finite(value, name)
        size = tuple(image_size)
        if len(size) != 2 or any(
            isinstance(s, bool) or not isinstance(s, int | np.integer) or s <= 0 for s in size
        ):
            raise ValueError(f"image_size: expected (width, height) positive ints, got {size!r}")
        try:
            batch = np.broadcast_shapes(*(tuple(v.shape[: v.ndim - d]) for _, v, d in params))
        except ValueError:
            shapes = ", ".join(f"{n}{tuple(v.shape)}" for n, v, _ in params)
            raise ValueError(
                f"camera parameters have incompatible batch shapes: {shapes}") from None
        set_ = object.__setattr__
        set_(self, "R", R)
        set_(self, "t", t)
        set_(self, "focal", focal)
        set_(self, "center", center)
        set_(self, "radial", k)
        set_(self, "tangential", p)
        set_(self, "image_size", (int(size[0]), int(size[1])))
        set_(self, "batch_shape", tuple(int(b) for b in batch))

    # --- convenience views ---------------------------------------------------------------
    @property
    def fx(self) -> torch.Tensor:
        """Focal length along x, pixels, ``(...)``."""
        return self.focal[..., 0]

    @property
    def fy(self) -> torch.Tensor:
        """Focal length along y, pixels, ``(...)``."""
        return self.focal[..., 1]

    @property
    def cx(self) -> torch.Tensor:
        """Principal point x, pixels, ``(...)``."""
        return self.center[..., 0]

    @property
    def cy(self) -> torch.Tensor:
        """Principal point y, pixels, ``(...)``."""
        return self.center[..., 1]

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self.image_size[0]

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self.image_size[1]

    @property
    def position(self) -> torch.Tensor:
        """Camera centre in world coordinates, ``(..., 3)`` metres (``-R^T t``)."""
        return -(self.R.transpose(-1, -2) @ self.t.unsqueeze(-1)).squeeze(-1)

    @property
    def has_distortion(self) -> bool:
        """Whether radial or tangential distortion coefficients are set."""
        return self.radial is not None or self.tangential is not None

    @property
    def K(self) -> torch.Tensor:
        """Intrinsic matrix, ``(..., 3, 3)``."""
        zero, one = torch.zeros_like(self.fx), torch.ones_like(self.fx)
        rows = [
            torch.stack([self.fx, zero, self.cx], -1),
            torch.stack([zero, self.fy, self.cy], -1),
            torch.stack([zero, zero, one], -1),
        ]
        return torch.stack(rows, -2)

    def __getitem__(self, index: Any) -> Camera:
        """Index the batch dims, e.g. ``rig[0]`` is the first camera of a rig."""
        if not self.batch_shape:
            raise IndexError("cannot index an unbatched Camera")

        def pick(v: torch.Tensor, k: int) -> torch.Tensor:
            full = v.expand(*self.batch_shape, *v.shape[v.ndim - k:])
            return full[index]

        return Camera(
            R=pick(self.R, 2),
            t=pick(self.t, 1),
            focal=pick(self.focal, 1),
            center=pick(self.center, 1),
            image_size=self.image_size,
            radial=None if self.radial is None else pick(self.radial, 1),
            tangential=None if self.tangential is None else pick(self.tangential, 1),
        )

    def to(self, *args: Any, **kwargs: Any) -> Camera:
        """Move/cast every parameter like ``torch.Tensor.to`` (e.g. ``cam.to(torch.float32)``)."""
        conv = [None if v is None else v.to(*args, **kwargs) for v in (self.radial,
                                                                      self.tangential)]
        return Camera(
            R=self.R.to(*args, **kwargs),
            t=self.t.to(*args, **kwargs),
            focal=self.focal.to(*args, **kwargs),
            center=self.center.to(*args, **kwargs),
            image_size=self.image_size,
            radial=conv[0],
            tangential=conv[1],
        )

    def intrinsics9(self) -> torch.Tensor:
        """VideoPose3D's 9-number intrinsics ``(fx, fy, cx, cy, k1, k2, k3, p1, p2)``.

        Pixels (not VideoPose3D's normalized units); zeros where distortion is unset.

        Examples:
            >>> Camera(R=torch.eye(3), t=torch.zeros(3), focal=2.0, center=(1.0, 1.0),
            ...        image_size=(2, 2)).intrinsics9().tolist()
            [2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        """
        batch = self.batch_shape
        like = self.focal
        k = self.radial if self.radial is not None else like.new_zeros(3)
        p = self.tangential if self.tangential is not None else like.new_zeros(2)
        parts = [v.expand(*batch, v.shape[-1]) for v in (self.focal, self.center, k, p)]
        return torch.cat(parts, -1)


# --- point transforms ---------------------------------------------------------------------


def _param(v: torch.Tensor, k: int, cam: Camera, points: torch.Tensor) -> torch.Tensor:
    """Camera parameter ``v`` (batch + ``k`` trailing dims) aligned to ``points (..., 3)``.

    The camera's batch dims line up with the points' leading dims; singleton dims are
    inserted after them so that ``v`` broadcasts over the points' remaining dims.
    """
    nb = len(cam.batch_shape)
    lead = points.ndim - 1
    if nb > lead:
        raise ValueError(
            f"points: a camera with batch shape {cam.batch_shape} needs points with at least "
            f"{nb} leading dims before the last one, got shape {tuple(points.shape)}"
        )
    v = v.to(dtype=points.dtype, device=points.device)
    vb = v.ndim - k
    # left-pad the parameter's own batch dims to the camera's batch rank, then add singleton
    # dims for the points' extra leading dims
    shape = (1,) * (nb - vb) + tuple(v.shape[:vb]) + (1,) * (lead - nb) + tuple(v.shape[vb:])
    return v.reshape(shape)


def _as_torch(x: Array) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.to(torch.float64)
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _back(result: torch.Tensor, reference: Array) -> Array:
    if isinstance(reference, torch.Tensor):
        return result
    return result.numpy()


def _check_points(points: object, name: str) -> Array:
    points = check_array(points, name)
    check_shape(points, name, "(..., 3)")
    return points


def _check_camera(camera: object) -> Camera:
    if not isinstance(camera, Camera):
        raise TypeError(f"camera: expected a poselift.camera.Camera, got {type(camera).__name__}")
    return camera


def _rotate(R: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    # einsum is ~3x faster than a batched matmul of many tiny 3x3 matrices
    return torch.einsum("...ij,...j->...i", R, p)


def world_to_camera(points: Array, camera: Camera) -> Array:
    """Transform world points to camera coordinates: ``R @ x + t``.

    Args:
        points: ``(..., 3)`` world coordinates, metres.
        camera: a camera or batch of cameras (batch dims align with the points' leading dims).

    Returns:
        ``(..., 3)`` camera coordinates, metres (OpenCV axes), same kind as ``points``; the
        leading dims are the broadcast of the points' and the camera's.

    Examples:
        >>> import numpy as np
        >>> R, t = look_at(eye=[0.0, 1.0, 5.0], target=[0.0, 1.0, 0.0])
        >>> cam = Camera(R=R, t=t, focal=1000.0, center=500.0, image_size=(1000, 1000))
        >>> world_to_camera(np.array([0.0, 2.0, 0.0]), cam).round(6).tolist()  # 1 m up
        [0.0, -1.0, 5.0]
    """
    points = _check_points(points, "points")
    camera = _check_camera(camera)
    p = _as_torch(points)
    out = _rotate(_param(camera.R, 2, camera, p), p) + _param(camera.t, 1, camera, p)
    return _back(out, points)


def camera_to_world(points: Array, camera: Camera) -> Array:
    """Inverse of :func:`world_to_camera`: ``R^T @ (x - t)``.

    Args:
        points: ``(..., 3)`` camera coordinates, metres.
        camera: a camera or batch of cameras.

    Returns:
        ``(..., 3)`` world coordinates, metres, same kind as ``points``.

    Examples:
        >>> import numpy as np
        >>> R, t = look_at(eye=[1.0, 2.0, 3.0], target=[0.0, 0.0, 0.0])
        >>> cam = Camera(R=R, t=t, focal=1.0, center=0.0, image_size=(1, 1))
        >>> x = np.array([[0.3, -0.2, 0.7]])
        >>> np.allclose(camera_to_world(world_to_camera(x, cam), cam), x)
        True
    """
    points = _check_points(points, "points")
    camera = _check_camera(camera)
    p = _as_torch(points)
    R = _param(camera.R, 2, camera, p).transpose(-1, -2)
    out = _rotate(R, p - _param(camera.t, 1, camera, p))
    return _back(out, points)


def project(points: Array, camera: Camera) -> Array:
    """Project camera-coordinate points to pixels (pinhole + Human3.6M distortion).

    Without distortion coefficients this is the plain pinhole model
    ``u = fx * x / z + cx``, ``v = fy * y / z + cy``. With them it is exactly
    VideoPose3D's ``project_to_2d`` (the Human3.6M MATLAB model): with
    ``(x', y') = clamp((x / z, y / z), -1, 1)`` and ``r2 = x'^2 + y'^2``,

    - ``radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3``, ``tan = p1 x' + p2 y'``,
    - ``x'' = x' (radial + tan) + p1 r2``, ``y'' = y' (radial + tan) + p2 r2``,
    - ``u = fx x'' + cx``, ``v = fy y'' + cy``.

    The clamp (part of VideoPose3D's formula) keeps the polynomial from folding back for
    points far outside the field of view; it is not applied without distortion.
    Points must lie in front of the camera (``z > 0``); others give meaningless pixels.

    Args:
        points: ``(..., 3)`` camera coordinates, metres.
        camera: a camera or batch of cameras (batch dims align with the points' leading dims).

    Returns:
        ``(..., 2)`` pixels, same kind as ``points``.

    Examples:
        >>> import torch
        >>> cam = Camera(R=torch.eye(3), t=torch.zeros(3), focal=(1000.0, 900.0),
        ...              center=(500.0, 500.0), image_size=(1000, 1000))
        >>> project(torch.tensor([[0.2, 0.1, 2.0]], dtype=torch.float64), cam).tolist()
        [[600.0, 545.0]]
    """
    points = _check_points(points, "points")
    camera = _check_camera(camera)
    p = _as_torch(points)
    xy = p[..., :2] / p[..., 2:3]
    if camera.has_distortion:
        xy = xy.clamp(-1.0, 1.0)
        r2 = (xy * xy).sum(-1, keepdim=True)
        radial = torch.ones_like(r2)
        if camera.radial is not None:
            k = _param(camera.radial, 1, camera, p)
            radial = radial + k[..., 0:1] * r2 + k[..., 1:2] * r2**2 + k[..., 2:3] * r2**3
        if camera.tangential is not None:
            pt = _param(camera.tangential, 1, camera, p)
            tan = (pt * xy).sum(-1, keepdim=True)
            xy = xy * (radial + tan) + pt * r2
        else:
            xy = xy * radial
    out = _param(camera.focal, 1, camera, p) * xy + _param(camera.center, 1, camera, p)
    return _back(out, points)


# --- screen normalization -----------------------------------------------------------------


def _check_size(w: float, h: float) -> None:
    for name, v in (("w", w), ("h", h)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) or (
            not v > 0
        ):
            raise ValueError(f"{name}: expected a positive image size in pixels, got {v!r}")


def normalize_screen(xy: Array, w: float, h: float) -> Array:
    """Map pixels to normalized screen coordinates (VideoPose3D convention).

    ``[0, w]`` maps to ``[-1, 1]`` and y is scaled by the same factor (aspect kept):
    ``xy / w * 2 - (1, h / w)``. The image centre maps to ``(0, 0)``.

    Args:
        xy: ``(..., 2)`` pixels.
        w: image width in pixels.
        h: image height in pixels.

    Returns:
        ``(..., 2)`` normalized coordinates, same kind as ``xy``.

    Examples:
        >>> import numpy as np
        >>> normalize_screen(np.array([[0.0, 0.0], [1000.0, 500.0]]), 1000, 500).tolist()
        [[-1.0, -0.5], [1.0, 0.5]]
    """
    xy = check_array(xy, "xy")
    check_shape(xy, "xy", "(..., 2)")
    _check_size(w, h)
    offset = np.array([1.0, h / w])
    if isinstance(xy, torch.Tensor):
        dtype = xy.dtype if xy.is_floating_point() else torch.float64
        return xy.to(dtype) / w * 2 - torch.as_tensor(offset, dtype=dtype, device=xy.device)
    out: np.ndarray[Any, Any] = xy / w * 2 - offset
    return out.astype(np.result_type(xy.dtype, np.float32), copy=False)


def unnormalize_screen(xy: Array, w: float, h: float) -> Array:
    """Inverse of :func:`normalize_screen`: ``(xy + (1, h / w)) * w / 2`` pixels.

    Args:
        xy: ``(..., 2)`` normalized screen coordinates.
        w: image width in pixels.
        h: image height in pixels.

    Returns:
        ``(..., 2)`` pixels, same kind as ``xy``.

    Examples:
        >>> import numpy as np
        >>> unnormalize_screen(np.array([[0.0, 0.0]]), 1000, 500).tolist()
        [[500.0, 250.0]]
    """
    xy = check_array(xy, "xy")
    check_shape(xy, "xy", "(..., 2)")
    _check_size(w, h)
    offset = np.array([1.0, h / w])
    if isinstance(xy, torch.Tensor):
        dtype = xy.dtype if xy.is_floating_point() else torch.float64
        return (xy.to(dtype) + torch.as_tensor(offset, dtype=dtype, device=xy.device)) * w / 2
    out: np.ndarray[Any, Any] = (xy + offset) * w / 2
    return out.astype(np.result_type(xy.dtype, np.float32), copy=False)


# --- look-at construction -----------------------------------------------------------------


@overload
def look_at(
    eye: np.ndarray[Any, Any] | Sequence[float],
    target: np.ndarray[Any, Any] | Sequence[float],
    up: np.ndarray[Any, Any] | Sequence[float] = ...,
    roll: float | np.ndarray[Any, Any] = ...,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]: ...
@overload
def look_at(
    eye: torch.Tensor,
    target: torch.Tensor | Sequence[float],
    up: torch.Tensor | Sequence[float] = ...,
    roll: float | torch.Tensor = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...
def look_at(eye: Any, target: Any, up: Any = (0.0, 1.0, 0.0), roll: Any = 0.0) -> Any:
    """World-to-camera extrinsics of a camera at ``eye`` looking at ``target``.

    The camera's z axis points from ``eye`` to ``target``, its x axis (image right) is
    ``normalize(z x up)`` and its y axis (image down) is ``z x x``, so world "up" appears
    up in the image. ``roll`` (radians) then rotates the camera about its optical axis:
    ``R = Rz(roll) @ R0``, so a positive roll turns the image content clockwise (from the
    image's right towards its bottom).

    Args:
        eye: ``(..., 3)`` camera centre, world metres.
        target: ``(..., 3)`` point the camera looks at.
        up: ``(..., 3)`` world up direction (default +Y). Must not be parallel to the
            viewing direction.
        roll: ``(...)`` rotation about the optical axis in radians.

    Returns:
        ``(R, t)``: ``(..., 3, 3)`` rotation and ``(..., 3)`` translation with
        ``x_cam = R x_world + t``; numpy if ``eye`` is numpy/sequence, torch if it is a tensor.

    Raises:
        ValueError: ``eye == target`` or ``up`` parallel to the viewing direction.

    Examples:
        >>> R, t = look_at([0.0, 0.0, 5.0], [0.0, 0.0, 0.0])   # on +z, looking at -z
        >>> R.round(6).tolist()                                  # rows: right, down, forward
        [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]
        >>> t.round(6).tolist()
        [0.0, 0.0, 5.0]
    """
    as_numpy = not isinstance(eye, torch.Tensor)
    e = _tensor(eye, "eye")
    tg = _tensor(target, "target").to(e)
    u = _tensor(up, "up").to(e)
    r = _tensor(roll, "roll").to(e)
    for name, v in (("eye", e), ("target", tg), ("up", u)):
        check_shape(v, name, "(..., 3)")
    forward = tg - e
    norm = forward.norm(dim=-1, keepdim=True)
    if bool((norm <= 1e-12).any()):
        raise ValueError("eye/target: the camera centre must differ from the target")
    z = forward / norm
    right = torch.linalg.cross(z, u.expand_as(z) if u.shape != z.shape else u, dim=-1)
    rn = right.norm(dim=-1, keepdim=True)
    if bool((rn <= 1e-9).any()):
        raise ValueError("up: the up direction must not be parallel to the viewing direction")
    x = right / rn
    y = torch.linalg.cross(z, x, dim=-1)
    R = torch.stack([x, y, z], dim=-2)
    if bool((r != 0).any()):
        c, s = torch.cos(r), torch.sin(r)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        Rz = torch.stack(
            [torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1),
             torch.stack([zero, zero, one], -1)], -2)
        R = Rz @ R
    t = -_rotate(R, e.expand(R.shape[:-1]))
    if as_numpy:
        return R.numpy(), t.numpy()
    return R, t


# --- rigs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RigSpec:
    """A deterministic ring of cameras that follows the subject's pelvis horizontally.

    At a frame with pelvis ``p`` (world, +Y up), camera ``k`` sits at
    ``(p.x + distance sin a_k, height, p.z + distance cos a_k)`` and looks at
    ``(p.x, target_height, p.z)``.

    Args:
        azimuths_deg: camera azimuths ``a_k`` in degrees.
        distance: horizontal distance to the pelvis, metres.
        height: camera height above the world origin, metres.
        target_height: height of the look-at point, metres.
        focal: ``(fx, fy)`` pixels.
        center: ``(cx, cy)`` pixels.
        image_size: ``(width, height)`` pixels.

    Examples:
        >>> H36M_LIKE.num_cameras, H36M_LIKE.image_size
        (4, (1000, 1000))
    """

    azimuths_deg: tuple[float, ...] = (45.0, 135.0, 225.0, 315.0)
    distance: float = 5.0
    height: float = 1.6
    target_height: float = 0.9
    focal: tuple[float, float] = (1145.0, 1145.0)
    center: tuple[float, float] = (500.0, 500.0)
    image_size: tuple[int, int] = (1000, 1000)

    @property
    def num_cameras(self) -> int:
        """Number of cameras in the ring."""
        return len(self.azimuths_deg)

    def as_dict(self) -> dict[str, Any]:
        """Plain-type description (used in cache keys and result metadata)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


H36M_LIKE = RigSpec()
"""The ``h36m-like`` evaluation rig of docs/protocols.md: 4 cameras at 45/135/225/315 degrees,
5 m from the pelvis, 1.6 m high, looking at (p.x, 0.9, p.z); 1000 x 1000 pixels,
fx = fy = 1145, cx = cy = 500, no distortion."""

_RIGS: Registry[RigSpec] = Registry("rig")
_RIGS.register("h36m-like", H36M_LIKE)


def register_rig(name: str, rig: RigSpec, *, overwrite: bool = False) -> RigSpec:
    """Register a :class:`RigSpec` under ``name`` for :func:`get_rig`.

    Examples:
        >>> _ = register_rig("doc-rig", RigSpec(azimuths_deg=(0.0,)))
        >>> get_rig("doc-rig").num_cameras
        1
    """
    if not isinstance(rig, RigSpec):
        raise TypeError(f"rig: expected a RigSpec, got {type(rig).__name__}")
    return _RIGS.register(name, rig, overwrite=overwrite)


def get_rig(name: str | RigSpec) -> RigSpec:
    """Return the rig registered as ``name`` (a :class:`RigSpec` is passed through).

    Examples:
        >>> get_rig("h36m-like").distance
        5.0
    """
    if isinstance(name, RigSpec):
        return name
    return _RIGS.get(name)


def list_rigs() -> list[str]:
    """Names of the registered rigs.

    Examples:
        >>> "h36m-like" in list_rigs()
        True
    """
    return _RIGS.names()


def _follow_cameras(
    pelvis: torch.Tensor,
    azimuth: torch.Tensor,
    distance: torch.Tensor,
    height: torch.Tensor,
    target_height: torch.Tensor,
    focal: torch.Tensor,
    center: torch.Tensor,
    roll: torch.Tensor,
    image_size: tuple[int, int],
) -> Camera:
    """Cameras following ``pelvis (..., 3)``; every other argument broadcasts to ``(...)``."""
    px, pz = pelvis[..., 0], pelvis[..., 2]
    shape = np.broadcast_shapes(*(tuple(v.shape) for v in (px, azimuth, distance, height,
                                                            target_height, roll)))

    def stack(*parts: torch.Tensor) -> torch.Tensor:
        return torch.stack([v.expand(shape) for v in parts], -1)

    eye = stack(px + distance * torch.sin(azimuth), height, pz + distance * torch.cos(azimuth))
    target = stack(px, target_height, pz)
    up = pelvis.new_tensor([0.0, 1.0, 0.0])
    R, t = look_at(eye.expand(*shape, 3), target.expand(*shape, 3), up, roll.expand(shape))
    return Camera(R=R, t=t, focal=focal, center=center, image_size=image_size)


def _aim(cams: Camera, direction: torch.Tensor) -> Camera:
    """Pan and tilt cameras ``(B, ...)``: the optical axis moves to ``direction (B, 2)``.

    What was on the optical axis then appears at normalized image coordinates ``direction``
    (``(u - cx) / fx``, ``(v - cy) / fy``). The rotation is the smallest one taking the
    optical axis to ``(a, b, 1)``; it is the same for every frame of a sample.
    """
    d = torch.cat([direction, torch.ones_like(direction[:, :1])], -1)
    d = d / d.norm(dim=-1, keepdim=True)
    v = torch.stack([-d[:, 1], d[:, 0], torch.zeros_like(d[:, 0])], -1)  # e_z x d
    zero = torch.zeros_like(v[:, 0])
    vx = torch.stack([torch.stack([zero, -v[:, 2], v[:, 1]], -1),
                      torch.stack([v[:, 2], zero, -v[:, 0]], -1),
                      torch.stack([-v[:, 1], v[:, 0], zero], -1)], -2)
    eye = torch.eye(3, dtype=d.dtype, device=d.device)
    q = eye + vx + vx @ vx / (1 + d[:, 2])[:, None, None]
    extra = cams.R.ndim - 3  # frames per sample
    q = q.reshape(q.shape[0], *([1] * extra), 3, 3)
    return Camera(R=q @ cams.R, t=(q @ cams.t.unsqueeze(-1)).squeeze(-1), focal=cams.focal,
                  center=cams.center, image_size=cams.image_size)


def rig_cameras(pelvis: Array, rig: str | RigSpec = "h36m-like") -> Camera:
    """The cameras of a deterministic rig for every pelvis position.

    Args:
        pelvis: ``(..., 3)`` world pelvis positions (metres, +Y up), e.g. ``(F, 3)`` for
            every frame of a clip.
        rig: a registered rig name or a :class:`RigSpec`.

    Returns:
        A :class:`Camera` with batch shape ``(C, ...)`` (C = number of rig cameras), so that
        ``project(world_to_camera(poses[None], cams), cams)`` maps ``(F, J, 3)`` world poses
        to ``(C, F, J, 2)`` pixels. Parameters are float64 tensors.

    Examples:
        >>> import numpy as np
        >>> cams = rig_cameras(np.zeros((10, 3)))
        >>> cams.batch_shape
        (4, 10)
        >>> cams.position[0, 0].numpy().round(4).tolist()   # 5 m away at 45 degrees, 1.6 m up
        [3.5355, 1.6, 3.5355]
    """
    pelvis = check_array(pelvis, "pelvis")
    check_shape(pelvis, "pelvis", "(..., 3)")
    spec = get_rig(rig)
    p = _as_torch(pelvis).to(torch.float64)
    nb = p.ndim - 1
    az = torch.tensor([math.radians(a) for a in spec.azimuths_deg], dtype=torch.float64)
    az = az.reshape(-1, *([1] * nb))
    f64 = torch.float64
    return _follow_cameras(
        p.unsqueeze(0),
        az,
        torch.tensor(spec.distance, dtype=f64),
        torch.tensor(spec.height, dtype=f64),
        torch.tensor(spec.target_height, dtype=f64),
        torch.tensor(spec.focal, dtype=f64),
        torch.tensor(spec.center, dtype=f64),
        torch.tensor(0.0, dtype=f64),
        spec.image_size,
    )


@dataclass(frozen=True)
class RandomRig:
    """Random cameras around the ``h36m-like`` rig, for training augmentation.

    Each sampled camera follows the pelvis horizontally like :class:`RigSpec`: it sits at
    horizontal ``distance`` from the pelvis at ``azimuth``, at world ``height``, looks at
    ``(p.x, target_height, p.z)``, is rolled by ``roll`` about its optical axis, and has
    square pixels ``fx = fy = focal`` and principal point ``image_size / 2 + center_offset``.
    Every value is drawn uniformly from its ``(low, high)`` range (``low == high`` fixes it).

    Defaults bracket the evaluation rig (5 m, 1.6 m, 0.9 m, 1145 px, centre 500 px, roll 0):

    Args:
        distance: metres, default (3.5, 7.0).
        height: metres, default (0.8, 2.4).
        azimuth_deg: degrees, default (0, 360) (all around the subject).
        target_height: metres, default (0.7, 1.1).
        focal: pixels, default (900, 1400).
        center_offset: pixels added to both ``cx`` and ``cy`` (drawn independently),
            default (-30, 30).
        roll_deg: degrees, default (-8, 8).
        image_size: ``(width, height)`` pixels, default (1000, 1000).
        elevation_deg: optional ``(low, high)`` angle of the line of sight below the
            horizontal, degrees (negative: from below); when given, the camera sits at
            height ``target_height + distance * tan(elevation)`` and ``height`` is ignored.
        person_height: optional ``(low, high)`` fraction of the frame height that a
            :data:`NOMINAL_STATURE` body spans; when given, the focal length is
            ``fraction * frame_height * distance / NOMINAL_STATURE`` (wide lenses for near
            cameras, long ones for far cameras) and ``focal`` is ignored.
        placement: where the pelvis lands in the frame: 0 (default) at the principal point,
            ``p`` uniformly within ``+-p`` half-frames of it horizontally and vertically
            (the camera is panned and tilted, so an off-centre person is seen off-axis).
        frame_sizes: optional candidate frames ``((width, height), ...)``, one drawn per
            sample (portrait and landscape); the principal point is the frame's centre
            (plus ``center_offset``) and ``image_size`` stays the cameras' nominal size.
            :meth:`sample_frames` returns the drawn frames, for truncation.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> cams = RandomRig().sample(torch.zeros(8, 3), generator=g)
        >>> cams.batch_shape
        (8,)
    """

    distance: tuple[float, float] = (3.5, 7.0)
    height: tuple[float, float] = (0.8, 2.4)
    azimuth_deg: tuple[float, float] = (0.0, 360.0)
    target_height: tuple[float, float] = (0.7, 1.1)
    focal: tuple[float, float] = (900.0, 1400.0)
    center_offset: tuple[float, float] = (-30.0, 30.0)
    roll_deg: tuple[float, float] = (-8.0, 8.0)
    image_size: tuple[int, int] = (1000, 1000)
    elevation_deg: tuple[float, float] | None = None
    person_height: tuple[float, float] | None = None
    placement: float = 0.0
    frame_sizes: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("image_size", "placement", "frame_sizes") or value is None:
                continue
            lo, hi = value
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"{f.name}: expected a (low, high) range, got {(lo, hi)!r}")
        if self.distance[0] <= 0 or self.focal[0] <= 0:
            raise ValueError("distance and focal ranges must be positive")
        if self.elevation_deg is not None and not -80 <= self.elevation_deg[0] <= \
                self.elevation_deg[1] <= 80:
            raise ValueError(f"elevation_deg: expected a range within [-80, 80] degrees, got "
                             f"{self.elevation_deg!r}")
        if self.person_height is not None and not self.person_height[0] > 0:
            raise ValueError(f"person_height: expected positive fractions, got "
                             f"{self.person_height!r}")
        if not 0.0 <= self.placement <= 1.0:
            raise ValueError(f"placement: expected a fraction in [0, 1], got {self.placement!r}")
        if self.frame_sizes is not None and (
                len(self.frame_sizes) == 0
                or any(len(f) != 2 or min(f) <= 0 for f in self.frame_sizes)):
            raise ValueError(f"frame_sizes: expected ((width, height), ...) positive pixels, "
                             f"got {self.frame_sizes!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain-type description (for logs and cache keys)."""
        def plain(v: Any) -> Any:
            return [plain(x) for x in v] if isinstance(v, tuple | list) else v

        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}

    def sample(
        self,
        pelvis: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> Camera:
        """Sample one camera per leading index of ``pelvis``.

        Args:
            pelvis: ``(B, 3)`` or ``(B, T, 3)`` world pelvis positions (metres, +Y up). With
                ``(B, T, 3)`` the B sampled cameras follow the pelvis over the T frames
                (same parameters, position updated per frame).
            generator: torch random generator (for reproducibility).

        Returns:
            A :class:`Camera` with batch shape ``(B,)`` or ``(B, T)``, on the pelvis' device
            and dtype.

        Examples:
            >>> import torch
            >>> cams = RandomRig(distance=(5.0, 5.0)).sample(torch.zeros(4, 3))
            >>> torch.allclose(cams.position[:, [0, 2]].norm(dim=-1),
            ...                torch.full((4,), 5.0))
            True
        """
        return self.sample_frames(pelvis, generator=generator)[0]

    def sample_frames(
        self,
        pelvis: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Camera, torch.Tensor]:
        """Like :meth:`sample`, also returning each sample's frame ``(B, 2)`` (width, height).

        The frame is ``image_size`` unless ``frame_sizes`` is set. Points projecting outside
        ``[0, width] x [0, height]`` are outside the picture (truncation).

        Examples:
            >>> import torch
            >>> rig = RandomRig(frame_sizes=((1920, 1080), (1080, 1920)), placement=0.5)
            >>> cams, frames = rig.sample_frames(torch.zeros(6, 3),
            ...                                  generator=torch.Generator().manual_seed(0))
            >>> frames.shape, sorted({tuple(f) for f in frames.int().tolist()})
            (torch.Size([6, 2]), [(1080, 1920), (1920, 1080)])
        """
        if not isinstance(pelvis, torch.Tensor):
            raise TypeError(f"pelvis: expected a torch.Tensor, got {type(pelvis).__name__}")
        if pelvis.ndim not in (2, 3) or pelvis.shape[-1] != 3:
            raise ValueError(
                f"pelvis: expected shape (B, 3) or (B, T, 3), got {tuple(pelvis.shape)}"
            )
        b = pelvis.shape[0]
        dtype = pelvis.dtype if pelvis.is_floating_point() else torch.float32
        dev = pelvis.device

        def draw(rng: tuple[float, float], n: int = 1) -> torch.Tensor:
            u = torch.rand(b, n, generator=generator, dtype=dtype, device=dev)
            return (rng[0] + (rng[1] - rng[0]) * u).squeeze(-1)

        # the draws of the original parameters come first, in their original order, so that
        # a rig without the newer options samples exactly the cameras it always did
        az = torch.deg2rad(draw(self.azimuth_deg))
        dist = draw(self.distance)
        height = draw(self.height)
        target = draw(self.target_height)
        focal = draw(self.focal).unsqueeze(-1).expand(b, 2)
        frame = torch.tensor(self.image_size, dtype=dtype, device=dev).expand(b, 2)
        offset = draw(self.center_offset, 2).reshape(b, 2)
        roll = torch.deg2rad(draw(self.roll_deg))
        if self.frame_sizes is not None:
            sizes = torch.tensor(self.frame_sizes, dtype=dtype, device=dev)
            frame = sizes[torch.randint(len(sizes), (b,), generator=generator, device=dev)]
        center = frame / 2 + offset
        if self.elevation_deg is not None:
            height = target + dist * torch.tan(torch.deg2rad(draw(self.elevation_deg)))
            height = height.clamp_min(MIN_CAMERA_HEIGHT)  # not below the floor
        if self.person_height is not None:
            span = draw(self.person_height) * frame[:, 1]
            focal = (span * dist / NOMINAL_STATURE).unsqueeze(-1).expand(b, 2)
        aim = None
        if self.placement > 0:
            aim = draw((-self.placement, self.placement), 2).reshape(b, 2) * frame / 2
        if pelvis.ndim == 3:
            az, dist, height, target, roll = (v[:, None] for v in (az, dist, height, target,
                                                                 roll))
            focal, center = focal[:, None], center[:, None]
        cams = _follow_cameras(pelvis.to(dtype), az, dist, height, target, focal, center, roll,
                               self.image_size)
        if aim is not None:
            cams = _aim(cams, aim / focal.reshape(b, -1, 2)[:, 0])
        return cams, frame

