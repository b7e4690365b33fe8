"""Bounded property-based tests (hypothesis) of the file boundaries: readers and CLI outputs.

The issue-29 kinds are generated, not only listed: frame numbers and file names / image ids
of every size and shape (huge numbers, leading zeros, other numbers in the name), frame ids
of every JSON type, and command lines whose outputs fail in random ways (missing directory,
a directory in the way, an unknown extension, a full disk at the k-th file). Each property
checks that the answer is right (compared with what the test wrote) or a ``ValueError`` /
one-line CLI error naming the user's path, and that the CLI writes all outputs or none.
Examples are bounded and derandomized, so the file runs in seconds in CI.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import poselift.cli as cli
from poselift.detections import MAX_FRAME, read_alphapose, read_mmpose, read_openpose
from poselift.models import create_model, save_model

torch.set_num_threads(1)

BOUNDED = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NUMBERS = st.one_of(st.integers(0, 60), st.integers(0, MAX_FRAME - 1),
                    st.integers(MAX_FRAME, 10**30))
TEXT = st.text(alphabet="abcxyz_-", max_size=5)
OTHER = st.one_of(st.just(""), st.builds(lambda t, d: f"_{t}cam{d}", TEXT, st.integers(0, 99)))
"""Text after the frame number, with or without another number (``_cam2``)."""


def _person(j: int, x0: float) -> np.ndarray:
    xy = np.random.default_rng(0).uniform(0, 1, (j, 2)) * [60.0, 170.0] + [x0, 100.0]
    return np.concatenate([xy, np.full((j, 1), 0.9)], 1)


def _expected(numbers: list[int], names: list[str]) -> list[int]:
    """The frame of each name: the number written when names differ in it, else the last."""
    if len(set(numbers)) > 1:
        return numbers
    return [int(re.findall(r"\d+", n)[-1]) for n in names]


@BOUNDED
@given(numbers=st.lists(NUMBERS, min_size=1, max_size=5, unique=True),
       head=TEXT, other=OTHER, width=st.integers(0, 14))
def test_openpose_reader_on_random_frame_numbers_and_names(numbers, head, other, width):
    names = [f"{head}{n:0{width}d}{other}_keypoints.json" for n in numbers]
    with tempfile.TemporaryDirectory() as d:
        for n, name in zip(numbers, names, strict=True):
            doc = {"people": [{"pose_keypoints_2d": _person(25, n % 50).ravel().tolist()}]}
            (Path(d) / name).write_text(json.dumps(doc))
        want = _expected(numbers, names)
        if any(n >= MAX_FRAME for n in want):
            with pytest.raises(ValueError, match=rf"{re.escape(d)}: .*out of range"):
                read_openpose(d, "body_25")
            return
        if len(set(want)) < len(want):  # e.g. one number per name, all alike: refused
            with pytest.raises(ValueError, match="same frame number"):
                read_openpose(d, "body_25")
            return
        dets = read_openpose(d, "body_25")
        assert dets.frames.tolist() == sorted(want) and dets.frame.tolist() == sorted(want)


@BOUNDED
@given(frames=st.lists(st.one_of(NUMBERS, st.integers(0, 5)), min_size=1, max_size=8),
       named=st.booleans(), head=TEXT, other=OTHER)
def test_alphapose_reader_on_random_image_ids(frames, named, head, other):
    ids: list[Any] = [f"{head}{n}{other}.jpg" if named else n for n in frames]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "alphapose-results.json"
        f.write_text(json.dumps([{"image_id": i, "keypoints": _person(17, 5.0 * k).ravel()
                                  .tolist(), "score": 1.0} for k, i in enumerate(ids)]))
        want = _expected(frames, ids) if named else frames
        if any(n >= MAX_FRAME for n in want):
            with pytest.raises(ValueError, match=rf"{re.escape(str(f))}: .*image_id.*out of "
                                                 "range"):
                read_alphapose(f, "coco")
            return
        dets = read_alphapose(f, "coco")
        assert dets.frames.tolist() == sorted(set(want))  # only the frames present
        assert dets.frame.tolist() == sorted(want)


FRAME_IDS = st.one_of(NUMBERS, st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                      st.text(max_size=3), st.none(), st.integers(-10**20, -1))


@BOUNDED
@given(values=st.lists(FRAME_IDS, min_size=1, max_size=5))
def test_mmpose_reader_on_random_frame_ids(values):
    inst = {"keypoints": [[1.0, 2.0]] * 17, "keypoint_scores": [0.9] * 17}
    doc = [{"frame_id": v, "instances": [inst]} for v in values]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "video.json"
        f.write_text(json.dumps(doc))  # inf/nan: written as Infinity/NaN, as Python does
        seen: set[int] = set()
        for i, v in enumerate(values):  # the reader stops at the first bad entry, in order
            good = (isinstance(v, int) and not isinstance(v, bool)) or (
                isinstance(v, float) and math.isfinite(v) and v.is_integer())
            if not good or not -MAX_FRAME <= int(v) < MAX_FRAME:
                with pytest.raises(ValueError, match=rf"video.json: entry {i}: frame_id: "):
                    read_mmpose(f, "coco")
                return
            if int(v) in seen:
                with pytest.raises(ValueError, match=rf"frame_id {int(v)} appears twice"):
                    read_mmpose(f, "coco")
                return
            seen.add(int(v))
        numbers = [int(v) for v in values]
        assert read_mmpose(f, "coco").frames.tolist() == sorted(numbers)


# --- the CLI writes all outputs or none ------------------------------------------------------

_CKPT: list[str] = []


def _checkpoint() -> str:
    if not _CKPT:
        torch.manual_seed(0)
        net = create_model("sr_tcn", skeleton="coco", channels=16, filter_widths=(3,)).eval()
        path = Path(tempfile.mkdtemp()) / "tcn.pt"
        save_model(net, path)
        _CKPT.append(str(path))
    return _CKPT[0]


PLACES = st.sampled_from(["ok", "ok", "ok", "missing_dir", "a_directory", "bad_ext", "old"])


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@BOUNDED
@given(kind=st.sampled_from([".npy", ".npz", ".json"]), out_place=PLACES,
       tracks=st.integers(1, 3), bvh=st.one_of(st.none(), PLACES),
       fail_at=st.one_of(st.none(), st.integers(0, 3)))
def test_cli_outputs_are_all_or_nothing(kind, out_place, tracks, bvh, fail_at):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        rng = np.random.default_rng(tracks)
        entries = []
        for t in range(tracks):
            for f in range(4 + t):
                kp = np.concatenate([rng.uniform(200, 800, (17, 2)), np.full((17, 1), 2.0)], 1)
                entries.append({"image_id": f, "track_id": t + 1, "score": 1.0,
                                "keypoints": kp.ravel().tolist()})
        (root / "in.json").write_text(json.dumps(entries))
        paths = []
        for name, place, ext in (("y", out_place, kind), ("t", bvh, ".bvh")):
            if place is None:
                continue
            path = root / f"{name}{ext}"
            if place == "missing_dir":
                path = root / "missing" / path.name
            elif place == "a_directory":
                path.mkdir()
            elif place == "bad_ext":
                path = path.with_suffix(".txt")
            elif place == "old":
                path.write_bytes(b"old")
                if ext == ".bvh" and tracks > 1:  # a track's own file is the old one
                    (root / f"t_{tracks}.bvh").write_bytes(b"old")
            paths.append(path)
        before = _snapshot(root)
        argv = ["lift", str(root / "in.json"), "-o", str(paths[0]), "--model", _checkpoint()]
        if bvh is not None:
            argv += ["--bvh", str(paths[1])]
        real = cli._write_outputs

        def failing(files):  # the disk fills up at the fail_at-th file
            def full(f):
                f.write(b"partial")
                raise OSError(28, "No space left on device")
            return real([(p, full if i == fail_at else w) for i, (p, w) in enumerate(files)])

        err, out = io.StringIO(), io.StringIO()
        with mock.patch.object(cli, "_write_outputs", failing), \
                contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = cli.main(argv)
        after = _snapshot(root)
        # warnings about the (random) poses are one line each and not part of what is tested
        message = "".join(line for line in err.getvalue().splitlines(keepends=True)
                          if not line.startswith("poselift: warning: "))
        event(f"exit {code}")
        if code == 0:
            assert message == ""
            assert out_place in ("ok", "old") and bvh in (None, "ok", "old")
            assert kind != ".npy" or tracks == 1
            assert not any(n.endswith(".tmp") or "/." in n for n in after)
            assert paths[0].is_file() and paths[0].read_bytes() != b"old"
            return
        assert code == 1 and message.count("\n") == 1 and message.startswith("poselift: error")
        assert ".tmp" not in message and "please report" not in message
        assert after == before  # nothing written, nothing replaced, no temporary file left
        named = [str(p) for p in paths] + [str(root / f"t_{k}.bvh") for k in range(1, 4)]
        assert any(n in message for n in named) or "tracks; a .npy file" in message
