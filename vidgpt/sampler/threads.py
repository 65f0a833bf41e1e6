"""How many CPU threads a sampling loop uses: chosen while it runs, by timing its own steps.

A sampling step is ~150 small ops, and with more than one thread each op that torch parallelises ends
in an OpenMP barrier. Measured on the 2-core development machine (shipped model, 5x8x8, CFG 3):
- both cores idle: 2 threads beat 1 in every case, even one row per step (the long attention reads and
  the weights stream faster from two cores): raster batch 1 1.5x, diagonal w=1 batch 1 1.2-1.6x,
  batch 8 1.3-1.4x; the demo model at 5x16x16: 1.3-1.4x;
- another busy process on the second core: 2 threads are 11x *slower* (0.55 s -> 6.4 s a video), as
  each barrier waits for a core that another process holds.
The load average sees a new competitor only after tens of seconds, so `ThreadChooser` decides by timing:
it runs steps in the order (most, 1, 1, most) threads, keeps the faster count (that ABBA order cancels
a steady drift of the step cost: diagonals grow and shrink, the cache fills), and repeats the trial
after an interval that doubles while the choice stands (up to 8 s) and restarts when it flips, or at
once when a step takes 4x the recent typical step (a competitor just took a core: the steps of one
schedule vary less than that). A trial that lands on a loaded core costs two slow steps.

`threads=None` (the default) means this choice between 1 and the process's cores (at most
`torch.get_num_threads()`, the caller's own limit), starting with 1 when the load average says other
processes hold cores, and carried from one sampling call to the next; pass `threads=` to fix the count.
Measured with a one-thread matmul loop on the other core: 0.66 s a video (0.65-0.69 s on one thread).
On a GPU the host threads only launch kernels and are left alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def free_cores() -> int:
    """This process's cores minus the 1-minute load average, at least 1. Conservative: the load may
    already count this process (or one that just ended), but a trial corrects that within a few steps."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, _cores() - int(load + 0.5))


_SHARED: dict[int, "ThreadChooser"] = {}  # for_this_machine's choosers, by their largest count


class ThreadChooser:
    """Picks the thread count of each sampling step from (`most`, 1) by timing trial steps (module docstring).

        chooser = ThreadChooser.for_this_machine()
        n = chooser.threads()  # before a step
        ... run the step with n threads, taking `seconds` ...
        chooser.record(seconds)
    """

    TRIAL = (0, 1, 1, 0)  # indices into `counts`: most, 1, 1, most
    SLOW = 4.0  # a step this many times the recent typical one starts a trial at once

    def __init__(self, most: int, start_with_most: bool = True, first_interval: float = 0.5,
                 max_interval: float = 8.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.counts = (max(1, most), 1)
        self.choice = 0 if start_with_most else 1
        self.first_interval, self.max_interval = first_interval, max_interval
        self.interval = first_interval
        self.clock = clock
        self.next_trial = clock()  # the first steps are a trial
        self.trial: list[float] | None = None  # seconds of the trial steps so far, while one runs
        self.typical = float("inf")  # recent seconds per step with the chosen count (a moving average)

    @classmethod
    def for_this_machine(cls) -> "ThreadChooser":
        """The process's chooser between 1 and its cores (within `torch.get_num_threads()`): shared by
        successive sampling calls, so that many short videos do not each pay a trial. A new one starts
        with all cores unless the load average says other processes hold some."""
        most = max(1, min(torch.get_num_threads(), _cores()))
        if most not in _SHARED:
            _SHARED[most] = cls(most, start_with_most=free_cores() >= most)
        return _SHARED[most]

    @property
    def chosen(self) -> int:
        """The thread count chosen so far (for steps that are not timed, such as a prefill)."""
        return self.counts[self.choice]

    def threads(self) -> int:
        """The thread count for the next step."""
        if self.counts[0] == 1:
            return 1
        if self.trial is None and self.clock() >= self.next_trial:
            self.trial = []
        if self.trial is not None:
            return self.counts[self.TRIAL[len(self.trial)]]
        return self.chosen

    def record(self, seconds: float) -> None:
        """The wall-clock seconds of the step just run with `threads()` threads."""
        if self.counts[0] == 1:
            return
        if self.trial is None:
            if seconds > self.SLOW * self.typical:
                self.next_trial = float("-inf")  # most likely a competitor took a core: decide again now
            else:
                self.typical += 0.1 * (seconds - self.typical)
            return
        self.trial.append(seconds)
        if len(self.trial) < len(self.TRIAL):
            return
        most = self.trial[0] + self.trial[3]
        one = self.trial[1] + self.trial[2]
        choice = 0 if most <= one else 1
        self.interval = min(2 * self.interval, self.max_interval) if choice == self.choice else self.first_interval
        self.choice, self.trial = choice, None
        self.typical = min(most, one) / 2
        self.next_trial = self.clock() + self.interval


@contextmanager
def num_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` torch CPU threads (None: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
