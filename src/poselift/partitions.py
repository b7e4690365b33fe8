"""Body partitions: how a skeleton's joints are split into local groups (paper Sec. 3).

A :class:`Partition` lists, for one skeleton, the joint indices of each group. Groups are
contiguous kinematic chains (paper Fig. 6) and may share joints: in the paper's default
``"h36m-5"`` every group carries the pelvis as its anchor. Models gather each group's input
joints (shared joints are repeated) and produce every output joint exactly once, from its
:attr:`Partition.owner` group.

Built-in partitions (joint names in ``docs/partitions.md``):

- ``h36m-1`` (all joints: the FC network), ``h36m-2``, ``h36m-3``, ``h36m-5`` (the paper's
  default), ``h36m-6``, ``h36m-8``, ``h36m-17`` (one joint per group);
- ``coco-1``, ``coco-2``, ``coco-3``, ``coco-5``;
- ``mpi_inf_3dhp-1``, ``mpi_inf_3dhp-5``.

:func:`shuffled_partition` builds the paper's Table 5 control: joints randomly shuffled among
some of the groups, keeping group sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from poselift._registry import Registry
from poselift.skeletons import get_skeleton

__all__ = [
    "Partition",
    "get_partition",
    "list_partitions",
    "register_partition",
    "shuffled_partition",
]


@dataclass(frozen=True)
class Partition:
    """Joint groups of one skeleton.

    Args:
        name: registry name, e.g. ``"h36m-5"``.
        skeleton: name of the registered skeleton the indices refer to.
        groups: joint indices of each group. A joint may sit in several groups.
        group_names: one name per group; defaults to ``("group0", "group1", ...)``.

    Raises:
        ValueError: empty groups, indices out of range, a joint repeated inside a group,
            a joint in no group, an unknown skeleton, or a wrong number of group names.

    Examples:
        >>> p = Partition("doc-halves", "h36m", ((0, 1, 2, 3, 4, 5, 6), tuple(range(7, 17))))
        >>> p.num_groups, p.group_sizes, p.group_names
        (2, (7, 10), ('group0', 'group1'))
        >>> Partition("bad", "h36m", ((0, 1), (2, 3)))
        Traceback (most recent call last):
        ...
        ValueError: partition 'bad': joints [4, 5, ..., 16] of skeleton 'h36m' are in no group
    """

    name: str
    skeleton: str
    groups: tuple[tuple[int, ...], ...]
    group_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"partition {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"partition name must be a non-empty string, got {self.name!r}")
        num_joints = get_skeleton(self.skeleton).num_joints
        try:
            groups = tuple(tuple(int(j) for j in g) for g in self.groups)
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: groups must be sequences of joint indices, got {self.groups!r}"
            ) from None
        object.__setattr__(self, "groups", groups)
        if not groups:
            raise ValueError(f"{where}: needs at least one group")
        for g, members in enumerate(groups):
            if not members:
                raise ValueError(f"{where}: group {g} is empty")
            out = [j for j in members if not 0 <= j < num_joints]
            if out:
                raise ValueError(
                    f"{where}: group {g} has joint indices {out} outside [0, {num_joints - 1}]"
                    f" of skeleton {self.skeleton!r}"
                )
            if len(set(members)) != len(members):
                raise ValueError(f"{where}: group {g} repeats a joint: {members}")
        missing = sorted(set(range(num_joints)) - {j for g in groups for j in g})
        if missing:
            raise ValueError(
                f"{where}: joints {missing} of skeleton {self.skeleton!r} are in no group"
            )
        names = tuple(self.group_names) or tuple(f"group{g}" for g in range(len(groups)))
        if len(names) != len(groups):
            raise ValueError(
                f"{where}: {len(groups)} groups but {len(names)} group names {names}"
            )
        object.__setattr__(self, "group_names", names)

    @property
    def num_groups(self) -> int:
        """Number of groups ``G``."""
        return len(self.groups)

    @property
    def group_sizes(self) -> tuple[int, ...]:
        """Number of joints in each group (shared joints counted in every group)."""
        return tuple(len(g) for g in self.groups)

    @cached_property
    def owner(self) -> tuple[int, ...]:
        """For each joint, the group that outputs it: the first group that contains it.

        This is the rule the official SRNet code uses (the pelvis comes from the first group).

        Examples:
            >>> get_partition("h36m-5").owner[:5]
            (0, 0, 0, 0, 1)
        """
        owner: dict[int, int] = {}
        for g, members in enumerate(self.groups):
            for j in members:
                owner.setdefault(j, g)
        return tuple(owner[j] for j in range(len(owner)))

    @cached_property
    def owned(self) -> tuple[tuple[int, ...], ...]:
        """Joints each group outputs (its joints that it owns), in the group's order.

        Examples:
            >>> get_partition("h36m-5").owned[1]
            (4, 5, 6)
        """
        return tuple(
            tuple(j for j in members if self.owner[j] == g)
            for g, members in enumerate(self.groups)
        )

    def describe(self) -> str:
        """One line per group: name and joint names.

        Examples:
            >>> print(get_partition("h36m-5").describe())
            right_leg: pelvis, right_hip, right_knee, right_ankle
            left_leg: pelvis, left_hip, left_knee, left_ankle
            torso_head: pelvis, spine, thorax, nose, head_top
            left_arm: pelvis, left_shoulder, left_elbow, left_wrist
            right_arm: pelvis, right_shoulder, right_elbow, right_wrist
        """
        joints = get_skeleton(self.skeleton).joints
        return "\n".join(
            f"{name}: {', '.join(joints[j] for j in members)}"
            for name, members in zip(self.group_names, self.groups, strict=True)
        )


_PARTITIONS: Registry[Partition] = Registry("partition")


def register_partition(partition: Partition, *, overwrite: bool = False) -> Partition:
    """Register ``partition`` under its name so that :func:`get_partition` finds it.

    Examples:
        >>> p = Partition("doc-one", "h36m", (tuple(range(17)),))
        >>> register_partition(p) is get_partition("doc-one")
        True
    """
    if not isinstance(partition, Partition):
        raise TypeError(f"partition: expected a Partition, got {type(partition).__name__}")
    return _PARTITIONS.register(partition.name, partition, overwrite=overwrite)


_SHUFFLED = re.compile(r"^(?P<base>.+)-shuffled(?P<k>\d+)-seed(?P<seed>\d+)$")


def get_partition(name: str | Partition) -> Partition:
    """Return the registered partition called ``name`` (a :class:`Partition` passes through).

    Names written by :func:`shuffled_partition`, ``"<base>-shuffled<k>-seed<s>"``, are built
    (and registered) on first use, so that model configs and checkpoints can name them.

    Examples:
        >>> get_partition("h36m-5").groups
        ((0, 1, 2, 3), (0, 4, 5, 6), (0, 7, 8, 9, 10), (0, 11, 12, 13), (0, 14, 15, 16))
        >>> get_partition("h36m-5-shuffled3-seed0").group_sizes
        (4, 4, 5, 4, 4)
    """
    if isinstance(name, Partition):
        return name
    match = _SHUFFLED.match(name) if isinstance(name, str) else None
    if match and name not in _PARTITIONS and match["base"] in _PARTITIONS:
        made = shuffled_partition(match["base"], int(match["k"]), seed=int(match["seed"]))
        return register_partition(made)
    return _PARTITIONS.get(name)


def list_partitions(skeleton: str | None = None) -> list[str]:
    """Names of registered partitions, sorted; only those of ``skeleton`` when given.

    Examples:
        >>> [n for n in list_partitions("h36m") if n.startswith("h36m-") and "shuffled" not in n]
        ['h36m-1', 'h36m-17', 'h36m-2', 'h36m-3', 'h36m-5', 'h36m-6', 'h36m-8']
    """
    if skeleton is not None:
        get_skeleton(skeleton)  # unknown skeleton names raise with the known ones
        return [n for n in _PARTITIONS.names() if _PARTITIONS.get(n).skeleton == skeleton]
    return _PARTITIONS.names()


def shuffled_partition(
    base: str | Partition, num_shuffled: int, *, seed: int = 0
) -> Partition:
    """Shuffle joints randomly among ``num_shuffled`` groups of ``base`` (paper Table 5).

    ``num_shuffled`` groups are drawn at random; the joints that belong to exactly one group
    (shared anchors such as the pelvis stay where they are) are pooled over those groups,
    permuted, and dealt back so that every group keeps its size. ``num_shuffled=0`` returns
    an unshuffled copy. The result is deterministic for a given ``seed`` and is not
    registered (register it with :func:`register_partition` if you want it by name).

    Args:
        base: partition (or its name) to shuffle.
        num_shuffled: how many groups take part: 0, or 2 up to the number of groups
            (shuffling within one group changes nothing).
        seed: random seed.

    Returns:
        A new :class:`Partition` named ``"{base}-shuffled{k}-seed{seed}"``.

    Examples:
        >>> p = shuffled_partition("h36m-5", 5, seed=1)
        >>> p.name, p.group_sizes == get_partition("h36m-5").group_sizes
        ('h36m-5-shuffled5-seed1', True)
        >>> shuffled_partition("h36m-5", 1)
        Traceback (most recent call last):
        ...
        ValueError: num_shuffled: expected 0 or 2..5 for partition 'h36m-5', got 1
    """
    part = get_partition(base)
    g = part.num_groups
    if (
        not isinstance(num_shuffled, int)
        or isinstance(num_shuffled, bool)
        or not (num_shuffled == 0 or 2 <= num_shuffled <= g)
    ):
        raise ValueError(
            f"num_shuffled: expected 0 or 2..{g} for partition {part.name!r}, got {num_shuffled!r}"
        )
    rng = np.random.default_rng(seed)
    chosen = sorted(int(i) for i in rng.choice(g, size=num_shuffled, replace=False))
    count = {j: sum(j in members for members in part.groups) for members in part.groups
             for j in members}
    pool = [j for i in chosen for j in part.groups[i] if count[j] == 1]
    dealt = iter(int(j) for j in rng.permutation(pool)) if pool else iter(())
    groups = []
    for i, members in enumerate(part.groups):
        if i in chosen:
            groups.append(tuple(j if count[j] > 1 else next(dealt) for j in members))
        else:
            groups.append(members)
    return Partition(
        f"{part.name}-shuffled{num_shuffled}-seed{seed}",
        part.skeleton,
        tuple(groups),
        tuple(
            f"{name}*" if i in chosen else name for i, name in enumerate(part.group_names)
        ),
    )


def _by_names(skeleton: str, groups: dict[str, tuple[str, ...]]) -> tuple[
    tuple[tuple[int, ...], ...], tuple[str, ...]
]:
    sk = get_skeleton(skeleton)
    return tuple(tuple(sk.index(j) for j in js) for js in groups.values()), tuple(groups)


def _register_builtin(name: str, skeleton: str, groups: dict[str, tuple[str, ...]]) -> None:
    idx, names = _by_names(skeleton, groups)
    register_partition(Partition(name, skeleton, idx, names))


_RLEG = ("right_hip", "right_knee", "right_ankle")
_LLEG = ("left_hip", "left_knee", "left_ankle")
_LARM = ("left_shoulder", "left_elbow", "left_wrist")
_RARM = ("right_shoulder", "right_elbow", "right_wrist")
_P = ("pelvis",)

# Human3.6M-17. Every group carries the pelvis (the root) as its anchor, as in the official
# SRNet code; the 2/3/5-group layouts are the official ones. 6 and 8 split the chains further
# (paper Fig. 6); a group cut from a chain also carries the joint it hangs from (the head
# carries the thorax, a forearm its elbow), so every group is a contiguous chain plus the
# pelvis. 17 is one joint per group.
_register_builtin("h36m-1", "h36m", {"body": get_skeleton("h36m").joints})
_register_builtin("h36m-2", "h36m", {
    "lower_body": (*_P, *_RLEG, *_LLEG, "spine"),
    "upper_body": (*_P, "thorax", "nose", "head_top", *_LARM, *_RARM),
})
_register_builtin("h36m-3", "h36m", {
    "legs": (*_P, *_RLEG, *_LLEG),
    "torso_head": (*_P, "spine", "thorax", "nose", "head_top"),
    "arms": (*_P, *_LARM, *_RARM),
})
_register_builtin("h36m-5", "h36m", {
    "right_leg": (*_P, *_RLEG),
    "left_leg": (*_P, *_LLEG),
    "torso_head": (*_P, "spine", "thorax", "nose", "head_top"),
    "left_arm": (*_P, *_LARM),
    "right_arm": (*_P, *_RARM),
})
_register_builtin("h36m-6", "h36m", {
    "right_leg": (*_P, *_RLEG),
    "left_leg": (*_P, *_LLEG),
    "torso": (*_P, "spine", "thorax"),
    "head": (*_P, "thorax", "nose", "head_top"),
    "left_arm": (*_P, *_LARM),
    "right_arm": (*_P, *_RARM),
})
_register_builtin("h36m-8", "h36m", {
    "right_leg": (*_P, *_RLEG),
    "left_leg": (*_P, *_LLEG),
    "torso": (*_P, "spine", "thorax"),
    "head": (*_P, "thorax", "nose", "head_top"),
    "left_upper_arm": (*_P, "left_shoulder", "left_elbow"),
    "left_forearm": (*_P, "left_elbow", "left_wrist"),
    "right_upper_arm": (*_P, "right_shoulder", "right_elbow"),
    "right_forearm": (*_P, "right_elbow", "right_wrist"),
})
_register_builtin("h36m-17", "h36m", {j: (j,) for j in get_skeleton("h36m").joints})

# COCO-17 has no pelvis: both hips anchor every group (their midpoint is the pelvis). Group
# names match the h36m partitions with the same number of groups, so that a COCO-input model
# knows which H36M joints each group outputs (input group g feeds output group g).
_HIPS = ("left_hip", "right_hip")
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
_register_builtin("coco-1", "coco", {"body": get_skeleton("coco").joints})
_register_builtin("coco-2", "coco", {
    "lower_body": (*_HIPS, "right_knee", "right_ankle", "left_knee", "left_ankle"),
    "upper_body": (*_HIPS, *_FACE, *_LARM, *_RARM),
})
_register_builtin("coco-3", "coco", {
    "legs": (*_HIPS, "right_knee", "right_ankle", "left_knee", "left_ankle"),
    "torso_head": (*_HIPS, *_FACE),
    "arms": (*_HIPS, *_LARM, *_RARM),
})
_register_builtin("coco-5", "coco", {
    "right_leg": (*_HIPS, "right_knee", "right_ankle"),
    "left_leg": (*_HIPS, "left_knee", "left_ankle"),
    "torso_head": (*_HIPS, *_FACE),
    "left_arm": (*_HIPS, *_LARM),
    "right_arm": (*_HIPS, *_RARM),
})

_register_builtin("mpi_inf_3dhp-1", "mpi_inf_3dhp", {"body": get_skeleton("mpi_inf_3dhp").joints})
_register_builtin("mpi_inf_3dhp-5", "mpi_inf_3dhp", {
    "right_leg": (*_P, *_RLEG),
    "left_leg": (*_P, *_LLEG),
    "torso_head": (*_P, "spine", "neck", "head", "head_top"),
    "left_arm": (*_P, *_LARM),
    "right_arm": (*_P, *_RARM),
})


def default_partition(skeleton: str) -> str:
    """Name of the paper-style 5-group partition of ``skeleton`` (``"h36m"`` -> ``"h36m-5"``).

    Examples:
        >>> default_partition("coco")
        'coco-5'
    """
    name = f"{get_skeleton(skeleton).name}-5"
    get_partition(name)
    return name


def partition_table(names: list[str] | None = None) -> str:
    """Markdown table of partitions with their groups' joint names (for the docs).

    Examples:
        >>> print(partition_table(["h36m-1"]).splitlines()[0])
        | partition | groups | group: joints |
    """
    rows = ["| partition | groups | group: joints |", "|---|---|---|"]
    for n in names if names is not None else list_partitions():
        p = get_partition(n)
        desc = "<br>".join(p.describe().splitlines())
        rows.append(f"| `{p.name}` | {p.num_groups} | {desc} |")
    return "\n".join(rows)
