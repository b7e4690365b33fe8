"""The world outside the rig: training recipes and test conditions, one ingredient at a time.

What videos and detectors hand to a lifter differs from the clean evaluation rig in many ways
at once (docs/wild.md). This module names each way as an *ingredient* and
builds both sides from the same pieces:

- :func:`training_augmentation`: the augmentation of a training recipe by name: ``"rig"``
  (the recipe of the first shipped weights: random cameras around the rig, bone and body
  scale, 3 px noise, dropout), ``"rig+<ingredient>"`` (one ingredient added, to measure it on
  its own), ``"wild"`` (every ingredient), ``"wild-mix"`` (wild, with a share of rig samples).
- :func:`render_condition`: held-out motion rendered under one test condition (the rig with
  one ingredient, or all of them: ``"wild"``), deterministic per (condition, clip), as pixels
  and visibility, the way :func:`poselift.lift` takes them.

Ingredients (:data:`INGREDIENTS`):

========== ==================================================================================
cameras    roll +-35 deg, 0.5-4.5 m high and 2-10 m away (from slightly below to about 60 deg
           down, mostly a few degrees down), wide to long lenses
           (the person spans 25-95 % of the frame height), portrait and landscape frames, the
           person anywhere in the frame and partly out of it
bodies     hip width 0.10-0.35 m, shoulders 0.18-0.45 m, torso, hips/shoulders/nose/head-top
           placement, eye and ear spacing (:class:`~poselift.data.bodies.BodyVariation`)
face       face points lost when the face turns away (from the head's orientation), a share
           of them reported anyway (:data:`FACE_KEPT`)
noise      noise proportional to the person's size (COCO keypoint sigmas), outliers,
           left/right swaps
occlusion  a limb end, a limb or a joint lost for 5-40 frames, plus independent dropout
recombine  limbs taken from other poses, limbs swung about hip or shoulder
temporal   what detectors do over time: tracker lag (smoothing), noise correlated over
           frames, a per-joint offset held for the sequence, more and longer left/right
           swaps, a body part lost for the whole sequence (legs or lower body out of frame,
           only the legs in view), windows played slower or nearly still
           (:data:`TEMPORAL_DETECTOR`, :data:`TEMPORAL_TEMPO`)
========== ==================================================================================

Examples:
    >>> aug = training_augmentation("rig+face", skeleton="coco")
    >>> aug.detector.face_away, aug.detector.noise
    ((-0.35, 0.1), None)
    >>> sorted(CONDITIONS)[:4]
    ['bodies', 'face', 'high', 'jitter']
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

import numpy as np
import torch

from poselift.camera import RandomRig
from poselift.data.augment import Augmentation, AugmentationMix
from poselift.data.bodies import BodyVariation, PartRecombination
from poselift.data.detector import DetectorModel
from poselift.data.mocap import MotionSet

__all__ = [
    "CONDITIONS",
    "FACE_KEPT",
    "INGREDIENTS",
    "RECIPES",
    "TEMPORAL_DETECTOR",
    "TEMPORAL_TEMPO",
    "WILD_CAMERA",
    "WildClip",
    "condition_augmentation",
    "render_condition",
    "training_augmentation",
]

INGREDIENTS = ("cameras", "bodies", "face", "noise", "occlusion", "recombine", "temporal")
"""The ingredients of the wild distribution, in the order they are documented."""

_WILD = INGREDIENTS[:-1]
"""The ingredients of ``"wild"`` / ``"wild-mix"`` (the shipped weights' recipe); the
``-temporal`` recipes add ``"temporal"``."""

WILD_CAMERA = RandomRig(
    distance=(2.0, 10.0), height=(0.5, 4.5), azimuth_deg=(0.0, 360.0),
    target_height=(0.7, 1.1), focal=(1145.0, 1145.0), center_offset=(-20.0, 20.0),
    roll_deg=(-35.0, 35.0), image_size=(1000, 1000), person_height=(0.25, 0.95),
    placement=0.6,
    frame_sizes=((1920, 1080), (1080, 1920), (1280, 720), (720, 1280), (640, 480),
                 (1000, 1000)))
"""Cameras of real videos (the ``cameras`` ingredient): 0.5-4.5 m high and 2-10 m away, so
that views range from slightly below (about -17 deg) to about 60 deg down, most often a few
degrees down as with handheld and tripod cameras, with a tail of mounted, looking-down
cameras. A uniform elevation made steep views as common as level ones, and the lifter's prior
for the camera's pitch (which a 2D pose of an unknown body hardly shows) drifted away from
everyday videos; a ceiling of 3.2 m made them too rare (docs/wild.md). The focal length
follows from how much of the frame the person fills."""

FACE_KEPT = (0.0, 0.6)
"""Per-sample probability range that a turned-away face point is reported anyway (the
``face`` ingredient): real detectors guess a face on the back of a head now and then (29 % of
turned-away face points scored 0.3 or more in the real detections we measured). Always losing them
taught the lifter that a visible face means a frontal view (clean P1 +8.8 mm after 4 epochs);
a share reported keeps the left/right limb order as the cue (measured in docs/wild.md)."""

TEMPORAL_DETECTOR: dict[str, Any] = {
    "lag": (0.0, 2.0), "jitter": (0.0, 0.6), "jitter_correlation": (0.5, 0.95),
    "bias": (0.0, 0.6), "missing_part": 0.15, "swaps": 0.1,
}
"""The detector side of the ``temporal`` ingredient (fields of
:class:`~poselift.data.detector.DetectorModel`), with ranges taken from real detector output
(``examples/real2d_benchmark.py --detector-stats``, docs/real-world.md): noise correlated
over frames (measured: frame-to-frame correlation 0.7-0.9, size 0.2-0.3 of the COCO spread
for OpenPose, 0.3-0.6 for MediaPipe) and a per-joint offset held for the sequence (0.15-0.2
for OpenPose against a reference built from it, 0.4-0.55 for MediaPipe), up to 0.6 each; a
tracker's smoothing lag of 0-2 frames (MediaPipe's video mode showed none against its image
mode at 60 fps; other trackers smooth more); a body part lost for the whole sequence in 15 % of
samples; left/right swaps in 10 % of samples (MediaPipe's full model swapped the legs in 30 of
100 frames of one camera of the real clip)."""

TEMPORAL_TEMPO: dict[str, Any] = {"tempo": 0.3, "tempo_speed": (0.0, 1.0)}
"""The motion side of the ``temporal`` ingredient (fields of
:class:`~poselift.data.Augmentation`): 30 % of windows played slower, from a still pose to the
recorded 30 fps (cameras at 60 fps, slow movers, people sitting still)."""

_NO_DETECTOR = DetectorModel(face_away=None, truncate=False, noise=None, outliers=0.0,
                             swaps=0.0, occlusion=0.0, dropout=0.0)


def _detector_for(*ingredients: str) -> DetectorModel:
    """A detector with just the detector-side ingredients named (truncation with cameras)."""
    det = _NO_DETECTOR
    full = DetectorModel()
    if "cameras" in ingredients:
        det = replace(det, truncate=True)
    if "face" in ingredients:
        det = replace(det, face_away=full.face_away, face_kept=FACE_KEPT)
    if "noise" in ingredients:
        det = replace(det, noise=full.noise, outliers=full.outliers, swaps=full.swaps)
    if "occlusion" in ingredients:
        det = replace(det, occlusion=full.occlusion, dropout=full.dropout)
    if "temporal" in ingredients:
        det = replace(det, **TEMPORAL_DETECTOR)
    return det


def _rig_recipe(skeleton: str) -> Augmentation:
    """The recipe of the first shipped weights (cards of 0.1: random rig, 3 px, dropout)."""
    return Augmentation(camera=RandomRig(), flip=0.5, bone_scale=(0.85, 1.15),
                        global_scale=(0.85, 1.2), pixel_noise=3.0,
                        dropout=0.08 if skeleton == "coco" else 0.05, normalize="bbox")


def _with(base: Augmentation, ingredients: tuple[str, ...]) -> Augmentation:
    unknown = [i for i in ingredients if i not in INGREDIENTS]
    if unknown:
        raise ValueError(f"recipe: unknown ingredient(s) {unknown}; known: {INGREDIENTS}")
    kw: dict[str, Any] = {}
    if "cameras" in ingredients:
        kw["camera"] = WILD_CAMERA
    if "bodies" in ingredients:
        kw["body"] = BodyVariation()
    if "recombine" in ingredients:
        kw["recombine"] = PartRecombination(swap=0.3, swing=0.2)
    if "temporal" in ingredients:
        kw.update(TEMPORAL_TEMPO)
    det = _detector_for(*ingredients)
    if det != _NO_DETECTOR:
        kw["detector"] = det
        if "occlusion" in ingredients:
            kw["dropout"] = 0.0  # the detector's own dropout replaces the recipe's
        if "noise" in ingredients:
            kw["pixel_noise"] = 1.0  # the detector's noise scales with the person
    return replace(base, **kw)


RECIPES = ("paper", "random", "rig", *(f"rig+{i}" for i in INGREDIENTS), "wild", "wild-mix",
           "wild-temporal", "wild-mix-temporal")
"""Names accepted by :func:`training_augmentation`."""

WILD_MIX_RIG_SHARE = 0.5
"""Share of ``"wild-mix"`` samples drawn from the ``"rig"`` recipe."""


def training_augmentation(recipe: str, *, skeleton: str = "coco", normalize: str = "bbox",
                          overrides: Mapping[str, Any] | None = None
                          ) -> Augmentation | AugmentationMix:
    """The training augmentation of a named recipe.

    Args:
        recipe: ``"paper"`` (the fixed evaluation rig, one of its cameras per sample, flips:
            the ablations' setting), ``"random"`` (random cameras around the rig, bone and body
            scale), ``"rig"`` (``"random"`` plus 3 px noise and joint dropout: the recipe of
            the first shipped weights), ``"rig+<ingredient>"`` (also several:
            ``"rig+face+noise"``), ``"wild"`` or ``"wild-mix"`` (see the module docs; the
            shipped weights' recipe), ``"wild-temporal"`` or ``"wild-mix-temporal"`` (the
            same with the ``temporal`` ingredient in the wild part).
        skeleton: the input skeleton (its dropout rate in the rig recipe).
        normalize: the model's ``input_norm`` (the ``"rig"``-based recipes need ``"bbox"``:
            their frames have several sizes).
        overrides: changes to the recipe, ``{key: value}``: a field of
            :class:`~poselift.data.Augmentation` (``"pixel_noise"``) or a dotted path into
            its parts (``"detector.face_kept"``, ``"camera.roll_deg"``), applied to every
            part of a mix that has it; ``"rig:<key>"`` / ``"wild:<key>"`` only to that part
            of ``"wild-mix"``; ``"share"``: the rig part's share of ``"wild-mix"`` (default
            :data:`WILD_MIX_RIG_SHARE`).

    Raises:
        ValueError: unknown recipe, ingredient or override key, or ``"screen"`` with a recipe
            that needs ``"bbox"``.

    Examples:
        >>> training_augmentation("wild").camera.roll_deg
        (-35.0, 35.0)
        >>> mix = training_augmentation("wild-mix", overrides={"share": 0.5,
        ...                                                    "wild:detector.face_kept": (0, 0.5)})
        >>> [w for w, _ in mix.parts], mix.parts[1][1].detector.face_kept
        ([0.5, 0.5], (0, 0.5))
        >>> training_augmentation("paper", normalize="screen").camera
        'h36m-like'
    """
    extra = dict(overrides or {})
    share = float(extra.pop("share", WILD_MIX_RIG_SHARE))
    parts = _recipe_parts(recipe, skeleton, normalize, share)
    for key, value in extra.items():
        part, _, path = key.rpartition(":")
        hit = False
        for k, (label, aug) in enumerate(parts):
            if part in ("", label):
                changed = _override(aug, path.split("."), value)
                if changed is not None:
                    parts[k] = (label, changed)
                    hit = True
        if not hit:
            raise ValueError(f"overrides: {key!r} matches no field of recipe {recipe!r}")
    if len(parts) == 1:
        return parts[0][1]
    return AugmentationMix(((share, parts[0][1]), (1 - share, parts[1][1])))


def _recipe_parts(recipe: str, skeleton: str, normalize: str, share: float
                  ) -> list[tuple[str, Augmentation]]:
    if recipe == "paper":
        return [("rig", Augmentation(camera="h36m-like", flip=0.5, bone_scale=None,
                                     global_scale=None, normalize=normalize))]
    if recipe == "random":
        return [("rig", Augmentation(camera=RandomRig(), flip=0.5, bone_scale=(0.85, 1.15),
                                     global_scale=(0.85, 1.2), normalize=normalize))]
    if normalize != "bbox":
        raise ValueError(f"normalize: recipe {recipe!r} needs a model with input_norm='bbox', "
                         f"got {normalize!r}")
    base = _rig_recipe(skeleton)
    if recipe == "rig":
        return [("rig", base)]
    if recipe.startswith("rig+"):
        return [("rig", _with(base, tuple(recipe.removeprefix("rig+").split("+"))))]
    temporal = recipe.endswith("-temporal")
    wild = _with(base, (*_WILD, "temporal") if temporal else _WILD)
    if recipe in ("wild", "wild-temporal"):
        return [("wild", wild)]
    if recipe in ("wild-mix", "wild-mix-temporal"):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"overrides: share must be in [0, 1], got {share!r}")
        return [("rig", base), ("wild", wild)]
    raise ValueError(f"recipe: expected one of {RECIPES} (or 'rig+<a>+<b>'), got {recipe!r}")


def _override(obj: Any, path: list[str], value: Any) -> Any:
    """``obj`` with the (dotted) field ``path`` replaced, or None if it has no such field."""
    if obj is None or not is_dataclass(obj) or isinstance(obj, type) or \
            path[0] not in {f.name for f in fields(obj)}:
        return None
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    inner = _override(getattr(obj, path[0]), path[1:], value)
    return None if inner is None else replace(obj, **{path[0]: inner})


# --- test conditions ----------------------------------------------------------------------

_RIG_CAMERA = RandomRig(distance=(5.0, 5.0), height=(1.6, 1.6), azimuth_deg=(0.0, 360.0),
                        target_height=(0.9, 0.9), focal=(1145.0, 1145.0),
                        center_offset=(0.0, 0.0), roll_deg=(0.0, 0.0))
"""The evaluation rig's camera (docs/protocols.md) at any azimuth."""

