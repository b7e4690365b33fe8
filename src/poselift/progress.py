"""Progress output for long jobs: one mechanism for the library and the scripts.

- :class:`ProgressBar` counts work (frames, batches): a tqdm bar when tqdm is installed and
  stderr is a terminal, else a line every few seconds (or every ``every`` updates), or
  nothing; optional extra fields (loss, samples/s) ride along.
- :func:`reporter` turns a ``progress`` argument (``True``, ``False`` or a callable) into a
  function that takes one message: timestamped lines on stderr, the callable, or nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

__all__ = ["Mode", "Progress", "ProgressBar", "reporter"]

Mode = Literal["auto", "tqdm", "lines", "none"]


class ProgressBar:
    """Counts ``update(n)`` calls up to ``total`` units (e.g. frames).

    Args:
        total: units of work.
        desc: what is being done (the line's or bar's label).
        unit: the unit's name.
        enabled: False: no output at all.
        interval: seconds between lines in ``"lines"`` mode (when ``every`` is None).
        mode: ``"auto"`` (tqdm when installed and stderr is a terminal, else lines),
            ``"tqdm"``, ``"lines"`` or ``"none"``.
        every: in ``"lines"`` mode, a line every this many updates instead of by time.
        initial: units already done (a resumed job).
        stream: where lines go (default stderr).

    Examples:
        >>> with ProgressBar(100, "lifting", unit="frame", enabled=False) as bar:
        ...     bar.update(100)
        >>> bar.done
        100
        >>> import sys
        >>> bar = ProgressBar(4, "epoch 1", unit="batch", mode="lines", every=2, stream=sys.stdout)
        >>> for _ in range(4):
        ...     bar.update(1, loss=0.5)   # doctest: +ELLIPSIS
        epoch 1: 2/4 batches (50%, ... batches/s) loss 0.5
        epoch 1: 4/4 batches (100%, ... batches/s) loss 0.5
    """

    def __init__(self, total: int, desc: str, *, unit: str = "it", enabled: bool = True,
                 interval: float = 2.0, mode: Mode = "auto", every: int | None = None,
                 initial: int = 0, stream: Any = None) -> None:
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.interval = interval
        self.every = every
        self.done = int(initial)
        self._updates = 0
        self._stream = stream
        self._bar: Any = None
        self._t0 = time.perf_counter()
        self._last = self._t0
        self._start = self.done
        if not enabled:
            mode = "none"
        if mode == "auto":
            mode = "tqdm" if sys.stderr.isatty() else "lines"
        if mode == "tqdm":
            try:
                from tqdm import tqdm
            except ImportError:
                mode = "lines"
            else:
                self._bar = tqdm(total=self.total, initial=self.done, desc=desc, unit=unit,
                                 unit_scale=True, file=sys.stderr, leave=False,
                                 mininterval=interval)
        self.mode = mode

    @property
    def enabled(self) -> bool:
        """True when the bar shows anything."""
        return self.mode != "none"

    def update(self, n: int, **fields: object) -> None:
        """Count ``n`` more units; ``fields`` (e.g. ``loss=0.04``) are shown beside the count."""
        self.done += n
        self._updates += 1
        if self.mode == "none":
            return
        if self._bar is not None:
            self._bar.update(n)
            if fields:
                self._bar.set_postfix({k: _fmt(v) for k, v in fields.items()}, refresh=False)
            return
        now = time.perf_counter()
        due = (self._updates % self.every == 0 if self.every
               else now - self._last >= self.interval)
        if due or self.done >= self.total:
            self._last = now
            rate = (self.done - self._start) / max(now - self._t0, 1e-9)
            extra = "".join(f" {k} {_fmt(v)}" for k, v in fields.items())
            units = _plural(self.unit)
            print(f"{self.desc}: {self.done:,}/{self.total:,} {units} "
                  f"({100 * self.done / max(self.total, 1):.0f}%, {rate:,.0f} {units}/s)"
                  f"{extra}", file=self._stream or sys.stderr, flush=True)

    def close(self) -> None:
        """Close the tqdm bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("ch", "s", "sh", "x")) else "s")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


Progress = bool | Callable[[str], None]
"""A ``progress`` argument: True (messages on stderr), False (silent) or a callable."""


def reporter(progress: Progress) -> Callable[[str], None]:
    """A function taking one progress message, from a ``progress`` argument.

    Examples:
        >>> got = []
        >>> reporter(got.append)("half way"); got
        ['half way']
        >>> reporter(False)("nothing")
    """
    if callable(progress):
        return progress
    if progress:
        start = time.perf_counter()
        return lambda msg: print(f"[poselift {time.perf_counter() - start:7.1f}s] {msg}",
                                 file=sys.stderr, flush=True)
    return lambda msg: None
