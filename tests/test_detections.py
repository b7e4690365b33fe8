"""Reading detector outputs (OpenPose, MMPose, AlphaPose), tracking, and ``poselift lift`` on
them, on small made-up files of each format (no detector needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import poselift
from poselift.cli import main
from poselift.detections import (
    Detections,
    detect_format,
    frame_number,
    read_alphapose,
    read_detections,
    read_mmpose,
    read_openpose,
    track,
)
from poselift.skeletons import convert_keypoints

REPO = Path(__file__).resolve().parents[1]


# --- made-up detector files ----------------------------------------------------------------


def bow_coco() -> np.ndarray:
    """(172, 17, 3) COCO keypoints (pixels, detector-like scores) of the bundled demo clip."""
    with np.load(str(files("poselift") / "assets" / "demo_bow.npz")) as z:
        return np.asarray(z["keypoints2d"], dtype=np.float64)


def as_openpose(kp: np.ndarray) -> list[float]:
    """(J, 3) with NaN for missing -> OpenPose's flat list, missing joints as 0, 0, 0."""
    out = np.where(np.isfinite(kp[:, :2]).all(-1, keepdims=True) & (kp[:, 2:] > 0), kp, 0.0)
    return out.ravel().tolist()


def write_openpose(folder: Path, people_per_frame: dict[int, list[np.ndarray]],
                   name: str = "video") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f, people in people_per_frame.items():
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d":
                                           as_openpose(p), "face_keypoints_2d": []}
                                          for p in people]}
        (folder / f"{name}_{f:012d}_keypoints.json").write_text(json.dumps(doc))
    return folder