CONDITIONS: dict[str, str] = {
    "rig": "the evaluation rig's camera (5 m, 1.6 m high, 1145 px) at a random azimuth",
    "roll": "rig camera rolled by up to +-35 degrees",
    "high": "rig camera 25-50 degrees above the person, looking down",
    "lens": "2-10 m, wide to long lenses, the person anywhere in a portrait or landscape "
            "frame and partly out of it (truncated joints lost)",
    "bodies": "other bodies: hips 0.10-0.35 m, shoulders 0.18-0.45 m, torso, head points, "
              "limbs x0.85-1.15, stature x0.85-1.2",
    "face": "face points lost when the face turns away, a share reported anyway as "
            "detectors do (COCO input)",
    "no-face": "every face point lost in every frame (COCO input: limbs only)",
    "noise": "detector noise (size-relative), outliers and left/right swaps",
    "occlusion": "limbs and joints lost for 5-40 frames, 5 % independent dropout",
    "wild": "all of the above at once (the training wild distribution, no recombination)",
    "lag": "a tracker's smoothing: every joint lags its projection by 1-4 frames",
    "jitter": "noise correlated over frames and a per-joint offset held for the clip",
    "swaps": "the left/right joints of a group (legs, arms, all) swapped for a run of frames "
             "in every clip",
    "upper-body": "the lower body (pelvis, hips, knees, ankles) out of view for the whole "
                  "clip (a person at a desk or close to a webcam)",
    "legs-only": "every joint above the hips out of view for the whole clip",
    "slow": "the clip seen at twice its frame rate (a 60 fps video of the middle half)",
    "still": "a nearly still person: the middle of the clip played 20 times slower",
}
"""Test conditions of :func:`render_condition`, with what each changes."""

