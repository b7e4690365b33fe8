"""Pictures of lifted poses: the 2D input beside the 3D output (``pip install "poselift[viz]"``).

- :func:`plot_lift`: a figure of a few frames, the 2D input above the 3D pose.
- :func:`render_lift`: an animation (GIF, or MP4 with an ffmpeg binary) with one frame per
  input frame: the 2D input, the 3D skeleton and, for absolute poses, the pelvis trajectory.

How poses are drawn (both functions):

- **2D**: image axes (pixels, y down), one square view around every drawn keypoint. A joint
  is *missing* and not drawn (nor its bones) when it is NaN, when its score is ``<= 0``, or
  when it sits at exactly ``(0, 0)`` (what many detectors report for an undetected joint).
  Joints with a score below ``score_threshold`` (what :func:`poselift.lift` treats as
  missing) are circled in orange. Left limbs blue, right red, the trunk grey.
- **3D**: pelvis-centred: each pose is shifted so that its pelvis is at the origin, and all
  panels share one cube of side ``2 r`` metres, ``r`` the largest pelvis-to-joint distance
  of the shown poses (plus 10 %). So absolute poses (``lift_full(..., root="camera")``, metres
  from the camera) are visible too. Axes in metres: ``x`` (right), ``depth`` (away from the
  camera) and ``height`` (up) for camera coordinates (``up="-y"``); a world frame is shown
  with its own up axis vertical (``up="y"`` or ``"z"``).
- **Trajectory** (:func:`render_lift`, absolute poses only, i.e. the pelvis is not at the
  origin): a third panel shows the pelvis path seen from above (x against depth, metres),
  the part already walked solid and the current position as a dot.

Examples:
    >>> import numpy as np
    >>> kp = np.random.default_rng(0).uniform(300, 700, (5, 17, 2))
    >>> fig = plot_lift(kp, np.zeros((5, 17, 3)), skeleton="coco")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from poselift._files import atomic_write
from poselift._validation import Array, check_array, check_choice, check_shape, to_numpy
from poselift.skeletons import get_skeleton

__all__ = ["plot_lift", "render_lift"]

_LEFT, _RIGHT, _MID = "#1f77b4", "#d62728", "#555555"
# display axes (X right, Y depth, Z up) from the input's axes, proper rotations
_DISPLAY = {
    "-y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "z": np.eye(3),
}
_LABELS = {"-y": ("x (m)", "depth (m)", "height (m)"), "y": ("x (m)", "-z (m)", "y, up (m)"),
           "z": ("x (m)", "y (m)", "z, up (m)")}
_PELVIS = 0


def _matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "poselift[viz]"') from None
    return plt


def _colour(names: tuple[str, ...], j: int) -> str:
    name = names[j]
    return _LEFT if name.startswith("left_") else _RIGHT if name.startswith("right_") else _MID


def _bones(skeleton: str) -> list[tuple[int, int, str]]:
    sk = get_skeleton(skeleton)
    return [(p, j, _colour(sk.joints, j)) for j, p in enumerate(sk.parents) if p >= 0]


def _keypoints(kp: np.ndarray[Any, Any], threshold: float
               ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``(xy with NaN for missing joints, weak mask)`` of ``(T, J, 2|3)`` keypoints."""
    xy = kp[..., :2].copy()
    missing = ~np.isfinite(xy).all(-1) | (xy == 0).all(-1)
    weak = np.zeros(missing.shape, bool)
    if kp.shape[-1] == 3:
        score = kp[..., 2]
        missing |= ~(score > 0)
        weak = ~missing & (score < threshold)
    xy[missing] = np.nan
    return xy, weak


def _square(xy: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """A square view (lo, hi) around all finite points, 10 % margin."""
    pts = xy.reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(-1)]
    if not len(pts):
        return np.zeros(2), np.ones(2)
    lo, hi = pts.min(0), pts.max(0)
    half = max(0.55 * float((hi - lo).max()), 1.0)
    mid = (lo + hi) / 2
    return mid - half, mid + half


def _display(p3: np.ndarray[Any, Any], up: str) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = p3 @ _DISPLAY[up].T
    return out


def _radius(rel: np.ndarray[Any, Any]) -> float:
    d = np.linalg.norm(rel, axis=-1)
    d = d[np.isfinite(d)]
    return 1.1 * float(d.max()) if d.size and d.max() > 0 else 1.0


def _axes3d(ax: Any, r: float, up: str) -> None:
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_zlim(-r, r)
    ax.set_box_aspect((1, 1, 1), zoom=1.15)
    xl, yl, zl = _LABELS[up]
    ax.set_xlabel(xl, fontsize=7, labelpad=-6)
    ax.set_ylabel(yl, fontsize=7, labelpad=-6)
    ax.set_zlabel(zl, fontsize=7, labelpad=-6)
    ticks = np.round(np.linspace(-r, r, 5)[1:-1], 1)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_zticks(ticks)
    ax.tick_params(labelsize=6, pad=-2)
    ax.view_init(elev=15, azim=-55)  # turned 35 deg from the camera view: depth is visible


