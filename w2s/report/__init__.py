"""The run report: `w2s report RUN_DIR` -> RUN_DIR/report/index.html and its PNGs.

Built from the run directory alone (through `w2s.rundir.RunDir`): a self-contained
page that opens from disk (no server, no script, no CDN). A section whose stage has
not run is left out; a section that fails on a bad file says so and the others stay.
"""

from __future__ import annotations

import logging
import time

from w2s import rundir, uri
from w2s.report.page import Section, render
from w2s.report.sections import SECTIONS, Ctx

log = logging.getLogger(__name__)


def build_report(run_dir: str, out: str | None = None) -> str:
    """Write the report; returns the path/URI of index.html."""
    run = rundir.RunDir(run_dir)
    if not uri.exists(run.root):
        raise FileNotFoundError(f"no run directory at {run.root}")
    out = (out or run.report_dir()).rstrip("/")
    ctx = Ctx(run, out)
    sections = []
    for make in SECTIONS:
        try:
            sec = make(ctx)
        except Exception as e:  # a corrupt or half-written file: say so, keep the other sections
            log.exception("report section %s failed", make.__name__)
            sec = Section(make.__name__, make.__name__.replace("_", " ").title()).text(
                f"this section could not be built: {type(e).__name__}: {e}", "err")
        if sec is not None:
            sections.append(sec)
    if not sections:
        sections.append(Section("empty", "Nothing yet").text("No stage has run in this directory yet."))
    page = render("w2s-vqa run report", f"{run.root} — built {time.strftime('%Y-%m-%d %H:%M:%S')}", sections)
    return uri.write_bytes(uri.join(out, "index.html"), page.encode())


__all__ = ["build_report"]
