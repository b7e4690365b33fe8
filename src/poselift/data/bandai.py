"""Convert the public Bandai-Namco-Research-Motiondataset BVH files to poselift's Bandai files.

The training scripts and :func:`poselift.data.load_bandai` read the Bandai mocap as two files
in a ``bandai/`` folder: ``bandai_h36m17.npz`` (one float32 ``(F, 17, 3)`` array per clip,
metres, world coordinates, +Y up) and ``bandai_h36m17_meta.tsv`` (``name, dataset, content,
style, frames, fps``). :func:`convert_bandai` makes them from the original BVH files, which
are public: the GitHub repository ``BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset``
(``dataset/Bandai-Namco-Research-Motiondataset-1/data/*.bvh`` and ``...-2/data/*.bvh``;
licence CC BY-NC 4.0, Kobayashi et al., "Motion Capture Dataset for Practical Use of AI-based
Motion Editing and Stylization", arXiv 2306.08861, 2023: credit it, non-commercial use only).

The joints come from :func:`poselift.data.bvh_to_h36m` with the built-in ``"bandai"`` mapping
(forward kinematics in centimetres, scaled to metres; the nose and head top fixed in the Head
joint's frame); the clip name is the file stem, ``dataset-<d>_<content>_<style>_<nnn>``.

From the command line (the folders are searched recursively for ``*.bvh``)::

    python -m poselift.data.bandai Bandai-Namco-Research-Motiondataset/dataset --out data

writes ``data/bandai/bandai_h36m17.npz`` and ``data/bandai/bandai_h36m17_meta.tsv``;
``examples/train.py --data data`` (or ``POSELIFT_SHARED_DATA=data``) then finds them.

Examples:
    >>> import tempfile
    >>> convert_bandai([], tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: no .bvh files in []
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from poselift._files import atomic_write
from poselift.data.bvh import load_bvh
from poselift.data.mocap import BANDAI_META, BANDAI_NPZ, DataError

__all__ = ["bandai_files", "convert_bandai", "main"]


def bandai_files(sources: Sequence[str | Path]) -> list[Path]:
    """The ``.bvh`` files of ``sources`` (files, or folders searched recursively), sorted by name.

    Raises:
        FileNotFoundError: a source does not exist, or there is no ``.bvh`` file at all.
        ValueError: two files with the same name (the clip name must be unique).

    Examples:
        >>> bandai_files(["/nonexistent"])
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent: no such file or folder
    """
    files: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files.extend(f for f in p.rglob("*.bvh") if f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if not files:
        raise FileNotFoundError(f"no .bvh files in {[str(s) for s in sources]}")
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen and seen[f.stem].resolve() != f.resolve():
            raise ValueError(f"two clips named {f.stem!r}: {seen[f.stem]} and {f}")
        seen[f.stem] = f
    return sorted(seen.values(), key=lambda f: f.stem)


def convert_bandai(sources: Sequence[str | Path], out: str | Path, *,
                   echo: bool = False) -> Path:
    """Write ``out/bandai/bandai_h36m17.npz`` and its meta TSV from Bandai BVH files.

    Args:
        sources: BVH files or folders holding them (searched recursively).
        out: the data directory (``--data`` of the training scripts); ``out/bandai`` is
            created if needed. Both files are written atomically.
        echo: print progress every 200 files.

    Returns:
        The ``out/bandai`` folder.

    Raises:
        FileNotFoundError: no BVH files, or ``out`` does not exist.
        DataError: a file is not a Bandai BVH (garbled, a joint the mapping needs is missing,
            a name not of the form ``dataset-<d>_<content>_<style>_<nnn>``).
    """
    root = Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: the output directory does not exist")
    files = bandai_files(sources)
    folder = root / "bandai"
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    rows = ["name\tdataset\tcontent\tstyle\tframes\tfps"]
    for i, file in enumerate(files):
        motion = load_bvh(file, mapping="bandai")
        clip = motion.clips[0]
        if "dataset" not in clip.meta:
            raise DataError(f"{file}: expected a Bandai clip name "
                            "dataset-<d>_<content>_<style>_<nnn>.bvh")
        arrays[clip.name] = np.asarray(clip.poses, np.float32)
        rows.append(f"{clip.name}\t{clip.meta['dataset']}\t{clip.meta['content']}\t"
                    f"{clip.meta['style']}\t{clip.poses.shape[0]}\t{clip.fps:g}")
        if echo and (i + 1) % 200 == 0:
            print(f"  {i + 1}/{len(files)} files", file=sys.stderr)
    folder.mkdir(exist_ok=True)

    def write_npz(f: IO[bytes]) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        f.write(buf.getvalue())

    atomic_write(folder / BANDAI_NPZ, write_npz)
    text = ("\n".join(rows) + "\n").encode("utf-8")

    def write_tsv(f: IO[bytes]) -> None:
        f.write(text)

    atomic_write(folder / BANDAI_META, write_tsv)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m poselift.data.bandai SOURCE... --out DIR`` (exit code 0, or 1 with one line).

    Examples:
        >>> main(["/nonexistent", "--out", "."])
        1
    """
    p = argparse.ArgumentParser(
        prog="python -m poselift.data.bandai",
        description="Convert the Bandai-Namco-Research-Motiondataset BVH files (CC BY-NC 4.0) "
                    "to DIR/bandai/bandai_h36m17.npz and bandai_h36m17_meta.tsv.")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="BVH files or folders (searched recursively for *.bvh)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="data directory; the files go to DIR/bandai/")
    args = p.parse_args(argv)
    try:
        folder = convert_bandai(args.sources, args.out, echo=True)
    except (OSError, ValueError) as e:  # DataError is a ValueError
        print(f"poselift.data.bandai: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("poselift.data.bandai: error: interrupted (nothing half-written)", file=sys.stderr)
        return 130
    with np.load(folder / BANDAI_NPZ) as z:
        frames = sum(z[k].shape[0] for k in z.files)
        clips = len(z.files)
    print(f"wrote {folder / BANDAI_NPZ} and {BANDAI_META}: {clips} clips, {frames} frames "
          "(Bandai-Namco-Research-Motiondataset, CC BY-NC 4.0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
