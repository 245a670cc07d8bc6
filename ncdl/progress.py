"""A small text progress bar for training loops (stderr; no dependencies).

On a terminal it redraws one line; otherwise (a log file, a pipe, pytest's
capture) it prints a line about every tenth of the run, so logs stay short.

Example:
    >>> bar = ProgressBar(300, unit="tok")
    >>> for step in range(300):
    ...     bar.update(step + 1, items=2048, loss=1.23)
    >>> bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shows step/total, a bar, named values (``loss=1.234``), items per second and time left.

    Args:
        total: the number of steps.
        unit: what ``items`` counts, shown as ``<unit>/s``.
        width: characters of the bar itself.
        stream: where to write (default: ``sys.stderr``).
        enabled: False draws nothing.
    """

    def __init__(
        self, total: int, unit: str = "it", width: int = 24, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.total = max(total, 1)
        self.unit = unit
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.start = time.perf_counter()
        self.items = 0
        self._live = enabled and getattr(self.stream, "isatty", lambda: False)()
        self._last_tenth = -1
        self._last_draw = 0.0
        self._line = ""
        self._drawn = 0

    def update(self, step: int, items: int = 0, **values: float) -> None:
        """Record that ``step`` steps are done (``items`` more processed) and redraw if due."""
        self.items += items
        if not self.enabled:
            return
        now = time.perf_counter()
        self._line = self._format(step, now - self.start, values)
        if self._live:
            if now - self._last_draw >= 0.1 or step >= self.total:
                self.stream.write("\r" + self._line.ljust(self._drawn))  # blank what a longer line left
                self._drawn = len(self._line)
                self.stream.flush()
                self._last_draw = now
        else:
            tenth = step * 10 // self.total
            if tenth > self._last_tenth:
                self._last_tenth = tenth
                self.stream.write(self._line + "\n")
                self.stream.flush()

    def close(self) -> None:
        """Finish the line (on a terminal)."""
        if self.enabled and self._live and self._line:
            self.stream.write("\r" + self._line.ljust(self._drawn) + "\n")
            self.stream.flush()

    def _format(self, step: int, elapsed: float, values: dict[str, float]) -> str:
        done = min(step / self.total, 1.0)
        filled = int(done * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        rate = self.items / elapsed if elapsed > 0 else 0.0
        left = elapsed / step * (self.total - step) if step else 0.0
        shown = " ".join(f"{k}={v:.4f}" for k, v in values.items())
        return f"{step:>{len(str(self.total))}}/{self.total} [{bar}] {shown} {rate:,.0f} {self.unit}/s {_clock(elapsed)}<{_clock(left)}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"
