"""Progress of distributed work on the driver's terminal.

Tasks, actors and Ray Train workers report to a small actor (zero CPUs); the
driver polls it twice a second and draws `console`'s progress bar. A stage opens
a `Tracker`, hands `tracker.handle` to its UDFs, and they call `tick(handle, n)`
(or `set_state` for absolute values such as the training step). Without a bar
(verbose mode, tests calling a stage directly) the handle is None and reporting
costs nothing.
"""

from __future__ import annotations

import threading

import ray

from ray_jobs.console import console


@ray.remote(num_cpus=0)
class _Counter:
    def __init__(self):
        self.done, self.postfix = 0, {}

    def add(self, n: int) -> None:
        self.done += n

    def set(self, done: int, postfix: dict) -> None:
        self.done, self.postfix = done, postfix

    def read(self) -> tuple[int, dict]:
        return self.done, self.postfix


def tick(handle, n: int = 1) -> None:
    """Report `n` more items done (fire and forget)."""
    if handle is not None and n:
        handle.add.remote(int(n))


def set_state(handle, done: int, **postfix) -> None:
    """Report an absolute count plus figures to show beside the bar (e.g. the loss)."""
    if handle is not None:
        handle.set.remote(int(done), postfix)


class Tracker:
    """`with Tracker(total, desc, unit) as t: ... fn_kwargs={"progress": t.handle} ...`"""

    def __init__(self, total: int, desc: str, unit: str = "videos", interval_s: float = 0.5):
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval_s
        self.handle = _Counter.remote() if console.bars and total > 0 else None
        self._stop = threading.Event()
        self._thread = None
        self._bar = None

    def _poll(self) -> None:
        done, postfix = ray.get(self.handle.read.remote())
        self._bar.update(done, postfix)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._poll()
            except ray.exceptions.RayError:
                return

    def __enter__(self) -> Tracker:
        if self.handle is not None:
            self._bar = console.progress(self.total, self.desc, self.unit)
            self._thread = threading.Thread(target=self._loop, name=f"progress-{self.desc}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type, *_) -> None:
        if self.handle is None:
            return
        self._stop.set()
        self._thread.join()
        if exc_type is None:  # the last fire-and-forget reports may still be in flight
            self._poll()
            self._bar.update(self.total)
        self._bar.close()
        ray.kill(self.handle)
