"""Read what 2D pose detectors write, and link the people they find into tracks.

Readers (each returns :class:`Detections`: every person found in every frame, in one keypoint
layout of :mod:`poselift.skeletons`, pixels and a score per joint):

- :func:`read_openpose`: a folder of OpenPose ``--write_json`` files, one per frame
  (``{"people": [{"pose_keypoints_2d": [x, y, c] * J}, ...]}``);
- :func:`read_mmpose`: MMPose / RTMPose predictions: ``MMPoseInferencer(pred_out_dir=...)``
  output for a video (``[{"frame_id", "instances": [{"keypoints", "keypoint_scores"}]}]``)
  or for images (one file per image, a list of instances), or the ``--save-predictions``
  file of MMPose's demos (``{"meta_info", "instance_info"}``);
- :func:`read_alphapose`: AlphaPose's result file (``alphapose-results.json``, COCO-results
  style: ``[{"image_id": "17.jpg", "keypoints": [x, y, c] * J, "score"}]``);
- :func:`read_detections`: any of these, the format recognised from the content.

**Frame numbers.** Files and image ids are placed in time by the group of digits that changes
from name to name (when all names share the text around their digits), else by the *last
group of digits* in their name: OpenPose writes ``<video>_000000000012_keypoints.json``
(frame 12), AlphaPose names video frames ``12.jpg`` (``img_0012_cam2.jpg``: frame 12);
MMPose's video files carry a ``frame_id``. Frame numbers are integers below
:data:`MAX_FRAME` (2**62). Numbers that are absent (a missing file, a frame without an
entry) are frames in which nobody was found: they stay in the time line as missing, they
are never skipped. A name without digits, names that differ in more than one number, or two
files with the same number is an error: the order would be a guess.

**Tracking** (:func:`track`): detections are linked frame by frame into :class:`Track` s,
as MMPose's pose tracker does (``mmpose.apis.inference_tracking``: greedy IoU/OKS matching
with the previous frame, threshold 0.3), with three changes that keep two people who cross
from swapping identities: the keypoints of each track are predicted at the new frame from its
last velocity, the matching is a global assignment (Hungarian, :func:`scipy.optimize
.linear_sum_assignment`) rather than greedy, and a track survives up to
``max_unseen_frames`` frames without detection. The similarity of a track and a detection is
an object keypoint similarity (COCO's OKS with one spread for every joint):

``sim = sum over joints valid in both of exp(-d^2 / (2 (kappa s)^2)) / (joints valid in either)``

with ``d`` the pixel distance between the predicted and the detected joint, ``s`` the larger
side of the track's last keypoint box and ``kappa = 0.1``. Pairs below ``min_similarity``
(0.3) are never matched; an unmatched detection with at least ``min_keypoints`` (3) valid
joints starts a new track. Finally tracks with fewer than ``min_length`` detections (10) or a
mean detection score below ``min_score`` (0.2) are dropped, where a detection's score is
the mean over all joints of the layout of the joint scores (0 for joints below
``score_threshold``). Each track runs from its first to its last frame; frames in between
without a detection of it are missing (NaN coordinates, score 0), so that
``poselift.lift(track.keypoints, skeleton=...)`` interpolates them like any missing joint.

Examples:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> for f in (0, 1, 2, 4):                      # frame 3 has no file: a missing frame
    ...     person = [[100.0 + 5 * f + 20 * (j % 3), 100.0 + 30 * j, 0.9] for j in range(25)]
    ...     doc = {"people": [{"pose_keypoints_2d": sum(person, [])}]}
    ...     _ = (folder / f"clip_{f:012d}_keypoints.json").write_text(json.dumps(doc))
    >>> dets = read_openpose(folder, "body_25")
    >>> dets.frames.tolist(), dets.keypoints.shape
    ([0, 1, 2, 4], (4, 25, 3))
    >>> [(t.track_id, t.frames.tolist(), t.detected.tolist()) for t in track(dets, min_length=2)]
    [(0, [0, 1, 2, 3, 4], [True, True, True, False, True])]
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from poselift.skeletons import get_skeleton

__all__ = [
    "FORMATS",
    "MAX_FRAME",
    "Detections",
    "Format",
    "Track",
    "detect_format",
    "frame_number",
    "read_alphapose",
    "read_detections",
    "read_mmpose",
    "read_openpose",
    "track",
]

Format = Literal["openpose", "mmpose", "alphapose"]
FORMATS: tuple[str, ...] = ("openpose", "mmpose", "alphapose")
"""Formats :func:`read_detections` reads."""

_HINTS = {  # numbers per person -> the layouts that write that many (x, y, score) triples
    17: "COCO-17: skeleton 'coco'", 18: "OpenPose COCO-18: skeleton 'coco_18'",
    25: "OpenPose BODY_25 or BODY_25B: skeleton 'body_25' or 'body_25b'",
    26: "HALPE-26: skeleton 'halpe_26'", 33: "MediaPipe pose: skeleton 'mediapipe_pose'",
    133: "COCO-WholeBody (133 points, not supported)",
    136: "Halpe full body (136 points, not supported)",
}


# ---------------------------------------------------------------------------------------------
# containers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Detections:
    """Every person a detector found in every frame of one video, in one keypoint layout.

    Attributes:
        skeleton: name of the registered layout of the keypoints (e.g. ``"body_25"``).
        frame: ``(D,)`` int64 frame number of each detection, non-decreasing.
        keypoints: ``(D, J, 3)`` float64: x, y in pixels and a score per joint (0 or NaN
            coordinates: not detected).
        frames: ``(F,)`` int64 sorted frame numbers the source covers, frames in which nobody
            was found included (a number missing between two of them is a missing frame).
        source: where the detections were read from (for messages).

    Raises:
        ValueError: shapes or frame numbers that do not fit together.

    Examples:
        >>> import numpy as np
        >>> kp = np.zeros((3, 17, 3)); kp[..., 2] = 1.0
        >>> d = Detections("coco", np.array([0, 0, 2]), kp, np.array([0, 1, 2]))
        >>> len(d), d.num_joints, d.in_frame(0).shape, d.in_frame(1).shape
        (3, 17, (2, 17, 3), (0, 17, 3))
    """

    skeleton: str
    frame: np.ndarray[Any, Any]
    keypoints: np.ndarray[Any, Any]
    frames: np.ndarray[Any, Any]
    source: str = ""

    def __post_init__(self) -> None:
        sk = get_skeleton(self.skeleton)
        frame = np.asarray(self.frame)
        kp = np.asarray(self.keypoints, dtype=np.float64)
        frames = np.asarray(self.frames)
        if frame.ndim != 1 or (frame.size and frame.dtype.kind not in "iu"):
            raise ValueError(f"frame: expected a 1-d array of integer frame numbers, got shape "
                             f"{frame.shape} dtype {frame.dtype}")
        if kp.shape != (frame.size, sk.num_joints, 3):
            raise ValueError(f"keypoints: expected shape (D, J, 3) = ({frame.size}, "
                             f"{sk.num_joints}, 3) for skeleton {sk.name!r}, got {kp.shape}")
        if frames.ndim != 1 or (frames.size and frames.dtype.kind not in "iu"):
            raise ValueError(f"frames: expected a 1-d array of integer frame numbers, got shape "
                             f"{frames.shape} dtype {frames.dtype}")
        if frames.size and np.any(np.diff(frames) <= 0):
            raise ValueError("frames: expected strictly increasing frame numbers")
        if frame.size and np.any(np.diff(frame) < 0):
            raise ValueError("frame: expected detections in frame order (non-decreasing)")
        if not np.isin(frame, frames).all():
            raise ValueError("frame: every detection's frame number must be one of frames")
        object.__setattr__(self, "skeleton", sk.name)
        object.__setattr__(self, "frame", frame.astype(np.int64))
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "frames", frames.astype(np.int64))

    @classmethod
    def from_frames(cls, per_frame: Sequence[Any], skeleton: str, *,
                    frame_numbers: Sequence[int] | None = None, source: str = "") -> Detections:
        """Build from one ``(N_f, J, 3)`` array (x, y, score; ``N_f`` may be 0) per frame.

        Args:
            per_frame: the people of each frame, e.g. a detector's output for a video.
            skeleton: their keypoint layout.
            frame_numbers: the frame number of each entry (default ``0, 1, 2, ...``).
            source: a label for messages.

        Examples:
            >>> import numpy as np
            >>> two, none = np.ones((2, 17, 3)), np.zeros((0, 17, 3))
            >>> Detections.from_frames([two, none, two], "coco").frame.tolist()
            [0, 0, 2, 2]
        """
        sk = get_skeleton(skeleton)
        numbers = list(range(len(per_frame))) if frame_numbers is None else \
            [_frame_int(f, f"frame_numbers[{i}]") for i, f in enumerate(frame_numbers)]
        if len(numbers) != len(per_frame):
            raise ValueError(f"frame_numbers: expected one per frame ({len(per_frame)}), got "
                             f"{len(numbers)}")
        frames, kps = [], []
        for i, people in enumerate(per_frame):
            arr = np.asarray(people, dtype=np.float64)
            if arr.size == 0:
                arr = arr.reshape(0, sk.num_joints, 3)
            if arr.ndim != 3 or arr.shape[1:] != (sk.num_joints, 3):
                raise ValueError(f"per_frame[{i}]: expected shape (N, {sk.num_joints}, 3) "
                                 f"(x, y, score per joint of {sk.name!r}), got {arr.shape}")
            frames.extend([numbers[i]] * len(arr))
            kps.append(arr)
        order = np.argsort(numbers, kind="stable")
        frame = np.asarray(frames, dtype=np.int64)
        kp = np.concatenate(kps) if kps else np.zeros((0, sk.num_joints, 3))
        by = np.argsort(frame, kind="stable")
        return cls(sk.name, frame[by], kp[by], np.asarray(numbers, dtype=np.int64)[order],
                   source)

    def __len__(self) -> int:
        return int(self.frame.size)

    @property
    def num_joints(self) -> int:
        """Number of joints ``J`` of the layout."""
        return int(self.keypoints.shape[1])

    def in_frame(self, frame: int) -> np.ndarray[Any, Any]:
        """``(N, J, 3)`` the people found in frame number ``frame`` (``N`` may be 0)."""
        out: np.ndarray[Any, Any] = self.keypoints[self.frame == frame]
        return out


@dataclass(frozen=True, eq=False)
class Track:
    """One person followed over consecutive frames (see :func:`track`).

    Attributes:
        track_id: 0, 1, 2, ... in the order in which the kept tracks first appear.
        frames: ``(T,)`` consecutive frame numbers, from the first to the last detection.
        keypoints: ``(T, J, 3)`` x, y (pixels), score; frames without a detection of this
            track are NaN, NaN, 0 (missing, for :func:`poselift.lift` to interpolate).
        detected: ``(T,)`` bool, whether the frame has a detection of this track.
        score: mean detection score over the detected frames (see :func:`track`).

    Examples:
        >>> import numpy as np
        >>> kp = np.ones((3, 17, 3)); kp[1] = (np.nan, np.nan, 0.0)      # frame 11: missing
        >>> t = Track(0, np.array([10, 11, 12]), kp, np.array([True, False, True]), 1.0)
        >>> t.num_detections, t.frames[t.detected].tolist()
        (2, [10, 12])
    """

    track_id: int
    frames: np.ndarray[Any, Any]
    keypoints: np.ndarray[Any, Any]
    detected: np.ndarray[Any, Any]
    score: float

    @property
    def num_detections(self) -> int:
        """Frames in which this track was detected."""
        return int(self.detected.sum())


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
MAX_FRAME = 2**62
"""Frame numbers are integers in ``[-MAX_FRAME, MAX_FRAME)``; anything larger is no frame
number (and would not fit the ``int64`` arrays with room to compute spans)."""


def _frame_int(value: Any, where: str) -> int:
    """``value`` as a frame number: an integer (integral floats such as ``3.0`` too)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{where}: expected an integer frame number, got {value!r}")
    if isinstance(value, float | np.floating) and not (np.isfinite(value)
                                                        and float(value).is_integer()):
        raise ValueError(f"{where}: expected an integer frame number, got {value!r}")
    n = int(value)
    if not -MAX_FRAME <= n < MAX_FRAME:
        raise ValueError(f"{where}: frame number {value!r} is out of range (frame numbers "
                         "are below 2**62)")
    return n


