"""The ``poselift`` command line (also ``python -m poselift``).

Subcommands:

- ``lift INPUT -o OUTPUT``: lift 2D keypoints (pixels) to 3D H36M-17 poses (metres, camera
  coordinates, pelvis at the origin) with :func:`poselift.lift`. INPUT is ``.npy`` (an
  array ``(J, 2|3)``, ``(T, J, 2|3)`` or ``(N, T, J, 2|3)``), ``.npz`` (key ``keypoints2d``
  or its only array; optional ``scores``) or ``.json`` (``{"keypoints2d": [...],
  "scores": [...]}`` or a COCO keypoint result file: a list of ``{"image_id",
  "keypoints": [x, y, v] * 17, "score"[, "track_id"]}``). OUTPUT is ``.npy`` (the poses),
  ``.npz`` or ``.json`` (the poses and the metadata: units, coordinates, ``root``,
  ``model`` and the ``weights`` it resolved to, ``height`` and ``fps`` when used). With the
  absolute-3D flags (``--intrinsics``, ``--height``, ...) the whole
  :class:`~poselift.lift_result.LiftResult` is written per frame: ``scale``,
  ``trajectory``, ``solved``, ``reprojection_px`` (NaN/null where no joint was valid),
  ``occurrence``, ``rare``, ``group_occurrence``, ``rare_groups``; in ``.npz`` under these
  names (``<name>_<i>`` for track ``i``), in ``.json`` beside each result's
  ``keypoints3d`` (or as top-level arrays beside ``poses3d``).
  ``--bvh OUT.bvh`` also writes a BVH animation per sequence with *every* frame of the
  video, from the first to the last frame number of the input: a frame in which the
  track was not detected holds the lifted (interpolated) pose inside the track, the
  track's first pose before it appears and its last pose after it is lost.
  Outputs are all or nothing: every output path is checked (known extension, existing
  writable directory, not a directory) before anything is read or lifted, and all are
  written to temporary files that are renamed into place only when all are complete.
- ``models``: list the model zoo and the shipped pretrained weights.
- ``export WEIGHTS OUT.pt2|OUT.onnx``: the model with its normalization, pixels ``(B, 17, 3)``
  (x, y, score) in, metres out, as a ``torch.export`` archive or an ONNX model
  (:func:`poselift.export.export_model`; ONNX needs ``poselift[onnx]``).
- ``render INPUT -o OUT.gif|OUT.mp4`` (or ``render --demo``): lift one sequence and write an
  animation with one frame per input frame, the 2D input beside the 3D skeleton
  (:func:`poselift.viz.render_lift`; needs ``poselift[viz]``, MP4 also an ffmpeg binary).
- ``demo``: lift the bundled sample sequence (a held-out mocap clip as COCO keypoints), print
  a summary, write ``poselift-demo.npz`` and, with matplotlib (``poselift[viz]``), a PNG of
  the 2D input beside the 3D output (both paths checked first; on failure neither is left).

COCO result files: entries with a ``track_id`` form one sequence per track, ordered by
``image_id`` (lifted with the temporal model); without ``track_id`` there must be one person
per ``image_id`` and the images are lifted independently (single-frame model). ``v`` is used
as the joint's score (0 = not detected). ``image_id`` and ``track_id`` are integers or strings;
string ids are ordered naturally (``frame_8`` before ``frame_12``). The frame number of an
``image_id`` is the integer itself or the last number in the string (when all ids of a track
share the text around it); frames a track skips are lifted as missing (interpolated), and a
gap of more than :data:`SPLIT_GAP` frames splits the track into sequences lifted separately.

Detector outputs (:mod:`poselift.detections`): INPUT a folder of OpenPose per-frame JSON
files or MMPose per-image files, an MMPose prediction file, or (``--format alphapose``) an
AlphaPose result file, in the layout ``--skeleton`` names (e.g. ``body_25``). The people are
linked into tracks (:func:`poselift.detections.track`; ``--min-track-length``,
``--min-track-score``), each track is lifted as one sequence with the frames it was not
detected in as missing, and the output lists every detection: ``image_id`` = frame number,
``track_id`` = track.

Errors are printed as one line ``poselift: error: ...`` with exit code 2 (bad usage), 1 (bad
input or a failure while lifting) or 130 (interrupted, Ctrl-C); never a traceback.

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
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

import numpy as np

from poselift._files import atomic_write

__all__ = ["SPLIT_GAP", "main"]

_EXIT_INPUT = 1
_EXIT_INTERRUPTED = 130
_SUFFIXES = (".npy", ".npz", ".json")
SPLIT_GAP = 30
"""A COCO track that skips at most this many frames is lifted as one sequence (the skipped
frames as missing joints, interpolated); a longer gap splits it into separately lifted parts.
Detector output is tracked with the same limit (``track(..., max_unseen_frames=SPLIT_GAP)``):
a person unseen for longer starts a new track. (Formerly ``MAX_GAP``, deprecated.)"""
_DIGITS = re.compile(r"([0-9]+)")
_FRAME = re.compile(r"^(.*?)([0-9]+)([^0-9]*)$", re.DOTALL)
_INT64 = 2**63


def __getattr__(name: str) -> Any:
    """``MAX_GAP``: the deprecated old name of :data:`SPLIT_GAP` (a ``DeprecationWarning``)."""
    if name == "MAX_GAP":
        warnings.warn("poselift.cli.MAX_GAP is deprecated: use poselift.cli.SPLIT_GAP (the gap "
                      "that splits a track)", DeprecationWarning, stacklevel=2)
        return SPLIT_GAP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CLIError(Exception):
    """An error shown to the user as one line."""


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


class _Input:
    """Keypoint arrays to lift and how to label the results."""

    def __init__(self, arrays: list[np.ndarray[Any, Any]], *, independent: bool,
                 coco: list[dict[str, Any]] | None = None,
                 scores: np.ndarray[Any, Any] | None = None,
                 clip: tuple[int, int] | None = None) -> None:
        self.arrays = arrays  # one array, or one (T, 17, 3) per COCO track / (N, 17, 3)
        self.independent = independent
        self.coco = coco  # per array: {"image_id": [...], "track_id": ... or None}
        self.scores = scores
        self.clip = clip  # first and last frame number of the video (tracks), or None


def _array(value: Any, where: str, *, allow_bool: bool = False) -> np.ndarray[Any, Any]:
    """``value`` as float64, if it holds real numbers (bools too for scores) and nothing else."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        raise CLIError(f"{where}: expected a numeric array ({e})") from None
    if arr.dtype.kind not in ("fiub" if allow_bool else "fiu"):
        hint = (" (strings, null, ragged lists or integers too large for a float?)"
                if arr.dtype.kind in "OUS" else "")
        raise CLIError(f"{where}: expected real numbers, got dtype {arr.dtype}{hint}")
    with np.errstate(over="ignore"):
        return arr.astype(np.float64)


