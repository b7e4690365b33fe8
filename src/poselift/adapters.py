"""What detectors hand you, as the pixel arrays :func:`poselift.lift` takes.

- :func:`from_mediapipe`: MediaPipe Pose results (normalized landmarks in ``[0, 1]`` of the
  image width and height, plus a visibility) and the image size -> ``(T, 33, 3)`` pixels +
  score in the ``"mediapipe_pose"`` layout. Accepts, per frame, what either MediaPipe API
  returns: the legacy ``mp.solutions.pose`` result (``.pose_landmarks.landmark``), the Tasks
  API ``PoseLandmarkerResult`` (``.pose_landmarks[person]``), a landmark list, or an array
  ``(33, 2|3|4)`` of ``x, y[, z][, visibility]``; ``None`` or an empty result is a frame
  without a person (all joints missing).
- :func:`from_person_arrays`: plain per-frame arrays ``(people, J, 2|3)`` in pixels, as
  ultralytics YOLO-pose (``result.keypoints.data``: ``(people, 17, 3)`` COCO x, y,
  confidence), RTMPose/rtmlib, MMPose ``pred_instances.keypoints`` and most other detectors
  return them -> one person per frame, ``(T, J, 3)``.
- :func:`detections_from_arrays`: the same arrays as :class:`poselift.detections.Detections`
  (through :meth:`~poselift.detections.Detections.from_frames`, after the conversions
  above), to follow several people with :func:`poselift.detections.track`.

Scores: a joint with score ``<= 0``, or a 2-channel joint at exactly ``(0, 0)`` (what
ultralytics reports for a joint it did not find), is missing: NaN coordinates, score 0.

Examples:
    >>> import numpy as np
    >>> frame = np.zeros((33, 4)); frame[:, :2] = 0.5; frame[:, 3] = 0.9   # centre, visible
    >>> kp = from_mediapipe([frame, None], image_size=(640, 480))
    >>> kp.shape, kp[0, 0].tolist(), bool(np.isnan(kp[1, 0, 0])), float(kp[1, 0, 2])
    ((2, 33, 3), [320.0, 240.0, 0.9], True, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from poselift._validation import check_choice, to_numpy
from poselift.detections import Detections
from poselift.skeletons import get_skeleton

__all__ = ["detections_from_arrays", "from_mediapipe", "from_person_arrays"]

_MEDIAPIPE_JOINTS = 33


def _landmarks(item: Any, person: int, where: str) -> np.ndarray[Any, Any] | None:
    """One frame of MediaPipe output as ``(33, 4)`` x, y, z, visibility (None: nobody)."""
    if item is None:
        return None
    if hasattr(item, "pose_landmarks"):  # a result object of either API
        item = item.pose_landmarks
        if item is None:
            return None
        if isinstance(item, list | tuple):  # Tasks API: one landmark list per person
            if len(item) <= person:
                return None
            item = item[person]
    if hasattr(item, "landmark"):  # legacy NormalizedLandmarkList
        item = item.landmark
    if isinstance(item, np.ndarray) or (hasattr(item, "shape") and hasattr(item, "dtype")):
        arr = to_numpy(item).astype(np.float64)
        if arr.size == 0:
            return None
        if arr.ndim != 2 or arr.shape[0] != _MEDIAPIPE_JOINTS or arr.shape[1] not in (2, 3, 4):
            raise ValueError(f"{where}: expected ({_MEDIAPIPE_JOINTS}, 2|3|4) normalized "
                             f"landmarks, got shape {arr.shape}")
        out = np.zeros((_MEDIAPIPE_JOINTS, 4))
        out[:, 3] = 1.0
        out[:, : min(arr.shape[1], 3)] = arr[:, :3]
        if arr.shape[1] == 4:
            out[:, 3] = arr[:, 3]
        return out
    try:
        marks = list(item)
    except TypeError:
        raise ValueError(f"{where}: expected a MediaPipe result, a landmark list or an array, "
                         f"got {type(item).__name__}") from None
    if not marks:
        return None
    if len(marks) != _MEDIAPIPE_JOINTS:
        raise ValueError(f"{where}: expected {_MEDIAPIPE_JOINTS} landmarks, got {len(marks)}")
    try:
        return np.array([[float(m.x), float(m.y), float(getattr(m, "z", 0.0) or 0.0),
                          float(1.0 if getattr(m, "visibility", None) is None else m.visibility)]
                         for m in marks])
    except AttributeError:
        raise ValueError(f"{where}: landmarks need .x and .y (normalized image coordinates)"
                         ) from None


def from_mediapipe(results: Sequence[Any] | np.ndarray[Any, Any],
                   image_size: tuple[int, int], *, person: int = 0) -> np.ndarray[Any, Any]:
    """MediaPipe Pose landmarks (normalized) -> ``(T, 33, 3)`` pixels + score.

    Args:
        results: one item per frame (see the module docstring: a result of
            ``mp.solutions.pose.Pose().process(image)`` or of ``PoseLandmarker.detect``,
            a landmark list, an array ``(33, 2|3|4)``, or None), or an array
            ``(T, 33, 2|3|4)``.
        image_size: ``(width, height)`` of the images in pixels: ``x_px = x * width``,
            ``y_px = y * height`` (MediaPipe normalizes each axis by its own size).
        person: which person of a Tasks API result (several poses per image).

    Returns:
        ``(T, 33, 3)`` float64: x, y pixels and the landmark's visibility as the score (1 when
        it has none); NaN and score 0 for frames without a person. Lift it with
        ``poselift.lift(kp, skeleton="mediapipe_pose")``. MediaPipe's ``z`` is dropped.

    Raises:
        ValueError: a bad image size or a frame that is not 33 landmarks.
    """
    if (not isinstance(image_size, tuple | list) or len(image_size) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                       for v in image_size)):
        raise ValueError(f"image_size: expected (width, height) in pixels, got {image_size!r}")
    if isinstance(results, np.ndarray) or (hasattr(results, "shape")
                                           and hasattr(results, "dtype")):
        arr = to_numpy(results)  # type: ignore[arg-type]
        items: list[Any] = [arr] if arr.ndim == 2 else list(arr)
    else:
        if isinstance(results, str | bytes) or not isinstance(results, Sequence):
            raise ValueError("results: expected a sequence with one MediaPipe result per "
                             f"frame, got {type(results).__name__}")
        items = list(results)
    out = np.full((len(items), _MEDIAPIPE_JOINTS, 3), np.nan)
    out[..., 2] = 0.0
    w, h = float(image_size[0]), float(image_size[1])
    for t, item in enumerate(items):
        marks = _landmarks(item, person, f"results[{t}]")
        if marks is None:
            continue
        out[t, :, 0] = marks[:, 0] * w
        out[t, :, 1] = marks[:, 1] * h
        out[t, :, 2] = marks[:, 3]
    return _missing(out)


def _missing(kp: np.ndarray[Any, Any], zero_is_missing: bool = False) -> np.ndarray[Any, Any]:
    """Joints with score <= 0, NaN scores or NaN coordinates: NaN with score 0."""
    bad = ~np.isfinite(kp).all(-1) | ~(kp[..., 2] > 0)
    if zero_is_missing:
        bad |= (kp[..., :2] == 0).all(-1)
    kp[bad, :2] = np.nan
    kp[bad, 2] = 0.0
    return kp


def _frames(frames: Sequence[Any], skeleton: str) -> list[np.ndarray[Any, Any]]:
    sk = get_skeleton(skeleton)
    if isinstance(frames, str | bytes) or not hasattr(frames, "__len__"):
        raise ValueError("frames: expected one (people, J, 2|3) array per frame")
    out = []
    for t, f in enumerate(frames):
        if f is None:
            f = np.zeros((0, sk.num_joints, 3))
        if hasattr(f, "keypoints") and hasattr(f.keypoints, "data"):  # an ultralytics Results
            f = f.keypoints.data
        arr = to_numpy(f).astype(np.float64) if hasattr(f, "dtype") else np.asarray(
            f, dtype=np.float64)
        if arr.ndim == 2 and arr.size:
            arr = arr[None]  # one person
        if arr.size == 0:
            arr = np.zeros((0, sk.num_joints, 3))
        if arr.ndim != 3 or arr.shape[1] != sk.num_joints or arr.shape[2] not in (2, 3):
            raise ValueError(f"frames[{t}]: expected (people, {sk.num_joints}, 2|3) for "
                             f"skeleton {sk.name!r}, got shape {arr.shape}")
        if arr.shape[2] == 2:
            arr = np.concatenate([arr, np.ones((*arr.shape[:2], 1))], axis=-1)
            arr = _missing(arr, zero_is_missing=True)
        else:
            arr = _missing(arr)
        out.append(arr)
    return out


def from_person_arrays(frames: Sequence[Any], *, skeleton: str = "coco",
                       select: str = "largest") -> np.ndarray[Any, Any]:
    """Per-frame detector arrays ``(people, J, 2|3)`` -> one person's ``(T, J, 3)`` sequence.

    Args:
        frames: one item per frame: an array or tensor ``(people, J, 2|3)`` in pixels (a
            third channel is the confidence), ``(J, 2|3)`` for one person, None or an empty
            array for nobody; an ultralytics ``Results`` object is read through
            ``.keypoints.data``.
        skeleton: the layout of the ``J`` joints (``"coco"`` for YOLO-pose, RTMPose-COCO).
        select: which person of a frame with several: ``"largest"`` (the biggest bounding
            box of the found joints) or ``"score"`` (the highest mean confidence). To follow
            several people, use :func:`detections_from_arrays` and
            :func:`poselift.detections.track` instead.

    Returns:
        ``(T, J, 3)`` float64 pixels + score; frames without anybody are missing (NaN,
        score 0). Lift it with ``poselift.lift(kp, skeleton=skeleton)``.

    Raises:
        ValueError: an array of the wrong shape (the message names the frame) or an
            unknown ``select``.

    Examples:
        >>> import numpy as np
        >>> small = np.full((17, 3), 1.0); small[:, :2] = np.arange(34).reshape(17, 2)
        >>> big = small.copy(); big[:, :2] *= 10
        >>> kp = from_person_arrays([np.stack([small, big]), None])
        >>> kp.shape, kp[0, 1, :2].tolist(), float(kp[1, 0, 2])
        ((2, 17, 3), [20.0, 30.0], 0.0)
    """
    check_choice(select, "select", ("largest", "score"))
    per_frame = _frames(frames, skeleton)
    j = get_skeleton(skeleton).num_joints
    out = np.full((len(per_frame), j, 3), np.nan)
    out[..., 2] = 0.0
    for t, people in enumerate(per_frame):
        found = people[..., 2] > 0
        keep = found.any(-1)
        if not keep.any():
            continue
        if select == "score":
            value = np.where(found, people[..., 2], 0.0).sum(-1) / j
        else:
            with np.errstate(invalid="ignore"):
                span = np.nanmax(people[..., :2], axis=1) - np.nanmin(people[..., :2], axis=1)
            value = np.nan_to_num(span[:, 0] * span[:, 1], nan=0.0)
        value = np.where(keep, value, -np.inf)
        out[t] = people[int(np.argmax(value))]
    return out


def detections_from_arrays(frames: Sequence[Any], *, skeleton: str = "coco",
                           first_frame: int = 0) -> Detections:
    """Per-frame detector arrays ``(people, J, 2|3)`` as :class:`~poselift.detections.Detections`.

    Args:
        frames: as for :func:`from_person_arrays`; item ``i`` is frame ``first_frame + i``.
        skeleton: the layout of the joints.
        first_frame: the number of the first frame.

    Returns:
        Every person of every frame (people without any found joint dropped), ready for
        :func:`poselift.detections.track` (one :class:`~poselift.detections.Track` per
        person, each lifted as a sequence).

    Examples:
        >>> import numpy as np
        >>> from poselift.detections import track
        >>> person = np.ones((17, 3)); person[:, :2] = np.arange(34).reshape(17, 2) * 5
        >>> d = detections_from_arrays([person[None]] * 12)
        >>> len(d), [t.num_detections for t in track(d)]
        (12, [12])
    """
    if isinstance(first_frame, bool) or not isinstance(first_frame, int) or first_frame < 0:
        raise ValueError(f"first_frame: expected a non-negative int, got {first_frame!r}")
    per_frame = _frames(frames, skeleton)
    people = [p[(p[..., 2] > 0).any(-1)] for p in per_frame]
    return Detections.from_frames(people, skeleton, source="arrays", frame_numbers=range(
        first_frame, first_frame + len(people)))