def _digits(text: str, where: str) -> int:
    if len(text.lstrip("0")) > 19:  # (int() of a huge digit string is slow, or refused)
        raise ValueError(f"{where}: frame number {text[:30]}{'...' if len(text) > 30 else ''} "
                         "is out of range (frame numbers are below 2**62)")
    return _frame_int(int(text), where)


def frame_number(name: str) -> int:
    """The frame number in a file name or image id: its last group of digits.

    Args:
        name: e.g. ``"video_000000000012_keypoints.json"`` (OpenPose), ``"12.jpg"``
            (AlphaPose), a path (only the last component counts).

    Raises:
        ValueError: the name has no digits, or its number is 2**62 or more.

    Examples:
        >>> frame_number("video_000000000012_keypoints.json"), frame_number("out/3.jpg")
        (12, 3)
        >>> frame_number("cam2_frame_0041.json")
        41
    """
    base = Path(str(name)).name
    found = _DIGITS.findall(base)
    if not found:
        raise ValueError(f"{name!r}: cannot tell the frame number (no digits in the name)")
    return _digits(found[-1], repr(name))


def _frame_numbers(names: Sequence[str]) -> list[int]:
    """The frame numbers of the files or image ids of one video.

    When all names share the text around their digits, the frame number is the group of
    digits that changes from name to name (``img_0001_cam2.jpg``, ``img_0002_cam2.jpg``:
    frames 1 and 2, not 2 and 2); otherwise, and for a single name, it is the last group of
    digits (:func:`frame_number`).

    Args:
        names: file names or image ids (paths: only the last component counts).

    Raises:
        ValueError: a name without digits, a number of 2**62 or more, or names that differ in
            more than one number (which one counts the frames would be a guess).

    Examples:
        >>> _frame_numbers(["img_0001_cam2.jpg", "img_0002_cam2.jpg", "img_0010_cam2.jpg"])
        [1, 2, 10]
        >>> _frame_numbers(["v_000000000012_keypoints.json", "v_000000000013_keypoints.json"])
        [12, 13]
    """
    last = [frame_number(n) for n in names]
    bases = [Path(str(n)).name for n in names]
    if len(bases) < 2 or len({tuple(_DIGITS.split(b)) for b in bases}) != 1:
        return last
    groups = [_DIGITS.findall(b) for b in bases]
    varying = [k for k in range(len(groups[0])) if len({g[k].lstrip("0") for g in groups}) > 1]
    if len(varying) > 1:
        raise ValueError(f"{names[0]!r}, {names[1]!r}, ...: the names differ in more than one "
                         "number; cannot tell which one is the frame number (one video per "
                         "file or folder)")
    if not varying:
        return last
    k = varying[0]
    return [_digits(g[k], repr(n)) for g, n in zip(groups, names, strict=True)]


