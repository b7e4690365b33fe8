"""plot_lift fixes, render_lift and `poselift render` (frames counted by reading the GIF back)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from poselift.cli import main  # noqa: E402
from poselift.demo import load_demo_sample  # noqa: E402
from poselift.viz import plot_lift, render_lift  # noqa: E402


def _sample(t=6):
    s = load_demo_sample()
    return (np.asarray(s["keypoints2d"][:t], np.float64),
            np.asarray(s["poses3d"][:t], np.float64))


def _line_points(fig):
    pts = []
    for ax in fig.axes:
        for line in ax.get_lines():
            data = np.asarray(line.get_xydata() if ax.name != "3d" else
                              np.stack(line.get_data_3d(), -1), float)
            pts.append(data)
    return pts


def test_plot_lift_skips_undetected_joints_at_origin():
    """Detectors report undetected joints as (0, 0, score 0): no bone may reach the corner."""
    kp, p3 = _sample(2)
    kp[:, 9] = [0.0, 0.0, 0.0]   # left wrist undetected
    kp[:, 10, :2] = 0.0          # right wrist at (0, 0) without a zero score
    fig = plot_lift(kp, p3, frames=[0, 1])
    for ax in fig.axes[::2]:  # the 2D panels
        for line in ax.get_lines():
            xy = line.get_xydata()
            assert not (np.isfinite(xy).all(-1) & (np.abs(xy) < 1e-9).all(-1)).any()
        lo = min(ax.get_xlim())
        assert lo > 100  # the view is around the body, not stretched to x = 0


def test_plot_lift_absolute_poses_are_visible():
    """root="camera" poses (metres from the camera) are drawn pelvis-centred, inside the axes."""
    kp, p3 = _sample(2)
    absolute = p3 - p3[:, :1] + np.array([0.5, 0.2, 4.0])
    fig = plot_lift(kp, absolute, frames=[0, 1])
    ax3 = fig.axes[1]
    assert ax3.name == "3d"
    (x0, x1), (y0, y1), (z0, z1) = ax3.get_xlim(), ax3.get_ylim(), ax3.get_zlim()
    for line in ax3.get_lines():
        x, y, z = (np.asarray(v, float) for v in line.get_data_3d())
        ok = np.isfinite(x)
        assert ((x0 <= x[ok]) & (x[ok] <= x1) & (y0 <= y[ok]) & (y[ok] <= y1)
                & (z0 <= z[ok]) & (z[ok] <= z1)).all()
    assert ax3.get_zlabel() == "height (m)" and ax3.get_xlabel() == "x (m)"
    assert fig.legends  # left/right colours explained


def test_render_gif_one_frame_per_input_frame(tmp_path):
    kp, p3 = _sample(5)
    kp[2, 9] = 0.0
    out = render_lift(tmp_path / "a.gif", kp, p3, fps=25, reference3d=p3)
    with Image.open(out) as im:
        assert im.n_frames == 5
        assert im.info["duration"] == 40  # ms, 25 fps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]  # no temporary left


def test_render_absolute_adds_trajectory_panel(tmp_path):
    kp, p3 = _sample(4)
    walk = p3 - p3[:, :1] + np.stack([np.linspace(0, 1, 4), np.zeros(4), np.full(4, 4.0)], -1)[
        :, None]
    out = render_lift(tmp_path / "b.gif", kp, walk)
    with Image.open(out) as im:
        wide = im.size
    out2 = render_lift(tmp_path / "c.gif", kp, p3 - p3[:, :1])
    with Image.open(out2) as im:
        assert wide[0] > im.size[0]  # three panels instead of two


def test_render_errors_leave_nothing(tmp_path, monkeypatch):
    kp, p3 = _sample(3)
    with pytest.raises(ValueError, match="gif or .mp4"):
        render_lift(tmp_path / "a.png", kp, p3)
    with pytest.raises(ValueError, match="fps"):
        render_lift(tmp_path / "a.gif", kp, p3, fps=0)
    with pytest.raises(ValueError, match="poses3d"):
        render_lift(tmp_path / "a.gif", kp, p3[:2])
    with pytest.raises(FileNotFoundError):
        render_lift(tmp_path / "no" / "a.gif", kp, p3)
    from matplotlib import animation

    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(RuntimeError, match="ffmpeg"):
        render_lift(tmp_path / "a.mp4", kp, p3)
    assert list(tmp_path.iterdir()) == []


def test_viz_extra_missing_is_named(tmp_path, monkeypatch, capsys):
    kp, p3 = _sample(2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "poselift\[viz\]"'):
        plot_lift(kp, p3)
    np.save(tmp_path / "kp.npy", kp)
    assert main(["render", str(tmp_path / "kp.npy"), "-o", str(tmp_path / "x.gif")]) == 1
    err = capsys.readouterr().err
    assert 'pip install "poselift[viz]"' in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()


def test_cli_render_keypoints_file(tmp_path, capsys):
    kp, _ = _sample(8)
    np.save(tmp_path / "kp.npy", kp)
    out = tmp_path / "kp.gif"
    assert main(["render", str(tmp_path / "kp.npy"), "-o", str(out),
                 "--intrinsics", "1000", "1000", "500", "500"]) == 0
    note = capsys.readouterr().out
    assert "8 frames" in note and "one per input frame" in note and "trajectory" in note
    with Image.open(out) as im:
        assert im.n_frames == 8


def test_cli_render_stored_poses_are_not_lifted_again(tmp_path, capsys):
    """The .npz of `poselift demo` (keypoints2d + poses3d) is drawn as stored."""
    kp, p3 = _sample(4)
    np.savez(tmp_path / "demo.npz", keypoints2d=kp, poses3d=p3, reference3d=p3)
    out = tmp_path / "demo.gif"
    assert main(["render", str(tmp_path / "demo.npz"), "-o", str(out), "--model",
                 str(tmp_path / "no-such-model.pt")]) == 0  # a model would fail to load
    assert "mocap reference dashed" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.n_frames == 4


@pytest.mark.parametrize(("argv", "match"), [
    (["render", "--demo", "-o", "{d}/x.png"], "expected .gif or .mp4"),
    (["render", "--demo", "-o", "{d}/no/x.gif"], "does not exist"),
    (["render", "-o", "{d}/x.gif"], "either INPUT or --demo"),
    (["render", "{d}/missing.npy", "-o", "{d}/x.gif"], "no such file"),
    (["render", "--demo", "--fps", "-1", "-o", "{d}/x.gif"], "--fps"),
])
def test_cli_render_errors(tmp_path, capsys, argv, match):
    assert main([a.format(d=tmp_path) for a in argv]) != 0
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".gif"]


@pytest.mark.slow
def test_cli_render_demo(tmp_path, capsys, request):
    expr = request.config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:  # pyproject: slow runs only with -m slow
        pytest.skip("slow: run with -m slow")
    out = tmp_path / "demo.gif"
    assert main(["render", "--demo", "-o", str(out)]) == 0
    assert "172 frames" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.n_frames == 172
