"""Pose augmentation and the batched mocap -> (2D input, 3D target) pipeline.

Building blocks (numpy or torch in, same kind out):

- :func:`flip_poses` / :func:`flip_keypoints` (from :mod:`poselift.skeletons`): horizontal
  mirror (negate x) and swap left/right joints with the skeleton's ``flip_indices``;
- :func:`scale_bones`: multiply every bone by a factor along the kinematic tree from the
  root (root position and topology unchanged); :func:`random_bone_factors` samples factors.

:class:`Augmentation` chains them into the training pipeline. For a batch of world poses
``(B, T, 17, 3)`` (metres, +Y up), :meth:`Augmentation.render` applies, in order and
vectorized over the batch (one draw per sample, shared by its T frames):

0. the window played slower (:func:`retime`, ``tempo``): a 60 fps video, slow motion, a
   person nearly still, when configured;
1. limbs recombined between samples (:class:`~poselift.data.bodies.PartRecombination`) and
   other bodies (:class:`~poselift.data.bodies.BodyVariation`), when configured;
2. bone-length scaling (one factor per bone and sample, left/right tied by default);
3. global scale about the point on the floor below the pelvis (``y = 0``);
4. a random camera per sample (:class:`~poselift.camera.RandomRig`, or a random camera of a
   fixed :class:`~poselift.camera.RigSpec`) following the pelvis per frame;
5. world -> camera, then horizontal flip in camera coordinates (mirrors 3D and, through
   the projection, 2D consistently);
6. the input layout (H36M-17 -> input skeleton points), projection to pixels, Gaussian
   pixel noise, keypoint dropout, and a simulated detector
   (:class:`~poselift.data.detector.DetectorModel`), when configured.

Calling the augmentation then turns the pixels into model inputs with the model's input
contract (:meth:`~poselift.models.inputs.InputContract.prepare`, as :func:`poselift.lift`
does): normalization, dropped joints at ``(0, 0)`` with score 0. Targets are the H36M-17
joints in camera coordinates minus the pelvis (metres).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from poselift._validation import Array, check_array, check_shape
from poselift.camera import Camera, RandomRig, RigSpec, get_rig, project
from poselift.camera import rig_cameras as _rig_cameras
from poselift.camera import world_to_camera as _world_to_camera
from poselift.data.bodies import BodyVariation, PartRecombination
from poselift.data.detector import DetectorModel
from poselift.data.layouts import InputLayout, get_input_layout
from poselift.models.inputs import InputContract
from poselift.normalization import INPUT_NORMS
from poselift.skeletons import Skeleton, flip_keypoints, flip_poses, get_skeleton

__all__ = [
    "Augmentation",
    "AugmentationMix",
    "Rendered",
    "flip_keypoints",
    "flip_poses",
    "random_bone_factors",
    "retime",
    "scale_bones",
]


@lru_cache(maxsize=32)
def _ancestors(skeleton: Skeleton) -> np.ndarray[Any, Any]:
    """``A[j, k] = 1`` if bone ``k`` (ending at joint k) lies on the path root -> j."""
    n = skeleton.num_joints
    a = np.zeros((n, n))
    for j in range(n):
        k = j
        while skeleton.parents[k] >= 0:
            a[j, k] = 1.0
            k = skeleton.parents[k]
    return a


def scale_bones(poses: Array, factors: Array, skeleton: str | Skeleton = "h36m") -> Array:
    """Scale every bone by a factor, rebuilding the pose from the root outwards.

    Bone ``j`` goes from ``parent(j)`` to joint ``j``; its vector is multiplied by
    ``factors[..., j]`` and the joints are re-accumulated along the tree, so each bone keeps
    its direction, its length changes by exactly its factor, and the root stays in place.

    Args:
        poses: ``(..., J, 3)`` (any unit, any frame).
        factors: ``(..., J)`` per-joint factors (the root's entry is ignored); broadcasts
            against ``poses``' leading dims.
        skeleton: the joint layout (its ``parents``).

    Returns:
        ``(..., J, 3)``, same kind as ``poses``.

    Examples:
        >>> import numpy as np
        >>> p = np.zeros((17, 3)); p[1] = (-0.1, 0, 0); p[2] = (-0.1, -0.4, 0)  # hip, knee
        >>> f = np.ones(17); f[2] = 1.5                                         # thigh x1.5
        >>> scale_bones(p, f)[2].round(6).tolist()
        [-0.1, -0.6, 0.0]
    """
    poses = check_array(poses, "poses")
    factors = check_array(factors, "factors")
    sk = get_skeleton(skeleton)
    check_shape(poses, "poses", "(..., J, 3)", J=sk.num_joints)
    check_shape(factors, "factors", "(..., J)", J=sk.num_joints)
    parents = [p if p >= 0 else j for j, p in enumerate(sk.parents)]
    a = _ancestors(sk)
    if isinstance(poses, torch.Tensor):
        f = torch.as_tensor(factors, dtype=poses.dtype, device=poses.device)
        return _scale_bones_t(poses, f, parents, sk.root,
                              torch.as_tensor(a, dtype=poses.dtype, device=poses.device))
    f_np = np.asarray(factors.cpu() if isinstance(factors, torch.Tensor) else factors)
    bones = poses - poses[..., parents, :]
    out: np.ndarray[Any, Any] = poses[..., sk.root : sk.root + 1, :] + a @ (f_np[..., None] * bones)
    return out.astype(np.result_type(poses.dtype, np.float32), copy=False)


@lru_cache(maxsize=32)
def _bone_operators(skeleton: Skeleton) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any],
                                                 np.ndarray[Any, Any]]:
    """``(A, D, E)`` with ``scale_bones(P, f) = (E + A diag(f) D) @ P``.

    ``D @ P`` are the bone vectors (row ``root`` zero), ``A`` sums them along the tree and
    ``E @ P`` puts the root position in every row.
    """
    n = skeleton.num_joints
    d = np.eye(n)
    for j, p in enumerate(skeleton.parents):
        if p < 0:
            d[j, j] = 0.0
        else:
            d[j, p] -= 1.0
    e = np.zeros((n, n))
    e[:, skeleton.root] = 1.0
    return _ancestors(skeleton), d, e


def _bone_matrices(f: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Per-sample ``(..., J, J)`` linear maps scaling the bones by ``f (..., J)``."""
    a, d, e = (torch.as_tensor(m, dtype=f.dtype, device=f.device)
               for m in _bone_operators(skeleton))
    n = a.shape[0]
    # A diag(f) D as one (..*J, J) @ (J, J) product rather than a batch of small ones
    scaled = (a * f.unsqueeze(-2)).reshape(-1, n) @ d
    return e + scaled.reshape(*f.shape[:-1], n, n)


def _scale_bones_t(poses: torch.Tensor, f: torch.Tensor, parents: Sequence[int], root: int,
                   a: torch.Tensor) -> torch.Tensor:
    bones = poses - poses[..., list(parents), :]
    # einsum rather than ``a @ x``: one GEMM instead of many tiny broadcast matmuls
    return poses[..., root : root + 1, :] + torch.einsum("jk,...kc->...jc", a,
                                                         f.unsqueeze(-1) * bones)


def random_bone_factors(
    shape: Sequence[int],
    low: float,
    high: float,
    skeleton: str | Skeleton = "h36m",
    *,
    symmetric: bool = True,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Uniform per-bone scale factors in ``[low, high]`` for :func:`scale_bones`.

    Args:
        shape: leading shape, e.g. ``(B,)``; the result is ``(*shape, J)``.
        low: smallest factor.
        high: largest factor.
        skeleton: the joint layout.
        symmetric: give mirrored bones (``left_x``/``right_x``) the same factor.
        generator: torch random generator.
        dtype: result dtype.
        device: result device.

    Returns:
        ``(*shape, J)`` factors; the root's entry is 1.

    Examples:
        >>> import torch
        >>> f = random_bone_factors((4,), 0.8, 1.2, generator=torch.Generator().manual_seed(0))
        >>> f.shape, bool((f[:, 1] == f[:, 4]).all()), bool((f[:, 0] == 1).all())
        (torch.Size([4, 17]), True, True)
    """
    sk = get_skeleton(skeleton)
    if not low <= high:
        raise ValueError(f"low/high: expected low <= high, got ({low}, {high})")
    u = torch.rand(*shape, sk.num_joints, generator=generator, dtype=dtype, device=device)
    f = low + (high - low) * u
    if symmetric:
        canon = [min(j, m) for j, m in enumerate(sk.flip_indices)]
        f = f[..., canon]
    f[..., sk.root] = 1.0
    return f


_DEFAULT_RIG = RandomRig()


def retime(world: torch.Tensor, speed: torch.Tensor, anchor: float | None = None
           ) -> torch.Tensor:
    """Play sequences at another speed, about an anchor frame, by linear interpolation.

    Frame ``t`` of the result shows the motion at time ``anchor + (t - anchor) * speed`` (in
    input frames, clamped to the sequence), so ``speed`` 0.5 is what a camera at twice the
    frame rate sees, 0 holds the anchor frame's pose, 1 changes nothing.

    Args:
        world: ``(B, T, J, 3)`` poses.
        speed: ``(B,)`` speed factors, ``>= 0``.
        anchor: the frame that stays in place (default the centre, ``(T - 1) / 2``).

    Returns:
        ``(B, T, J, 3)`` poses.

    Examples:
        >>> import torch
        >>> x = torch.arange(5.0).reshape(1, 5, 1, 1).expand(1, 5, 1, 3)
        >>> retime(x, torch.tensor([0.5]))[0, :, 0, 0].tolist()
        [1.0, 1.5, 2.0, 2.5, 3.0]
    """
    t = world.shape[1]
    c = (t - 1) / 2 if anchor is None else anchor
    times = c + (torch.arange(t, dtype=world.dtype, device=world.device)[None, :] - c) \
        * speed[:, None].to(world.dtype)
    times = times.clamp(0, t - 1)
    lo = times.floor().long().clamp(max=t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (times - lo.to(times.dtype))[:, :, None, None]
    idx = torch.arange(world.shape[0], device=world.device)[:, None]
    return torch.lerp(world[idx, lo], world[idx, hi], w)


@dataclass(frozen=True)
class Rendered:
    """World poses seen through cameras and a detector (:meth:`Augmentation.render`).

    Attributes:
        keypoints: ``(B, T, J, 2)`` pixels of the input layout's points (finite everywhere,
            also where not visible).
        visible: ``(B, T, J)`` bool: False for joints the (simulated) detector lost.
        targets: ``(B, T, 17, 3)`` H36M-17 joints in camera coordinates minus the pelvis,
            metres.
        cameras: the cameras, batch shape ``(B, T)``.
        frame: ``(B, 2)`` picture size (width, height) of each sample, pixels.
        pelvis: ``(B, T, 3)`` pelvis in camera coordinates, metres (the root trajectory).
    """

    keypoints: torch.Tensor
    visible: torch.Tensor
    targets: torch.Tensor
    cameras: Camera
    frame: torch.Tensor
    pelvis: torch.Tensor


@dataclass(frozen=True)
class Augmentation:
    """Random camera, flip, bodies, pixel noise, a simulated detector: training inputs.

    Args:
        camera: a :class:`~poselift.camera.RandomRig` (default: its default ranges around
            the evaluation rig) or a fixed rig (name or :class:`~poselift.camera.RigSpec`),
            of which each sample gets one camera at random.
        flip: probability of a horizontal mirror per sample (default 0.5).
        bone_scale: ``(low, high)`` range of per-bone factors, or None (default (0.85, 1.15)).
        bone_symmetric: tie left/right bone factors (default True).
        global_scale: ``(low, high)`` range of the whole-body scale, or None
            (default (0.85, 1.2): the Bandai body is ~1.6 m tall).
        pixel_noise: standard deviation of Gaussian noise added to the pixels (default 0).
        dropout: probability that a joint is dropped (default 0).
        normalize: ``"screen"`` (default: :func:`~poselift.camera.normalize_screen` with the
            camera's image size) or ``"bbox"`` (:func:`~poselift.normalization.normalize_bbox`
            of the kept joints, one scale per sample's T frames, as
            :func:`poselift.lift` does for ``input_norm="bbox"`` models).
        body: other bodies and joint definitions
            (:class:`~poselift.data.bodies.BodyVariation`), or None (default).
        recombine: limbs from other samples, swung limbs
            (:class:`~poselift.data.bodies.PartRecombination`), or None (default).
        detector: a simulated detector (:class:`~poselift.data.detector.DetectorModel`:
            face lost when turned away, truncation, size-relative noise, outliers, swaps,
            occlusions), or None (default).
        tempo: probability that a sample's window is played slower (:func:`retime` about
            its centre; default 0).
        tempo_speed: ``(low, high)`` range of the speed of a slowed window (default
            (0.0, 1.0): from a still pose to the recorded speed).

    Examples:
        >>> import torch
        >>> aug = Augmentation(pixel_noise=2.0, dropout=0.1)
        >>> world = torch.zeros(8, 1, 17, 3); world[..., 1] = 0.9         # 8 samples, T=1
        >>> x, y = aug(world, generator=torch.Generator().manual_seed(0), with_scores=True)
        >>> x.shape, y.shape
        (torch.Size([8, 1, 17, 3]), torch.Size([8, 1, 17, 3]))
    """

    camera: RandomRig | RigSpec | str = _DEFAULT_RIG
    flip: float = 0.5
    bone_scale: tuple[float, float] | None = (0.85, 1.15)
    bone_symmetric: bool = True
    global_scale: tuple[float, float] | None = (0.85, 1.2)
    pixel_noise: float = 0.0
    dropout: float = 0.0
    normalize: str = "screen"
    body: BodyVariation | None = None
    recombine: PartRecombination | None = None
    detector: DetectorModel | None = None
    tempo: float = 0.0
    tempo_speed: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.normalize not in INPUT_NORMS:
            raise ValueError(f"normalize: expected one of {INPUT_NORMS}, got {self.normalize!r}")
        lo, hi = self.tempo_speed
        if not 0.0 <= lo <= hi:
            raise ValueError(f"tempo_speed: expected a (low, high) range with 0 <= low <= high, "
                             f"got {self.tempo_speed!r}")
        for name in ("flip", "dropout", "tempo"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {v!r}")
        if not self.pixel_noise >= 0:
            raise ValueError(f"pixel_noise: expected >= 0 pixels, got {self.pixel_noise!r}")
        for name in ("bone_scale", "global_scale"):
            rng = getattr(self, name)
            if rng is not None and not 0 < rng[0] <= rng[1]:
                raise ValueError(f"{name}: expected a (low, high) range with 0 < low <= high, "
                                 f"got {rng!r}")
        if not isinstance(self.camera, RandomRig):
            get_rig(self.camera)
        for name, kind in (("body", BodyVariation), ("recombine", PartRecombination),
                           ("detector", DetectorModel)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"{name}: expected a {kind.__name__} or None, got "
                                f"{type(value).__name__}")
        if (self.normalize == "screen" and isinstance(self.camera, RandomRig)
                and self.camera.frame_sizes is not None):
            raise ValueError("normalize: 'screen' needs one image size; a camera with "
                             "frame_sizes needs normalize='bbox'")

    @classmethod
    def none(cls, rig: RigSpec | str = "h36m-like") -> Augmentation:
        """No augmentation: a random camera of the fixed ``rig`` per sample, nothing else.

        Examples:
            >>> Augmentation.none().flip
            0.0
        """
        return cls(camera=rig, flip=0.0, bone_scale=None, global_scale=None)

    @property
    def image_size(self) -> tuple[int, int]:
        """Image size of the cameras, ``(width, height)`` pixels."""
        if isinstance(self.camera, RandomRig):
            return self.camera.image_size
        return get_rig(self.camera).image_size

    def _cameras(self, pelvis: torch.Tensor, generator: torch.Generator | None
                 ) -> tuple[Camera, torch.Tensor]:
        if isinstance(self.camera, RandomRig):
            return self.camera.sample_frames(pelvis, generator=generator)
        spec = get_rig(self.camera)
        b = pelvis.shape[0]
        k = torch.randint(spec.num_cameras, (b,), generator=generator, device=pelvis.device)
        cams = _rig_cameras(pelvis, spec).to(pelvis.dtype)  # batch (C, B, T)
        frame = torch.tensor(spec.image_size, dtype=pelvis.dtype, device=pelvis.device)
        return cams[k, torch.arange(b, device=pelvis.device)], frame.expand(b, 2)

    def render(
        self,
        world: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        layout: str | InputLayout = "h36m",
    ) -> Rendered:
        """World poses -> pixels, visibility and targets (everything before normalization).

        Args:
            world: ``(B, T, 17, 3)`` H36M-17 world poses, metres, +Y up (T = 1 for single
                frames). One random draw per sample is shared by its T frames (the camera
                follows the pelvis per frame).
            generator: torch random generator (reproducibility).
            layout: input layout (name or :class:`~poselift.data.layouts.InputLayout`).

        Returns:
            A :class:`Rendered`.

        Examples:
            >>> import torch
            >>> from poselift.data.synthetic import rest_pose
            >>> world = torch.from_numpy(rest_pose()).expand(2, 3, 17, 3)
            >>> r = Augmentation(detector=DetectorModel()).render(world, layout="coco")
            >>> r.keypoints.shape, r.visible.shape, r.targets.shape
            (torch.Size([2, 3, 17, 2]), torch.Size([2, 3, 17]), torch.Size([2, 3, 17, 3]))
        """
        if not isinstance(world, torch.Tensor) or world.ndim != 4 or world.shape[-2:] != (17, 3):
            shape = tuple(world.shape) if hasattr(world, "shape") else type(world).__name__
            raise ValueError(f"world: expected a (B, T, 17, 3) tensor, got {shape}")
        lay = get_input_layout(layout)
        sk = get_skeleton("h36m")
        root = sk.root
        g = generator
        b = world.shape[0]
        dtype, dev = world.dtype, world.device
        if self.tempo > 0 and world.shape[1] > 1:
            slowed = torch.rand(b, generator=g, device=dev) < self.tempo
            lo, hi = self.tempo_speed
            speed = lo + (hi - lo) * torch.rand(b, generator=g, dtype=dtype, device=dev)
            world = retime(world, torch.where(slowed, speed, torch.ones_like(speed)))
        if self.recombine is not None:
            world = self.recombine(world, generator=g)
        if self.body is not None:
            world = self.body(world, generator=g)
        if self.bone_scale is not None:
            f = random_bone_factors((b,), *self.bone_scale, sk, symmetric=self.bone_symmetric,
                                    generator=g, dtype=dtype, device=dev)
            # one (J, J) linear map per sample, shared by its T frames
            world = torch.einsum("bjk,btkc->btjc", _bone_matrices(f, sk), world)
        if self.global_scale is not None:
            lo, hi = self.global_scale
            s = lo + (hi - lo) * torch.rand(b, 1, 1, 1, generator=g, dtype=dtype, device=dev)
            ground = world[..., root : root + 1, :] * torch.tensor([1.0, 0.0, 1.0], dtype=dtype,
                                                                   device=dev)
            world = ground + s * (world - ground)
        cams, frame = self._cameras(world[..., root, :], g)
        cam_pts = _world_to_camera(world, cams)
        assert isinstance(cam_pts, torch.Tensor)
        if self.flip > 0:
            flip = torch.rand(b, generator=g, device=dev) < self.flip
            mirrored = cam_pts[..., list(sk.flip_indices), :] * torch.tensor(
                [-1.0, 1.0, 1.0], dtype=dtype, device=dev)
            cam_pts = torch.where(flip[:, None, None, None], mirrored, cam_pts)
        points = lay(cam_pts)
        if self.body is not None:
            points = self.body.face_points(points, lay.face, lay.face_anchor, generator=g)
        uv = project(points, cams)
        assert isinstance(uv, torch.Tensor)
        if self.pixel_noise > 0:
            uv = uv + self.pixel_noise * torch.randn(uv.shape, generator=g, dtype=dtype,
                                                     device=dev)
        visible = torch.ones(uv.shape[:-1], dtype=torch.bool, device=dev)
        if self.dropout > 0:
            visible = torch.rand(uv.shape[:-1], generator=g, device=dev) >= self.dropout
        if self.detector is not None:
            uv, seen = self.detector(uv, frame=frame, layout=lay, points=points, h36m=cam_pts,
                                     generator=g)
            visible = visible & seen
        pelvis = cam_pts[..., root, :]
        return Rendered(uv, visible, cam_pts - pelvis.unsqueeze(-2), cams, frame, pelvis)

    def __call__(
        self,
        world: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        layout: str | InputLayout = "h36m",
        with_scores: bool = False,
        contract: InputContract | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn world poses into augmented model inputs and targets.

        Args:
            world: ``(B, T, 17, 3)`` H36M-17 world poses, metres, +Y up (T = 1 for single
                frames). One random draw per sample is shared by its T frames (the camera
                follows the pelvis per frame).
            generator: torch random generator (reproducibility).
            layout: input layout (name or :class:`~poselift.data.layouts.InputLayout`).
            with_scores: append a score channel (1 kept, 0 dropped) to the inputs.
            contract: the model's input contract; when given it decides the layout (its
                input skeleton), the score channel and the normalization, which must be this
                augmentation's ``normalize``.

        Returns:
            ``(inputs, targets)``: ``(B, T, J_in, 2)`` (or ``(B, T, J_in, 3)`` with scores)
            normalized coordinates (:meth:`~poselift.models.inputs.InputContract.prepare`,
            one bounding-box scale per sample's T frames), and ``(B, T, 17, 3)``
            pelvis-relative camera coordinates in metres.
        """
        if contract is None:
            lay = get_input_layout(layout)
            contract = InputContract(skeleton=lay.skeleton, in_features=3 if with_scores else 2,
                                     input_norm=self.normalize)
        else:
            lay = get_input_layout(contract.skeleton)
            if contract.input_norm != self.normalize:
                raise ValueError(f"contract: the model normalizes {contract.input_norm!r}, this "
                                 f"augmentation {self.normalize!r}")
        r = self.render(world, generator=generator, layout=lay)
        x = contract.prepare(r.keypoints, r.visible, image_size=r.cameras.image_size,
                             scale="sample")
        assert isinstance(x, torch.Tensor)
        return x, r.targets


