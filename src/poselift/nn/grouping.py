"""Feature layouts for grouped layers: joint-major <-> group-after-group, and width splits.

SR layers (:class:`~poselift.nn.SRLinear`, :class:`~poselift.nn.SRConv1d`) read and write
features laid out *group after group*: the features of group 0, then those of group 1, and so
on, in disjoint contiguous blocks. Keypoints usually arrive *joint-major*, ``(..., J*F)`` with
the ``F`` features of joint 0 first. This module converts between the two layouts:

- :class:`GroupGather` copies each group's joints into its block. Joints shared by several
  groups (the pelvis in the paper's default partition) are repeated in every group that holds
  them.
- :class:`GroupScatter` goes back: each joint's features are the mean over its copies; joints
  that no group holds are zero.
- :func:`split_width` splits a total width (e.g. 1024 hidden channels) across groups in
  proportion to their sizes, as the paper and the official code do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from poselift._validation import is_int

__all__ = ["GroupGather", "GroupScatter", "split_width"]


def _is_int(value: object) -> bool:
    return is_int(value)  # Python or numpy integers, not bools


def split_width(
    total: int, group_sizes: Sequence[int], *, multiple_of: int = 1
) -> tuple[int, ...]:
    """Split ``total`` channels across groups in proportion to ``group_sizes``.

    Largest-remainder apportionment in units of ``multiple_of`` channels: every group gets
    ``floor(total * size / sum(sizes))`` (rounded down to a multiple of ``multiple_of``), and
    the units left over go to the groups with the largest remainders (ties to the earlier
    group). Every group gets at least one unit; the widths sum to ``total`` exactly.

    ``multiple_of=8`` keeps every width a multiple of 8, which makes the per-group matrix
    products a little faster on AVX-512 CPUs (5-10% per SRLinear here, see
    docs/benchmarks-layers.md) at the cost of slightly less exact proportions.

    Args:
        total: total width to split, e.g. 1024; a positive multiple of ``multiple_of``.
        group_sizes: (G,) positive weights, e.g. joints (or input features) per group.
        multiple_of: every width is a multiple of this (default 1).

    Returns:
        (G,) widths, each a positive multiple of ``multiple_of``, summing to ``total``.

    Raises:
        ValueError: non-positive sizes, ``total`` not a multiple of ``multiple_of``, or fewer
            than one unit per group.

    Examples:
        >>> split_width(1024, [4, 4, 5, 4, 4])
        (195, 195, 244, 195, 195)
        >>> split_width(1024, [4, 4, 5, 4, 4], multiple_of=8)
        (200, 192, 248, 192, 192)
        >>> split_width(10, [1, 1, 1])
        (4, 3, 3)
    """
    if not _is_int(multiple_of) or multiple_of < 1:
        raise ValueError(f"multiple_of: expected a positive integer, got {multiple_of!r}")
    if not _is_int(total) or total < 1 or total % multiple_of:
        raise ValueError(
            f"total: expected a positive multiple of multiple_of={multiple_of}, got {total!r}"
        )
    sizes = tuple(group_sizes)
    if not sizes or not all(_is_int(s) and s > 0 for s in sizes):
        raise ValueError(f"group_sizes: expected positive integers, got {group_sizes!r}")
    units = total // multiple_of
    if units < len(sizes):
        raise ValueError(
            f"total: {total} channels in units of {multiple_of} cannot give each of "
            f"{len(sizes)} groups a width"
        )
    weight = sum(sizes)
    base = [units * s // weight for s in sizes]
    remainders = [units * s - b * weight for s, b in zip(sizes, base, strict=True)]
    order = sorted(range(len(sizes)), key=lambda g: (-remainders[g], g))
    for g in order[: units - sum(base)]:
        base[g] += 1
    # Give empty groups one unit, taken from the widest group.
    for g in range(len(base)):
        if base[g] == 0:
            widest = max(range(len(base)), key=lambda i: (base[i], -i))
            base[widest] -= 1
            base[g] = 1
    return tuple(b * multiple_of for b in base)


def _check_groups(groups: Sequence[Sequence[int]], features_per_joint: int,
                  num_joints: int | None) -> tuple[tuple[tuple[int, ...], ...], int]:
    if not _is_int(features_per_joint) or features_per_joint < 1:
        raise ValueError(
            f"features_per_joint: expected a positive integer, got {features_per_joint!r}"
        )
    if isinstance(groups, str | bytes) or len(groups) == 0:  # type: ignore[unreachable, unused-ignore]
        raise ValueError(f"groups: expected a non-empty sequence of joint-index groups, got "
                         f"{groups!r}")
    clean: list[tuple[int, ...]] = []
    for i, group in enumerate(groups):
        joints = tuple(group)
        if not joints or not all(_is_int(j) and j >= 0 for j in joints):
            raise ValueError(
                f"groups[{i}]: expected a non-empty sequence of joint indices >= 0, got {group!r}"
            )
        if len(set(joints)) != len(joints):
            raise ValueError(f"groups[{i}]: a joint appears twice in {joints}")
        clean.append(joints)
    top = max(max(g) for g in clean) + 1
    if num_joints is None:
        num_joints = top
    elif not _is_int(num_joints) or num_joints < top:
        raise ValueError(
            f"num_joints: expected an integer >= {top} (the largest joint index + 1), "
            f"got {num_joints!r}"
        )
    return tuple(clean), num_joints


def _feature_index(groups: tuple[tuple[int, ...], ...], features: int) -> torch.Tensor:
    return torch.tensor(
        [j * features + f for group in groups for j in group for f in range(features)],
        dtype=torch.long,
    )


def _check_input(x: object, name: str, width: int, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1 or x.shape[-1] != width:
        raise ValueError(
            f"{name}: expected shape (..., {width}) ({what}), got {tuple(x.shape)}"
        )
    return x


class GroupGather(nn.Module):
    """Gather joint-major features into the group-after-group layout of SR layers.

    Maps ``(..., J*F)`` features (joint 0's ``F`` features first) to
    ``(..., sum(group_sizes))``: group 0's joints in the order given, then group 1's, and
    so on. A joint held by several groups (e.g. the pelvis in every group, as in the paper's
    input layer) is copied into each of them. The result feeds the first
    :class:`~poselift.nn.SRLinear` with ``in_groups=gather.group_sizes``.

    Args:
        groups: (G,) sequences of joint indices, e.g. ``Partition.groups``.
        features_per_joint: ``F``, features per joint (2 for 2D keypoints).
        num_joints: ``J``; defaults to the largest joint index + 1.

    Attributes:
        groups: the groups as tuples.
        features_per_joint: ``F``.
        num_joints: ``J``.
        group_sizes: (G,) features per group, ``len(groups[g]) * F``.
        in_features: ``J * F``, the expected input width.
        out_features: ``sum(group_sizes)``.

    Shape:
        - input: ``(..., J*F)``
        - output: ``(..., sum(group_sizes))``

    Examples:
        >>> import torch
        >>> gather = GroupGather([(0, 1), (0, 2)], features_per_joint=2)
        >>> gather.group_sizes
        (4, 4)
        >>> gather(torch.tensor([10.0, 11.0, 20.0, 21.0, 30.0, 31.0]))
        tensor([10., 11., 20., 21., 10., 11., 30., 31.])
    """

    index: torch.Tensor

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        features_per_joint: int,
        *,
        num_joints: int | None = None,
    ) -> None:
        super().__init__()
        self.groups, self.num_joints = _check_groups(groups, features_per_joint, num_joints)
        self.features_per_joint = features_per_joint
        self.group_sizes = tuple(len(g) * features_per_joint for g in self.groups)
        self.in_features = self.num_joints * features_per_joint
        self.out_features = sum(self.group_sizes)
        self.register_buffer("index", _feature_index(self.groups, features_per_joint),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gather ``x``: ``(..., J*F)`` -> ``(..., sum(group_sizes))``."""
        x = _check_input(x, "x", self.in_features,
                         f"J*F = {self.num_joints}*{self.features_per_joint}")
        return x.index_select(-1, self.index)

    def extra_repr(self) -> str:
        """Configuration shown by ``repr``."""
        return f"groups={self.groups}, features_per_joint={self.features_per_joint}"


class GroupScatter(nn.Module):
    """Scatter group-after-group features back to the joint-major layout.

    The inverse of :class:`GroupGather`: maps ``(..., sum(group_sizes))`` to ``(..., J*F)``.
    A joint held by several groups gets the mean of its copies; a joint held by no group
    (e.g. the root of a root-relative output) gets zeros. With disjoint groups that cover every
    joint (``Partition.owned``) this is a permutation.

    Args:
        groups: (G,) sequences of joint indices.
        features_per_joint: ``F``, features per joint (3 for 3D joints).
        num_joints: ``J``; defaults to the largest joint index + 1.

    Attributes:
        groups, features_per_joint, num_joints, group_sizes: as in :class:`GroupGather`.
        in_features: ``sum(group_sizes)``.
        out_features: ``J * F``.

    Shape:
        - input: ``(..., sum(group_sizes))``
        - output: ``(..., J*F)``

    Examples:
        >>> import torch
        >>> scatter = GroupScatter([(1,), (2, 1)], features_per_joint=1, num_joints=3)
        >>> scatter(torch.tensor([4.0, 7.0, 6.0]))
        tensor([0., 5., 7.])
    """

    index: torch.Tensor
    inverse_count: torch.Tensor

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        features_per_joint: int,
        *,
        num_joints: int | None = None,
    ) -> None:
        super().__init__()
        self.groups, self.num_joints = _check_groups(groups, features_per_joint, num_joints)
        self.features_per_joint = features_per_joint
        self.group_sizes = tuple(len(g) * features_per_joint for g in self.groups)
        self.in_features = sum(self.group_sizes)
        self.out_features = self.num_joints * features_per_joint
        index = _feature_index(self.groups, features_per_joint)
        count = torch.bincount(index, minlength=self.out_features).to(torch.get_default_dtype())
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("inverse_count", 1.0 / count.clamp_min(1.0), persistent=False)
        self._disjoint = bool((count <= 1).all())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scatter ``x``: ``(..., sum(group_sizes))`` -> ``(..., J*F)``."""
        x = _check_input(x, "x", self.in_features, "sum(group_sizes)")
        out = x.new_zeros((*x.shape[:-1], self.out_features))
        out = out.index_add(-1, self.index, x)
        if self._disjoint:
            return out
        return out * self.inverse_count.to(out.dtype)

    def extra_repr(self) -> str:
        """Configuration shown by ``repr``."""
        return f"groups={self.groups}, features_per_joint={self.features_per_joint}"
