"""Tests of the "coco" input layout (COCO-17 points synthesized from H36M-17)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from poselift.data import get_input_layout, list_input_layouts
from poselift.data.coco_layout import (
    EAR_OFFSET,
    EYE_OFFSET,
    H36M_FOR_COCO,
    head_frame,
    synthesize_coco_from_h36m,
)
from poselift.skeletons import get_skeleton

H36M = get_skeleton("h36m")
COCO = get_skeleton("coco")


def _upright_pose(yaw: float = 0.0) -> torch.Tensor:
    """A hand-built H36M-17 pose in a right-handed frame: y up, facing +z, left = +x."""
    p = np.zeros((17, 3))
    p[0] = (0, 1.0, 0)  # pelvis
    p[4], p[1] = (0.1, 1.0, 0), (-0.1, 1.0, 0)  # hips
    p[5], p[2] = (0.1, 0.55, 0), (-0.1, 0.55, 0)
    p[6], p[3] = (0.1, 0.1, 0), (-0.1, 0.1, 0)
    p[7], p[8] = (0, 1.25, 0), (0, 1.5, 0)  # spine, thorax
    p[9] = (0, 1.56, 0.09)  # nose: 6 cm up, 9 cm forward of the thorax
    p[10] = (0, 1.75, 0.0)  # head top
    p[11], p[14] = (0.18, 1.48, 0), (-0.18, 1.48, 0)
    p[12], p[15] = (0.2, 1.2, 0), (-0.2, 1.2, 0)
    p[13], p[16] = (0.2, 0.95, 0.05), (-0.2, 0.95, 0.05)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return torch.tensor(p @ rot.T + np.array([0.3, -0.2, 4.0]))


def test_registered() -> None:
    assert "coco" in list_input_layouts()
    lay = get_input_layout("coco")
    assert lay.skeleton == "coco" and lay.num_joints == 17


def test_copied_joints_match_by_name() -> None:
    p = torch.randn(3, 17, 3, dtype=torch.float64)
    out = synthesize_coco_from_h36m(p)
    for i, j in enumerate(H36M_FOR_COCO):
        if j is None:
            continue
        name = COCO.joints[i]
        assert name == H36M.joints[j] or (name == "nose" and H36M.joints[j] == "nose")
        torch.testing.assert_close(out[:, i], p[:, j], rtol=0, atol=0)
    assert [COCO.joints[i] for i, j in enumerate(H36M_FOR_COCO) if j is None] == [
        "left_eye", "right_eye", "left_ear", "right_ear"]


@pytest.mark.parametrize("yaw", [0.0, 0.7, np.pi, -2.0])
def test_eyes_ears_sides_and_distances(yaw: float) -> None:
    p = _upright_pose(yaw)
    out = synthesize_coco_from_h36m(p)
    nose = out[0]
    shoulder_left = p[11] - p[14]  # points to the body's left
    for i, off in ((1, EYE_OFFSET), (3, EAR_OFFSET)):
        left, right = out[i], out[i + 1]
        assert float((left - nose) @ shoulder_left) > 0  # left eye/ear on the body's left
        assert float((right - nose) @ shoulder_left) < 0
        expect = float(np.linalg.norm(off))
        assert float((left - nose).norm()) == pytest.approx(expect, abs=1e-9)
        assert float((right - nose).norm()) == pytest.approx(expect, abs=1e-9)
        # left-right distance = 2 * lateral offset
        assert float((left - right).norm()) == pytest.approx(2 * off[0], abs=1e-9)
    # hand-computed: facing direction of the built pose is R @ (0, 0, 1); eyes 2 cm behind
    facing = torch.tensor([np.sin(yaw), 0.0, np.cos(yaw)], dtype=p.dtype)
    up_dir = p[10] - p[9]
    up_dir = up_dir / up_dir.norm()
    # forward of the head frame is orthogonal to up and the shoulder line, close to facing
    _, up, fwd = head_frame(p)
    torch.testing.assert_close(up, up_dir)
    # (tilted ~25 deg up here, because up = nose -> head_top leans back in this pose)
    assert float(fwd @ facing) > 0.85
    # eyes are behind the nose and above it, ears further behind
    assert float((out[1] - nose) @ fwd) == pytest.approx(EYE_OFFSET[2], abs=1e-9)
    assert float((out[3] - nose) @ fwd) == pytest.approx(EAR_OFFSET[2], abs=1e-9)
    assert float((out[1] - nose) @ up) == pytest.approx(EYE_OFFSET[1], abs=1e-9)


def test_head_frame_orthonormal_batched() -> None:
    p = torch.randn(4, 5, 17, 3, dtype=torch.float64)
    left, up, fwd = head_frame(p)
    for v in (left, up, fwd):
        assert v.shape == (4, 5, 3)
        torch.testing.assert_close(v.norm(dim=-1), torch.ones(4, 5, dtype=torch.float64))
    torch.testing.assert_close((left * up).sum(-1), torch.zeros(4, 5, dtype=torch.float64))
    torch.testing.assert_close(torch.linalg.cross(left, up, dim=-1), fwd)


def test_shapes_batching_and_dtype() -> None:
    lay = get_input_layout("coco")
    p = torch.randn(2, 3, 17, 3)
    out = lay(p)
    assert out.shape == (2, 3, 17, 3) and out.dtype == torch.float32
    # batched == per-sample
    for a in range(2):
        for b in range(3):
            torch.testing.assert_close(out[a, b], lay(p[a, b]))


def test_mirror_consistency() -> None:
    """Mirroring the H36M pose (x -> -x, swap left/right) mirrors the COCO output."""
    p = _upright_pose(0.4)
    h_flip = torch.tensor(H36M.flip_index() if hasattr(H36M, "flip_index") else
                          [H36M.joints.index(n.replace("left", "#").replace("right", "left")
                                             .replace("#", "right")) for n in H36M.joints])
    c_flip = [COCO.joints.index(n.replace("left", "#").replace("right", "left")
                                .replace("#", "right")) for n in COCO.joints]
    m = p[h_flip].clone()
    m[:, 0] = -m[:, 0]
    out_m = synthesize_coco_from_h36m(m)
    out = synthesize_coco_from_h36m(p)[c_flip].clone()
    out[:, 0] = -out[:, 0]
    torch.testing.assert_close(out_m, out)


@pytest.mark.data
def test_real_mocap_face_forward(shared_data: Path) -> None:
    """On real mocap the estimated forward points where the nose sticks out of the neck."""
    with np.load(shared_data / "bandai" / "bandai_h36m17.npz") as z:
        p = torch.from_numpy(z["dataset-1_walk_normal_001"]).double()
    _, _, fwd = head_frame(p)
    # the H36M nose lies in front of the thorax -> head_top line
    assert float(((p[:, 9] - p[:, 8]) * fwd).sum(-1).gt(0).double().mean()) > 0.95
    out = synthesize_coco_from_h36m(p)
    assert float(((out[:, 1] - out[:, 2]) * (p[:, 11] - p[:, 14])).sum(-1).min()) > 0
