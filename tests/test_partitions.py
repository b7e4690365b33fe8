import pytest

import poselift
from poselift.partitions import (
    Partition,
    get_partition,
    list_partitions,
    register_partition,
    shuffled_partition,
)
from poselift.skeletons import get_skeleton


def _names(p):
    joints = get_skeleton(p.skeleton).joints
    return [[joints[j] for j in g] for g in p.groups]


def test_paper_default_five_groups():
    p = poselift.get_partition("h36m-5")
    # right leg, left leg, torso+head, left arm, right arm; each with the pelvis
    assert p.groups == ((0, 1, 2, 3), (0, 4, 5, 6), (0, 7, 8, 9, 10), (0, 11, 12, 13),
                        (0, 14, 15, 16))
    assert p.group_names == ("right_leg", "left_leg", "torso_head", "left_arm", "right_arm")
    assert p.owner == (0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4)


def test_official_two_and_three_group_layouts():
    # channel index lists of the official SRNet group_index.py, turned into joints
    assert get_partition("h36m-2").groups == (tuple(range(8)), (0, *range(8, 17)))
    assert get_partition("h36m-3").groups == (tuple(range(7)), (0, 7, 8, 9, 10),
                                              (0, *range(11, 17)))


@pytest.mark.parametrize("name", list_partitions())
def test_every_builtin_is_valid_and_owns_each_joint_once(name):
    p = get_partition(name)
    n = get_skeleton(p.skeleton).num_joints
    owned = sorted(j for g in p.owned for j in g)
    assert owned == list(range(n))
    assert all(len(g) > 0 for g in p.groups)
    assert name.endswith(f"-{p.num_groups}")


def test_chains_are_contiguous_plus_anchor():
    sk = get_skeleton("h36m")
    for name in ("h36m-2", "h36m-3", "h36m-5", "h36m-6", "h36m-8"):
        for g in get_partition(name).groups:
            assert 0 in g  # every group carries the pelvis
            # every joint of the group except the anchor has its parent in the group,
            # or hangs from the anchor chain's top joint (connected sub-forest)
            members = set(g)
            tops = [j for j in g if j != 0 and sk.parents[j] not in members]
            assert len(tops) <= 2, (name, g, tops)


def test_h36m_17_one_joint_per_group():
    p = get_partition("h36m-17")
    assert p.groups == tuple((j,) for j in range(17))


def test_coco_partitions_anchor_on_hips():
    p = get_partition("coco-5")
    for names in _names(p):
        assert "left_hip" in names and "right_hip" in names
    assert [n for n in list_partitions("coco") if n.startswith("coco-")] == [
        "coco-1", "coco-2", "coco-3", "coco-5"]


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        ((), "at least one group"),
        (((0, 1), ()), "group 1 is empty"),
        ((tuple(range(17)), (17,)), r"joint indices \[17\] outside \[0, 16\]"),
        ((tuple(range(17)), (-1,)), r"joint indices \[-1\]"),
        ((tuple(range(16)),), r"joints \[16\] .* are in no group"),
        (((0, 0, *range(1, 17)),), "repeats a joint"),
        ("abc", "groups must be sequences of joint indices"),
    ],
)
def test_malformed_partitions_rejected(groups, match):
    with pytest.raises(ValueError, match=match):
        Partition("bad", "h36m", groups)


def test_group_names_count_and_unknown_skeleton():
    with pytest.raises(ValueError, match="2 groups but 1 group names"):
        Partition("bad", "h36m", (tuple(range(9)), tuple(range(9, 17))), ("a",))
    with pytest.raises(ValueError, match="unknown skeleton 'h37m'"):
        Partition("bad", "h37m", ((0,),))


def test_registry_behaviour():
    p = Partition("test-halves", "h36m", (tuple(range(9)), tuple(range(9, 17))))
    register_partition(p)
    with pytest.raises(ValueError, match="already registered"):
        register_partition(p)
    register_partition(p, overwrite=True)
    assert "test-halves" in list_partitions("h36m")
    with pytest.raises(ValueError, match="unknown partition 'h36m-4'.*known: .*'h36m-5'"):
        get_partition("h36m-4")
    with pytest.raises(ValueError, match="unknown skeleton"):
        list_partitions("nope")


@pytest.mark.parametrize("k", [0, 2, 3, 4, 5])
def test_shuffled_partition_keeps_sizes_and_anchor(k):
    base = get_partition("h36m-5")
    p = shuffled_partition("h36m-5", k, seed=3)
    assert p.group_sizes == base.group_sizes
    assert all(g[0] == 0 for g in p.groups)  # the shared pelvis stays in every group
    assert sorted(j for g in p.groups for j in g) == sorted(j for g in base.groups for j in g)
    pairs = enumerate(zip(p.groups, base.groups, strict=True))
    changed = [i for i, (a, b) in pairs if set(a) != set(b)]
    assert len(changed) <= k
    starred = [i for i, n in enumerate(p.group_names) if n.endswith("*")]
    assert len(starred) == k and set(changed) <= set(starred)
    assert shuffled_partition("h36m-5", k, seed=3) == p  # deterministic


def test_shuffled_partition_actually_shuffles_and_errors():
    seeds_changed = [shuffled_partition("h36m-5", 5, seed=s).groups != get_partition(
        "h36m-5").groups for s in range(5)]
    assert any(seeds_changed)
    for bad in (1, 6, -1, 2.0, True):
        with pytest.raises(ValueError, match="num_shuffled: expected 0 or 2..5"):
            shuffled_partition("h36m-5", bad)  # type: ignore[arg-type]


def test_shuffled_names_resolve_on_first_use():
    p = get_partition("h36m-5-shuffled4-seed7")
    assert p == shuffled_partition("h36m-5", 4, seed=7)
    assert get_partition("h36m-5-shuffled4-seed7") is p
    with pytest.raises(ValueError, match="unknown partition"):
        get_partition("nobase-shuffled2-seed0")
    with pytest.raises(ValueError, match="num_shuffled"):
        get_partition("h36m-5-shuffled9-seed0")
