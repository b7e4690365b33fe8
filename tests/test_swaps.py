"""Left/right label swaps: the Viterbi search against brute force, recovery, no false swaps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import poselift
from poselift.skeletons import get_skeleton
from poselift.swaps import (
    CHANGE_COST,
    JUMP_CAP,
    SWAP_PARTS,
    SWAPPED_COST,
    SwapFilter,
    fix_swaps,
    swap_permutations,
    swap_states,
    translate_states,
)


def _walk(frames: int, seed: int = 0, joints: int = 17) -> np.ndarray:
    """A person-sized set of joints drifting smoothly (pixels)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(300, 700, (joints, 2))
    t = np.arange(frames)[:, None, None]
    phase = rng.uniform(0, 6, (joints, 1))
    return base + 15 * np.concatenate([np.sin(t / 7 + phase), np.cos(t / 11 + phase)], -1)


def _naive_path_cost(xy: np.ndarray, valid: np.ndarray, skeleton: str) -> np.ndarray:
    """``(T-1, K, K)`` transition costs written out joint by joint, and ``(K,)`` state costs."""
    sk = get_skeleton(skeleton)
    flip = sk.flip_indices
    perms = swap_permutations(skeleton)
    frames, joints = valid.shape
    seen_rows = [t for t in range(frames) if valid[t].any()]
    extents = []
    for t in seen_rows:
        pts = xy[t][valid[t]]
        extents.append(max(pts[:, 0].max() - pts[:, 0].min(), pts[:, 1].max() - pts[:, 1].min()))
    height = float(np.median(extents))
    motion = []
    for j in range(joints):
        steps = [float(np.hypot(*(xy[t, j] - xy[t - 1, j]))) for t in range(1, frames)
                 if valid[t, j] and valid[t - 1, j]]
        motion.append(max(float(np.median(steps)) if steps else 0.0, 0.002 * height))
    table = np.zeros((frames - 1, len(perms), len(perms)))
    for t in range(1, frames):
        for a, pa in enumerate(perms):
            for b, pb in enumerate(perms):
                total = CHANGE_COST if a != b else 0.0
                for j in range(joints):
                    if flip[j] == j or not any(any(w in sk.joints[j] for w in words)
                                               for words in SWAP_PARTS.values()):
                        continue  # not in a part: the same in every state
                    scale = max(motion[j], motion[flip[j]])
                    p, q = pb[j], pa[j]  # the joint each label takes now / before
                    if valid[t, p] and valid[t - 1, q]:
                        d = float(np.hypot(*(xy[t, p] - xy[t - 1, q]))) / scale
                        total += min(d * d, JUMP_CAP)
                    elif valid[t, p] or valid[t - 1, q]:
                        total += JUMP_CAP / 2
                table[t - 1, a, b] = total
    unary = np.array([SWAPPED_COST * bin(s).count("1") for s in range(len(perms))])
    return table, unary


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_finds_the_cheapest_labelling_found_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    xy = _walk(4, seed)
    flip = np.array(get_skeleton("h36m").flip_indices)
    xy = np.array([xy[t][flip] if rng.random() < 0.4 else xy[t] for t in range(4)])
    xy += rng.normal(0, 8, xy.shape)
    valid = rng.random((4, 17)) > 0.15
    table, unary = _naive_path_cost(xy, valid, "h36m")
    paths = np.array(list(itertools.product(range(16), repeat=4)))  # every labelling
    costs = unary[paths].sum(1) + sum(table[t, paths[:, t], paths[:, t + 1]] for t in range(3))
    got = swap_states(xy, valid, "h36m")
    mine = unary[got].sum() + sum(table[t, got[t], got[t + 1]] for t in range(3))
    assert mine == pytest.approx(costs.min(), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("parts", [(0, 1, 2, 3, 4), (3, 4), (2,), (1, 2)])
def test_a_run_of_swapped_parts_is_undone(parts):
    truth = _walk(120, 3)
    state = sum(1 << u for u in parts)
    order = swap_permutations("coco")[state]
    seen = truth.copy()
    seen[50:80] = truth[50:80][:, order]
    seen = seen + np.random.default_rng(4).normal(0, 0.5, seen.shape)
    fixed, changed = fix_swaps(seen, "coco")
    np.testing.assert_allclose(fixed[:, :, :2], truth, atol=3)
    assert changed.any(-1).sum() == 30
    assert not changed[:50].any() and not changed[80:].any()


def test_limbs_crossing_at_speed_are_not_swaps():
    """Arms and legs passing each other (a run): continuity, not a swap.

    At a crossing the mirrored labels move less than the true ones (a bounce); measured in
    each pair's own typical motion the difference is small, in the whole body's (most joints
    slow) it would look like a swap at every crossing.
    """
    sk = get_skeleton("coco")
    xy = _walk(300, 5)  # the body drifts ~2 px per frame
    t = np.arange(300)
    for name in ("wrist", "ankle", "elbow", "knee"):
        left, right = sk.joints.index(f"left_{name}"), sk.joints.index(f"right_{name}")
        centre = (xy[0, left] + xy[0, right]) / 2
        # up to 19 px per frame, fastest at the crossings, which fall between two frames:
        # there the swapped labels would not move at all
        swing = 60 * np.sin(np.pi * (t + 0.5) / 10)
        xy[:, left] = centre + swing[:, None] * [1.0, 0.2]
        xy[:, right] = centre - swing[:, None] * [1.0, 0.2]
    assert not swap_states(xy, np.ones((300, 17), bool), "coco").any()


def test_a_joint_lost_is_not_explained_away_by_a_swap():
    """The left arm never seen, the right one jumps for a frame: relabelling it as the
    unseen left arm would hide the jump, but a joint appearing or vanishing costs too."""
    xy = _walk(60, 6)
    valid = np.ones((60, 17), bool)
    names = get_skeleton("coco").joints
    valid[:, [names.index("left_elbow"), names.index("left_wrist")]] = False
    xy[30, [names.index("right_elbow"), names.index("right_wrist")]] += 80  # an outlier frame
    assert not swap_states(xy, valid, "coco").any()


def test_lift_undoes_a_swap_run_on_every_path():
    net = poselift.create_model("sr_tcn", skeleton="coco", channels=16, filter_widths=(3, 3))
    truth = _walk(90, 7)
    seen = truth.copy()
    seen[30:50] = truth[30:50][:, get_skeleton("coco").flip_indices]
    want = poselift.lift(truth, model=net)
    for batch in (4096, 16):  # whole sequences and the long path in chunks
        got = poselift.lift(seen, model=net, batch_size=batch)
        np.testing.assert_allclose(got, want, atol=1e-5)
    kept = poselift.lift(seen, model=net, fix_swaps=False)
    assert np.abs(kept - want)[30:50].max() > 1e-3


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="fix_swaps"):
        poselift.Lifter(fix_swaps="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keypoints2d"):
        fix_swaps(np.zeros((17, 2)), "coco")  # one pose is not a sequence
    with pytest.raises(ValueError, match="keypoints2d"):
        fix_swaps(np.zeros((3, 16, 2)), "coco")


