"""Training progress: a tqdm bar on a terminal, a plain line every ``interval`` seconds elsewhere.

tqdm draws the bar (rate, elapsed and remaining time); it is not used for files and pipes (``make demo | tee
log``, CI, batch jobs), where its carriage-return updates pile up on one line, so there a line such as
``poisson-2d/pinn: step 1200/4000 (30 %), 41 s, about 96 s left, loss 1.2e-03, rel_l2_error 3.1e-02`` goes to stderr at most every
``interval`` seconds (nothing for runs shorter than that)."""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

LINE_INTERVAL = 10.0  # seconds between progress lines when stderr is not a terminal


class Progress:
    def __init__(self, total: int, label: str = "", enabled: bool | None = None, stream=None,
                 interval: float = LINE_INTERVAL):
        self.stream = stream or sys.stderr
        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled is not False
        self.total, self.label, self.interval = max(total, 1), label, interval
        self.start = self.last_line = time.perf_counter()
        self.bar = (tqdm(total=self.total, desc=label, file=self.stream, dynamic_ncols=True, leave=True)
                    if self.enabled and terminal else None)
        self.step = 0

    def update(self, step: int, text: str = "") -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(max(step - self.step, 0))
            self.bar.set_postfix_str(text, refresh=False)
        else:
            now = time.perf_counter()
            if now - self.last_line >= self.interval:
                self.last_line = now
                elapsed = now - self.start
                frac = min(step / self.total, 1.0)
                left = f", about {elapsed / frac - elapsed:.0f} s left" if frac > 0 else ""
                self.stream.write(f"{self.label}: step {step}/{self.total} ({100 * frac:.0f} %), {elapsed:.0f} s"
                                  f"{left}{', ' + text if text else ''}\n")
                self.stream.flush()
        self.step = step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