def _check_id(value: Any, where: str) -> int | str:
    """An ``image_id``/``track_id``: an int64 or a string (JSON numbers, strings)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)
                                  and -_INT64 <= value < _INT64):
        return value
    raise CLIError(f"{where}: expected an integer (int64) or a string, got "
                   f"{type(value).__name__} {str(value)[:40]}")


def _order_key(value: int | str) -> tuple[Any, ...]:
    """Natural order: integers by value, then strings with their digit runs as numbers."""
    if isinstance(value, int):
        return (0, value)
    parts = _DIGITS.split(value)  # text, digits, text, ...: the kinds align between keys
    return (1, tuple(int(p) if i % 2 else p for i, p in enumerate(parts)))


def _frame_numbers(ids: list[int | str]) -> list[int] | None:
    """Frame numbers of a track's ``image_id`` values, or None when they carry none."""
    if all(isinstance(v, int) for v in ids):
        return [int(v) for v in ids]
    found = [_FRAME.match(v) if isinstance(v, str) else None for v in ids]
    if all(found) and len({(m[1], m[3]) for m in found if m}) == 1:
        return [int(m[2]) for m in found if m]
    return None


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
        image_id = _check_id(e["image_id"], f"{path}: entry {i}: image_id")
        track = e.get("track_id")
        if track is not None:
            track = _check_id(track, f"{path}: entry {i}: track_id")
        rows.append((image_id, track, kp.reshape(17, 3)))
    if not rows:
        raise CLIError(f"{path}: no detections in the file")
    tracked = [r[1] is not None for r in rows]
    if any(tracked) and not all(tracked):
        raise CLIError(f"{path}: some entries have a track_id and some do not")

    key = _order_key
    if all(tracked):
        tracks: dict[Any, list[tuple[Any, np.ndarray[Any, Any]]]] = {}
        for image_id, track, kp in rows:
            tracks.setdefault(track, []).append((image_id, kp))
        arrays, labels = [], []
        for track in sorted(tracks, key=key):
            items = sorted(tracks[track], key=lambda r: key(r[0]))
            ids = [r[0] for r in items]
            frames = _frame_numbers(ids)
            if len(set(map(str, ids))) != len(ids) or (
                    frames is not None and len(set(frames)) != len(frames)):
                raise CLIError(f"{path}: track {track!r} has several detections in one image")
            arrays.append(np.stack([r[1] for r in items]))
            labels.append({"image_id": ids, "track_id": track, "frames": frames})
        numbered = [lab["frames"] for lab in labels]
        clip = None if any(f is None for f in numbered) else (
            min(f[0] for f in numbered), max(f[-1] for f in numbered))
        return _Input(arrays, independent=False, coco=labels, clip=clip)
    seen: set[str] = set()
    for image_id, _, _ in rows:
        if str(image_id) in seen:
            raise CLIError(f"{path}: image_id {image_id!r} has several people; add a track_id "
                           "to every entry (one sequence per track), or pass --format "
                           "alphapose to track them (image ids are then frame numbers)")
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
                          scores=None if scores is None else _array(scores, f"{path}: scores",
                                                                    allow_bool=True))
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except CLIError:
        raise
    except json.JSONDecodeError as e:
        raise CLIError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise CLIError(f"{path}: not readable: nested too deeply") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError,
            MemoryError) as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CLIError(f"{path}: unreadable ({type(e).__name__}"
                       f"{': ' + detail if detail else ''})") from None
    if isinstance(data, list):
        return _read_coco(data, path)
    if isinstance(data, dict) and "keypoints2d" in data:
        scores = data.get("scores")
        return _Input([_array(data["keypoints2d"], f"{path}: keypoints2d")], independent=False,
                      scores=None if scores is None else _array(scores, f"{path}: scores",
                                                                allow_bool=True))
    raise CLIError(f"{path}: expected a COCO keypoint result list or an object with "
                   "'keypoints2d'")


