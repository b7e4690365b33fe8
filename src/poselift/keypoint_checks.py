"""Is this detector output what :func:`poselift.lift` takes? Checks of the input's conventions.

A lifter cannot tell a wrong convention from a strange pose: normalized coordinates, a score
column that holds something else, one image's people passed as the frames of a video, a layout
declared wrongly or pixels with y pointing up all lift to confident, wrong poses. These checks
look at the 2D input only (no model, no reference) and say what looks wrong, naming the
argument and what was expected:

- :func:`check_pixel_units`: coordinates normalized to ``[0, 1]`` (MediaPipe's landmarks) are an
  error: no person is two pixels tall;
- :func:`check_score_range`: negative scores (a depth in the score column, as MediaPipe's
  ``z``) are an error; scores far above 1 (a 0-100 scale) a warning;
- :func:`jumping_frames`: consecutive frames whose bodies jump by more than their own size
  (several people of one image read as frames);
- :func:`upright_fraction`: how many frames show the shoulders above the hips and the ankles
  below them (a wrong layout, y pointing up or x and y swapped turn most frames over).

:func:`inspect_keypoints` runs them all on a bounded sample of frames; :func:`poselift.lift`
calls it on every input (``KeypointWarning`` for the warnings).

Examples:
    >>> import numpy as np
    >>> kp = np.random.default_rng(0).uniform(0, 1, (5, 17, 2))       # normalized landmarks
    >>> check_pixel_units(kp, None, "keypoints2d")
    Traceback (most recent call last):
    ...
    ValueError: keypoints2d: the coordinates look normalized ...
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from poselift._array_ops import all_true, any_true
from poselift.normalization import box_side
from poselift.skeletons import Skeleton

__all__ = [
    "JUMP_SHARE",
    "UPRIGHT_SHARE",
    "KeypointWarning",
    "check_pixel_units",
    "check_score_range",
    "inspect_keypoints",
    "jumping_frames",
    "upright_fraction",
]

NDArray = np.ndarray[Any, Any]

MIN_EXTENT_PX = 2.0
"""Pixels: a frame's keypoints spanning less than this are not pixel coordinates of a person."""

HIGH_SCORE = 1.5
"""Scores above this are not probabilities (detectors' scores lie in [0, 1], a few slightly
above)."""

JUMP_SHARE = 0.5
"""Share of consecutive frame pairs whose bodies jump by more than their size above which the
frames are taken for different people."""

UPRIGHT_SHARE = 0.5
"""Share of frames below which a sequence is taken as turned over (layout or axes wrong)."""


class KeypointWarning(UserWarning):
    """The 2D input looks unlike what its arguments declare (see :mod:`poselift.keypoint_checks`).

    Filter it with ``warnings.filterwarnings("ignore", category=poselift.KeypointWarning)``
    once the input is known to be right.
    """


@functools.lru_cache(maxsize=64)
def _pairs(joints: tuple[str, ...]) -> NDArray | None:
    """Indices of the left/right shoulders, hips (and ankles) of a layout, pair by pair.

    ``(4,)`` or, with ankles, ``(6,)`` (read-only, shared); None without shoulders or hips.
    """
    out: list[int] = []
    for word in ("shoulder", "hip", "ankle"):
        idx = [joints.index(f"{s}_{word}") for s in ("left", "right") if f"{s}_{word}" in joints]
        if len(idx) < 2:
            if word != "ankle":
                return None
            break
        out += idx
    index = np.array(out)
    index.flags.writeable = False
    return index


def _valid(xy: NDArray, scores: NDArray | None, threshold: float) -> NDArray:
    ok: NDArray = np.asarray(np.isfinite(xy).all(-1))
    if scores is not None:  # a NaN score counts as 0 (below any positive threshold)
        ok &= (scores >= threshold) if threshold > 0 else (
            np.nan_to_num(scores, nan=0.0) >= threshold)
    return ok


