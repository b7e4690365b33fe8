"""Tests for poselift.data.datasets: FrameDataset and WindowDataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from poselift.camera import RigSpec
from poselift.data import Augmentation, Clip, FrameDataset, MotionSet, WindowDataset


def _clip(name: str, frames: int, seed: int) -> Clip:
    rng = np.random.default_rng(seed)
    base = np.zeros((17, 3))
    base[:, 1] = np.linspace(0.1, 1.6, 17)
    base[:, 0] = rng.normal(scale=0.15, size=17)
    t = np.arange(frames)[:, None, None]
    poses = base + 0.05 * np.sin(0.3 * t + rng.uniform(0, 6, (1, 17, 3)))
    poses[..., 2] += 0.04 * t[..., 0]  # walking along +z
    return Clip(name, poses.astype(np.float32), 30.0, {"content": "walk"})


@pytest.fixture(scope="module")
def motion() -> MotionSet:
    return MotionSet((_clip("a", 11, 0), _clip("b", 7, 1), _clip("c", 1, 2)))


def test_frame_dataset_sizes_and_shapes(motion: MotionSet):
    assert len(FrameDataset(motion)) == 19
    ds = FrameDataset(motion, frame_step=4)
    assert len(ds) == math.ceil(11 / 4) + math.ceil(7 / 4) + 1
    assert [ds.sample_info(i) for i in range(4)] == [("a", 0), ("a", 4), ("a", 8), ("b", 0)]
    x, y = ds[0]
    assert x.shape == (17, 2) and y.shape == (17, 3) and x.dtype == torch.float32
    xs, ys = FrameDataset(motion, with_scores=True)[[0, 5, 18]]
    assert xs.shape == (3, 17, 3) and ys.shape == (3, 17, 3)
    with pytest.raises(ValueError, match="frame_step"):
        FrameDataset(motion, frame_step=0)
    with pytest.raises(TypeError, match="MotionSet"):
        FrameDataset([])  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        ds[[100]]


def test_determinism_and_epochs(motion: MotionSet):
    a = [b for b in FrameDataset(motion, seed=3).batches(5)]
    b = [b for b in FrameDataset(motion, seed=3).batches(5)]
    for (x1, y1), (x2, y2) in zip(a, b, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    c = next(FrameDataset(motion, seed=4).batches(5))
    assert not torch.equal(a[0][0], c[0])
    d = next(FrameDataset(motion, seed=3).batches(5, epoch=1))
    assert not torch.equal(a[0][0], d[0])
    assert sum(len(x) for x, _ in a) == 19
    assert [len(x) for x, _ in FrameDataset(motion).batches(5, drop_last=True)] == [5, 5, 5]
    # __getitem__ paths: the same indices and epoch give the same batch
    ds = FrameDataset(motion, seed=3)
    x1, _ = ds[[1, 2, 3]]
    x2, _ = FrameDataset(motion, seed=3)[[1, 2, 3]]
    assert torch.equal(x1, x2)
    ds.set_epoch(1)
    assert not torch.equal(ds[[1, 2, 3]][0], x1)


def test_dataloader_uses_batched_getitems(motion: MotionSet):
    ds = FrameDataset(motion, seed=0)
    loader = DataLoader(ds, batch_size=4, shuffle=False)
    x, y = next(iter(loader))
    xb, yb = ds[[0, 1, 2, 3]]  # what __getitems__ builds for the first batch
    assert torch.equal(x, xb) and torch.equal(y, yb)
    assert sum(len(x) for x, _ in loader) == len(ds)


def test_window_edge_padding_and_causal(motion: MotionSet):
    ds = WindowDataset(motion, 5)
    assert ds.window_frames(0) == [0, 0, 0, 1, 2]
    assert ds.window_frames(10) == [8, 9, 10, 10, 10]
    assert ds.window_frames(18) == [0, 0, 0, 0, 0]  # the 1-frame clip
    causal = WindowDataset(motion, 4, causal=True)
    assert causal.window_frames(2) == [0, 0, 1, 2]
    with pytest.raises(ValueError, match="odd"):
        WindowDataset(motion, 4)
    with pytest.raises(ValueError, match="receptive_field"):
        WindowDataset(motion, 0, causal=True)


def test_window_inputs_match_single_frames_under_a_fixed_camera(motion: MotionSet):
    aug = Augmentation.none(RigSpec(azimuths_deg=(60.0,)))  # fully deterministic
    frames = FrameDataset(motion, augmentation=aug)
    for causal, r in ((False, 5), (True, 3)):
        windows = WindowDataset(motion, r, causal=causal, augmentation=aug)
        x, y = windows[list(range(len(windows)))]
        assert x.shape == (19, r, 17, 2) and y.shape == (19, 1, 17, 3)
        for i in (0, 4, 10, 12, 18):
            clip_start = 0 if i < 11 else (11 if i < 18 else 18)
            want = [clip_start + f for f in windows.window_frames(i)]
            torch.testing.assert_close(x[i], frames[want][0])
            torch.testing.assert_close(y[i, 0], frames[i][1])


def test_z_up_motion_is_converted(motion: MotionSet):
    zup = MotionSet(tuple(Clip(c.name, np.stack([c.poses[..., 0], -c.poses[..., 2],
                                                 c.poses[..., 1]], -1), c.fps)
                          for c in motion), up="z")
    aug = Augmentation.none(RigSpec(azimuths_deg=(10.0,)))
    a = FrameDataset(motion, augmentation=aug)[[0, 7]]
    b = FrameDataset(zup, augmentation=aug)[[0, 7]]
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