def _segments(pts: np.ndarray[Any, Any], bones: list[tuple[int, int, str]]
              ) -> list[np.ndarray[Any, Any]]:
    """Each bone's two end points; NaN if either end is missing (matplotlib skips it)."""
    return [pts[[p, j]] for p, j, _ in bones]


def _legend(fig: Any, reference: bool, weak: bool) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=_LEFT, lw=2, label="left side"),
               Line2D([], [], color=_RIGHT, lw=2, label="right side")]
    if reference:
        handles.append(Line2D([], [], color="grey", lw=2, ls="--", label="mocap (reference)"))
    if weak:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="orange", ms=8,
                              label="low score (treated as missing)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
               frameon=False)


def _check(keypoints2d: Array, poses3d: Array, skeleton: str, reference3d: Array | None
           ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    kp = to_numpy(check_array(keypoints2d, "keypoints2d")).astype(np.float64)
    p3 = to_numpy(check_array(poses3d, "poses3d")).astype(np.float64)
    sk = get_skeleton(skeleton)
    ref = None
    if reference3d is not None:
        ref = to_numpy(check_array(reference3d, "reference3d")).astype(np.float64)
    if kp.ndim == 2:
        kp, p3 = kp[None], p3[None]
        ref = None if ref is None else ref[None]
    check_shape(kp, "keypoints2d", "(T, J, C)", J=sk.num_joints)
    if kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints2d: expected (T, J, 2) or (T, J, 3), got {kp.shape}")
    check_shape(p3, "poses3d", "(T, J, 3)", J=17)
    if kp.shape[0] != p3.shape[0]:
        raise ValueError(f"poses3d: expected {kp.shape[0]} frames like keypoints2d, got "
                         f"{p3.shape[0]}")
    if ref is not None and ref.shape != p3.shape:
        raise ValueError(f"reference3d: expected shape {p3.shape}, got {ref.shape}")
    return kp, p3, ref


def plot_lift(
    keypoints2d: Array,
    poses3d: Array,
    *,
    skeleton: str = "coco",
    frames: Sequence[int] | None = None,
    reference3d: Array | None = None,
    path: str | Path | None = None,
    title: str | None = None,
    up: str = "-y",
    score_threshold: float = 0.3,
) -> Any:
    """Figure with, for each chosen frame, the 2D input (top) and the lifted 3D pose (bottom).

    Args:
        keypoints2d: ``(T, J, 2|3)`` pixels in ``skeleton`` order (a third channel is the
            score), or ``(J, 2|3)``. Missing joints (NaN, score ``<= 0``, or at ``(0, 0)``)
            are not drawn.
        poses3d: ``(T, 17, 3)`` (or ``(17, 3)``) H36M-17 metres: root-relative or absolute
            (drawn pelvis-centred either way, see the module docstring).
        skeleton: the 2D skeleton (``"coco"``, ``"h36m"``, ...).
        frames: frame indices to show (default: 4 evenly spaced frames).
        reference3d: optional ground truth ``(T, 17, 3)``, drawn dashed (same colours, paler).
        path: write the figure to this file (PNG, PDF, ... by suffix).
        title: figure title.
        up: the vertical axis of ``poses3d``: ``"-y"`` (camera coordinates), ``"y"``, ``"z"``.
        score_threshold: scores below it are circled as weak (as :func:`poselift.lift`
            treats them as missing).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: matplotlib is not installed (``pip install "poselift[viz]"``).
        ValueError: shapes that do not match.
    """
    check_choice(up, "up", tuple(_DISPLAY))
    kp, p3, ref = _check(keypoints2d, poses3d, skeleton, reference3d)
    t = kp.shape[0]
    chosen = (list(np.linspace(0, t - 1, min(4, t)).round().astype(int)) if frames is None
              else [int(f) for f in frames])
    for f in chosen:
        if not 0 <= f < t:
            raise ValueError(f"frames: index {f} out of range for {t} frames")
    plt = _matplotlib()
    bones2d, bones3d = _bones(skeleton), _bones("h36m")
    xy, weak = _keypoints(kp, score_threshold)
    lo, hi = _square(xy[chosen])
    show = _display(p3 - p3[:, _PELVIS:_PELVIS + 1], up)
    show_ref = None if ref is None else _display(ref - ref[:, _PELVIS:_PELVIS + 1], up)
    r = _radius(show[chosen] if show_ref is None else
                np.concatenate([show[chosen], show_ref[chosen]]))
    n = len(chosen)
    fig = plt.figure(figsize=(3.0 * n, 6.6))
    grid = fig.add_gridspec(2, n, height_ratios=(1.0, 1.25))
    for i, f in enumerate(chosen):
        ax = fig.add_subplot(grid[0, i])
        for seg, (_, _, colour) in zip(_segments(xy[f], bones2d), bones2d, strict=True):
            ax.plot(seg[:, 0], seg[:, 1], "-", color=colour, lw=2)
        ax.scatter(xy[f, :, 0], xy[f, :, 1], s=8, color="k", zorder=3)
        ax.scatter(xy[f, weak[f], 0], xy[f, weak[f], 1], s=60, facecolors="none",
                   edgecolors="orange", zorder=4)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(hi[1], lo[1])  # image y points down
        ax.set_aspect("equal")
        ax.set_title(f"2D input, frame {f}", fontsize=9)
        ax.set_xlabel("x (px)", fontsize=7)
        ax.set_ylabel("y (px)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax3 = fig.add_subplot(grid[1, i], projection="3d")
        if show_ref is not None:
            for seg, (_, _, c) in zip(_segments(show_ref[f], bones3d), bones3d, strict=True):
                ax3.plot(seg[:, 0], seg[:, 1], seg[:, 2], "--", color=c, lw=1.5, alpha=0.45)
        for seg, (_, _, c) in zip(_segments(show[f], bones3d), bones3d, strict=True):
            ax3.plot(seg[:, 0], seg[:, 1], seg[:, 2], "-", color=c, lw=2)
        _axes3d(ax3, r, up)
        ax3.set_title(f"3D output, frame {f} (pelvis-centred)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    _legend(fig, ref is not None, bool(weak[chosen].any()))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _writer(path: Path, fps: float) -> Any:
    """A matplotlib animation writer for ``path``'s suffix (GIF: Pillow; MP4: ffmpeg)."""
    from matplotlib import animation, rcParams

    writers: Any = animation  # the stubs want an int fps, a float works (typed alike without them)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return writers.PillowWriter(fps=fps)
    if not animation.writers.is_available("ffmpeg"):
        try:
            imageio_ffmpeg = importlib.import_module("imageio_ffmpeg")  # optional, untyped
            rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):
            pass
    if not animation.writers.is_available("ffmpeg"):
        raise RuntimeError(f"{path}: writing {suffix} needs an ffmpeg binary (install ffmpeg, "
                           "or pip install imageio-ffmpeg); a .gif needs nothing more")
    return writers.FFMpegWriter(fps=fps, codec="libx264", extra_args=["-pix_fmt", "yuv420p"])


def render_lift(
    path: str | os.PathLike[str],
    keypoints2d: Array,
    poses3d: Array,
    *,
    skeleton: str = "coco",
    fps: float = 30.0,
    reference3d: Array | None = None,
    title: str | None = None,
    up: str = "-y",
    score_threshold: float = 0.3,
    dpi: int = 80,
) -> Path:
    """Write an animation of a lifted sequence: one frame per input frame (atomically).

    Each frame shows the 2D input (pixels, missing joints not drawn, weak ones circled), the
    3D skeleton pelvis-centred in a fixed cube with axes in metres (the reference dashed, if
    given) and, when the poses are absolute (their pelvis is not at the origin, e.g.
    ``lift_full(..., intrinsics=K, root="camera").poses``), the pelvis trajectory seen from
    above with the current position; the title line gives the frame number and time.

    Args:
        path: ``.gif`` (Pillow, installed with matplotlib) or ``.mp4`` (needs an ffmpeg
            binary on the PATH or ``pip install imageio-ffmpeg``). Its directory must exist;
            nothing is left behind on failure.
        keypoints2d: ``(T, J, 2|3)`` pixels in ``skeleton`` order (see :func:`plot_lift`).
        poses3d: ``(T, 17, 3)`` H36M-17 metres, root-relative or absolute.
        skeleton: the 2D layout.
        fps: frames per second of the animation (the input's frame rate).
        reference3d: optional ``(T, 17, 3)`` ground truth, dashed.
        title: text above the panels.
        up: the vertical axis of ``poses3d`` (``"-y"`` camera coordinates, ``"y"``, ``"z"``).
        score_threshold: scores below it are circled as weak.
        dpi: resolution (the figure is 10 x 3.6 inches, or 13.5 x 3.6 with the trajectory).

    Returns:
        The path written.

    Raises:
        ImportError: matplotlib is not installed (``pip install "poselift[viz]"``).
        ValueError: bad shapes, suffix, ``fps`` or ``up``.
        RuntimeError: ``.mp4`` without an ffmpeg binary.
        FileNotFoundError: the output directory does not exist.
    """
    dest = Path(path)
    if dest.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"path: expected a .gif or .mp4 file name, got {str(dest)!r}")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not (
            np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps: expected a positive number, got {fps!r}")
    check_choice(up, "up", tuple(_DISPLAY))
    kp, p3, ref = _check(keypoints2d, poses3d, skeleton, reference3d)
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{dest}: the output directory {str(parent)!r} does not exist")
    plt = _matplotlib()
    writer = _writer(dest, float(fps))
    t = kp.shape[0]
    bones2d, bones3d = _bones(skeleton), _bones("h36m")
    xy, weak = _keypoints(kp, score_threshold)
    lo, hi = _square(xy)
    pelvis = _display(p3[:, _PELVIS], up)
    absolute = bool(np.nanmax(np.abs(pelvis), initial=0.0) > 1e-6)
    show = _display(p3, up) - pelvis[:, None]
    show_ref = None if ref is None else _display(ref - ref[:, _PELVIS:_PELVIS + 1], up)
    r = _radius(show if show_ref is None else np.concatenate([show, show_ref]))

    panels = 3 if absolute else 2
    fig = plt.figure(figsize=(4.5 * panels, 3.9))
    ax2 = fig.add_subplot(1, panels, 1)
    ax2.set_xlim(lo[0], hi[0])
    ax2.set_ylim(hi[1], lo[1])
    ax2.set_aspect("equal")
    ax2.set_xlabel("x (px)", fontsize=7)
    ax2.set_ylabel("y (px)", fontsize=7)
    ax2.tick_params(labelsize=6)
    ax2.set_title("2D input (pixels)", fontsize=9)
    lines2 = [ax2.plot([], [], "-", color=c, lw=2)[0] for _, _, c in bones2d]
    dots = ax2.plot([], [], "o", color="k", ms=3, zorder=3)[0]
    rings = ax2.plot([], [], "o", mfc="none", mec="orange", ms=9, zorder=4)[0]
    ax3 = fig.add_subplot(1, panels, 2, projection="3d")
    _axes3d(ax3, r, up)
    ax3.set_title("3D output (metres, pelvis-centred)", fontsize=9)
    lines_ref = ([] if show_ref is None else
                 [ax3.plot([], [], [], "--", color=c, lw=1.5, alpha=0.45)[0]
                  for _, _, c in bones3d])
    lines3 = [ax3.plot([], [], [], "-", color=c, lw=2)[0] for _, _, c in bones3d]
    walked = here = None
    if absolute:
        axt = fig.add_subplot(1, panels, 3)
        path_xy = pelvis[:, :2]
        plo, phi = _square(path_xy)
        axt.plot(path_xy[:, 0], path_xy[:, 1], "-", color="#bbbbbb", lw=1)
        walked = axt.plot([], [], "-", color="k", lw=1.5)[0]
        here = axt.plot([], [], "o", color=_RIGHT, ms=6)[0]
        axt.set_xlim(plo[0], phi[0])
        axt.set_ylim(plo[1], phi[1])
        axt.set_aspect("equal")
        xl, yl, _ = _LABELS[up]
        axt.set_xlabel(xl, fontsize=7)
        axt.set_ylabel(yl, fontsize=7)
        axt.tick_params(labelsize=6)
        axt.set_title("pelvis trajectory, from above", fontsize=9)
    header = fig.suptitle("", fontsize=9)
    _legend(fig, ref is not None, bool(weak.any()))
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))

    def draw(f: int) -> None:
        for line, seg in zip(lines2, _segments(xy[f], bones2d), strict=True):
            line.set_data(seg[:, 0], seg[:, 1])
        dots.set_data(xy[f, :, 0], xy[f, :, 1])
        rings.set_data(xy[f, weak[f], 0], xy[f, weak[f], 1])
        for line, seg in zip(lines3, _segments(show[f], bones3d), strict=True):
            line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])
        if show_ref is not None:
            for line, seg in zip(lines_ref, _segments(show_ref[f], bones3d), strict=True):
                line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])
        if walked is not None and here is not None:
            walked.set_data(pelvis[: f + 1, 0], pelvis[: f + 1, 1])
            here.set_data(pelvis[f : f + 1, 0], pelvis[f : f + 1, 1])
        header.set_text(f"{title + ': ' if title else ''}frame {f + 1}/{t}, "
                        f"{f / fps:.2f} s")

    def write(out: IO[bytes]) -> None:
        # one draw per frame (FuncAnimation.save would draw each frame three times)
        with tempfile.TemporaryDirectory(prefix="poselift-render-") as tmp:
            target = Path(tmp) / f"render{dest.suffix.lower()}"
            with writer.saving(fig, str(target), dpi):
                for f in range(t):
                    draw(f)
                    writer.grab_frame()
            with target.open("rb") as src:
                shutil.copyfileobj(src, out)

    try:
        atomic_write(dest, write)
    finally:
        plt.close(fig)
    return dest