def _extent(xy: NDArray, ok: NDArray) -> NDArray:
    """``(...)`` larger side of each frame's box of valid joints (NaN: fewer than 2 valid)."""
    every = all_true(ok)
    ext: NDArray = np.asarray(box_side(xy, None if every else ok))  # -inf: none, 0: one
    if every and xy.shape[-2] >= 2:  # (every frame has two valid joints or more)
        return ext
    return np.where(ok.sum(-1) >= 2, ext, np.nan)


def check_pixel_units(xy: NDArray, scores: NDArray | None, name: str,
                      threshold: float = 0.3) -> None:
    """Raise ``ValueError`` if every frame's keypoints span less than two pixels.

    Args:
        xy: ``(..., J, 2)`` coordinates (NaN: missing).
        scores: ``(..., J)`` scores or None.
        name: the argument's name for the message.
        threshold: scores below it mark missing joints.

    Examples:
        >>> import numpy as np
        >>> check_pixel_units(np.array([[100.0, 50.0], [140.0, 300.0]]), None, "kp")  # fine
    """
    _pixel_units(_extent(xy, _valid(xy, scores, threshold)), name)


def _pixel_units(ext: NDArray, name: str) -> None:
    # a spread below two pixels in every frame, but a spread: all joints on one pixel is a
    # frame without a pose (NaN, lift's rule), not a unit mistake
    largest = np.fmax.reduce(ext, None) if ext.size else np.nan  # NaN: no finite extent
    if 0 < largest < MIN_EXTENT_PX:
        raise ValueError(
            f"{name}: the coordinates look normalized (every frame's keypoints span less than "
            f"{MIN_EXTENT_PX:g} units, at most {largest:.3g}); expected pixels: multiply "
            f"x by the image width and y by its height (for MediaPipe results, "
            f"poselift.adapters.from_mediapipe does it)")


def check_score_range(scores: NDArray | None, name: str) -> str | None:
    """Raise on negative scores; return a warning's text for scores on another scale.

    Args:
        scores: ``(..., J)`` scores (NaN ignored) or None.
        name: the argument's name for the message.

    Returns:
        None when the scores look like probabilities, else the text of a warning.

    Raises:
        ValueError: a negative score.

    Examples:
        >>> import numpy as np
        >>> check_score_range(np.array([0.2, 0.9, 1.01]), "scores") is None
        True
        >>> check_score_range(np.array([20.0, 95.0]), "scores")[:46]
        'scores: expected scores in [0, 1], the largest'
    """
    if scores is None or scores.size == 0 or not np.isfinite(scores).any():
        return None
    lo, hi = np.fmin.reduce(scores, None), np.fmax.reduce(scores, None)  # NaN ignored
    if lo < 0:
        raise ValueError(
            f"{name}: expected scores in [0, 1], found {lo:.3g}; is this column a depth "
            f"(MediaPipe's z) rather than a confidence? Pass MediaPipe's visibility as the "
            f"score, or the x, y columns alone")
    if hi > HIGH_SCORE:
        return (f"{name}: expected scores in [0, 1], the largest is {hi:.3g}; joints count as "
                f"detected from a score of 0.3 on (score_threshold), so scores on a 0-100 "
                f"scale keep almost every guess: divide them by 100")
    return None