def test_without_enough_to_go_on_nothing_changes():
    assert swap_states(np.zeros((1, 17, 2)), np.ones((1, 17), bool), "coco").tolist() == [0]
    assert not swap_states(np.zeros((5, 17, 2)), np.zeros((5, 17), bool), "coco").any()
    kp = np.full((6, 17, 3), np.nan)
    fixed, changed = fix_swaps(kp, "coco")
    assert np.isnan(fixed).all() and not changed.any()


# --- the causal filter and StreamingLifter ------------------------------------------------------


def test_the_causal_filter_agrees_with_the_whole_sequence_search_on_clear_swaps():
    truth = _walk(150, 8)
    perms = swap_permutations("coco")
    states = np.zeros(150, int)
    states[40:70], states[100:110] = 31, 24  # all parts; then hips and legs
    seen = np.take_along_axis(truth, perms[states][..., None], axis=1)
    valid = np.ones((150, 17), bool)
    causal = SwapFilter("coco")
    assert [causal.step(f, v) for f, v in zip(seen, valid, strict=True)] == states.tolist()
    assert swap_states(seen, valid, "coco").tolist() == states.tolist()


def test_streaming_lifter_undoes_a_swap_run_as_it_arrives():
    net = poselift.create_model("sr_tcn", skeleton="coco", in_features=3, input_norm="bbox",
                                causal=True, channels=16, filter_widths=(3, 3))
    truth = _walk(60, 9)
    seen = truth.copy()
    seen[20:35] = truth[20:35][:, get_skeleton("coco").flip_indices]
    want = [poselift.StreamingLifter("coco", net, fix_swaps=False)]
    got = [poselift.StreamingLifter("coco", net), poselift.StreamingLifter("coco", net,
                                                                            fix_swaps=False)]
    out_truth = np.array([want[0].push(f) for f in truth])
    out_fixed = np.array([got[0].push(f) for f in seen])
    out_kept = np.array([got[1].push(f) for f in seen])
    np.testing.assert_allclose(out_fixed, out_truth, atol=1e-5)
    assert np.abs(out_kept - out_truth)[20:35].max() > 1e-3
    with pytest.raises(TypeError, match="fix_swaps"):
        poselift.StreamingLifter("coco", net, fix_swaps=1)  # type: ignore[arg-type]


