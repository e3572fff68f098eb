"""What the scale rehearsal measures while a step runs in a child process: the driver's peak RSS,
the object store's peak, when the first output file appeared, how many rows the stage's own
progress counter had seen (for the kill test), and the files written."""

from __future__ import annotations

import json
import os
import re
import resource
import threading
import time

import pyarrow.parquet as pq


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's peak over the fork)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parquet_files(path: str) -> list[str]:
    out = []
    for root, _, files in os.walk(path):
        out += [os.path.join(root, f) for f in files if f.endswith(".parquet")]
    return out


def rows_on_disk(path: str) -> tuple[int, int]:
    """(rows in readable part files, unreadable part files)."""
    rows = bad = 0
    for f in parquet_files(path):
        try:
            rows += pq.ParquetFile(f).metadata.num_rows
        except Exception:  # noqa: BLE001 - a part cut short by the kill
            bad += 1
    return rows, bad


class Watch(threading.Thread):
    """Polls the object store's use and the output folder until stopped."""

    def __init__(self, out_dir: str | None, period: float = 1.0):
        super().__init__(daemon=True)
        self.out_dir, self.period, self._halt = out_dir, period, threading.Event()
        self.t0, self.first_file_s, self.store_peak_mib = time.perf_counter(), None, 0.0

    def run(self):
        from ray._private.internal_api import memory_summary

        while not self._halt.is_set():
            try:
                m = re.search(r"Plasma memory usage (\d+) MiB", memory_summary(stats_only=True))
                if m:
                    self.store_peak_mib = max(self.store_peak_mib, float(m.group(1)))
            except Exception:  # noqa: BLE001 - Ray going down at the end
                pass
            if self.first_file_s is None and self.out_dir and os.path.isdir(self.out_dir) and parquet_files(self.out_dir):
                self.first_file_s = time.perf_counter() - self.t0
            time.sleep(self.period)

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        if self.first_file_s is None and self.out_dir and os.path.exists(self.out_dir):
            self.first_file_s = time.perf_counter() - self.t0  # written at the very end
        return {"first_file_s": None if self.first_file_s is None else round(self.first_file_s, 2),
                "object_store_peak_mib": round(self.store_peak_mib, 1)}


def count_progress(path: str) -> None:
    """Make the stages' progress counter write its count to `path` (the kill test reads it)."""
    from ray_jobs import console as con

    class Bar(con.ProgressBar):
        def update(self, n, postfix=None):
            with open(path + ".tmp", "w") as fh:
                fh.write(str(int(n)))
            os.replace(path + ".tmp", path)

        def close(self):
            pass

    con.console.bars = True
    con.console.progress = lambda total, desc, unit: Bar(con.console, total, desc, unit)


def write_json(path: str, payload: dict) -> None:
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=1)