# ---------------------------------------------------------------------------------------------
# detector outputs (poselift.detections): read, track, one sequence per track
# ---------------------------------------------------------------------------------------------


def _is_detector_output(path: Path, fmt: str) -> bool:
    """Whether INPUT is read by :mod:`poselift.detections`.

    That is: a folder, a named ``--format``, or a JSON file recognised as OpenPose/MMPose
    output.
    """
    from poselift.detections import detect_format

    if fmt != "auto" or path.is_dir() or (not path.exists() and not path.suffix):
        return True  # (a missing folder: "no such file or folder")
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        return detect_format(path) is not None
    except (ValueError, RecursionError):  # unreadable: let the general reader say why
        return False


def _read_tracks(path: Path, args: argparse.Namespace) -> _Input:
    """Detections -> tracks (:func:`poselift.detections.track`) -> one array per track.

    Each array holds the track's detected frames; ``frames`` makes the lift insert the frames
    it was not detected in as missing (tracks never skip more than :data:`SPLIT_GAP` frames, so
    each is lifted as one sequence: exactly ``poselift.lift(track.keypoints)``).
    """
    from poselift.detections import read_detections, track

    if not path.exists():
        raise CLIError(f"{path}: no such file or folder")
    dets = read_detections(path, args.skeleton, format=args.format)
    tracks = track(dets, score_threshold=args.score_threshold, max_unseen_frames=SPLIT_GAP,
                   min_length=args.min_track_length, min_score=args.min_track_score)
    if not tracks:
        raise CLIError(f"{path}: no track of at least {args.min_track_length} detections with "
                       f"a mean score of at least {args.min_track_score} among {len(dets)} "
                       f"detection(s) in {dets.frames.size} frame(s); see --min-track-length "
                       "and --min-track-score")
    arrays, labels = [], []
    for t in tracks:
        frames = t.frames[t.detected].tolist()
        arrays.append(t.keypoints[t.detected])
        labels.append({"image_id": frames, "track_id": t.track_id, "frames": frames})
    covered = ", ".join(f"{t.track_id}: {t.num_detections}" for t in tracks[:8])
    print(f"{len(tracks)} track(s) in {dets.frames.size} frame(s) of {path} (detected frames "
          f"per track {covered}{', ...' if len(tracks) > 8 else ''})")
    return _Input(arrays, independent=False, coco=labels,
                  clip=(int(dets.frames[0]), int(dets.frames[-1])))


# ---------------------------------------------------------------------------------------------
# writing (atomic)
# ---------------------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` atomically (see :func:`poselift._files.atomic_write`), or ``CLIError``.

    A temporary file is renamed into place (nothing half-written is ever left), with the
    permissions of the file it replaces or, for a new file, ``0o666`` minus the umask.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CLIError(f"{path}: output directory {str(directory)!r} does not exist")
    if path.is_dir():
        raise CLIError(f"{path}: is a directory; expected an output file")
    atomic_write(path, write)


_FIELDS = ("poses3d", "scale", "trajectory", "solved", "reprojection_px", "occurrence",
           "rare", "group_occurrence", "rare_groups")
"""What the CLI writes per frame: the poses and, with the absolute-3D flags, the rest of the
:class:`poselift.lift_result.LiftResult` (the rarity flattened: ``occurrence``, ``rare``,
``group_occurrence``, ``rare_groups``)."""


def _result_fields(res: Any) -> dict[str, np.ndarray[Any, Any]]:
    """The per-frame arrays of a :class:`~poselift.lift_result.LiftResult` (numpy)."""
    out: dict[str, np.ndarray[Any, Any]] = {
        "poses3d": np.asarray(res.poses, dtype=np.float32),
        "scale": np.asarray(res.scale, dtype=np.float32)}
    if res.trajectory is not None:
        out["trajectory"] = np.asarray(res.trajectory, dtype=np.float32)
        out["solved"] = np.asarray(res.solved, dtype=bool)
        out["reprojection_px"] = np.asarray(res.reprojection_px, dtype=np.float32)
    if res.rarity is not None:
        out["occurrence"] = np.asarray(res.rarity.occurrence, dtype=np.float32)
        out["rare"] = np.asarray(res.rarity.rare, dtype=bool)
        out["group_occurrence"] = np.asarray(res.rarity.group_occurrence, dtype=np.float32)
        out["rare_groups"] = np.asarray(res.rarity.rare_groups, dtype=bool)
    return out


def _json_value(a: np.ndarray[Any, Any]) -> Any:
    """A JSON value: floats rounded to 6 decimals, NaN as null."""
    if a.dtype == bool:
        return a.tolist()
    r = np.round(a.astype(np.float64), 6)
    if np.isfinite(r).all():
        return r.tolist()
    obj = r.astype(object)
    obj[~np.isfinite(r)] = None
    return obj.tolist()