@dataclass(frozen=True)
class AugmentationMix:
    """Each sample drawn from one of several augmentations, by weight.

    A batch is split at random between the parts (with probabilities proportional to the
    weights), each part augments its share, and the results are put back in batch order.
    For example most samples "in the wild" and some from the clean rig, so that a model
    learns the wide distribution without losing the sharp prior of the common case.

    Args:
        parts: ``((weight, Augmentation), ...)``; every part must normalize alike.

    Examples:
        >>> import torch
        >>> mix = AugmentationMix(((0.5, Augmentation()), (0.5, Augmentation(flip=0.0))))
        >>> world = torch.zeros(6, 1, 17, 3); world[..., 1] = 0.9
        >>> x, y = mix(world, generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([6, 1, 17, 2])
    """

    parts: tuple[tuple[float, Augmentation], ...]

    def __post_init__(self) -> None:
        if not self.parts or any(
                len(p) != 2 or not isinstance(p[1], Augmentation) or not p[0] >= 0
                for p in self.parts):
            raise ValueError("parts: expected ((weight >= 0, Augmentation), ...), got "
                             f"{self.parts!r}")
        if not sum(w for w, _ in self.parts) > 0:
            raise ValueError("parts: the weights must not all be 0")
        if len({a.normalize for _, a in self.parts}) != 1:
            raise ValueError("parts: every augmentation must use the same normalize")

    @property
    def normalize(self) -> str:
        """The normalization shared by the parts."""
        return self.parts[0][1].normalize

    @property
    def image_size(self) -> tuple[int, int]:
        """Image size of the first part's cameras."""
        return self.parts[0][1].image_size

    def __call__(
        self,
        world: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        layout: str | InputLayout = "h36m",
        with_scores: bool = False,
        contract: InputContract | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`Augmentation.__call__`, each sample from one part."""
        b = world.shape[0]
        weights = torch.tensor([w for w, _ in self.parts], dtype=torch.float64)
        choice = torch.multinomial(weights, b, replacement=True, generator=generator)
        xs: list[torch.Tensor] = []
        ys: list[torch.Tensor] = []
        order: list[torch.Tensor] = []
        for k, (_, aug) in enumerate(self.parts):
            idx = (choice == k).nonzero().squeeze(-1)
            if idx.numel() == 0:
                continue
            x, y = aug(world[idx.to(world.device)], generator=generator, layout=layout,
                       with_scores=with_scores, contract=contract)
            xs.append(x)
            ys.append(y)
            order.append(idx)
        inv = torch.argsort(torch.cat(order)).to(world.device)
        return torch.cat(xs)[inv], torch.cat(ys)[inv]