def person(j: int, x0: float, y0: float = 100.0, score: float = 0.9, seed: int = 0
           ) -> np.ndarray:
    """(J, 3) a made-up person: distinct joints spread over 60 x 170 px."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1, (j, 2)) * [60.0, 170.0] + [x0, y0]
    return np.concatenate([xy, np.full((j, 1), score)], axis=1)


def crossing(frames: int = 40, j: int = 25, hidden: range = range(0)
             ) -> tuple[dict[int, list[np.ndarray]], np.ndarray, np.ndarray]:
    """Two people of the same size and pose walking towards each other and past each other;
    ``a`` is not detected in the ``hidden`` frames. Frame order of people alternates."""
    p = person(j, 0.0)
    a = np.stack([p + np.array([100 + 8 * t, 0, 0]) for t in range(frames)])
    b = np.stack([p + np.array([100 + 8 * (frames - 1) - 8 * t, 2, 0])
                  for t in range(frames)])
    per = {}
    for t in range(frames):
        people = [b[t]] if t in hidden else [a[t], b[t]]
        per[t] = people[:: (-1) ** t]
    return per, a, b


# --- readers --------------------------------------------------------------------------------


def test_frame_number():
    assert frame_number("video_000000000012_keypoints.json") == 12
    assert frame_number("cam2/run3_0007.json") == 7
    assert frame_number("17.jpg") == 17
    with pytest.raises(ValueError, match="no digits"):
        frame_number("keypoints.json")


def test_read_openpose_folder_with_gaps_and_empty_frames(tmp_path):
    folder = write_openpose(tmp_path / "op", {0: [person(25, 0)], 1: [], 2: [person(25, 5),
                                              person(25, 300)], 5: [person(25, 9)]})
    d = read_openpose(folder, "body_25")
    assert d.skeleton == "body_25" and d.frames.tolist() == [0, 1, 2, 5]
    assert d.frame.tolist() == [0, 2, 2, 5] and d.keypoints.shape == (4, 25, 3)
    np.testing.assert_allclose(d.keypoints[3], person(25, 9))
    assert d.in_frame(1).shape == (0, 25, 3)


def test_read_openpose_skips_people_without_body_and_reads_zeros_as_missing(tmp_path):
    kp = person(18, 0)
    kp[3] = np.nan  # written as 0, 0, 0
    doc = {"people": [{"pose_keypoints_2d": [], "face_keypoints_2d": [1, 2, 3]},
                      {"pose_keypoints_2d": as_openpose(kp)}]}
    f = tmp_path / "img_0003_keypoints.json"
    f.write_text(json.dumps(doc))
    d = read_openpose(f, "coco_18")
    assert d.frames.tolist() == [3] and len(d) == 1
    assert d.keypoints[0, 3].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("files_", "skeleton", "match"),
    [
        ({"a_0.json": {"people": [{"pose_keypoints_2d": [1.0] * 75}]}}, "coco",
         r"a_0.json: people\[0\].pose_keypoints_2d: expected 51 numbers .* got 75 .*body_25"),
        ({"a_0.json": {"people": [{"pose_keypoints_2d": [1.0] * 54}]}}, "body_25",
         r"expected 75 numbers .* got 54 .*coco_18"),
        ({"a_0.json": {"people": [{"pose_keypoints_2d": ["x"] * 75}]}}, "body_25",
         r"pose_keypoints_2d: expected numbers"),
        ({"a_0.json": {"people": [{"face_keypoints_2d": []}]}}, "body_25",
         r"people\[0\]: expected 'pose_keypoints_2d'"),
        ({"a_0.json": {"bodies": []}}, "body_25", r"expected an OpenPose JSON object"),
        ({"a_0.json": "{not json"}, "body_25", r"a_0.json: not valid JSON"),
        ({"keypoints.json": {"people": []}}, "body_25", r"no digits in the name"),
        ({"a_1.json": {"people": []}, "b_001.json": {"people": []}}, "body_25",
         r"same frame number 1"),
        ({}, "body_25", r"no .json files"),
    ],
)
def test_read_openpose_errors_name_the_file_and_the_problem(tmp_path, files_, skeleton, match):
    folder = tmp_path / "op"
    folder.mkdir()
    for name, doc in files_.items():
        (folder / name).write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        read_openpose(folder, skeleton)


def mmpose_instance(kp: np.ndarray) -> dict[str, Any]:
    return {"keypoints": kp[:, :2].tolist(), "keypoint_scores": kp[:, 2].tolist(),
            "bbox": [[0.0, 0.0, 10.0, 10.0]], "bbox_score": 0.9}


def test_read_mmpose_video_file_and_demo_file(tmp_path):
    k0, k1 = person(26, 0), person(26, 200, seed=1)
    video = [{"frame_id": 0, "instances": [mmpose_instance(k0), mmpose_instance(k1)]},
             {"frame_id": 1, "instances": []}, {"frame_id": 3, "instances": [
                 mmpose_instance(k1)]}]
    f = tmp_path / "video.json"
    f.write_text(json.dumps(video))
    d = read_mmpose(f, "halpe_26")
    assert d.frames.tolist() == [0, 1, 3] and d.frame.tolist() == [0, 0, 3]
    np.testing.assert_allclose(d.keypoints[1], k1)
    demo = tmp_path / "demo.json"
    demo.write_text(json.dumps({"meta_info": {"dataset_name": "halpe26", "num_keypoints": 26},
                                "instance_info": video}))
    np.testing.assert_array_equal(read_mmpose(demo, "halpe_26").keypoints, d.keypoints)
    with pytest.raises(ValueError, match="meta_info says 26 keypoints, skeleton 'coco' has 17"):
        read_mmpose(demo, "coco")


def test_read_mmpose_per_image_folder(tmp_path):
    folder = tmp_path / "predictions"
    folder.mkdir()
    for f in (4, 6):
        (folder / f"frame_{f:04d}.json").write_text(json.dumps([mmpose_instance(person(17, f))]))
    d = read_mmpose(folder, "coco")
    assert d.frames.tolist() == [4, 6] and d.frame.tolist() == [4, 6]
    assert detect_format(folder) == "mmpose" and detect_format(folder / "frame_0004.json") == \
        "mmpose"
    bad = folder / "frame_0007.json"
    bad.write_text(json.dumps([{"keypoints": [[1.0, 2.0]] * 16, "keypoint_scores": [1.0] * 16}]))
    with pytest.raises(ValueError, match=r"frame_0007.json\[0\]: expected 17 keypoints and 17 "
                                         r"scores for skeleton 'coco', got 16 and 16"):
        read_mmpose(folder, "coco")


def test_read_alphapose(tmp_path):
    entries = [{"image_id": f"{f}.jpg", "category_id": 1, "idx": [0.0],
                "keypoints": person(26, 10 * f).ravel().tolist(), "score": 2.5,
                "box": [0, 0, 1, 1]} for f in (2, 2, 5)]
    f = tmp_path / "alphapose-results.json"
    f.write_text(json.dumps(entries))
    d = read_alphapose(f, "halpe_26")
    assert d.frame.tolist() == [2, 2, 5] and d.frames.tolist() == [2, 5]
    assert detect_format(f) is None  # a COCO-results-like list: AlphaPose must be named
    assert read_detections(f, "halpe_26", format="alphapose").frame.tolist() == [2, 2, 5]
    f.write_text(json.dumps([{**entries[0], "image_id": "frame.jpg"}]))
    with pytest.raises(ValueError, match=r"entry 0: image_id: 'frame.jpg': cannot tell the "
                                         "frame number"):
        read_alphapose(f, "halpe_26")


def test_read_detections_auto_and_errors(tmp_path):
    folder = write_openpose(tmp_path / "op", {0: [person(25, 0)]})
    assert detect_format(folder) == "openpose"
    assert len(read_detections(folder, "body_25b")) == 1
    other = tmp_path / "x.json"
    other.write_text(json.dumps({"keypoints2d": []}))
    with pytest.raises(ValueError, match="not recognised as OpenPose or MMPose output"):
        read_detections(other, "coco")
    with pytest.raises(ValueError, match="format: expected 'auto' or one of"):
        read_detections(folder, "coco", format="yolo")
    with pytest.raises(ValueError, match="unknown skeleton 'body25'"):
        read_openpose(folder, "body25")


def test_detections_validation():
    kp = np.zeros((2, 17, 3))
    with pytest.raises(ValueError, match=r"keypoints: expected shape \(D, J, 3\) = \(2, 17, 3\)"):
        Detections("coco", np.array([0, 1]), np.zeros((2, 18, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="every detection's frame number must be one of frames"):
        Detections("coco", np.array([0, 2]), kp, np.array([0, 1]))
    with pytest.raises(ValueError, match="non-decreasing"):
        Detections("coco", np.array([1, 0]), kp, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"per_frame\[1\]: expected shape \(N, 17, 3\)"):
        Detections.from_frames([np.zeros((1, 17, 3)), np.zeros((17, 3))], "coco")


# --- tracking -------------------------------------------------------------------------------


def _which(tr, a: np.ndarray, b: np.ndarray) -> set[str]:
    """Which of the two people each detected frame of a track is ("a", "b")."""
    out = set()
    for f, kp in zip(tr.frames[tr.detected], tr.keypoints[tr.detected], strict=True):
        if np.allclose(kp, a[f]):
            out.add("a")
        elif np.allclose(kp, b[f]):
            out.add("b")
        else:
            out.add("?")
    return out


@pytest.mark.parametrize("hidden", [range(0), range(11, 15), range(19, 22)])
def test_two_people_who_cross_paths_do_not_swap(tmp_path, hidden):
    per, a, b = crossing(hidden=hidden)
    d = read_openpose(write_openpose(tmp_path / "op", per), "body_25")
    tracks = track(d)
    assert len(tracks) == 2
    assert sorted(_which(t, a, b).pop() for t in tracks) == ["a", "b"]
    assert all(len(_which(t, a, b)) == 1 for t in tracks)
    ta = next(t for t in tracks if _which(t, a, b) == {"a"})
    assert ta.frames.tolist() == list(range(40))  # hidden frames are in the track, missing
    assert (~ta.detected).nonzero()[0].tolist() == list(hidden)
    assert np.isnan(ta.keypoints[~ta.detected, :, :2]).all()
    assert (ta.keypoints[~ta.detected, :, 2] == 0).all()


def test_missing_frame_files_are_missing_frames_of_the_track(tmp_path):
    per = {f: [person(25, 100 + 3 * f)] for f in range(20) if f not in (7, 8)}
    d = read_openpose(write_openpose(tmp_path / "op", per), "body_25")
    (t,) = track(d)
    assert t.frames.tolist() == list(range(20)) and t.num_detections == 18
    assert t.detected[[7, 8]].tolist() == [False, False]


def test_short_and_low_score_tracks_are_dropped():
    rng = np.random.default_rng(0)
    frames: list[list[np.ndarray]] = []
    for f in range(30):
        people = [person(17, 100 + 2 * f)]
        if 5 <= f < 9:  # a ghost: 4 frames only
            people.append(person(17, 500, seed=3))
        people.append(person(17, 800 + rng.normal(), score=0.35))  # long but dim
        frames.append(np.stack(people))
    dim = frames[0][-1].copy()
    dim[:12, 2] = 0.05  # most joints below the threshold: detection score ~0.12
    for f in range(30):
        frames[f][-1, :, 2] = dim[:, 2]
    d = Detections.from_frames(frames, "coco")
    kept = track(d)
    assert [t.frames.tolist()[0] for t in kept] == [0]  # only the real person
    assert len(track(d, min_length=4)) == 2  # the ghost survives a lower length limit
    assert len(track(d, min_score=0.1)) == 2  # the dim one a lower score limit
    assert kept[0].score == pytest.approx(0.9)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_similarity": -1}, "min_similarity: expected a number >= 0"),
    ({"max_unseen_frames": -1}, "max_unseen_frames: expected an int >= 0"),
    ({"min_length": 0}, "min_length: expected an int >= 1"),
    ({"min_score": float("nan")}, "min_score: expected a number"),
])
def test_track_parameters_are_checked(kwargs, match):
    d = Detections.from_frames([np.ones((1, 17, 3))], "coco")
    with pytest.raises(ValueError, match=match):
        track(d, **kwargs)
    with pytest.raises(TypeError, match="detections: expected Detections"):
        track(np.ones((1, 17, 3)))  # type: ignore[arg-type]


# --- the command line -------------------------------------------------------------------------


def subject_and_bystander(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """An OpenPose BODY_25B folder of a real motion (the demo clip) with a bystander (another
    person, smaller, standing to the right), the subject undetected in a few frames, a
    short-lived ghost and a missing frame file. Returns the folder and the subject's own
    (T, 25, 3) keypoints with NaN rows where it was not detected."""
    coco = bow_coco()
    subject = np.asarray(convert_keypoints(coco, "coco", "body_25b"))
    subject[..., 2] = np.where(np.isnan(subject[..., 0]), 0.0, subject[..., 2])
    other = subject[::-1] * [0.6, 0.6, 1.0] + [900.0, 150.0, 0.0]
    t = len(subject)
    own = subject.copy()
    per: dict[int, list[np.ndarray]] = {}
    for f in range(t):
        if f == 50:  # no file at all for this frame
            own[f] = np.nan
            continue
        people = []
        if f not in (0, 1, 80, 81, 82):
            people.append(subject[f])
        else:
            own[f] = np.nan
        if 10 <= f < 160:
            people.append(other[f])
        if 30 <= f < 33:
            people.append(person(25, 1500, score=0.4, seed=5))
        per[f] = people[:: (-1) ** f]
    return write_openpose(tmp_path / "json", per), own


def test_cli_lifts_each_track_exactly_as_lift_on_its_own_keypoints(tmp_path, capsys):
    folder, own = subject_and_bystander(tmp_path)
    out = tmp_path / "poses3d.json"
    assert main(["lift", str(folder), "--skeleton", "body_25b", "-o", str(out)]) == 0
    assert "2 track(s) in 171 frame(s)" in capsys.readouterr().out
    results = json.loads(out.read_text())["results"]
    by_track: dict[int, dict[int, np.ndarray]] = {}
    for r in results:
        by_track.setdefault(r["track_id"], {})[r["image_id"]] = np.array(r["keypoints3d"])
    assert sorted(by_track) == [0, 1]
    detected = np.isfinite(own[:, 0, 0])
    subject = by_track[0]  # the subject appears first (frame 2; the bystander from 10)
    assert sorted(subject) == np.flatnonzero(detected).tolist()
    assert len(subject) >= 0.95 * 171
    want = poselift.lift(own, skeleton="body_25b")  # the subject's own keypoints, all frames
    got = np.stack([subject[f] for f in sorted(subject)])
    assert np.abs(got - want[detected]).max() < 1e-4  # metres: the same computation


def test_cli_tracks_with_npz_output_and_independent_frames(tmp_path):
    per, a, b = crossing(frames=20)
    folder = write_openpose(tmp_path / "op", per)
    out = tmp_path / "p.npz"
    assert main(["lift", str(folder), "--skeleton", "body_25", "-o", str(out),
                 "--independent"]) == 0
    with np.load(out) as z:
        assert sorted(z.files) == ["coordinates", "image_id_0", "image_id_1", "model",
                                   "poses3d_0", "poses3d_1", "root", "skeleton", "track_id_0",
                                   "track_id_1", "units", "weights"]
        assert z["poses3d_0"].shape == (20, 17, 3) and z["image_id_1"].tolist() == list(
            range(20))
        np.testing.assert_allclose(z["poses3d_0"], poselift.lift(
            a if _is_a(z["poses3d_0"], a) else b, skeleton="body_25", temporal=False),
            atol=1e-5)


def _is_a(poses: np.ndarray, a: np.ndarray) -> bool:
    return bool(np.allclose(poses, poselift.lift(a, skeleton="body_25", temporal=False),
                            atol=1e-5))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "poselift", *args], capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize(
    ("setup", "args", "match"),
    [
        ("openpose", ["--skeleton", "coco"], r"expected 51 numbers .* got 75"),
        ("openpose", ["--skeleton", "body_26"], r"unknown skeleton 'body_26'"),
        ("badjson", ["--skeleton", "body_25"], r"bad_000000000001_keypoints.json: not valid "
                                               "JSON"),
        ("empty", ["--skeleton", "body_25"], r"no .json files in the folder"),
        ("nodigits", ["--skeleton", "body_25"], r"cannot tell the frame number"),
        ("openpose", ["--skeleton", "body_25", "--min-track-length", "99"],
         r"no track of at least 99 detections"),
        ("coco_list", ["--format", "mmpose"], r"in.json\[0\]: expected an instance with "
                                              "'keypoints' and 'keypoint_scores'"),
        ("coco_list", ["--format", "alphapose"], r"image_id: 'img.png': cannot tell"),
        ("missing", ["--skeleton", "body_25"], r"no such file or folder"),
    ],
)
def test_cli_bad_detector_files_give_one_line(tmp_path, capsys, setup, args, match):
    src = tmp_path / "in"
    if setup == "openpose":
        write_openpose(src, {f: [person(25, 3 * f)] for f in range(12)})
    elif setup == "badjson":
        write_openpose(src, {0: [person(25, 0)]})
        (src / "bad_000000000001_keypoints.json").write_text("{\"people\": [")
    elif setup == "empty":
        src.mkdir()
    elif setup == "nodigits":
        src.mkdir()
        (src / "keypoints.json").write_text(json.dumps({"people": []}))
    elif setup == "coco_list":
        src = tmp_path / "in.json"
        src.write_text(json.dumps([{"image_id": "img.png", "keypoints": [1.0] * 51}]))
    assert main(["lift", str(src), "-o", str(tmp_path / "o.json"), *args]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("poselift: error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert not (tmp_path / "o.json").exists()


def test_cli_bad_detector_file_in_a_subprocess_no_traceback(tmp_path):
    src = write_openpose(tmp_path / "in", {0: [person(25, 0)]})
    (src / "bad_000000000001_keypoints.json").write_text("[1, 2")
    proc = run_cli("lift", str(src), "--skeleton", "body_25", "-o", str(tmp_path / "o.json"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"poselift: error: {src / 'bad_000000000001_keypoints.json'}: not valid JSON "
        "(Expecting ',' delimiter: line 1 column 6 (char 5))"]


# --- docs/detectors.md: every tested block runs on made-up files -----------------------------


def doc_blocks() -> dict[str, tuple[str, str]]:
    """``<!-- test: NAME -->`` followed by a fenced block -> {NAME: (language, code)}."""
    text = (REPO / "docs" / "detectors.md").read_text()
    found = re.findall(r"<!-- test: ([\w-]+) -->\n```(\w+)\n(.*?)```", text, re.S)
    return {name: (lang, code) for name, lang, code in found}


def make_inputs(root: Path) -> None:
    """The made-up files the documented commands read, named as in the docs."""
    per, _, _ = crossing(frames=24, j=25)
    write_openpose(root / "openpose_json", per)
    coco = bow_coco()[:30]
    halpe = np.asarray(convert_keypoints(coco, "coco", "halpe_26"))
    halpe[..., 2] = np.where(np.isnan(halpe[..., 0]), 0.0, halpe[..., 2])
    halpe = np.nan_to_num(halpe)
    (root / "predictions").mkdir()
    video = [{"frame_id": f, "instances": [mmpose_instance(coco[f]),
                                           mmpose_instance(coco[f] + [400, 0, 0])]}
             for f in range(30)]
    (root / "predictions" / "video.json").write_text(json.dumps(video))
    (root / "alphapose-results.json").write_text(json.dumps(
        [{"image_id": f"{f}.jpg", "category_id": 1, "keypoints": halpe[f].ravel().tolist(),
          "score": 2.0, "idx": [0.0]} for f in range(30)]))


def fake_mediapipe_frames() -> list[Any]:
    """Objects shaped like MediaPipe PoseLandmarkerResult (normalized landmarks)."""
    mp = np.asarray(convert_keypoints(bow_coco()[:20], "coco", "mediapipe_pose"))
    out = []
    for kp in mp:
        marks = [SimpleNamespace(x=(x if np.isfinite(x) else 0.5) / 1920.0,
                                 y=(y if np.isfinite(y) else 0.5) / 1080.0,
                                 visibility=float(v)) for x, y, v in kp]
        out.append(SimpleNamespace(pose_landmarks=[marks]))
    return out


def test_every_detector_path_in_the_docs_runs(tmp_path, monkeypatch):
    blocks = doc_blocks()
    assert {"openpose-cli", "openpose-python", "mmpose-cli", "alphapose-cli",
            "mediapipe-python", "tracker-python"} <= set(blocks)
    make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name, (lang, code) in sorted(blocks.items()):
        if lang == "bash":
            for line in code.strip().splitlines():
                argv = line.split()
                assert argv[:2] == ["poselift", "lift"], line
                assert main(argv[1:]) == 0, f"{name}: {line}"
                out = Path(argv[argv.index("-o") + 1])
                assert out.is_file()
                results = json.loads(out.read_text())["results"]
                assert results and {"image_id", "track_id", "keypoints3d"} <= set(results[0])
                out.unlink()
        else:
            per, _, _ = crossing(frames=20, j=17)
            scope: dict[str, Any] = {"results": fake_mediapipe_frames(), "width": 1920,
                                     "height": 1080,
                                     "people_per_frame": [np.stack(p) for p in per.values()]}
            exec(compile(code, f"detectors.md:{name}", "exec"), scope)
            poses = scope["poses"]
            values = list(poses.values()) if isinstance(poses, dict) else [poses]
            assert values and all(np.asarray(p).shape[-2:] == (17, 3) for p in values), name


# --- issue 29: frame numbers, messages, numpy scalars, tracker speed ------------------------


def _alphapose_file(tmp_path: Path, ids: list, j: int = 17) -> Path:
    f = tmp_path / "alphapose-results.json"
    f.write_text(json.dumps([{"image_id": i, "category_id": 1, "score": 2.0,
                              "keypoints": person(j, 10.0 * k).ravel().tolist()}
                             for k, i in enumerate(ids)]))
    return f


def test_alphapose_reader_keeps_only_the_frames_present(tmp_path):
    # was range(min, max): 3 million empty frames (26 s, 1.6 GB); an epoch-ms name: MemoryError
    d = read_alphapose(_alphapose_file(tmp_path, ["0.jpg", "3000000.jpg"]), "coco")
    assert d.frames.tolist() == [0, 3000000] and d.frame.tolist() == [0, 3000000]
    d = read_alphapose(_alphapose_file(tmp_path, ["1733572800000.jpg", "1733572800040.jpg"]),
                       "coco")
    assert d.frames.tolist() == [1733572800000, 1733572800040]


def test_alphapose_frame_is_the_number_that_changes_between_image_ids(tmp_path):
    # img_0001_cam2.jpg was frame 2 (the last digits) for every image
    ids = ["img_0001_cam2.jpg", "img_0002_cam2.jpg", "img_0002_cam2.jpg", "img_0010_cam2.jpg"]
    d = read_alphapose(_alphapose_file(tmp_path, ids), "coco")
    assert d.frame.tolist() == [1, 2, 2, 10] and d.frames.tolist() == [1, 2, 10]
    with pytest.raises(ValueError, match=r"alphapose-results.json: image_id: .*differ in more "
                                         r"than one number"):
        read_alphapose(_alphapose_file(tmp_path, ["img_1_cam1.jpg", "img_2_cam2.jpg"]), "coco")


def test_openpose_folder_frame_is_the_number_that_changes(tmp_path):
    for f in (3, 4, 6):
        doc = {"people": [{"pose_keypoints_2d": as_openpose(person(25, 10.0 * f))}]}
        (tmp_path / f"run2_{f:04d}_cam7_keypoints.json").write_text(json.dumps(doc))
    assert read_openpose(tmp_path, "body_25").frames.tolist() == [3, 4, 6]


@pytest.mark.parametrize(("ids", "match"), [
    ([10**30], r"entry 0: image_id: frame number 1000000000000000000000000000000 is out of "
               r"range"),
    (["9999999999999999999999999.jpg"], r"entry 0: image_id: .*frame number 9{25} is out of "
                                        r"range"),
    ([True], r"entry 0: image_id: expected a file name or an integer, got True"),
])
def test_out_of_range_alphapose_ids_name_file_entry_and_field(tmp_path, ids, match):
    f = _alphapose_file(tmp_path, ids)
    with pytest.raises(ValueError, match=f"alphapose-results.json: {match}"):
        read_alphapose(f, "coco")


@pytest.mark.parametrize("frame_id", ["1e30", "Infinity", "NaN", "1.7", "\"3\"", "true"])
def test_bad_mmpose_frame_ids_name_file_entry_and_field(tmp_path, frame_id):
    inst = {"keypoints": [[1.0, 2.0]] * 17, "keypoint_scores": [0.9] * 17}
    f = tmp_path / "video.json"
    f.write_text(f'[{{"frame_id": 0, "instances": []}}, {{"frame_id": {frame_id}, '
                 f'"instances": [{json.dumps(inst)}]}}]')
    with pytest.raises(ValueError, match=r"video.json: entry 1: frame_id: (expected an integer "
                                         r"frame number|frame number .* is out of range)"):
        read_mmpose(f, "coco")


def test_integral_float_frame_ids_are_frame_numbers(tmp_path):
    f = tmp_path / "video.json"
    f.write_text(json.dumps([{"frame_id": 3.0, "instances": []},
                             {"frame_id": 4, "instances": []}]))
    assert read_mmpose(f, "coco").frames.tolist() == [3, 4]


def test_from_frames_refuses_fractional_frame_numbers():
    empty = np.zeros((0, 17, 3))
    with pytest.raises(ValueError, match=r"frame_numbers\[0\]: expected an integer frame "
                                         r"number, got 1.5"):
        Detections.from_frames([empty, empty], "coco", frame_numbers=[1.5, 2.7])
    d = Detections.from_frames([empty, empty], "coco", frame_numbers=[np.int64(1), 2.0])
    assert d.frames.tolist() == [1, 2]


def test_huge_openpose_frame_number_names_the_file(tmp_path):
    doc = {"people": []}
    (tmp_path / f"v_{'9' * 25}_keypoints.json").write_text(json.dumps(doc))
    (tmp_path / "v_000000000001_keypoints.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"'v_9{25}_keypoints.json': frame number 9{25} is out "
                                         r"of range"):
        read_openpose(tmp_path, "body_25")


def test_huge_frame_numbers_through_the_cli_are_one_line_naming_the_file(tmp_path, capsys):
    f = _alphapose_file(tmp_path, [10**30])
    assert main(["lift", str(f), "-o", str(tmp_path / "o.json"), "--format", "alphapose"]) == 1
    err = capsys.readouterr().err
    assert "alphapose-results.json: entry 0: image_id" in err and "please report" not in err
    assert not (tmp_path / "o.json").exists()


def test_deeply_nested_detector_json_is_a_value_error(tmp_path):
    f = tmp_path / "video.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"video.json: not readable: JSON nested too deeply"):
        read_mmpose(f, "coco")
    with pytest.raises(ValueError, match=r"nested too deeply"):
        read_alphapose(f, "coco")


def test_nested_openpose_keypoints_say_what_is_wrong(tmp_path):
    # was: "expected 75 numbers ... got 75"
    f = tmp_path / "v_000000000001_keypoints.json"
    f.write_text(json.dumps({"people": [{"pose_keypoints_2d": [[1.0, 2.0, 0.9]] * 25}]}))
    with pytest.raises(ValueError, match=r"people\[0\].pose_keypoints_2d: expected a flat list "
                                         r"\[x0, y0, c0, x1, ...\] of 75 numbers, got a nested "
                                         r"list of shape \(25, 3\)"):
        read_openpose(f, "body_25")


def test_track_takes_numpy_scalars():
    per, _, _ = crossing()
    dets = Detections.from_frames([np.stack(per[t]) for t in sorted(per)], "body_25")
    ref = track(dets, max_unseen_frames=5, min_length=10, score_threshold=0.3)
    got = track(dets, max_unseen_frames=np.int64(5), min_length=np.int32(10),
                score_threshold=np.float32(0.3), min_similarity=np.float64(0.3))
    assert [t.frames.tolist() for t in got] == [t.frames.tolist() for t in ref]
    with pytest.raises(ValueError, match="max_unseen_frames: expected an int >= 0"):
        track(dets, max_unseen_frames=np.float64(5.0))


def test_track_max_gap_is_the_deprecated_name_of_max_unseen_frames():
    """Issue 27: ``max_gap`` meant three things; the tracker's is now ``max_unseen_frames``."""
    base = np.zeros((17, 3))
    base[:, 0], base[:, 1], base[:, 2] = np.arange(17) * 3, 10 * (np.arange(17) % 5), 1.0
    step = np.array([2.0, 0.0, 0.0])
    frames = [(base + 100 * step / 2 + t * step)[None] if t < 12 or t >= 16
              else np.zeros((0, 17, 3)) for t in range(28)]  # unseen in frames 12-15
    dets = Detections.from_frames(frames, "coco")
    assert len(track(dets, max_unseen_frames=4)) == 1  # survives the 4 unseen frames
    assert len(track(dets, max_unseen_frames=3)) == 2  # closed after 3: a new track
    for old, tracks in ((4, 1), (3, 2)):
        with pytest.warns(DeprecationWarning, match="max_unseen_frames"):
            assert len(track(dets, max_gap=old)) == tracks
    with pytest.raises(TypeError, match="max_unseen_frames"):
        track(dets, max_unseen_frames=5, max_gap=5)