_ALWAYS_LOST = (1.5, 1.5)  # face_away threshold above any cosine: every face point lost


def condition_augmentation(condition: str) -> Augmentation:
    """The (deterministic-camera, unflipped) augmentation that renders a test condition.

    Examples:
        >>> condition_augmentation("roll").camera.roll_deg
        (-35.0, 35.0)
    """
    if condition not in CONDITIONS:
        raise ValueError(f"condition: expected one of {sorted(CONDITIONS)}, got {condition!r}")
    plain = Augmentation(camera=_RIG_CAMERA, flip=0.0, bone_scale=None, global_scale=None,
                         normalize="bbox")
    if condition == "rig":
        return plain
    if condition == "roll":
        return replace(plain, camera=replace(_RIG_CAMERA, roll_deg=(-35.0, 35.0)))
    if condition == "high":
        return replace(plain, camera=replace(_RIG_CAMERA, elevation_deg=(25.0, 50.0)))
    if condition == "lens":
        cam = replace(WILD_CAMERA, height=(1.6, 1.6), roll_deg=(0.0, 0.0),
                      target_height=(0.9, 0.9), center_offset=(0.0, 0.0))
        return replace(plain, camera=cam, detector=_detector_for("cameras"))
    if condition == "bodies":
        return replace(plain, body=BodyVariation(), bone_scale=(0.85, 1.15),
                       global_scale=(0.85, 1.2))
    if condition == "face":
        return replace(plain, detector=_detector_for("face"))
    if condition == "no-face":
        return replace(plain, detector=replace(_NO_DETECTOR, face_away=_ALWAYS_LOST))
    if condition == "noise":
        return replace(plain, detector=replace(_detector_for("noise"), noise=(0.2, 0.6)))
    if condition == "occlusion":
        return replace(plain, detector=replace(_detector_for("occlusion"), occlusion=0.5))
    if condition == "lag":
        return replace(plain, detector=replace(_NO_DETECTOR, lag=(1.0, 4.0)))
    if condition == "jitter":
        return replace(plain, detector=replace(_NO_DETECTOR, jitter=(0.2, 0.6),
                                               jitter_correlation=(0.5, 0.95),
                                               bias=(0.2, 0.5)))
    if condition == "swaps":
        return replace(plain, detector=replace(_NO_DETECTOR, swaps=1.0))
    if condition in ("upper-body", "legs-only"):
        weights = (0.0, 1.0, 0.0) if condition == "upper-body" else (0.0, 0.0, 1.0)
        return replace(plain, detector=replace(_NO_DETECTOR, missing_part=1.0,
                                               missing_part_weights=weights))
    if condition in ("slow", "still"):
        speed = 0.5 if condition == "slow" else 0.05
        return replace(plain, tempo=1.0, tempo_speed=(speed, speed))
    wild = _with(replace(plain, bone_scale=(0.85, 1.15), global_scale=(0.85, 1.2)),
                 tuple(i for i in _WILD if i != "recombine"))
    return replace(wild, pixel_noise=0.0)