def _load_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"{path}: not readable: JSON nested too deeply") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: unreadable ({type(e).__name__}: {e})") from None


def _json_files(folder: Path) -> list[tuple[int, Path]]:
    """``(frame number, file)`` of the ``*.json`` files of ``folder``, in frame order."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".json" and p.is_file())
    if not files:
        raise ValueError(f"{folder}: no .json files in the folder")
    numbered: dict[int, Path] = {}
    try:
        numbers = _frame_numbers([p.name for p in files])
    except ValueError as e:
        raise ValueError(f"{folder}: {e}") from None
    for n, p in zip(numbers, files, strict=True):
        if n in numbered:
            raise ValueError(f"{folder}: {numbered[n].name} and {p.name} have the same frame "
                             f"number {n}; one video per folder")
        numbered[n] = p
    return sorted(numbered.items())


def _person(values: Any, sk_name: str, j: int, where: str, *, pairs: bool = False
            ) -> np.ndarray[Any, Any]:
    """``(J, 3)`` from ``[x, y, c] * J`` (or, with ``pairs``, ``[[x, y]] * J`` + scores)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise ValueError(f"{where}: expected numbers") from None
    if pairs:
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(f"{where}: expected a list of [x, y] per joint, got shape "
                             f"{arr.shape}")
        return arr
    if arr.ndim != 1:
        raise ValueError(f"{where}: expected a flat list [x0, y0, c0, x1, ...] of {3 * j} "
                         f"numbers, got a nested list of shape {arr.shape}")
    if arr.ndim != 1 or arr.size % 3 or arr.size // 3 != j:
        n = arr.size // 3 if arr.ndim == 1 and arr.size % 3 == 0 else None
        hint = f" ({_HINTS[n]}?)" if n in _HINTS else ""
        raise ValueError(f"{where}: expected {3 * j} numbers ({j} joints x (x, y, score)) for "
                         f"skeleton {sk_name!r}, got {arr.size}{hint}")
    return arr.reshape(j, 3)