def test_the_trajectory_is_solved_against_the_relabelled_keypoints():
    """lift_full = lift + to_absolute: the 2D points the root is solved with carry the labels
    the poses were lifted with (with the detector's labels the root moved ~0.3 m)."""
    from poselift.demo import load_demo_sample

    demo = load_demo_sample()
    kp = demo["keypoints2d"].astype(np.float64)
    seen = kp.copy()
    seen[60:90] = kp[60:90][:, get_skeleton("coco").flip_indices]
    k = (1000.0, 1000.0, demo["image_size"][0] / 2, demo["image_size"][1] / 2)
    want = poselift.lift_full(kp, intrinsics=k, rarity=False)
    got = poselift.lift_full(seen, intrinsics=k, rarity=False)
    np.testing.assert_allclose(got.trajectory, want.trajectory, atol=1e-6)
    np.testing.assert_allclose(got.poses, want.poses, atol=1e-5)
    relative = poselift.lift(seen)
    apart = poselift.to_absolute(relative, seen, intrinsics=k, rarity=False)
    np.testing.assert_allclose(apart.trajectory, want.trajectory, atol=1e-6)
    kept = poselift.to_absolute(relative, seen, intrinsics=k, rarity=False, fix_swaps=False)
    assert np.abs(kept.trajectory - want.trajectory)[60:90].max() > 0.05
    with pytest.raises(TypeError, match="fix_swaps"):
        poselift.to_absolute(relative, seen, intrinsics=k, fix_swaps="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["coco", "h36m", "mediapipe_pose", "body_25", "body_25b",
                                  "halpe_26", "coco_18"])
def test_every_left_right_joint_is_in_one_part(name):
    """Each state relabels by an involution; MediaPipe's foot_index (words "foot" and
    "index") goes with the legs, not the hands."""
    sk = get_skeleton(name)
    perms = swap_permutations(name)
    assert all((p[p] == np.arange(sk.num_joints)).all() for p in perms)
    paired = [i for i in range(sk.num_joints) if sk.flip_indices[i] != i]
    everything = perms[-1]  # every part swapped: every left/right joint to its mirror
    assert [int(everything[i]) for i in paired] == [sk.flip_indices[i] for i in paired]
    moved = [set(np.flatnonzero(perms[1 << u] != np.arange(sk.num_joints)).tolist())
             for u in range(len(perms).bit_length() - 1)]  # each part alone
    assert sum(len(m) for m in moved) == len(set().union(*moved)) == len(paired)
    if name == "mediapipe_pose":
        legs = next(s for s in range(len(perms)) if perms[s][sk.joints.index("left_knee")]
                    != sk.joints.index("left_knee") and bin(s).count("1") == 1)
        assert perms[legs][sk.joints.index("left_foot_index")] == sk.joints.index(
            "right_foot_index")


def test_a_detector_layout_is_relabelled_for_the_trajectory_as_lift_relabelled_it():
    """MediaPipe's 33 points: lift searches on their COCO-17 conversion; the root is solved
    against the 33 points relabelled by the same states (not by a search of their own)."""
    from poselift.demo import load_demo_sample

    demo = load_demo_sample()
    coco = get_skeleton("coco").joints
    mp = get_skeleton("mediapipe_pose")
    kp = np.full((len(demo["keypoints2d"]), mp.num_joints, 3), np.nan)
    kp[..., 2] = 0.0
    for i, name in enumerate(coco):  # the COCO points where MediaPipe has them by name
        if name in mp.joints:
            kp[:, mp.joints.index(name)] = demo["keypoints2d"][:, i]
    seen = kp.copy()
    seen[60:90] = kp[60:90][:, mp.flip_indices]
    k = (1000.0, 1000.0, demo["image_size"][0] / 2, demo["image_size"][1] / 2)
    want = poselift.lift_full(kp, skeleton="mediapipe_pose", intrinsics=k, rarity=False)
    got = poselift.lift_full(seen, skeleton="mediapipe_pose", intrinsics=k, rarity=False)
    np.testing.assert_allclose(got.poses, want.poses, atol=1e-5)
    np.testing.assert_allclose(got.trajectory, want.trajectory, atol=1e-6)
    assert translate_states(np.array([31]), "coco", "mediapipe_pose").tolist() == [31]