def _naive_similarity(last, valid_t, velocity, last_frame, frame, kp, valid_d):
    """The module docstring's formula for one (track, detection) pair, joint by joint."""
    pts = [last[j] for j in range(len(last)) if valid_t[j]]
    size = max(max(max(p[0] for p in pts) - min(p[0] for p in pts),
                   max(p[1] for p in pts) - min(p[1] for p in pts)), 1.0)
    total, either, any_both = 0.0, 0, False
    for j in range(len(last)):
        if valid_t[j] or valid_d[j]:
            either += 1
        if valid_t[j] and valid_d[j]:
            any_both = True
            pred = last[j] + velocity * (frame - last_frame)
            d2 = float(((pred - kp[j, :2]) ** 2).sum())
            total += float(np.exp(-d2 / (2 * (0.1 * size) ** 2)))
    return total / either if any_both else 0.0


def test_vectorized_track_similarity_matches_the_formula_joint_by_joint():
    from poselift.detections import _Open, _similarities

    rng = np.random.default_rng(3)
    tracks, naive_inputs = [], []
    for k in range(6):
        kp = np.concatenate([rng.uniform(0, 300, (17, 2)), np.ones((17, 1))], -1)
        valid = rng.uniform(size=17) > 0.3
        t = _Open(4, kp, valid, k)
        t.velocity = rng.normal(0, 3, 2)
        tracks.append(t)
        naive_inputs.append((kp[:, :2], valid, t.velocity, 4))
    dets = np.concatenate([rng.uniform(0, 300, (5, 17, 2)), np.ones((5, 17, 1))], -1)
    dets[0] = tracks[2].last.tolist() and np.concatenate([tracks[2].predict(7), np.ones((17, 1))],
                                                          -1)
    dvalid = rng.uniform(size=(5, 17)) > 0.3
    dvalid[1] = False
    got = _similarities(tracks, 7, dets, dvalid)
    ref = np.array([[_naive_similarity(*inp, 7, dets[d], dvalid[d]) for d in range(5)]
                    for inp in naive_inputs])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    assert got[2, 0] > 0.5 and (got[:, 1] == 0).all()