def read_openpose(path: str | Path, skeleton: str) -> Detections:
    """Read OpenPose ``--write_json`` output: a folder of per-frame files (or one file).

    Each file is ``{"people": [{"pose_keypoints_2d": [x0, y0, c0, x1, ...]}, ...]}``
    (OpenPose doc/02_output.md); other keys (face, hands, ``person_id``) are ignored, and a
    person with an empty ``pose_keypoints_2d`` is skipped. Coordinates must be pixels
    (OpenPose's default ``--keypoint_scale 0``); undetected joints are written as 0, 0, 0.

    Args:
        path: the folder (frame numbers from the file names, :func:`frame_number`), or a
            single file (one frame).
        skeleton: the model OpenPose ran: ``"body_25"``, ``"body_25b"`` or ``"coco_18"``.

    Returns:
        :class:`Detections`; ``frames`` lists every file's frame number.

    Raises:
        ValueError: unreadable files, wrong structure or a number of values per person that
            does not fit ``skeleton`` (the message names the file and the entry).

    Examples:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> f = Path(tempfile.mkdtemp()) / "v_000000000007_keypoints.json"
        >>> _ = f.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 18}]}))
        >>> d = read_openpose(f, "coco_18")
        >>> d.frames.tolist(), d.keypoints[0, 0].tolist()
        ([7], [1.0, 2.0, 0.5])
    """
    sk = get_skeleton(skeleton)
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file or folder")
    files = _json_files(p) if p.is_dir() else [(_frame_or_zero(p.name), p)]
    frames, people = [], []
    for n, f in files:
        doc = _load_json(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
            raise ValueError(f"{f}: expected an OpenPose JSON object with a 'people' list")
        found = []
        for i, person in enumerate(doc["people"]):
            values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
            if values is None:
                raise ValueError(f"{f}: people[{i}]: expected 'pose_keypoints_2d'")
            if isinstance(values, list) and not values:
                continue
            found.append(_person(values, sk.name, sk.num_joints,
                                 f"{f}: people[{i}].pose_keypoints_2d"))
        frames.append(n)
        people.append(np.stack(found) if found else np.zeros((0, sk.num_joints, 3)))
    return Detections.from_frames(people, sk.name, frame_numbers=frames, source=str(p))


def _frame_or_zero(name: str) -> int:
    """The frame number of a single file's name; 0 when the name has no digits."""
    return frame_number(name) if _DIGITS.search(Path(name).name) else 0


def _mmpose_instances(items: Any, sk_name: str, j: int, where: str) -> np.ndarray[Any, Any]:
    if not isinstance(items, list):
        raise ValueError(f"{where}: expected a list of instances")
    out = []
    for i, inst in enumerate(items):
        if not isinstance(inst, dict) or "keypoints" not in inst or \
                "keypoint_scores" not in inst:
            raise ValueError(f"{where}[{i}]: expected an instance with 'keypoints' and "
                             "'keypoint_scores'")
        xy = _person(inst["keypoints"], sk_name, j, f"{where}[{i}].keypoints", pairs=True)
        try:
            sc = np.asarray(inst["keypoint_scores"], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError, RecursionError):
            raise ValueError(f"{where}[{i}].keypoint_scores: expected numbers") from None
        if len(xy) != j or sc.size != j:
            hint = f" ({_HINTS[len(xy)]}?)" if len(xy) in _HINTS else ""
            raise ValueError(f"{where}[{i}]: expected {j} keypoints and {j} scores for "
                             f"skeleton {sk_name!r}, got {len(xy)} and {sc.size}{hint}")
        out.append(np.concatenate([xy[:, :2], sc[:, None]], axis=1))
    return np.stack(out) if out else np.zeros((0, j, 3))


def read_mmpose(path: str | Path, skeleton: str) -> Detections:
    """Read MMPose / RTMPose prediction JSON.

    Recognised layouts (MMPose 1.x, ``mmpose/apis/inferencers/base_mmpose_inferencer.py``
    and ``demo/topdown_demo_with_mmdet.py``):

    - a video file of ``MMPoseInferencer(..., pred_out_dir=...)``:
      ``[{"frame_id": 0, "instances": [{"keypoints": [[x, y], ...], "keypoint_scores":
      [...], "bbox": ..., "bbox_score": ...}]}, ...]``;
    - a folder of its per-image files (each a list of instances; frame numbers from the
      file names, :func:`frame_number`), or one such file (one frame);
    - a demo's ``--save-predictions`` file: ``{"meta_info": {...}, "instance_info": ...}``
      with ``instance_info`` as above (a video) or a list of instances (one image); its
      ``meta_info["num_keypoints"]``, when present, must match ``skeleton``.

    Args:
        path: file or folder.
        skeleton: the layout the model predicts, e.g. ``"coco"`` (RTMPose/ViTPose/HRNet
            body models) or ``"halpe_26"`` (RTMPose-Halpe26).

    Returns:
        :class:`Detections`.

    Raises:
        ValueError: unreadable files, wrong structure, or keypoint counts that do not fit
            ``skeleton``.

    Examples:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> inst = {"keypoints": [[10.0, 20.0]] * 17, "keypoint_scores": [0.9] * 17}
        >>> f = Path(tempfile.mkdtemp()) / "video.json"
        >>> _ = f.write_text(json.dumps([{"frame_id": 0, "instances": [inst, inst]},
        ...                              {"frame_id": 1, "instances": []}]))
        >>> d = read_mmpose(f, "coco")
        >>> d.frame.tolist(), d.frames.tolist(), d.keypoints[0, 0].tolist()
        ([0, 0], [0, 1], [10.0, 20.0, 0.9])
    """
    sk = get_skeleton(skeleton)
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file or folder")
    frames: list[int] = []
    people: list[np.ndarray[Any, Any]] = []
    if p.is_dir():
        for n, f in _json_files(p):
            frames.append(n)
            people.append(_mmpose_instances(_load_json(f), sk.name, sk.num_joints, str(f)))
        return Detections.from_frames(people, sk.name, frame_numbers=frames, source=str(p))
    doc = _load_json(p)
    if isinstance(doc, dict) and "instance_info" in doc:
        meta = doc.get("meta_info")
        n_meta = meta.get("num_keypoints") if isinstance(meta, dict) else None
        if isinstance(n_meta, int) and n_meta != sk.num_joints:
            hint = f" ({_HINTS[n_meta]}?)" if n_meta in _HINTS else ""
            raise ValueError(f"{p}: meta_info says {n_meta} keypoints, skeleton {sk.name!r} has "
                             f"{sk.num_joints}{hint}")
        doc = doc["instance_info"]
    if isinstance(doc, list) and doc and all(isinstance(e, dict) and "frame_id" in e
                                             for e in doc):
        seen: set[int] = set()
        for i, entry in enumerate(doc):
            n = _frame_int(entry["frame_id"], f"{p}: entry {i}: frame_id")
            if n in seen:
                raise ValueError(f"{p}: frame_id {n} appears twice")
            seen.add(n)
            frames.append(n)
            people.append(_mmpose_instances(entry.get("instances"), sk.name, sk.num_joints,
                                            f"{p}: frame_id {n}: instances"))
        return Detections.from_frames(people, sk.name, frame_numbers=frames, source=str(p))
    if isinstance(doc, list):  # one image: a list of instances
        people.append(_mmpose_instances(doc, sk.name, sk.num_joints, str(p)))
        return Detections.from_frames(people, sk.name, frame_numbers=[_frame_or_zero(p.name)],
                                      source=str(p))
    raise ValueError(f"{p}: expected MMPose predictions (a list of {{'frame_id', 'instances'}}, "
                     "a list of instances, or {'meta_info', 'instance_info'})")


def read_alphapose(path: str | Path, skeleton: str) -> Detections:
    """Read AlphaPose's result file (``alphapose-results.json``, AlphaPose docs/output.md).

    A list of ``{"image_id": "17.jpg", "category_id": 1, "keypoints": [x, y, c] * J,
    "score": s, ...}``, one entry per person. ``image_id`` is the image's file name (for a
    video, AlphaPose names frame ``k`` ``"k.jpg"``) or a number; the frame number is the
    group of digits that changes from id to id (``img_0001_cam2.jpg``: 1), else the last one
    (:func:`frame_number`). AlphaPose's ``idx`` field is not used as a track
    id: without its tracker it holds detection indices, so :func:`track` links the people.

    Args:
        path: the JSON file.
        skeleton: the model's layout: ``"coco"`` (17 points), ``"halpe_26"``.

    Returns:
        :class:`Detections`; ``frames`` lists the frame numbers of the image ids that occur
        (a video's frames without anybody are not in the file: the numbers between are
        missing frames, as for :func:`read_openpose`).

    Raises:
        ValueError: unreadable file, wrong structure, no digits in an image id, a frame
            number of 2**62 or more, image ids that differ in more than one number, or
            keypoint counts that do not fit ``skeleton``.

    Examples:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> f = Path(tempfile.mkdtemp()) / "alphapose-results.json"
        >>> entry = {"image_id": "3.jpg", "category_id": 1, "keypoints": [5.0, 6.0, 0.8] * 26,
        ...          "score": 2.1}
        >>> _ = f.write_text(json.dumps([entry, {**entry, "image_id": "5.jpg"}]))
        >>> d = read_alphapose(f, "halpe_26")
        >>> d.frame.tolist(), d.frames.tolist()
        ([3, 5], [3, 5])
    """
    sk = get_skeleton(skeleton)
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    doc = _load_json(p)
    if not isinstance(doc, list):
        raise ValueError(f"{p}: expected a list of AlphaPose results "
                         "[{'image_id', 'keypoints': [x, y, c] * J, 'score'}]")
    ids: list[Any] = []
    found: list[np.ndarray[Any, Any]] = []
    for i, e in enumerate(doc):
        if not isinstance(e, dict) or "image_id" not in e or "keypoints" not in e:
            raise ValueError(f"{p}: entry {i}: expected {{'image_id', 'keypoints'}}")
        img = e["image_id"]
        where = f"{p}: entry {i}: image_id"
        if isinstance(img, str):
            try:
                frame_number(img)  # digits, in range
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
        elif isinstance(img, int) and not isinstance(img, bool):
            img = _frame_int(img, where)
        else:
            raise ValueError(f"{where}: expected a file name or an integer, got {img!r}")
        ids.append(img)
        found.append(_person(e["keypoints"], sk.name, sk.num_joints, f"{p}: entry {i}: keypoints"))
    if not found:
        raise ValueError(f"{p}: no detections in the file")
    names = sorted({v for v in ids if isinstance(v, str)})
    try:
        named = dict(zip(names, _frame_numbers(names), strict=True))
    except ValueError as err:
        raise ValueError(f"{p}: image_id: {err}") from None
    by_frame: dict[int, list[np.ndarray[Any, Any]]] = {}
    for v, person in zip(ids, found, strict=True):
        by_frame.setdefault(named[v] if isinstance(v, str) else v, []).append(person)
    numbers = sorted(by_frame)
    people = [np.stack(by_frame[n]) for n in numbers]
    return Detections.from_frames(people, sk.name, frame_numbers=numbers, source=str(p))


def detect_format(path: str | Path) -> str | None:
    """Which detector wrote ``path``: ``"openpose"``, ``"mmpose"``, or None (not recognised).

    A folder is recognised by its first JSON file; a file by its content: an object with a
    ``"people"`` list is OpenPose's, ``{"meta_info", "instance_info"}``, a list of
    ``{"frame_id", "instances"}`` or a list of instances with ``"keypoint_scores"`` is
    MMPose's. AlphaPose's result list looks like any COCO result file and is never guessed:
    ask for it by name.

    Examples:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> f = Path(tempfile.mkdtemp()) / "0.json"
        >>> _ = f.write_text(json.dumps({"version": 1.3, "people": []}))
        >>> detect_format(f), detect_format(f.parent)
        ('openpose', 'openpose')
    """
    p = Path(path)
    if p.is_dir():
        files = _json_files(p)
        p = files[0][1]
    if not p.is_file() or p.suffix.lower() != ".json":
        return None
    doc = _load_json(p)
    if isinstance(doc, dict):
        if isinstance(doc.get("people"), list):
            return "openpose"
        if "instance_info" in doc:
            return "mmpose"
        return None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        if "frame_id" in doc[0] and "instances" in doc[0]:
            return "mmpose"
        if "keypoint_scores" in doc[0]:
            return "mmpose"
    return None


def read_detections(path: str | Path, skeleton: str, *, format: str = "auto") -> Detections:
    """Read a detector's output with the reader for its format.

    Args:
        path: a file or a folder of per-frame files.
        skeleton: the keypoint layout the detector wrote (e.g. ``"body_25"``).
        format: ``"openpose"``, ``"mmpose"``, ``"alphapose"``, or ``"auto"`` (default):
            :func:`detect_format` (AlphaPose must be named).

    Raises:
        ValueError: unknown or unrecognised format, or what the reader raises.

    Examples:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> f = Path(tempfile.mkdtemp()) / "img_0004.json"
        >>> _ = f.write_text(json.dumps([{"keypoints": [[1.0, 2.0]] * 17,
        ...                                "keypoint_scores": [1.0] * 17}]))
        >>> read_detections(f, "coco").frames.tolist()
        [4]
    """
    if format == "auto":
        found = detect_format(path)
        if found is None:
            raise ValueError(f"{path}: not recognised as OpenPose or MMPose output; pass the "
                             f"format ({', '.join(FORMATS)})")
        format = found
    if format == "openpose":
        return read_openpose(path, skeleton)
    if format == "mmpose":
        return read_mmpose(path, skeleton)
    if format == "alphapose":
        return read_alphapose(path, skeleton)
    raise ValueError(f"format: expected 'auto' or one of {list(FORMATS)}, got {format!r}")


# ---------------------------------------------------------------------------------------------
# tracking
# ---------------------------------------------------------------------------------------------

KAPPA = 0.1
"""Spread of the tracking similarity, as a fraction of the track's keypoint box size."""


class _Open:
    """A track being built."""

    def __init__(self, frame: int, kp: np.ndarray[Any, Any], valid: np.ndarray[Any, Any],
                 index: int) -> None:
        self.frames = [frame]
        self.index = [index]
        self.last, self.valid = kp[:, :2], valid
        self.velocity = np.zeros(2)

    def add(self, frame: int, kp: np.ndarray[Any, Any], valid: np.ndarray[Any, Any],
            index: int) -> None:
        step = frame - self.frames[-1]
        both = self.valid & valid  # mean motion of the joints seen both times
        self.velocity = ((kp[both, :2] - self.last[both]).mean(0) / step if both.any()
                         else np.zeros(2))
        self.frames.append(frame)
        self.index.append(index)
        self.last, self.valid = kp[:, :2], valid

    def predict(self, frame: int) -> np.ndarray[Any, Any]:
        moved: np.ndarray[Any, Any] = self.last + self.velocity * (frame - self.frames[-1])
        return moved


def _similarities(tracks: list[_Open], frame: int, kp: np.ndarray[Any, Any],
                  valid: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``(T, D)`` keypoint similarity of each open track and each detection of a frame.

    ``kp (D, J, 3)``, ``valid (D, J)``; the formula is in the module docstring (one numpy
    expression over all pairs: 400 tracks x 400 detections cost milliseconds).
    """
    pred = np.stack([t.predict(frame) for t in tracks])  # (T, J, 2)
    tvalid = np.stack([t.valid for t in tracks])  # (T, J)
    last = np.stack([t.last for t in tracks])
    lo = np.where(tvalid[..., None], last, np.inf).min(1)
    hi = np.where(tvalid[..., None], last, -np.inf).max(1)
    size = np.maximum((hi - lo).max(-1), 1.0)  # (T,)
    both = tvalid[:, None] & valid[None]  # (T, D, J)
    either = (tvalid[:, None] | valid[None]).sum(-1)
    diff = np.where(both[..., None], pred[:, None] - kp[None, :, :, :2], 0.0)
    d2 = (diff**2).sum(-1)
    term = np.where(both, np.exp(-d2 / (2 * (KAPPA * size[:, None, None]) ** 2)), 0.0)
    sim: np.ndarray[Any, Any] = term.sum(-1) / np.maximum(either, 1)
    return np.where(both.any(-1), sim, 0.0)


def _real(value: Any) -> bool:
    """A real number: int, float or a numpy scalar of either (not bool)."""
    return isinstance(value, int | float | np.integer | np.floating) and \
        not isinstance(value, bool | np.bool_)


def track(
    detections: Detections,
    *,
    score_threshold: float = 0.3,
    min_similarity: float = 0.3,
    max_unseen_frames: int = 30,
    min_keypoints: int = 3,
    min_length: int = 10,
    min_score: float = 0.2,
    max_gap: int | None = None,
) -> list[Track]:
    """Link detections into tracks of one person each (rule in the module docstring).

    Args:
        detections: what a reader returned (or :meth:`Detections.from_frames`).
        score_threshold: joints scoring below it are not used (as in :func:`poselift.lift`).
        min_similarity: the least keypoint similarity (0-1) of a detection and a track's
            prediction for the detection to continue the track.
        max_unseen_frames: frames a track may go undetected and still be continued; a
            track unseen for longer is closed (a person seen again later starts a new track).
        min_keypoints: detections with fewer valid joints are ignored.
        min_length: tracks with fewer detections are dropped.
        min_score: tracks whose mean detection score is lower are dropped.
        max_gap: deprecated old name of ``max_unseen_frames`` (a ``DeprecationWarning``;
            ``max_gap`` of :func:`poselift.lift` is another thing: interpolation).

    Returns:
        The kept tracks, numbered ``0, 1, ...`` in the order of their first frame (then of
        their first detection in the file).

    Raises:
        ValueError: a parameter out of range.
        TypeError: both ``max_unseen_frames`` and its old name ``max_gap`` given.

    Examples:
        >>> import numpy as np
        >>> base = np.zeros((17, 3)); base[:, 0] = np.arange(17) * 3; base[:, 1] = 10 * (
        ...     np.arange(17) % 5); base[:, 2] = 1.0
        >>> a = [base + [100 + 6 * t, 0, 0] for t in range(20)]      # walks right
        >>> b = [base + [200 - 6 * t, 0, 0] for t in range(20)]      # walks left: they cross
        >>> dets = Detections.from_frames([np.stack([b[t], a[t]][:: (-1) ** t]) for t in
        ...                                range(20)], "coco")      # listed in changing order
        >>> [float(t.keypoints[-1, 0, 0]) for t in track(dets)]      # b then a: nobody swapped
        [86.0, 214.0]
    """
    if max_gap is not None:
        if max_unseen_frames != 30:
            raise TypeError("track: got both max_unseen_frames and its deprecated old name "
                            "max_gap; pass max_unseen_frames only")
        warnings.warn("track(max_gap=...) is deprecated: use max_unseen_frames= (frames a "
                      "track may go undetected)", DeprecationWarning, stacklevel=2)
        max_unseen_frames = max_gap
    for name, value, lo in (("min_similarity", min_similarity, 0.0),
                            ("score_threshold", score_threshold, 0.0),
                            ("min_score", min_score, 0.0)):
        if not _real(value) or not np.isfinite(value) or value < lo:
            raise ValueError(f"{name}: expected a number >= {lo}, got {value!r}")
    for name, ivalue, ilo in (("max_unseen_frames", max_unseen_frames, 0),
                              ("min_keypoints", min_keypoints, 1), ("min_length", min_length, 1)):
        if not isinstance(ivalue, int | np.integer) or isinstance(ivalue, bool) or ivalue < ilo:
            raise ValueError(f"{name}: expected an int >= {ilo}, got {ivalue!r}")
    unseen, min_keypoints, min_length = (int(max_unseen_frames), int(min_keypoints),
                                         int(min_length))
    if not isinstance(detections, Detections):
        raise TypeError(f"detections: expected Detections, got {type(detections).__name__}")
    kp = detections.keypoints
    valid = np.isfinite(kp).all(-1) & (np.nan_to_num(kp[..., 2], nan=-1.0) >= score_threshold)
    det_score = np.where(valid, kp[..., 2], 0.0).mean(-1) if len(kp) else np.zeros(0)
    usable = valid.sum(-1) >= min_keypoints
    open_: list[_Open] = []
    done: list[_Open] = []
    starts = np.searchsorted(detections.frame, detections.frames, side="left")
    ends = np.searchsorted(detections.frame, detections.frames, side="right")
    for f, a, b in zip(detections.frames.tolist(), starts.tolist(), ends.tolist(), strict=True):
        idx = a + np.flatnonzero(usable[a:b])
        alive = [t for t in open_ if f - t.frames[-1] - 1 <= unseen]
        done.extend(t for t in open_ if f - t.frames[-1] - 1 > unseen)
        open_ = alive
        taken: set[int] = set()
        if open_ and idx.size:
            sim = _similarities(open_, f, kp[idx], valid[idx])
            from scipy.optimize import linear_sum_assignment  # lazy: 0.6 s to import

            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if sim[r, c] >= min_similarity and sim[r, c] > 0:
                    open_[r].add(f, kp[idx[c]], valid[idx[c]], int(idx[c]))
                    taken.add(c)
        for c, i in enumerate(idx.tolist()):
            if c not in taken:
                open_.append(_Open(f, kp[i], valid[i], i))
    done.extend(open_)
    kept = [t for t in done if len(t.frames) >= min_length
            and float(det_score[t.index].mean()) >= min_score]
    kept.sort(key=lambda t: (t.frames[0], t.index[0]))
    out = []
    for k, t in enumerate(kept):
        span = np.arange(t.frames[0], t.frames[-1] + 1, dtype=np.int64)
        keypoints = np.full((span.size, detections.num_joints, 3), np.nan)
        keypoints[..., 2] = 0.0
        rows_ = np.asarray(t.frames) - t.frames[0]
        keypoints[rows_] = kp[t.index]
        detected = np.zeros(span.size, dtype=bool)
        detected[rows_] = True
        out.append(Track(k, span, keypoints, detected, float(det_score[t.index].mean())))
    return out