@dataclass(frozen=True)
class WildClip:
    """One held-out clip rendered under a test condition.

    Attributes:
        name: clip name.
        content: the clip's content (action) label.
        keypoints: ``(T, J, 3)`` pixels and a score (1 visible, 0 lost), as a detector's
            output for :func:`poselift.lift`.
        targets: ``(T, 17, 3)`` H36M-17 camera coordinates minus the pelvis, metres.
        pelvis: ``(T, 3)`` pelvis in camera coordinates, metres.
        frame: ``(width, height)`` of the picture, pixels.
    """

    name: str
    content: str
    keypoints: np.ndarray[Any, Any]
    targets: np.ndarray[Any, Any]
    pelvis: np.ndarray[Any, Any]
    frame: tuple[int, int]


def _seed(*parts: object) -> int:
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


def render_condition(motion: MotionSet, condition: str, *, layout: str = "coco",
                     seed: int = 0) -> list[WildClip]:
    """Render every clip of ``motion`` under a test condition (one draw per clip).

    Each clip is one sample: one camera, one body, one detector for all its frames, drawn
    from a generator seeded by ``(seed, condition, clip name)``, so that every model is
    measured on the very same inputs, whatever else is evaluated.

    Args:
        motion: held-out world motion (e.g. ``protocol_motion("p1-style", root, "test")``).
        condition: a key of :data:`CONDITIONS`.
        layout: input layout of the keypoints (``"coco"`` or ``"h36m"``).
        seed: base seed.

    Returns:
        One :class:`WildClip` per clip, in ``motion`` order.

    Examples:
        >>> import tempfile
        >>> from poselift.data import load_bandai
        >>> from poselift.data.synthetic import write_synthetic_bandai
        >>> ms = load_bandai(write_synthetic_bandai(tempfile.mkdtemp()))
        >>> clip = render_condition(ms, "no-face")[0]
        >>> clip.keypoints.shape[1:], float(clip.keypoints[:, :5, 2].max())
        ((17, 3), 0.0)
    """
    aug = condition_augmentation(condition)
    out = []
    for clip in motion.to_y_up().clips:
        g = torch.Generator().manual_seed(_seed(seed, condition, clip.name))
        world = torch.from_numpy(clip.poses.astype(np.float64))[None]
        r = aug.render(world, generator=g, layout=layout)
        kp = torch.cat([r.keypoints[0], r.visible[0, ..., None].to(r.keypoints.dtype)], -1)
        w, h = (int(v) for v in r.frame[0].tolist())
        out.append(WildClip(clip.name, str(clip.meta.get("content", "")),
                            kp.numpy().astype(np.float32), r.targets[0].numpy().astype(np.float32),
                            r.pelvis[0].numpy().astype(np.float32), (w, h)))
    return out