def jumping_frames(xy: NDArray, scores: NDArray | None, threshold: float = 0.3) -> float:
    """Share of consecutive frames whose body moves by more than its own size.

    The centre of each frame's box of valid joints is compared with the previous frame's;
    a jump larger than the larger of the two boxes' sides counts. Several people of one image
    passed as the frames of a sequence jump in most pairs; a person filmed at any usual frame
    rate never does.

    Args:
        xy: ``(T, J, 2)`` one sequence.
        scores: ``(T, J)`` or None.
        threshold: scores below it mark missing joints.

    Returns:
        The share in ``[0, 1]`` over the pairs where both frames have 2 valid joints (0 when
        there are none).

    Examples:
        >>> import numpy as np
        >>> body = np.random.default_rng(0).uniform(0, 100, (17, 2))
        >>> people = np.stack([body, body + 400, body + [900, 0]])     # three people of one image
        >>> jumping_frames(people, None), jumping_frames(np.stack([body, body + 3]), None)
        (1.0, 0.0)
    """
    ok = _valid(xy, scores, threshold)
    ext = _extent(xy, ok)
    lo = np.where(ok[..., None], xy, np.inf).min(-2)
    hi = np.where(ok[..., None], xy, -np.inf).max(-2)
    with np.errstate(invalid="ignore"):
        centre = (lo + hi) / 2
        step = np.linalg.norm(np.diff(centre, axis=0), axis=-1)
        size = np.fmax(ext[1:], ext[:-1])
        usable = np.isfinite(ext[1:]) & np.isfinite(ext[:-1])
        if not usable.any():
            return 0.0
        return float((step[usable] > size[usable]).mean())


def upright_fraction(xy: NDArray, scores: NDArray | None, skeleton: Skeleton,
                     threshold: float = 0.3) -> float | None:
    """Share of frames whose body stands the right way up in the picture.

    A frame counts as upright when its shoulders' midpoint lies above its hips' midpoint (the
    torso within 60 degrees of the image's up, y pointing down) and, where the ankles are
    seen, their midpoint lies below the hips. Most videos show people upright; a declared
    layout that is not the data's (BODY_25 as BODY_25B, COCO as H36M), y pointing up, or x and
    y swapped turn most frames over.

    Args:
        xy: ``(..., J, 2)`` pixels (y down).
        scores: ``(..., J)`` or None.
        skeleton: the declared layout (its ``left_/right_shoulder``, ``_hip``, ``_ankle``).
        threshold: scores below it mark missing joints.

    Returns:
        The share over the frames whose shoulders and hips are seen, or None when the layout
        has no such joints or no frame shows them.

    Examples:
        >>> import numpy as np
        >>> from poselift.skeletons import get_skeleton
        >>> from poselift.data.synthetic import rest_pose
        >>> pose = rest_pose()[:, :2] * [1, -1] * 300 + 500     # y up (metres) -> y down
        >>> upright_fraction(pose, None, get_skeleton("h36m"))
        1.0
        >>> upright_fraction(pose * [1, -1], None, get_skeleton("h36m"))   # y pointing up
        0.0
    """
    return _upright(xy, _valid(xy, scores, threshold), skeleton)


def _upright(xy: NDArray, ok: NDArray, skeleton: Skeleton) -> float | None:
    pairs = _pairs(skeleton.joints)
    if pairs is None:
        return None
    # the midpoints of the left and right shoulders, hips (and ankles), all at once: the
    # mean of two in fewer steps than .mean (one pose's checks add up)
    ends = xy[..., pairs, :]  # (..., 2 * P, 2)
    mid = (ends[..., 0::2, :] + ends[..., 1::2, :]) * 0.5  # (..., P, 2)
    seen = ok[..., pairs]
    seen = seen[..., 0::2] & seen[..., 1::2]  # (..., P): both ends seen
    both = seen[..., 0] & seen[..., 1]
    if not any_true(both):
        return None
    torso = mid[..., 0, :] - mid[..., 1, :]
    # upright: the torso within 60 degrees of the image's up (y down): -dy > |torso| / 2
    upright = -torso[..., 1] > 0.5 * np.sqrt(np.add.reduce(torso * torso, -1))
    if len(pairs) == 6:  # the ankles, where seen, below the hips
        upright &= ~(seen[..., 2] & (mid[..., 2, 1] < mid[..., 1, 1]))
    return int(np.count_nonzero(upright & both)) / int(np.count_nonzero(both))  # the mean


SAMPLE_FRAMES = 2048
"""Frames :func:`inspect_keypoints` looks at, at most (spread over the input; the first ones of
each sequence for the jump check), so that the checks cost little on long inputs."""


