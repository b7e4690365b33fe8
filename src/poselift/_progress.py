"""A progress bar for long jobs.

tqdm when installed and stderr is a terminal, else a line on stderr every few seconds;
nothing when disabled.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class ProgressBar:
    """Counts ``update(n)`` calls up to ``total`` units (e.g. frames).

    Examples:
        >>> with ProgressBar(100, "lifting", unit="frame", enabled=False) as bar:
        ...     bar.update(100)
        >>> bar.done
        100
    """

    def __init__(self, total: int, desc: str, *, unit: str = "it", enabled: bool = True,
                 interval: float = 2.0) -> None:
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.enabled = enabled
        self.interval = interval
        self.done = 0
        self._bar: Any = None
        self._t0 = time.perf_counter()
        self._last = self._t0
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=self.total, desc=desc, unit=unit, unit_scale=True,
                                 file=sys.stderr, leave=False)

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            rate = self.done / max(now - self._t0, 1e-9)
            print(f"{self.desc}: {self.done:,}/{self.total:,} {self.unit}s "
                  f"({100 * self.done / max(self.total, 1):.0f}%, {rate:,.0f} {self.unit}s/s)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
