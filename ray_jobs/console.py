"""What a person running a stage sees: quiet by default.

In quiet mode (`quiet_output`) the driver's file descriptors 1 and 2 point at a
log file under the run directory, so everything Ray, DeepSpeed, torch and
transformers print (the driver's logs, the worker logs Ray forwards to the
driver, C-level output, the local Ray processes the driver starts) lands there.
The terminal keeps only what `console` writes: a header per stage, progress
bars, warnings meant for the user, errors and the one-screen summaries (which
are copied into the log as well). `--verbose` skips the redirect: everything
goes to the terminal, as plain Ray would print it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time


class Console:
    """Terminal output that stays on the terminal in quiet mode (and is copied to the log)."""

    def __init__(self):
        self.out, self.err, self.log = None, None, None
        self.bars = False  # our progress bars: on in quiet mode only (verbose shows Ray's own)

    def _write(self, text: str, err: bool) -> None:
        stream = (self.err if err else self.out) or (sys.stderr if err else sys.stdout)
        stream.write(text + "\n")
        stream.flush()
        if self.log is not None:
            self.log.write(text + "\n")
            self.log.flush()

    def print(self, text: str = "") -> None:
        self._write(text, err=False)

    def warn(self, text: str) -> None:
        self._write(f"WARNING: {text}", err=True)

    def error(self, text: str) -> None:
        self._write(f"error: {text}", err=True)

    @property
    def tty(self) -> bool:
        stream = self.err or sys.stderr
        return hasattr(stream, "isatty") and stream.isatty()

    def summary(self, title: str, rows: dict) -> None:
        """The one-screen summary every stage ends with."""
        width = max(len(k) for k in rows) if rows else 0
        line = "=" * max(40, len(title) + 4)
        out = [line, f"  {title}", line, *(f"  {k:<{width}} : {v}" for k, v in rows.items()), line]
        self.print("\n".join(out))

    def progress(self, total: int, desc: str, unit: str) -> ProgressBar:
        return ProgressBar(self, total, desc, unit)


console = Console()


class ProgressBar:
    """tqdm on a terminal; a line at every quarter elsewhere (CI, `ray job submit` logs)."""

    def __init__(self, con: Console, total: int, desc: str, unit: str):
        self.con, self.total, self.desc, self.unit = con, max(0, int(total)), desc, unit
        self.t0, self.quarter, self.bar = time.time(), 0, None
        if con.tty:
            from tqdm import tqdm

            try:
                cols = os.get_terminal_size(con.err.fileno()).columns
            except (OSError, AttributeError, ValueError):
                cols = 0
            # a terminal that reports no width (a pty without a size) gets a fixed one
            self.bar = tqdm(total=self.total, desc=desc, unit=unit, file=con.err, leave=True,
                            dynamic_ncols=cols > 0, ncols=None if cols > 0 else 100)

    def update(self, n: int, postfix: dict | None = None) -> None:
        n = min(int(n), self.total) if self.total else int(n)
        text = ", ".join(f"{k} {v}" for k, v in (postfix or {}).items())
        if self.bar is not None:
            self.bar.update(n - self.bar.n)
            if text:
                self.bar.set_postfix_str(text, refresh=False)
        elif self.total and n * 4 // self.total > self.quarter:
            self.quarter = n * 4 // self.total
            self.con.print(f"  {self.desc}: {n}/{self.total} {self.unit} ({time.time() - self.t0:.0f} s)"
                           + (f"  {text}" if text else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def quiet_output(log_path: str):
    """Point fds 1 and 2 at `log_path` (a local file); `console` keeps the terminal."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    for s in (sys.stdout, sys.stderr):
        s.flush()
    saved = os.dup(1), os.dup(2)
    term_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    term_err = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    console.out, console.err, console.log, console.bars = term_out, term_err, sys.stdout, True
    logging.captureWarnings(True)
    try:
        yield
    finally:
        for s in (sys.stdout, sys.stderr):
            s.flush()
        console.out, console.err, console.log, console.bars = None, None, None, False
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        term_out.close()
        term_err.close()
