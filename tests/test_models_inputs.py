"""Tests for poselift.models.inputs: the input contract shared by lift, evaluation and training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import poselift
from poselift.models.inputs import InputContract, window_offsets

RNG = np.random.default_rng(0)


def test_contract_of_models_reads_their_config():
    sr = poselift.create_model("sr", skeleton="coco", in_features=3, input_norm="bbox", hidden=8)
    c = InputContract.of(sr)
    assert (c.skeleton, c.out_skeleton, c.in_features, c.input_norm, c.temporal) == (
        "coco", "h36m", 3, "bbox", False)
    assert c.has_scores and c.extent == 302.0
    tcn = poselift.create_model("sr_tcn", channels=8, filter_widths=(3, 3), causal=True)
    t = InputContract.of(tcn)
    assert t.temporal and t.causal and t.receptive_field == 9 and not t.has_scores
    with pytest.raises(ValueError, match="in_features"):
        InputContract(in_features=4)
    with pytest.raises(ValueError, match="input_norm"):
        InputContract(input_norm="pixels")
    with pytest.raises(ValueError, match="calibrated"):
        _ = InputContract(skeleton="mpi_inf_3dhp", input_norm="bbox").extent


def test_prepare_screen_matches_the_formula_and_marks_missing_joints():
    kp = RNG.uniform(0, 1920, (4, 1, 17, 2))
    valid = RNG.random((4, 1, 17)) > 0.2
    c = InputContract(in_features=3, input_norm="screen")
    out = c.prepare(kp, valid, image_size=(1920, 1080))
    want = kp / 1920 * 2 - np.array([1.0, 1080 / 1920])
    np.testing.assert_allclose(out[..., :2][valid], want[valid])
    assert (out[..., :2][~valid] == 0).all()
    np.testing.assert_array_equal(out[..., 2], valid.astype(float))
    # one size per sample
    sizes = np.array([[1000, 1000], [1920, 1080], [640, 480], [100, 200]], float)
    per = c.prepare(kp, image_size=sizes)
    for i, (w, h) in enumerate(sizes):
        np.testing.assert_allclose(per[i, ..., :2], kp[i] / w * 2 - np.array([1.0, h / w]))


def test_prepare_bbox_scales_by_frame_sample_and_window():
    kp = RNG.uniform(100, 900, (2, 5, 17, 2))
    c = InputContract(input_norm="bbox", skeleton="h36m")

    def box(x):  # reference: centre and larger side of one frame's box
        lo, hi = x.min(0), x.max(0)
        return (lo + hi) / 2, (hi - lo).max()

    per_frame = c.prepare(kp, scale="frame")
    for s in range(2):
        for t in range(5):
            centre, side = box(kp[s, t])
            np.testing.assert_allclose(per_frame[s, t], (kp[s, t] - centre) * 322.0 / side / 500)
    per_sample = c.prepare(kp, scale="sample")
    for s in range(2):
        side = np.median([box(kp[s, t])[1] for t in range(5)])
        centre = box(kp[s, 2])[0]
        np.testing.assert_allclose(per_sample[s, 2], (kp[s, 2] - centre) * 322.0 / side / 500)
    tcn = InputContract(input_norm="bbox", receptive_field=3, temporal=True)
    windowed = tcn.prepare(kp)  # auto: a sliding median over 3 frames, ends repeated
    sides = [box(kp[0, t])[1] for t in range(5)]
    padded = [sides[0], *sides, sides[-1]]
    for t in range(5):
        side = np.median(padded[t : t + 3])
        np.testing.assert_allclose(windowed[0, t], (kp[0, t] - box(kp[0, t])[0]) * 322.0 / side
                                   / 500)


def test_prepare_bbox_ignores_missing_joints_for_the_box_and_keeps_kind():
    kp = RNG.uniform(400, 600, (1, 17, 2))
    kp[0, 3] = (5000.0, 5000.0)  # far away, but missing
    valid = np.ones((1, 17), bool)
    valid[0, 3] = False
    c = InputContract(in_features=3, input_norm="bbox")
    out = c.prepare(kp, valid)
    assert (out[0, 3] == 0).all()
    kept = np.delete(out[0, :, :2], 3, axis=0)
    # the box of the valid joints is centred and its larger side is extent / 500
    np.testing.assert_allclose((kept.max(0) + kept.min(0)) / 2, 0.0, atol=1e-12)
    assert np.isclose((kept.max(0) - kept.min(0)).max(), 322.0 / 500)  # h36m extent
    t = c.prepare(torch.from_numpy(kp), torch.from_numpy(valid))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), out)
    with pytest.raises(ValueError, match="distinct"):
        c.prepare(np.full((1, 17, 2), 500.0))


def test_flip_inputs_and_outputs_are_mirror_images():
    c = InputContract(skeleton="coco", in_features=3)
    x = torch.from_numpy(RNG.normal(size=(3, 17, 3)))
    f = c.flip_inputs(x)
    flip = poselift.get_skeleton("coco").flip_indices
    torch.testing.assert_close(f[:, :, 0], -x[:, flip, 0])
    torch.testing.assert_close(f[:, :, 1:], x[:, flip, 1:])  # y and score carried along
    torch.testing.assert_close(c.flip_inputs(f), x)
    y = torch.from_numpy(RNG.normal(size=(3, 17, 3)))
    back = c.flip_outputs(y)
    hflip = poselift.get_skeleton("h36m").flip_indices
    torch.testing.assert_close(back, y[:, hflip] * torch.tensor([-1.0, 1.0, 1.0],
                                                                dtype=torch.float64))


@pytest.mark.parametrize("causal", [False, True])
def test_pad_and_offsets_match_a_naive_window(causal):
    c = InputContract(receptive_field=5, temporal=True, causal=causal)
    seq = torch.arange(7.0).reshape(1, 7)
    padded = c.pad(seq)[0]
    offs = window_offsets(5, causal)
    assert len(padded) == 7 + 4
    for t in range(7):  # the window of output t in the padded sequence
        naive = [min(max(t + o, 0), 6) for o in offs]
        assert padded[t : t + 5].tolist() == [float(v) for v in naive]
    with pytest.raises(ValueError, match="receptive_field"):
        window_offsets(4)
    assert window_offsets(4, causal=True).tolist() == [-3, -2, -1, 0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prepare_in_numpy_equals_prepare_in_torch(dtype):
    """numpy inputs are prepared in numpy operations, tensors in torch ones (poselift._array_ops):
    the same values to the bit, frames without a box (0, 1 or coincident valid joints) included,
    and numpy raises no RuntimeWarning where torch is silent (NaN/inf of frames without a box)."""
    import warnings

    from poselift.normalization import box_side, normalize_bbox

    x = RNG.uniform(0, 900, (3, 30, 17, 2)).astype(dtype)
    v = RNG.uniform(size=(3, 30, 17)) > 0.2
    v[0, 4] = False                          # no valid joint
    v[1, 5, 1:] = False                      # one
    v[2, 6] = True
    x[2, 6] = 5.0                            # all at one pixel
    contracts = [InputContract(skeleton="coco", in_features=3, input_norm="bbox"),
                 InputContract(skeleton="coco", in_features=3, input_norm="bbox", temporal=True,
                               receptive_field=9),
                 InputContract(skeleton="coco", in_features=3, input_norm="bbox", temporal=True,
                               receptive_field=27, causal=True),
                 InputContract(skeleton="coco", in_features=2, input_norm="screen", temporal=True,
                               receptive_field=9)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for c in contracts:
            for scale in ("auto", "frame", "sample", "window", "sequence"):
                for valid in (None, v):
                    for size in (None, (1280, 720)):
                        a = c.prepare(x, valid, scale=scale, image_size=size, check=False)
                        b = c.prepare(torch.from_numpy(x), None if valid is None else
                                      torch.from_numpy(valid), scale=scale, image_size=size,
                                      check=False)
                        assert isinstance(a, np.ndarray) and a.dtype == dtype
                        np.testing.assert_array_equal(a, b.numpy())
        for kw in ({}, {"per_sequence": True}, {"per_sequence": True, "window": 9},
                   {"per_sequence": True, "window": 9, "causal": True}):
            a = normalize_bbox(x, v, extent=302.0, check=False, **kw)
            b = normalize_bbox(torch.from_numpy(x), torch.from_numpy(v), extent=302.0,
                               check=False, **kw)
            np.testing.assert_array_equal(a, b.numpy())
        np.testing.assert_array_equal(box_side(x, v), box_side(torch.from_numpy(x),
                                                               torch.from_numpy(v)).numpy())
    c = contracts[0]
    with pytest.raises(ValueError, match=r"frame at index \(0, 4\) has a bounding box of size 0"):
        c.prepare(x, v)
    with pytest.raises(ValueError, match=r"frame at index \(0, 4\) has a bounding box of size 0"):
        c.prepare(torch.from_numpy(x), torch.from_numpy(v))
