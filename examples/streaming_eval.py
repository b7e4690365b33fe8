"""Streaming against offline lifting on held-out mocap (issue 18's acceptance check).

Every (clip, camera) sequence of the P1 test clips (every ``--clips-every``-th clip) is
lifted twice from pixels:

- **offline**: ``poselift.lift`` on the whole sequence with the temporal model
  (``--offline-model``, default the shipped ``sr_tcn.<skeleton>``, 13 frames of look-ahead);
- **streaming**: ``poselift.StreamingLifter`` (``--stream-model``, default its default: the
  causal weights once shipped, else the single-frame fallback), every sequence a track, all
  tracks pushed frame by frame in lockstep (one forward pass per frame for all of them).

Both are scored at the protocol's test samples (every 4th frame) in the settings of the
weights' cards: clean 2D, noisy 2D, and 1 or 2 random joints per frame missing (score 0,
the cards' seed). The ratio streaming / offline MPJPE is the check (target <= 1.15).

Usage::

    python examples/streaming_eval.py [--skeleton coco] [--stream-model default]
        [--offline-model default] [--clips-every 10] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

import poselift
from poselift.evaluation import evaluate, load_test_set, missing_scores

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POSELIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
SETTINGS = (("gt", 0), ("noisy", 0), ("gt", 1), ("gt", 2))


def stream_sequences(stream: poselift.StreamingLifter, keypoints: np.ndarray,
                     sequences: list[np.ndarray]) -> np.ndarray:
    """Every sequence a track, pushed in lockstep; ``(N, 17, 3)`` poses in frame order."""
    out = np.full((len(keypoints), 17, 3), np.nan, np.float32)
    stream.reset()
    for t in range(max(len(s) for s in sequences)):
        live = [i for i, s in enumerate(sequences) if t < len(s)]
        rows = np.array([sequences[i][t] for i in live])
        out[rows] = stream.push(keypoints[rows], track_id=live)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skeleton", default="coco", choices=("coco", "h36m"))
    p.add_argument("--stream-model", default="default")
    p.add_argument("--offline-model", default="default")
    p.add_argument("--clips-every", type=int, default=10)
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stream = poselift.StreamingLifter(args.skeleton, args.stream_model)
    for w in caught:
        print(f"note: {w.message}")
    offline = poselift.Lifter(args.offline_model)
    print(f"streaming: {stream!r}; offline: lift(model={args.offline_model!r}), every "
          f"{args.clips_every}th P1 test clip")
    print("| setting | offline MPJPE / P-MPJPE (mm) | streaming MPJPE / P-MPJPE (mm) | "
          "streaming / offline MPJPE |")
    print("|---|---|---|---|")
    for inputs, missing in SETTINGS:
        t0 = time.perf_counter()
        ts = load_test_set("p1-style", args.data, inputs, layout=args.skeleton, temporal=True,
                           clips_every=args.clips_every)
        full = ts.frames
        assert full is not None and ts.index is not None
        scores = missing_scores(len(full), full.keypoints2d.shape[1], missing)
        kp = np.concatenate([full.keypoints2d, scores[..., None]], -1)
        sequences = [np.asarray(s) for s in full.sequences()]
        lifted = np.empty((len(full), 17, 3), np.float32)
        for seq in sequences:
            lifted[seq] = np.asarray(offline.lift(kp[seq], skeleton=args.skeleton,
                                                  temporal=True))
        streamed = stream_sequences(stream, kp, sequences)
        a = evaluate(lifted[ts.index], ts.samples)
        b = evaluate(streamed[ts.index], ts.samples)
        key = inputs + (f"/missing{missing}" if missing else "")
        print(f"| p1-style/{key} | {a['mpjpe']:.1f} / {a['p_mpjpe']:.1f} | "
              f"{b['mpjpe']:.1f} / {b['p_mpjpe']:.1f} | {b['mpjpe'] / a['mpjpe']:.3f} |"
              f"  <!-- {len(full):,} frames, {time.perf_counter() - t0:.0f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