def _writer(path: Path, results: list[dict[str, np.ndarray[Any, Any]]], inp: _Input,
            meta: dict[str, Any]) -> Callable[[IO[bytes]], None]:
    """The function that writes the output ``path`` (.npy, .npz or .json); nothing written yet.

    ``results``: per input array, the per-frame fields (:data:`_FIELDS`, ``poses3d`` first).
    ``meta``: units, skeleton, coordinates, root, height, model, weights, fps (None: left out).
    """
    suffix = path.suffix.lower()
    info = {k: v for k, v in meta.items() if v is not None}
    if suffix == ".npy":
        if len(results) != 1:
            raise CLIError(f"{path}: the input holds {len(results)} tracks; a .npy file holds "
                           "one array: write .npz or .json (one set of arrays per track)")
        pose_array = results[0]["poses3d"]

        def save(f: IO[bytes]) -> None:
            np.save(f, pose_array, allow_pickle=False)

        return save
    if suffix == ".npz":
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in info.items()}
        if inp.coco is None or inp.coco[0]["track_id"] is None:
            arrays.update(results[0])
            if inp.coco is not None:
                arrays["image_id"] = np.asarray(inp.coco[0]["image_id"])
        else:
            for i, (res, lab) in enumerate(zip(results, inp.coco, strict=True)):
                arrays.update({f"{k}_{i}": v for k, v in res.items()})
                arrays[f"image_id_{i}"] = np.asarray(lab["image_id"])
                arrays[f"track_id_{i}"] = np.asarray(lab["track_id"])
        def savez(f: IO[bytes]) -> None:
            np.savez(f, **arrays)

        return savez
    doc: dict[str, Any] = dict(info)
    if inp.coco is None:
        for k, v in results[0].items():
            doc[k] = _json_value(v)
    else:
        items = []
        for res, lab in zip(results, inp.coco, strict=True):
            per = {("keypoints3d" if k == "poses3d" else k): _json_value(v)
                   for k, v in res.items()}
            for t, image_id in enumerate(lab["image_id"]):
                item: dict[str, Any] = {"image_id": image_id}
                if lab["track_id"] is not None:
                    item["track_id"] = lab["track_id"]
                item.update({k: v[t] for k, v in per.items()})
                items.append(item)
        doc["results"] = items
    return _bytes_writer(json.dumps(doc).encode("utf-8"))


def _bytes_writer(data: bytes) -> Callable[[IO[bytes]], None]:
    def write(f: IO[bytes]) -> None:
        f.write(data)

    return write


def _check_out(path: Path, what: str, suffixes: tuple[str, ...]) -> None:
    """A CLIError unless ``path`` has a known suffix and can be written (nothing written)."""
    from poselift._files import check_output

    try:
        check_output(path)
    except OSError as e:
        raise CLIError(f"{str(e).strip().splitlines()[0]} ({what})") from None
    if path.suffix.lower() not in suffixes:
        raise CLIError(f"{path}: unsupported {what} type {path.suffix!r}; expected "
                       f"{' or '.join(suffixes)}")


