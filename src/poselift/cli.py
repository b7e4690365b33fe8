"""The ``poselift`` command line (also ``python -m poselift``).

Subcommands:

- ``lift INPUT -o OUTPUT``: lift 2D keypoints (pixels) to 3D H36M-17 poses (metres, camera
  coordinates, pelvis at the origin) with :func:`poselift.lift`. INPUT is ``.npy`` (an
  array ``(J, 2|3)``, ``(T, J, 2|3)`` or ``(N, T, J, 2|3)``), ``.npz`` (key ``keypoints2d``
  or its only array; optional ``scores``) or ``.json`` (``{"keypoints2d": [...],
  "scores": [...]}`` or a COCO keypoint result file: a list of ``{"image_id",
  "keypoints": [x, y, v] * 17, "score"[, "track_id"]}``). OUTPUT is ``.npy``, ``.npz`` or
  ``.json``, written atomically (nothing is left behind on failure).
- ``models``: list the model zoo and the shipped pretrained weights.
- ``demo``: lift the bundled sample sequence (a held-out mocap clip as COCO keypoints), print
  a summary, write ``poselift-demo.npz`` and, with matplotlib (``poselift[viz]``), a PNG of
  the 2D input beside the 3D output.

COCO result files: entries with a ``track_id`` form one sequence per track, ordered by
``image_id`` (lifted with the temporal model); without ``track_id`` there must be one person
per ``image_id`` and the images are lifted independently (single-frame model). ``v`` is used
as the joint's score (0 = not detected).

Errors are printed as one line ``poselift: error: ...`` with exit code 2 (bad usage) or 1
(bad input or a failure while lifting).

Examples:
    >>> main(["models"])  # doctest: +ELLIPSIS
    models:
    ...
    0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["main"]

_EXIT_INPUT = 1
_SUFFIXES = (".npy", ".npz", ".json")


class CLIError(Exception):
    """An error shown to the user as one line."""


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


class _Input:
    """Keypoint arrays to lift and how to label the results."""

    def __init__(self, arrays: list[np.ndarray[Any, Any]], *, independent: bool,
                 coco: list[dict[str, Any]] | None = None,
                 scores: np.ndarray[Any, Any] | None = None) -> None:
        self.arrays = arrays  # one array, or one (T, 17, 3) per COCO track / (N, 17, 3)
        self.independent = independent
        self.coco = coco  # per array: {"image_id": [...], "track_id": ... or None}
        self.scores = scores


def _array(value: Any, where: str) -> np.ndarray[Any, Any]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise CLIError(f"{where}: expected a numeric array ({e})") from None
    return arr


def _read_coco(entries: list[Any], path: Path) -> _Input:
    rows: list[tuple[Any, Any, np.ndarray[Any, Any]]] = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "image_id" not in e or "keypoints" not in e:
            raise CLIError(f"{path}: entry {i}: expected a COCO keypoint result "
                           "{'image_id', 'keypoints': [x, y, v] * 17, 'score'}")
        kp = _array(e["keypoints"], f"{path}: entry {i}: keypoints")
        if kp.shape != (51,):
            raise CLIError(f"{path}: entry {i}: keypoints: expected 51 numbers "
                           f"([x, y, v] * 17), got shape {kp.shape}")
        rows.append((e["image_id"], e.get("track_id"), kp.reshape(17, 3)))
    if not rows:
        raise CLIError(f"{path}: no detections in the file")
    tracked = [r[1] is not None for r in rows]
    if any(tracked) and not all(tracked):
        raise CLIError(f"{path}: some entries have a track_id and some do not")

    def key(v: Any) -> tuple[int, Any]:
        return (0, v) if isinstance(v, int | float) else (1, str(v))

    if all(tracked):
        tracks: dict[Any, list[tuple[Any, np.ndarray[Any, Any]]]] = {}
        for image_id, track, kp in rows:
            tracks.setdefault(track, []).append((image_id, kp))
        arrays, labels = [], []
        for track in sorted(tracks, key=key):
            items = sorted(tracks[track], key=lambda r: key(r[0]))
            ids = [r[0] for r in items]
            if len(set(map(str, ids))) != len(ids):
                raise CLIError(f"{path}: track {track!r} has several detections in one image")
            arrays.append(np.stack([r[1] for r in items]))
            labels.append({"image_id": ids, "track_id": track})
        return _Input(arrays, independent=False, coco=labels)
    seen: set[str] = set()
    for image_id, _, _ in rows:
        if str(image_id) in seen:
            raise CLIError(f"{path}: image_id {image_id!r} has several people; add a track_id "
                           "to every entry (one sequence per track)")
        seen.add(str(image_id))
    rows.sort(key=lambda r: key(r[0]))
    return _Input([np.stack([r[2] for r in rows])], independent=True,
                  coco=[{"image_id": [r[0] for r in rows], "track_id": None}])


def _read(path: Path) -> _Input:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise CLIError(f"{path}: unsupported input type {suffix!r}; expected .npy, .npz or .json")
    if not path.is_file():
        raise CLIError(f"{path}: no such file")
    try:
        if suffix == ".npy":
            return _Input([_array(np.load(path, allow_pickle=False), str(path))],
                          independent=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if "keypoints2d" in names:
                    kp = z["keypoints2d"]
                elif len(names) == 1:
                    kp = z[names[0]]
                else:
                    raise CLIError(f"{path}: expected an array named 'keypoints2d' (or a single "
                                   f"array), found {names}")
                scores = z["scores"] if "scores" in names else None
            return _Input([_array(kp, str(path))], independent=False,
                          scores=None if scores is None else _array(scores, f"{path}: scores"))
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except CLIError:
        raise
    except json.JSONDecodeError as e:
        raise CLIError(f"{path}: not valid JSON ({e})") from None
    except (OSError, ValueError, EOFError) as e:
        raise CLIError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    if isinstance(data, list):
        return _read_coco(data, path)
    if isinstance(data, dict) and "keypoints2d" in data:
        scores = data.get("scores")
        return _Input([_array(data["keypoints2d"], f"{path}: keypoints2d")], independent=False,
                      scores=None if scores is None else _array(scores, f"{path}: scores"))
    raise CLIError(f"{path}: expected a COCO keypoint result list or an object with "
                   "'keypoints2d'")


# ---------------------------------------------------------------------------------------------
# writing (atomic)
# ---------------------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CLIError(f"{path}: output directory {str(directory)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(path: Path, poses: list[np.ndarray[Any, Any]], inp: _Input) -> None:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if len(poses) != 1:
            raise CLIError(f"{path}: {len(poses)} tracks of different lengths cannot be one "
                           ".npy array; write .npz or .json")
        _atomic_write(path, lambda f: np.save(f, poses[0], allow_pickle=False))
        return
    if suffix == ".npz":
        arrays: dict[str, Any] = {}
        if inp.coco is None:
            arrays["poses3d"] = poses[0]
        elif inp.coco[0]["track_id"] is None:
            arrays["poses3d"] = poses[0]
            arrays["image_id"] = np.asarray(inp.coco[0]["image_id"])
        else:
            for i, (p, lab) in enumerate(zip(poses, inp.coco, strict=True)):
                arrays[f"poses3d_{i}"] = p
                arrays[f"image_id_{i}"] = np.asarray(lab["image_id"])
                arrays[f"track_id_{i}"] = np.asarray(lab["track_id"])
        _atomic_write(path, lambda f: np.savez(f, **arrays))
        return
    units = {"units": "metres", "skeleton": "h36m",
             "coordinates": "camera (x right, y down, z forward), pelvis at the origin"}
    doc: Any
    if inp.coco is None:
        doc = {**units, "poses3d": np.round(poses[0], 6).tolist()}
    else:
        results = []
        for p, lab in zip(poses, inp.coco, strict=True):
            for image_id, pose in zip(lab["image_id"], p, strict=True):
                item: dict[str, Any] = {"image_id": image_id}
                if lab["track_id"] is not None:
                    item["track_id"] = lab["track_id"]
                item["keypoints3d"] = np.round(pose, 6).tolist()
                results.append(item)
        doc = {**units, "results": results}
    payload = json.dumps(doc).encode("utf-8")

    def dump(f: IO[bytes]) -> None:
        f.write(payload)

    _atomic_write(path, dump)


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def _cmd_lift(args: argparse.Namespace) -> int:
    from poselift.inference import Lifter

    src, dst = Path(args.input), Path(args.output)
    if dst.suffix.lower() not in _SUFFIXES:
        raise CLIError(f"{dst}: unsupported output type {dst.suffix!r}; expected .npy, .npz "
                       "or .json")
    out_dir = dst.parent if str(dst.parent) else Path(".")
    if not out_dir.is_dir():
        raise CLIError(f"{dst}: output directory {str(out_dir)!r} does not exist")
    inp = _read(src)
    lifter = Lifter(args.model, device=args.device, batch_size=args.batch_size,
                    score_threshold=args.score_threshold, flip_test=args.flip_test,
                    progress={"auto": None, "on": True, "off": False}[args.progress])
    image_size = (int(args.image_size[0]), int(args.image_size[1])) if args.image_size else None
    temporal = False if (args.independent or inp.independent) else None
    poses = []
    for arr in inp.arrays:
        out = lifter.lift(arr, skeleton=args.skeleton, image_size=image_size,
                          scores=inp.scores, temporal=temporal)
        poses.append(np.asarray(out, dtype=np.float32))
    _write(dst, poses, inp)
    frames = sum(int(np.prod(p.shape[:-2])) for p in poses)
    print(f"lifted {frames} pose(s) from {src} -> {dst}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from poselift.demo import run_demo

    for target in (args.output, args.png):
        if target is not None:
            parent = Path(target).parent
            if str(parent) and not parent.is_dir():
                raise CLIError(f"{target}: output directory {str(parent)!r} does not exist")
    run_demo(args.output, None if args.no_png else args.png, temporal_model=args.model,
             single_frame_model=args.single_frame_model, device=args.device)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from poselift.models import get_model_entry, get_weights, list_models, list_weights

    print("models:")
    for name in list_models():
        e = get_model_entry(name)
        kind = "temporal" if e.temporal else "single-frame"
        print(f"  {name:<8} {kind:<13} {e.summary}")
    weights = list_weights()
    print("pretrained weights:")
    if not weights:
        print("  none shipped in this version (poselift.lift(model='default') is unavailable)")
    for w in weights:
        meta = get_weights(w).meta
        print(f"  {w:<16} {meta.get('summary', '')}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="poselift",
                                description="Lift 2D human keypoints to metric 3D poses.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lf = sub.add_parser("lift", help="lift a keypoint file (.npy, .npz, .json / COCO results)")
    lf.add_argument("input", metavar="INPUT", help="keypoints in pixels: .npy, .npz or .json")
    lf.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                    help="where to write the 3D poses: .npy, .npz or .json")
    lf.add_argument("--skeleton", default="coco", choices=("coco", "h36m"),
                    help="joint order of the input (default: coco)")
    lf.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"),
                    help="image size in pixels (default: normalize from the bounding box)")
    lf.add_argument("--model", default="default",
                    help="'default', a weights name or a checkpoint path")
    lf.add_argument("--device", default=None, help="torch device (default: cpu)")
    lf.add_argument("--batch-size", type=int, default=4096)
    lf.add_argument("--score-threshold", type=float, default=0.3)
    lf.add_argument("--flip-test", action="store_true",
                    help="average with the mirrored input (about 3x slower, slightly better)")
    lf.add_argument("--independent", action="store_true",
                    help="lift the frames of a sequence independently (single-frame model)")
    lf.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                    help="progress bar on stderr (auto: for inputs of 20,000 frames or more)")
    lf.set_defaults(func=_cmd_lift)
    dm = sub.add_parser("demo", help="lift the bundled sample sequence and show the result")
    dm.add_argument("-o", "--output", default="poselift-demo.npz", metavar="NPZ",
                    help="where to write the 3D poses (default: poselift-demo.npz)")
    dm.add_argument("--png", default="poselift-demo.png",
                    help="where to write the plot (default: poselift-demo.png; needs matplotlib)")
    dm.add_argument("--no-png", action="store_true", help="do not plot")
    dm.add_argument("--model", default="default",
                    help="temporal model: 'default' (sr_tcn.coco), a weights name or a path")
    dm.add_argument("--single-frame-model", default="default",
                    help="single-frame model: 'default' (sr.coco), a weights name or a path")
    dm.add_argument("--device", default=None, help="torch device (default: cpu)")
    dm.set_defaults(func=_cmd_demo)
    md = sub.add_parser("models", help="list the model zoo and the shipped weights")
    md.set_defaults(func=_cmd_models)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Examples:
        >>> main(["lift", "missing.npy", "-o", "out.npy"])
        1
    """
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except BrokenPipeError:  # e.g. `poselift models | head -1`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except CLIError as e:
        msg = str(e)
    except (ValueError, TypeError, LookupError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    print(f"poselift: error: {msg}", file=sys.stderr)
    return _EXIT_INPUT
