"""``poselift demo``: lift the bundled sample sequence with the shipped weights.

The sample (``poselift/assets/demo_bow.npz``, made by ``tools/make_demo_sample.py``) is a
held-out clip of the Bandai mocap (CC BY-NC 4.0): an elderly-style bow, 172 frames at 30 fps,
as COCO-17 keypoints in pixels with detector-like noise and scores (the left wrist "occluded"
with score 0.05 in frames 60-89), plus the mocap's own 3D joints to compare against.

Examples:
    >>> sample = load_demo_sample()
    >>> sample["keypoints2d"].shape, sample["poses3d"].shape
    ((172, 17, 3), (172, 17, 3))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from poselift._files import atomic_write

__all__ = ["DEMO_SAMPLE", "load_demo_sample", "run_demo"]

DEMO_SAMPLE = Path(__file__).resolve().parent / "assets" / "demo_bow.npz"
"""The bundled sample sequence."""


def load_demo_sample(path: str | Path = DEMO_SAMPLE) -> dict[str, Any]:
    """The sample's arrays.

    ``keypoints2d`` COCO ``(T, 17, 3)`` px + score, ``keypoints2d_h36m``, ``poses3d``,
    ``image_size``, ``fps``, ``clip``, ``licence``...
    """
    with np.load(path, allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


def _mpjpe_mm(pred: np.ndarray[Any, Any], gt: np.ndarray[Any, Any]) -> float:
    return float(np.linalg.norm(pred - gt, axis=-1).mean() * 1000)


def run_demo(
    output: str | Path | None = "poselift-demo.npz",
    png: str | Path | None = "poselift-demo.png",
    *,
    temporal_model: str = "default",
    single_frame_model: str = "default",
    device: str | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Lift the sample with the temporal and the single-frame model, report, save, plot.

    Args:
        output: ``.npz`` file to write (``poses3d`` temporal, ``poses3d_single``, the input
            and the mocap ``reference3d``), atomically, or None. It must end in ``.npz`` (the
            name is used as given) and its directory must exist.
        png: PNG of the 2D input beside the 3D output (needs matplotlib), or None.
        temporal_model: ``"default"`` (the shipped ``sr_tcn.coco``), a weights name or a
            checkpoint path of a temporal COCO-input model.
        single_frame_model: likewise for the single-frame model (default ``sr.coco``).
        device: torch device.
        echo: where the summary lines go.

    Returns:
        A summary: frames, models, seconds, frames/s and MPJPE against the mocap (mm),
        overall and on the frames with the occluded wrist.

    Raises:
        ValueError: ``output`` does not end in ``.npz`` or is a directory.
        FileNotFoundError: the directory of ``output`` or ``png`` does not exist.
    """
    from poselift.inference import DEFAULT_WEIGHTS, Lifter

    for target, suffix, what in ((output, ".npz", "output"), (png, None, "png")):
        if target is None:
            continue
        t = Path(target)
        if t.is_dir():
            raise ValueError(f"{what}: {str(t)!r} is a directory; expected a file name")
        if suffix is not None and t.suffix.lower() != suffix:
            raise ValueError(f"{what}: expected a {suffix} file name, got {str(t)!r}")
        if not t.parent.is_dir():
            raise FileNotFoundError(f"{what}: the directory {str(t.parent)!r} of {str(t)!r} "
                                    "does not exist")

    sample = load_demo_sample()
    kp = np.asarray(sample["keypoints2d"], np.float32)
    gt = np.asarray(sample["poses3d"], np.float32)
    t = kp.shape[0]
    echo(f"poselift demo: {t} frames of COCO-17 keypoints ({sample['clip']}, camera "
         f"{sample['camera']}, {float(sample['fps']):.0f} fps; held-out mocap, "
         f"{sample['licence']})")
    occluded = kp[..., 2] < 0.3
    echo(f"  {int(occluded.sum())} joint detections have score < 0.3 (treated as missing)")
    summary: dict[str, Any] = {"frames": t}
    results: dict[str, np.ndarray[Any, Any]] = {}
    for kind, temporal, chosen in (("temporal", True, temporal_model),
                                   ("single-frame", False, single_frame_model)):
        name = chosen if chosen != "default" else DEFAULT_WEIGHTS[("coco", temporal)]
        lifter = Lifter(name, device=device)
        lifter.lift(kp[:2], skeleton="coco", temporal=temporal)  # load + warm up
        start = time.perf_counter()
        pred = np.asarray(lifter.lift(kp, skeleton="coco", temporal=temporal))
        seconds = time.perf_counter() - start
        results[kind] = pred
        err = _mpjpe_mm(pred, gt)
        err_occ = _mpjpe_mm(pred[occluded.any(-1)], gt[occluded.any(-1)])
        summary[kind] = {"model": str(name), "seconds": seconds, "frames_per_s": t / seconds,
                         "mpjpe_mm": err, "mpjpe_occluded_frames_mm": err_occ}
        echo(f"  {kind:<12} {name!s:<12} {t} poses in {seconds * 1000:.0f} ms "
             f"({t / seconds:,.0f} frames/s); MPJPE vs mocap {err:.1f} mm "
             f"({err_occ:.1f} mm on the occluded-wrist frames)")
    pred = results["temporal"]
    height = float(np.linalg.norm(pred[:, 10] - (pred[:, 3] + pred[:, 6]) / 2, axis=-1).max())
    echo(f"  output: (T, 17, 3) H36M-17 joints, metres, camera coordinates, pelvis at the "
         f"origin; head-top to mid-ankle up to {height:.2f} m")
    if output is not None:
        out = Path(output)
        arrays: dict[str, Any] = {"poses3d": pred, "poses3d_single": results["single-frame"],
                  "keypoints2d": kp, "reference3d": gt}

        def write(f: IO[bytes]) -> None:  # a file object: numpy appends no suffix
            np.savez_compressed(f, **arrays)

        atomic_write(out, write)
        summary["output"] = str(out)
        echo(f"wrote {out}")
    if png is not None:
        try:
            from poselift.viz import plot_lift

            plot_lift(kp, pred, skeleton="coco", reference3d=gt, path=png,
                      frames=[0, 50, 75, 110, 171],
                      title=f"poselift demo: {sample['clip']} (temporal model), dashed: mocap")
        except ImportError as e:
            echo(f"no PNG: {e}")
        else:
            summary["png"] = str(png)
            echo(f"wrote {png}")
    return summary