def inspect_keypoints(xy: NDArray, scores: NDArray | None, skeleton: Skeleton, *,
                      sequences: bool, threshold: float = 0.3,
                      scores_name: str = "scores") -> None:
    """Every check of this module on an input of :func:`poselift.lift`; raise or warn.

    Args:
        xy: ``(J, 2)``, ``(T, J, 2)`` or ``(N, T, J, 2)`` pixels as given (any float dtype,
            NaN: missing).
        scores: the matching scores or None.
        skeleton: the declared layout.
        sequences: the leading axes hold sequences (the jump check applies).
        threshold: scores below it mark missing joints.
        scores_name: how the scores were given (``"scores"`` or ``"keypoints2d[..., 2]"``).

    Raises:
        ValueError: normalized coordinates, negative scores.

    Warns:
        KeypointWarning: scores on another scale, frames that jump between bodies, most
        frames turned over.

    Examples:
        >>> import numpy as np, warnings
        >>> from poselift.skeletons import get_skeleton
        >>> from poselift.data.synthetic import rest_pose
        >>> pose = rest_pose()[:, :2] * [1, -1] * 300 + 500
        >>> inspect_keypoints(pose, None, get_skeleton("h36m"), sequences=False)   # fine
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     inspect_keypoints(pose * [1, -1] + [0, 1000], None, get_skeleton("h36m"),
        ...                       sequences=False)
        >>> print(w[0].message)                                   # doctest: +ELLIPSIS
        keypoints2d: 1 of 1 frames (100%) are upside down or lying ...
    """
    j = xy.shape[-2]
    flat = xy.reshape(-1, j, 2)
    sflat = None if scores is None else scores.reshape(-1, j)
    if len(flat) > SAMPLE_FRAMES:
        pick = np.linspace(0, len(flat) - 1, SAMPLE_FRAMES).round().astype(np.int64)
        flat = flat[pick]
        sflat = None if sflat is None else sflat[pick]
    f64 = np.asarray(flat, dtype=np.float64)
    s64 = None if sflat is None else np.asarray(sflat, dtype=np.float64)
    ok = _valid(f64, s64, threshold)
    _pixel_units(_extent(f64, ok), "keypoints2d")
    text = check_score_range(s64, scores_name)
    if text is not None:
        warnings.warn(text, KeypointWarning, stacklevel=3)
    upright = _upright(f64, ok, skeleton)
    if upright is not None and upright < UPRIGHT_SHARE:
        n = int(ok.any(-1).sum())
        warnings.warn(
            f"keypoints2d: {round((1 - upright) * n)} of {n} frames ({(1 - upright):.0%}) are "
            f"upside down or lying (shoulders not above the hips, or ankles above them) for "
            f"skeleton={skeleton.name!r}: is the layout right, and are the coordinates pixels "
            f"with x first and y pointing down? People lying or upside down are not what lift "
            f"was trained on", KeypointWarning, stacklevel=3)
    if sequences and xy.ndim >= 3 and xy.shape[-3] > 1:
        seqs = xy.reshape(-1, *xy.shape[-3:])
        sc_seqs = None if scores is None else scores.reshape(-1, *scores.shape[-2:])
        n = max(2, SAMPLE_FRAMES // max(len(seqs), 1))
        shares = [jumping_frames(np.asarray(seqs[k, :n], dtype=np.float64),
                                 None if sc_seqs is None else
                                 np.asarray(sc_seqs[k, :n], dtype=np.float64), threshold)
                  for k in range(min(len(seqs), SAMPLE_FRAMES // 2))]
        worst = max(shares)
        if worst > JUMP_SHARE:
            warnings.warn(
                f"keypoints2d: the body jumps by more than its own size between {worst:.0%} of "
                f"consecutive frames: are these several people of one image rather than the "
                f"frames of a video? Lift one image's people as independent poses with "
                f"temporal=False (shape (people, J, C)); a video's frames must follow one "
                f"person (poselift.detections.track)", KeypointWarning, stacklevel=3)
