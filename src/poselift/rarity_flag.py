"""How rare a lifted pose is among the training poses: the occurrence flag (paper Eq. 9-10).

A lifting network is least reliable on poses unlike those it was trained on (the paper's
rare-pose protocol, Fig. 5). :func:`pose_rarity` computes the paper's occurrence (Eq. 10,
:func:`poselift.rarity.occurrence`, exact or with its fast method to a guaranteed 1e-7) of
each lifted pose against a compact reference of the training poses shipped in the wheel
(``poselift/assets/rarity_reference.npz``, :func:`load_rarity_reference`), for the whole body
and for each body group of a partition (``h36m-5``: a pose can be rare as a whole while
each of its parts is common, the paper's point), and flags the poses below the documented
thresholds.

Poses are compared in a canonical form (:func:`canonical_poses`): root-relative camera
coordinates (as the network outputs them) rescaled so that their height chain
(:func:`poselift.absolute.height_chain`) equals the reference's, so neither the network's
output scale nor the person's size changes the result.

The reference (``python tools/build_rarity_reference.py``): 5,000 poses drawn at random
from the P1 training split of the Bandai mocap (every 5th frame, the 4 cameras of the
``h36m-like`` rig), stored as float16 (CC BY-NC 4.0, derived from the
Bandai-Namco-Research-Motiondataset). The thresholds are the 10th percentiles of the
occurrence of the held-out P1 test poses against it: the boundary of the paper's "rare
10%". See docs/absolute.md for the measured effect on the lift error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from poselift._validation import (
    Array,
    check_array,
    check_finite,
    check_real,
    check_shape,
    like,
    to_numpy,
)
from poselift.absolute import height_chain
from poselift.partitions import get_partition
from poselift.rarity import Method, occurrence

__all__ = [
    "REFERENCE_FILE",
    "PoseRarity",
    "RarityReference",
    "canonical_poses",
    "load_rarity_reference",
    "pose_rarity",
]

REFERENCE_FILE = "rarity_reference.npz"
"""File name of the shipped reference in ``poselift/assets``."""


def canonical_poses(poses: Array, chain: float) -> Array:
    """Root-relative H36M-17 poses rescaled to a height chain of ``chain``.

    Args:
        poses: ``(..., 17, 3)`` camera-coordinate poses (any unit, any root position).
        chain: the wanted :func:`~poselift.absolute.height_chain` (the reference's).

    Returns:
        ``(..., 17, 3)`` float64 poses, pelvis at the origin, same kind as ``poses``.

    Raises:
        TypeError: ``poses`` not real numbers (complex, bool, strings).
        ValueError: NaN/inf coordinates, or a pose whose height chain is zero.

    Examples:
        >>> from poselift.data.synthetic import rest_pose
        >>> from poselift.absolute import height_chain
        >>> p = canonical_poses(rest_pose() * 0.8 + 3.0, 1.5)
        >>> p[0].tolist(), round(float(height_chain(p)), 6)
        ([0.0, 0.0, 0.0], 1.5)
    """
    x = check_array(poses, "poses")
    check_shape(x, "poses", "(..., J, 3)", J=17)
    check_real(x, "poses")
    check_finite(x, "poses")  # (a NaN pose is not "of zero size")
    if isinstance(chain, bool) or not isinstance(chain, int | float) or not chain > 0:
        raise ValueError(f"chain: expected a positive length, got {chain!r}")
    p = to_numpy(x).astype(np.float64)
    p = p - p[..., :1, :]
    size = np.asarray(to_numpy(height_chain(p)), dtype=np.float64)
    if not np.all(size > 1e-9):
        raise ValueError("poses: a pose has zero size (all joints at one point)")
    out = p * (float(chain) / size)[..., None, None]
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(out).to(x.device)
    return out


@dataclass(frozen=True, eq=False)
class PoseRarity:
    """Occurrence of lifted poses among the training poses, and the rarity flags.

    Attributes:
        occurrence: ``(...)`` float64 occurrence (Eq. 10) of the whole pose, in ``[0, 1]``.
        group_occurrence: ``(..., G)`` the occurrence of each group's joints.
        group_names: the ``G`` group names (e.g. ``right_leg`` ... ``right_arm``).
        rare: ``(...)`` bool, ``occurrence < threshold``: do not trust these poses.
        rare_groups: ``(..., G)`` bool, ``group_occurrence < group_thresholds``.
        threshold: the whole-pose threshold.
        group_thresholds: one threshold per group.
    """

    occurrence: Array
    group_occurrence: Array
    group_names: tuple[str, ...]
    rare: Array
    rare_groups: Array
    threshold: float
    group_thresholds: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class RarityReference:
    """A reference set of training poses with its kernel width, partition and thresholds.

    Attributes:
        poses: ``(M, 17, 3)`` float64 canonical poses (:func:`canonical_poses`), metres.
        sigma: Eq. 9 kernel width, metres.
        partition: name of the partition whose groups are scored (``"h36m-5"``).
        chain: the height chain every pose is scaled to, metres.
        threshold: poses with a lower occurrence are flagged rare.
        group_thresholds: per-group thresholds (partition group order).
        info: provenance (source, split, licence, how it was built and measured).

    Examples:
        >>> import numpy as np
        >>> from poselift.data.synthetic import rest_pose
        >>> ref = RarityReference.from_poses(np.stack([rest_pose()] * 3), sigma=0.1)
        >>> ref.num_poses, ref.partition, round(ref.chain, 4)
        (3, 'h36m-5', 1.5759)
    """

    poses: np.ndarray[Any, Any]
    sigma: float
    partition: str
    chain: float
    threshold: float
    group_thresholds: tuple[float, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_poses(self) -> int:
        """``M``, the number of reference poses."""
        return int(self.poses.shape[0])

    @classmethod
    def from_poses(
        cls,
        poses: Array,
        *,
        sigma: float = 0.1,
        partition: str = "h36m-5",
        chain: float | None = None,
        threshold: float = 0.0,
        group_thresholds: tuple[float, ...] | None = None,
        info: dict[str, Any] | None = None,
    ) -> RarityReference:
        """A reference from ``(M, 17, 3)`` root-relative camera-coordinate poses.

        ``chain`` defaults to the poses' median height chain; the poses are stored in
        canonical form. Thresholds default to 0 (nothing is flagged).
        """
        x = check_array(poses, "poses")
        check_shape(x, "poses", "(M, J, 3)", J=17)
        if x.shape[0] == 0:
            raise ValueError("poses: expected at least one reference pose")
        p = to_numpy(x).astype(np.float64)
        p = p - p[:, :1]
        if chain is None:
            chain = float(np.median(np.asarray(to_numpy(height_chain(p)))))
        part = get_partition(partition)
        if part.skeleton != "h36m":
            raise ValueError(f"partition: expected an h36m partition, got {partition!r} "
                             f"({part.skeleton})")
        groups = tuple(group_thresholds) if group_thresholds is not None else \
            (0.0,) * part.num_groups
        if len(groups) != part.num_groups:
            raise ValueError(f"group_thresholds: expected {part.num_groups} values (one per "
                             f"group of {partition!r}), got {len(groups)}")
        if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not sigma > 0:
            raise ValueError(f"sigma: expected a positive width in metres, got {sigma!r}")
        canon = np.asarray(canonical_poses(p, chain))
        return cls(canon, float(sigma), part.name, float(chain), float(threshold),
                   tuple(float(g) for g in groups), dict(info or {}))

    def score(self, poses: Array, *, method: Method = "auto") -> PoseRarity:
        """Occurrence and flags of ``(..., 17, 3)`` poses (any scale, any root position).

        Args:
            poses: ``(..., 17, 3)`` H36M-17 poses in camera coordinates.
            method: :func:`poselift.rarity.occurrence` method (``"auto"``, ``"dense"``,
                ``"fast"``).

        Returns:
            A :class:`PoseRarity` (arrays of the kind of ``poses``).

        Examples:
            >>> import numpy as np
            >>> from poselift.data.synthetic import rest_pose
            >>> ref = RarityReference.from_poses(np.stack([rest_pose()] * 3), threshold=0.5,
            ...                                  group_thresholds=(0.5,) * 5)
            >>> odd = rest_pose().copy(); odd[11:14, 1] += 0.6   # left arm: 14 of 17 joints fit
            >>> r = ref.score(np.stack([rest_pose() * 0.7, odd]))
            >>> np.round(r.occurrence, 3).tolist(), r.rare.tolist()
            ([1.0, 0.824], [False, False])
            >>> r.rare_groups[1].tolist()                                   # only the arm
            [False, False, False, True, False]
        """
        x = check_array(poses, "poses")
        check_shape(x, "poses", "(..., J, 3)", J=17)
        lead = tuple(int(s) for s in x.shape[:-2])
        q = np.asarray(canonical_poses(to_numpy(x).reshape(-1, 17, 3), self.chain))
        n = q.shape[0]
        per_joint = np.zeros((n, 17))
        if n:
            for j in range(17):
                per_joint[:, j] = np.asarray(occurrence(
                    q[:, j : j + 1], self.poses[:, j : j + 1], self.sigma, method=method))
        part = get_partition(self.partition)
        occ = per_joint.mean(-1)
        groups = np.stack([per_joint[:, list(g)].mean(-1) for g in part.groups], -1)
        thr = np.asarray(self.group_thresholds)
        return PoseRarity(
            occurrence=like(occ.reshape(lead), x),
            group_occurrence=like(groups.reshape(*lead, part.num_groups), x),
            group_names=part.group_names,
            rare=like((occ < self.threshold).reshape(lead), x),
            rare_groups=like((groups < thr).reshape(*lead, part.num_groups), x),
            threshold=self.threshold,
            group_thresholds=self.group_thresholds,
        )

    def save(self, path: str | Path) -> None:
        """Write the reference as an ``.npz`` (float16 poses, root dropped; plain arrays).

        The float16 rounding is at most 0.5 mm for poses within 1 m of the root; its
        effect on occurrences is measured by ``tools/build_rarity_reference.py``.
        """
        import json

        part = get_partition(self.partition)
        np.savez_compressed(
            Path(path),
            poses=self.poses[:, 1:].astype(np.float16),
            sigma=np.float64(self.sigma),
            partition=np.array(self.partition),
            chain=np.float64(self.chain),
            threshold=np.float64(self.threshold),
            group_thresholds=np.asarray(self.group_thresholds, np.float64),
            group_names=np.array(part.group_names),
            info=np.array(json.dumps(self.info, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | Path) -> RarityReference:
        """Read a reference written by :meth:`save`.

        Raises:
            ValueError: the file is not a rarity reference (names the missing entries).
        """
        import json

        try:
            with np.load(Path(path), allow_pickle=False) as z:
                need = {"poses", "sigma", "partition", "chain", "threshold", "group_thresholds"}
                missing = need - set(z.files)
                if missing:
                    raise ValueError(f"{path}: not a rarity reference (missing "
                                     f"{sorted(missing)})")
                tail = z["poses"].astype(np.float64)
                info = json.loads(str(z["info"])) if "info" in z.files else {}
                ref = cls(
                    np.concatenate([np.zeros((tail.shape[0], 1, 3)), tail], 1),
                    float(z["sigma"]), str(z["partition"]), float(z["chain"]),
                    float(z["threshold"]), tuple(float(v) for v in z["group_thresholds"]),
                    info,
                )
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: unreadable rarity reference ({exc})") from None
        if ref.poses.shape[1:] != (17, 3):
            raise ValueError(f"{path}: expected (M, 16, 3) poses, got {tail.shape}")
        return ref


_DEFAULT: list[RarityReference] = []
_LOCK = threading.Lock()


def load_rarity_reference(path: str | Path | None = None) -> RarityReference:
    """The reference shipped in the wheel (cached), or one saved at ``path``.

    Examples:
        >>> ref = load_rarity_reference()
        >>> ref.num_poses, ref.sigma, ref.partition
        (5000, 0.1, 'h36m-5')
    """
    if path is not None:
        return RarityReference.load(path)
    with _LOCK:
        if not _DEFAULT:
            source = resources.files("poselift") / "assets" / REFERENCE_FILE
            with resources.as_file(source) as file:
                if not file.is_file():
                    raise FileNotFoundError(
                        f"{file}: the shipped rarity reference is missing from this "
                        "installation (build it with tools/build_rarity_reference.py)")
                _DEFAULT.append(RarityReference.load(file))
        return _DEFAULT[0]


def pose_rarity(poses: Array, reference: RarityReference | None = None) -> PoseRarity:
    """How rare each pose is among the training poses: occurrence and flags.

    Args:
        poses: ``(..., 17, 3)`` H36M-17 poses in camera coordinates (as :func:`poselift.lift`
            returns them: any scale, root-relative or absolute).
        reference: a :class:`RarityReference` (default: the shipped one).

    Returns:
        A :class:`PoseRarity`: ``occurrence`` (whole pose), ``group_occurrence`` (per
        ``h36m-5`` group), ``rare`` / ``rare_groups`` flags below the thresholds.

    Raises:
        TypeError: ``poses`` not a real-valued array (complex, bool, strings).
        ValueError: a wrong shape, NaN/inf coordinates, or a pose of zero size.

    Examples:
        >>> from poselift.data.synthetic import rest_pose
        >>> facing_camera = rest_pose() * [1.0, -1.0, -1.0]      # +Y up -> camera axes
        >>> r = pose_rarity(facing_camera)
        >>> r.group_names
        ('right_leg', 'left_leg', 'torso_head', 'left_arm', 'right_arm')
        >>> bool(r.rare)                          # arms straight down: common
        False
    """
    ref = load_rarity_reference() if reference is None else reference
    if not isinstance(ref, RarityReference):
        raise TypeError(f"reference: expected a RarityReference or None, got "
                        f"{type(reference).__name__}")
    return ref.score(poses)