def _write_outputs(files: list[tuple[Path, Callable[[IO[bytes]], None]]]) -> None:
    """All outputs or none (:func:`poselift._files.write_all`); errors name the user's path."""
    from poselift._files import write_all

    names = [str(Path(os.path.abspath(p))) for p, _ in files]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise CLIError(f"{dup}: named twice as an output")
    try:
        write_all(files)
    except OSError as e:
        raise CLIError(str(e).strip().splitlines()[0]) from None


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def _cmd_lift(args: argparse.Namespace) -> int:
    from poselift.inference import DEFAULT_WEIGHTS, Lifter, default_model_skeleton
    from poselift.skeletons import get_skeleton

    src, dst = Path(args.input), Path(args.output)
    _check_out(dst, "output", _SUFFIXES)  # every output is checked before anything is read
    get_skeleton(args.skeleton)  # an unknown layout: one line listing the known ones
    absolute, height = _absolute_options(args)  # before reading: bad options fail fast
    inp = _read_tracks(src, args) if _is_detector_output(src, args.format) else _read(src)
    if args.bvh and inp.independent:
        raise CLIError(f"{args.bvh}: --bvh needs a sequence (a track), but the images of "
                       f"{src} have no track_id and are lifted independently")
    bvh_names = _bvh_names(Path(args.bvh), inp) if args.bvh else []
    for name in bvh_names:
        _check_out(name, "--bvh", (".bvh",))
    lifter = Lifter(args.model, device=args.device, batch_size=args.batch_size,
                    score_threshold=args.score_threshold, flip_test=args.flip_test,
                    progress={"auto": None, "on": True, "off": False}[args.progress],
                    fix_swaps=not args.no_fix_swaps)
    image_size = (int(args.image_size[0]), int(args.image_size[1])) if args.image_size else None
    temporal = False if (args.independent or inp.independent) else None

    def one(arr: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
        single = bool(absolute) and inp.independent and arr.ndim == 3  # unrelated images
        x = arr[:, None] if single else arr
        if absolute:
            res = _result_fields(lifter.lift_full(
                x, skeleton=args.skeleton, image_size=image_size, scores=inp.scores,
                temporal=temporal, **absolute))
        else:
            res = {"poses3d": np.asarray(lifter.lift(
                x, skeleton=args.skeleton, image_size=image_size, scores=inp.scores,
                temporal=temporal), dtype=np.float32)}
        return {k: v[:, 0] for k, v in res.items()} if single else res

    results, spans = [], []
    for i, arr in enumerate(inp.arrays):
        frames = inp.coco[i].get("frames") if inp.coco is not None and temporal is None else None
        res, span = _lift_track(one, arr, frames, inp.clip if args.bvh else None)
        results.append(res)
        spans.append(span)
    uses_temporal = temporal is None and any(a.ndim >= 3 for a in inp.arrays)
    weights = args.model
    if args.model == "default":
        weights = DEFAULT_WEIGHTS.get((default_model_skeleton(args.skeleton), uses_temporal),
                                      "default")
    meta = {"units": "metres", "skeleton": "h36m", "coordinates": _COORDINATES[args.root],
            "root": args.root, "height": height, "model": args.model,
            "weights": str(weights), "fps": args.fps if args.bvh else None}
    files = [(dst, _writer(dst, results, inp, meta))]
    if args.bvh:
        files += _bvh_writers(bvh_names, spans, args)
    _write_outputs(files)
    frames_out = sum(int(np.prod(r["poses3d"].shape[:-2])) for r in results)
    print(f"lifted {frames_out} pose(s) from {src} -> {dst}")
    if bvh_names:
        print(f"wrote {', '.join(str(n) for n in bvh_names)}")
    return 0


def _lift_track(lift: Callable[[np.ndarray[Any, Any]], dict[str, np.ndarray[Any, Any]]],
                kp: np.ndarray[Any, Any], frames: list[int] | None,
                clip: tuple[int, int] | None = None
                ) -> tuple[dict[str, np.ndarray[Any, Any]], np.ndarray[Any, Any]]:
    """Lift a ``(T, 17, 3)`` track whose rows are at ``frames`` (sorted; None: consecutive).

    Skipped frames are inserted as missing (NaN, score 0) so that the temporal model sees
    the true timing; gaps longer than :data:`SPLIT_GAP` frames split the track. Returns the
    fields (:data:`_FIELDS`) of each row of ``kp``, and the poses of every frame from the
    track's first to its last (for BVH: interpolated where it was not detected, the last
    pose held over a gap that split it), extended to ``clip`` (first and last frame of the
    video) by holding the first and the last pose.
    """
    if frames is None or len(frames) < 2:
        res = lift(kp)
        span = res["poses3d"]
        first = last = None if frames is None or not frames else frames[0]
    else:
        starts = [0] + [i for i in range(1, len(frames))
                        if frames[i] - frames[i - 1] > SPLIT_GAP + 1]
        parts: list[dict[str, np.ndarray[Any, Any]]] = []
        pieces: list[np.ndarray[Any, Any]] = []
        for a, b in zip(starts, [*starts[1:], len(frames)], strict=True):
            rows = [f - frames[a] for f in frames[a:b]]
            full = np.full((rows[-1] + 1, *kp.shape[1:]), np.nan)
            full[..., 2] = 0.0
            full[rows] = kp[a:b]
            out = lift(full)
            parts.append({k: v[rows] for k, v in out.items()})
            if pieces:  # a gap that split the track: hold the last pose
                held = frames[a] - frames[a - 1] - 1
                pieces.append(np.repeat(pieces[-1][-1:], held, axis=0))
            pieces.append(out["poses3d"])
        res = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        span = np.concatenate(pieces)
        first, last = frames[0], frames[-1]
    if clip is not None and first is not None and last is not None and span.ndim == 3:
        before, after = max(first - clip[0], 0), max(clip[1] - last, 0)
        span = np.concatenate([np.repeat(span[:1], before, 0), span,
                               np.repeat(span[-1:], after, 0)])
    return res, span


# ---------------------------------------------------------------------------------------------
# absolute 3D (docs/absolute.md): --intrinsics, --root, --height, --extrinsics, --bvh
# ---------------------------------------------------------------------------------------------

_COORDINATES = {
    "pelvis": "camera (x right, y down, z forward), pelvis at the origin",
    "camera": "camera (x right, y down, z forward), absolute (the camera at the origin)",
    "world": "world (the --extrinsics world frame)",
}


def _absolute_arguments(lf: argparse.ArgumentParser) -> None:
    g = lf.add_argument_group("absolute 3D (docs/absolute.md)")
    g.add_argument("--intrinsics", nargs="+", metavar="K",
                   help="camera intrinsics in pixels: fx fy cx cy, or a file (.json, .npy, "
                        ".txt) holding a 3x3 K, [fx, fy, cx, cy] or {fx, fy, cx, cy}")
    g.add_argument("--root", choices=("pelvis", "camera", "world"), default="pelvis",
                   help="pelvis at the origin (default), absolute camera coordinates (needs "
                        "--intrinsics) or world coordinates (needs --extrinsics too)")
    g.add_argument("--height", type=float, metavar="M",
                   help="the person's standing height in metres (floor to the top of the "
                        "head); default with --intrinsics: 1.70")
    g.add_argument("--extrinsics", metavar="FILE",
                   help="world-to-camera [R | t] (x_cam = R x_world + t, metres) for --root "
                        "world: a .json/.npy/.txt 4x4 or 3x4 matrix, or {R, t}")
    g.add_argument("--bvh", metavar="OUT.bvh",
                   help="also write the sequence as a BVH animation (one file per track: "
                        "OUT_<track>.bvh); root motion from the trajectory with --intrinsics")
    g.add_argument("--fps", type=float, default=30.0,
                   help="frames per second written to the BVH file (default: 30)")


def _read_matrix(value: str, what: str) -> Any:
    """Numbers from a .json/.npy/.txt file: an array, or a dict of named parts."""
    path = Path(value)
    if not path.is_file():
        raise CLIError(f"{path}: no such file (--{what})")
    try:
        if path.suffix.lower() == ".json":
            with path.open(encoding="utf-8") as f:
                data = json.load(f)
        elif path.suffix.lower() == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            data = np.loadtxt(path, ndmin=1)
    except (OSError, ValueError, json.JSONDecodeError) as e:
        raise CLIError(f"{path}: unreadable --{what} file ({type(e).__name__}: "
                       f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None
    if isinstance(data, dict):
        for key in ("K", "intrinsics", "camera_matrix", "extrinsics", "Rt", "matrix"):
            if key in data:
                return _array(data[key], f"{path}: {key}")
        if all(k in data for k in ("fx", "fy", "cx", "cy")):
            return _array([data[k] for k in ("fx", "fy", "cx", "cy")], str(path))
        if "R" in data and "t" in data:
            return (_array(data["R"], f"{path}: R"), _array(data["t"], f"{path}: t").ravel())
        raise CLIError(f"{path}: expected a matrix, {{fx, fy, cx, cy}} or {{R, t}} for --{what}")
    return _array(data, str(path))


def _absolute_options(args: argparse.Namespace) -> tuple[dict[str, Any], float | None]:
    """``Lifter.lift_full`` keyword arguments of the absolute-3D flags, and the height.

    The arguments are ``{}`` when no flag is set; the height is the standing height in
    metres the poses are scaled to (None: unscaled).
    """
    from poselift.lift_result import check_absolute

    intrinsics: Any = None
    if args.intrinsics:
        if len(args.intrinsics) == 4:
            try:
                intrinsics = [float(v) for v in args.intrinsics]
            except ValueError:
                raise CLIError(f"--intrinsics: expected four numbers fx fy cx cy (pixels) or a "
                               f"file, got {' '.join(args.intrinsics)}") from None
        elif len(args.intrinsics) == 1:
            intrinsics = _read_matrix(args.intrinsics[0], "intrinsics")
        else:
            raise CLIError(f"--intrinsics: expected four numbers fx fy cx cy (pixels) or a "
                           f"file, got {len(args.intrinsics)} values")
    extrinsics = None if args.extrinsics is None else _read_matrix(args.extrinsics, "extrinsics")
    options = check_absolute(intrinsics=intrinsics, root=args.root, height=args.height,
                             extrinsics=extrinsics)  # ValueError: one line naming the argument
    if args.bvh:
        _check_out(Path(args.bvh), "--bvh", (".bvh",))
        if not (args.fps > 0 and np.isfinite(args.fps)):
            raise CLIError(f"--fps: expected a positive number, got {args.fps}")
    out: dict[str, Any] = {}
    if intrinsics is not None:
        out["intrinsics"] = intrinsics
    if args.root != "pelvis":
        out["root"] = args.root
    if args.height is not None:
        out["height"] = args.height
    if extrinsics is not None:
        out["extrinsics"] = extrinsics
    return out, options.height


def _sequences(span: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    """``(T, 17, 3)`` sequences of a lifted array: one pose, one sequence or ``N`` of them."""
    return [span] if span.ndim == 3 else ([span[None]] if span.ndim == 2 else list(span))


def _bvh_names(path: Path, inp: _Input) -> list[Path]:
    """The BVH files of ``--bvh path``: one per sequence (``OUT_<track>[_<k>].bvh``)."""
    names = []
    for i, arr in enumerate(inp.arrays):
        count = arr.shape[0] if arr.ndim == 4 else 1
        for k in range(count):
            name = path
            if len(inp.arrays) > 1:
                label = inp.coco[i]["track_id"] if inp.coco is not None else i
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(label))
                name = path.with_name(f"{path.stem}_{safe}{path.suffix}")
            if count > 1:
                name = name.with_name(f"{name.stem}_{k}{name.suffix}")
            names.append(name)
    return names


def _bvh_writers(names: list[Path], spans: list[np.ndarray[Any, Any]],
                 args: argparse.Namespace) -> list[tuple[Path, Callable[[IO[bytes]], None]]]:
    """One BVH animation per lifted sequence, every frame of the video (see _lift_track)."""
    from poselift.data.bvh_export import UpAxis, bvh_text, poses_to_bvh

    up: UpAxis = "y" if args.root == "world" else "-y"
    seqs = [seq for span in spans for seq in _sequences(span)]
    out = []
    for name, seq in zip(names, seqs, strict=True):
        text = bvh_text(poses_to_bvh(seq, fps=args.fps, up=up)).encode("ascii")
        out.append((name, _bytes_writer(text)))
    return out


def _cmd_demo(args: argparse.Namespace) -> int:
    from poselift.demo import run_demo

    png = None if args.no_png else args.png
    targets = [(Path(args.output), "-o", (".npz",))]
    if png is not None:
        targets.append((Path(png), "--png", (".png",)))
    for target, what, suffixes in targets:
        _check_out(target, what, suffixes)  # every output checked before anything is written
    if len(targets) == 2 and os.path.abspath(targets[0][0]) == os.path.abspath(targets[1][0]):
        raise CLIError(f"{args.output}: named twice as an output")
    before = {t: _identity(t) for t, _, _ in targets}
    try:
        run_demo(args.output, png, temporal_model=args.model,
                 single_frame_model=args.single_frame_model, device=args.device)
    except BaseException:  # all or nothing: remove what this run wrote
        for target, old in before.items():
            if _identity(target) != old:
                target.unlink(missing_ok=True)
        raise
    return 0


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of an existing file, None if there is none: did a run write it?"""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


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


def _cmd_export(args: argparse.Namespace) -> int:
    from poselift.export import export_model

    size = (int(args.image_size[0]), int(args.image_size[1])) if args.image_size else None
    try:
        program = export_model(args.weights, args.output, score_threshold=args.score_threshold,
                               image_size=size)
    except ImportError as e:  # the optional onnx extra
        raise CLIError(str(e)) from None
    info = program.description()
    print(f"exported {args.weights} -> {args.output}\n  input:  {info['input']}\n"
          f"  output: {info['output']}\n  joints scoring below {info['score_threshold']} "
          "are missing")
    return 0


_RENDER_NOTE = ("each frame shows the 2D input keypoints (pixels; missing joints not drawn, "
                "low-score joints circled) beside the lifted 3D skeleton (metres, "
                "pelvis-centred, left side blue, right side red{ref}){traj}; the title gives "
                "the frame number and time")


def _cmd_render(args: argparse.Namespace) -> int:
    """``poselift render``: lift (or read) one sequence and write it as a GIF/MP4."""
    from poselift.demo import load_demo_sample

    dst = Path(args.output)
    if dst.suffix.lower() not in (".gif", ".mp4"):
        raise CLIError(f"{dst}: unsupported output type {dst.suffix!r}; expected .gif or .mp4")
    out_dir = dst.parent if str(dst.parent) else Path(".")
    if not out_dir.is_dir():
        raise CLIError(f"{dst}: output directory {str(out_dir)!r} does not exist")
    if (args.input is None) == (not args.demo):
        raise CLIError("render: give either INPUT or --demo (the bundled sample)")
    if args.fps is not None and not (np.isfinite(args.fps) and args.fps > 0):
        raise CLIError(f"--fps: expected a positive number, got {args.fps}")
    fps, ref, poses, title = args.fps, None, None, None
    if args.demo:
        sample = load_demo_sample()
        kp = np.asarray(sample["keypoints2d"], np.float64)
        ref = np.asarray(sample["poses3d"], np.float64)
        fps = fps or float(sample["fps"])
        title = f"poselift demo ({sample['clip']})"
        skeleton = "coco"
    else:
        src = Path(args.input)
        skeleton = args.skeleton
        stored: dict[str, np.ndarray[Any, Any]] = {}
        if src.suffix.lower() == ".npz" and src.is_file():
            try:
                with np.load(src, allow_pickle=False) as z:
                    if {"keypoints2d", "poses3d"} <= set(z.files):  # `poselift demo` output
                        stored = {k: _array(z[k], f"{src}: {k}") for k in
                                  ("keypoints2d", "poses3d", "reference3d") if k in z.files}
            except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as e:
                raise CLIError(f"{src}: unreadable ({type(e).__name__})") from None
        if stored:
            kp, poses, ref = stored["keypoints2d"], stored["poses3d"], stored.get("reference3d")
        else:
            inp = _read(src)
            if len(inp.arrays) != 1 or inp.independent or inp.arrays[0].ndim != 3:
                raise CLIError(f"{src}: render draws one sequence (T, J, 2|3); this input "
                               "holds several tracks or unrelated images")
            kp = inp.arrays[0]
            if inp.scores is not None:
                if kp.shape[-1] != 2 or inp.scores.shape != kp.shape[:-1]:
                    raise CLIError(f"{src}: scores: expected shape {kp.shape[:-1]} for "
                                   f"keypoints {kp.shape}")
                kp = np.concatenate([kp, inp.scores[..., None]], axis=-1)
        fps = fps or 30.0
    if poses is None:
        from poselift.inference import Lifter

        lifter = Lifter(args.model, device=args.device,
                                 score_threshold=args.score_threshold)
        size = (int(args.image_size[0]), int(args.image_size[1])) if args.image_size else None
        intrinsics = list(args.intrinsics) if args.intrinsics else None
        result = lifter.lift_full(
            kp, skeleton=skeleton, image_size=size, intrinsics=intrinsics,
            root="camera" if intrinsics else "pelvis", height=args.height, rarity=False)
        poses = np.asarray(result.poses, np.float64)
    from poselift.viz import render_lift

    try:
        render_lift(dst, kp, poses, skeleton=skeleton, fps=fps, reference3d=ref, title=title,
                    score_threshold=args.score_threshold)
    except (ImportError, RuntimeError) as e:  # no matplotlib; .mp4 without ffmpeg
        raise CLIError(str(e)) from None
    t = int(np.asarray(poses).shape[0])
    absolute = bool(np.nanmax(np.abs(np.asarray(poses)[:, 0]), initial=0.0) > 1e-6)
    note = _RENDER_NOTE.format(
        ref=", the mocap reference dashed" if ref is not None else "",
        traj=" and the pelvis trajectory seen from above" if absolute else "")
    print(f"wrote {dst}: {t} frames at {fps:g} fps ({t / fps:.1f} s), one per input frame; "
          f"{note}")
    return 0


def _render_parser(sub: Any) -> None:
    rd = sub.add_parser("render", help="write a GIF/MP4 of the 2D input beside the lifted 3D "
                                       "skeleton, one frame per input frame")
    rd.add_argument("input", metavar="INPUT", nargs="?",
                    help="keypoints in pixels (.npy, .npz or .json, one sequence), or the "
                         ".npz written by 'poselift demo' (drawn as stored, not lifted again)")
    rd.add_argument("--demo", action="store_true", help="the bundled sample sequence")
    rd.add_argument("-o", "--output", required=True, metavar="OUT",
                    help=".gif (needs poselift[viz]) or .mp4 (also an ffmpeg binary, e.g. "
                         "pip install imageio-ffmpeg)")
    rd.add_argument("--skeleton", default="coco", metavar="LAYOUT",
                    help="joint order of the input (default: coco)")
    rd.add_argument("--fps", type=float, default=None,
                    help="frames per second (default: the sample's, else 30)")
    rd.add_argument("--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"),
                    help="camera intrinsics (pixels): lift to absolute camera coordinates and "
                         "draw the pelvis trajectory too")
    rd.add_argument("--height", type=float, metavar="M",
                    help="the person's standing height in metres (with --intrinsics)")
    rd.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"),
                    help="image size in pixels (default: normalize from the bounding box)")
    rd.add_argument("--model", default="default",
                    help="'default', a weights name or a checkpoint path")
    rd.add_argument("--score-threshold", type=float, default=0.3)
    rd.add_argument("--device", default=None, help="torch device (default: cpu)")
    rd.set_defaults(func=_cmd_render)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="poselift",
                                description="Lift 2D human keypoints to metric 3D poses.")
    from poselift._version import __version__

    p.add_argument("--version", action="version", version=f"poselift {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lf = sub.add_parser("lift", help="lift a keypoint file (.npy, .npz, .json / COCO results)")
    lf.add_argument("input", metavar="INPUT",
                    help="keypoints in pixels: .npy, .npz or .json, or a detector's output "
                         "(a folder of OpenPose/MMPose JSON files, an MMPose or AlphaPose "
                         "result file)")
    lf.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                    help="where to write the 3D poses: .npy, .npz or .json")
    lf.add_argument("--skeleton", default="coco", metavar="LAYOUT",
                    help="joint order of the input: coco (default), h36m, or a detector's: "
                         "body_25, body_25b, coco_18 (OpenPose), halpe_26, mediapipe_pose")
    lf.add_argument("--format", default="auto", choices=("auto", "openpose", "mmpose",
                                                         "alphapose"),
                    help="detector output to read and track (auto: a folder or a JSON file "
                         "in OpenPose's or MMPose's format; AlphaPose must be named)")
    lf.add_argument("--min-track-length", type=int, default=10, metavar="N",
                    help="detector outputs: drop tracks with fewer detections (default: 10)")
    lf.add_argument("--min-track-score", type=float, default=0.2, metavar="S",
                    help="detector outputs: drop tracks with a lower mean detection score "
                         "(default: 0.2)")
    lf.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"),
                    help="image size in pixels (default: normalize from the bounding box)")
    lf.add_argument("--model", default="default",
                    help="'default', a weights name or a checkpoint path")
    lf.add_argument("--device", default=None, help="torch device (default: cpu)")
    lf.add_argument("--batch-size", type=int, default=4096)
    lf.add_argument("--score-threshold", type=float, default=0.3)
    lf.add_argument("--flip-test", action="store_true",
                    help="average with the mirrored input (about 3x slower, slightly better)")
    lf.add_argument("--no-fix-swaps", action="store_true",
                    help="keep the detector's left/right labels in sequences (by default runs "
                         "of frames with a body part's left and right exchanged are relabelled)")
    lf.add_argument("--independent", action="store_true",
                    help="lift the frames of a sequence independently (single-frame model)")
    lf.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                    help="progress bar on stderr (auto: for inputs of 20,000 frames or more)")
    _absolute_arguments(lf)
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
    ex = sub.add_parser("export", help="export a model with its normalization (pixels in, "
                                       "metres out) to .pt2 (torch.export) or .onnx")
    ex.add_argument("weights", metavar="WEIGHTS",
                    help="a weights name (see 'poselift models') or a checkpoint path")
    ex.add_argument("output", metavar="OUTPUT",
                    help="OUT.pt2 (torch.export) or OUT.onnx (needs poselift[onnx])")
    ex.add_argument("--score-threshold", type=float, default=0.3,
                    help="joints scoring below it are missing (default: 0.3, as lift)")
    ex.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"),
                    help="image size, for models with input_norm='screen' only")
    ex.set_defaults(func=_cmd_export)
    _render_parser(sub)
    return p


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """Warnings as one line, like the errors: ``poselift: warning: ...`` (no source lines)."""
    print(f"poselift: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Examples:
        >>> main(["lift", "missing.npy", "-o", "out.npy"])
        1
    """
    try:
        args = _parser().parse_args(argv)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            code: int = args.func(args)
        return code
    except BrokenPipeError:  # e.g. `poselift models | head -1`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C: outputs are written atomically, nothing half-done
        print("poselift: error: interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED
    except CLIError as e:
        msg = str(e)
    except (ValueError, TypeError, LookupError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    except (RecursionError, MemoryError) as e:
        msg = f"out of resources ({type(e).__name__}); is the input absurdly large or nested?"
    except Exception as e:  # a bug: still one line, never a traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        msg = f"unexpected {type(e).__name__}{': ' + first if first else ''} (please report)"
    print(f"poselift: error: {msg}", file=sys.stderr)
    return _EXIT_INPUT
