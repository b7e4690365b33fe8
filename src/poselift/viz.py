"""Plots of lifted poses: the 2D input beside the 3D output (needs ``pip install poselift[viz]``).

Examples:
    >>> import numpy as np
    >>> kp = np.random.default_rng(0).uniform(300, 700, (5, 17, 2))
    >>> fig = plot_lift(kp, np.zeros((5, 17, 3)), skeleton="coco")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from poselift._validation import Array, check_array, check_shape, to_numpy
from poselift.skeletons import get_skeleton

__all__ = ["plot_lift"]

_LEFT, _RIGHT, _MID = "#1f77b4", "#d62728", "#444444"


def _matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'poselift[viz]'") from None
    return plt


def _bone_colour(names: tuple[str, ...], j: int) -> str:
    name = names[j]
    return _LEFT if name.startswith("left_") else _RIGHT if name.startswith("right_") else _MID


def _draw(ax: Any, pts: np.ndarray[Any, Any], skeleton: str, *, three_d: bool,
          style: str = "-", alpha: float = 1.0) -> None:
    sk = get_skeleton(skeleton)
    for j, p in enumerate(sk.parents):
        if p < 0:
            continue
        seg = pts[[p, j]]
        if not np.isfinite(seg).all():
            continue
        colour = _bone_colour(sk.joints, j)
        if three_d:
            # camera coordinates (x right, y down, z forward) shown with z as depth, y up
            ax.plot(seg[:, 0], seg[:, 2], -seg[:, 1], style, color=colour, lw=2, alpha=alpha)
        else:
            ax.plot(seg[:, 0], seg[:, 1], style, color=colour, lw=2, alpha=alpha)


def plot_lift(
    keypoints2d: Array,
    poses3d: Array,
    *,
    skeleton: str = "coco",
    frames: Sequence[int] | None = None,
    reference3d: Array | None = None,
    path: str | Path | None = None,
    title: str | None = None,
) -> Any:
    """Figure with, for each chosen frame, the 2D input (top) and the lifted 3D pose (bottom).

    Args:
        keypoints2d: ``(T, J, 2|3)`` pixels in ``skeleton`` order (a third score channel is
            ignored; NaN joints are not drawn), or ``(J, 2|3)``.
        poses3d: ``(T, 17, 3)`` (or ``(17, 3)``) H36M-17 metres, camera coordinates.
        skeleton: the 2D skeleton (``"coco"``, ``"h36m"``, ...).
        frames: frame indices to show (default: 4 evenly spaced frames).
        reference3d: optional ground truth ``(T, 17, 3)``, drawn dashed in grey.
        path: write the figure to this file (PNG, PDF, ... by suffix).
        title: figure title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: matplotlib is not installed (``pip install 'poselift[viz]'``).
        ValueError: shapes that do not match.
    """
    kp = to_numpy(check_array(keypoints2d, "keypoints2d")).astype(np.float64)
    p3 = to_numpy(check_array(poses3d, "poses3d")).astype(np.float64)
    sk = get_skeleton(skeleton)
    if kp.ndim == 2:
        kp, p3 = kp[None], p3[None]
        if reference3d is not None:
            reference3d = to_numpy(check_array(reference3d, "reference3d"))[None]
    check_shape(kp, "keypoints2d", "(T, J, C)", J=sk.num_joints)
    check_shape(p3, "poses3d", "(T, J, 3)", J=17)
    if kp.shape[0] != p3.shape[0]:
        raise ValueError(f"poses3d: expected {kp.shape[0]} frames like keypoints2d, got "
                         f"{p3.shape[0]}")
    ref = None
    if reference3d is not None:
        ref = to_numpy(check_array(reference3d, "reference3d")).astype(np.float64)
        if ref.shape != p3.shape:
            raise ValueError(f"reference3d: expected shape {p3.shape}, got {ref.shape}")
    t = kp.shape[0]
    chosen = (list(np.linspace(0, t - 1, min(4, t)).round().astype(int)) if frames is None
              else [int(f) for f in frames])
    for f in chosen:
        if not 0 <= f < t:
            raise ValueError(f"frames: index {f} out of range for {t} frames")
    plt = _matplotlib()
    n = len(chosen)
    fig = plt.figure(figsize=(3.0 * n, 6.6))
    grid = fig.add_gridspec(2, n, height_ratios=(1.0, 1.25))
    xy = kp[..., :2]
    lo, hi = np.nanmin(xy[chosen], axis=(0, 1)), np.nanmax(xy[chosen], axis=(0, 1))
    half = 0.55 * float((hi - lo).max())  # a square view around all chosen frames
    mid = (lo + hi) / 2
    lo, hi = mid - half, mid + half
    for i, f in enumerate(chosen):
        ax = fig.add_subplot(grid[0, i])
        _draw(ax, xy[f], sk.name, three_d=False)
        ax.scatter(xy[f, :, 0], xy[f, :, 1], s=8, color="k", zorder=3)
        if kp.shape[-1] == 3:
            weak = kp[f, :, 2] < 0.3
            ax.scatter(xy[f, weak, 0], xy[f, weak, 1], s=60, facecolors="none",
                       edgecolors="orange", zorder=4, label="score < 0.3")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(hi[1], lo[1])  # image y points down
        ax.set_aspect("equal")
        ax.set_title(f"2D input, frame {f}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax3 = fig.add_subplot(grid[1, i], projection="3d")
        if ref is not None:
            _draw(ax3, ref[f], "h36m", three_d=True, style="--", alpha=0.5)
        _draw(ax3, p3[f], "h36m", three_d=True)
        r = 0.9
        ax3.set_xlim(-r, r)
        ax3.set_ylim(-r, r)
        ax3.set_zlim(-r, r)
        ax3.view_init(elev=20, azim=-35)  # turned from the camera view: depth is visible
        ax3.set_title("3D output (m)" + (", dashed: mocap" if ref is not None else ""),
                      fontsize=9)
        ax3.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
