"""Stage `select`: distribution-matched subset of the measured pool (METHOD.md section 1).

    python -m ray_jobs select --config configs/demo.yaml [--set select.n=100]

Reads <run_dir>/metrics, solves the histogram-matching LP/MILP (scipy HiGHS),
writes <run_dir>/select/selected.parquet and histograms.png (target vs random
vs selected). Skipped when an output with the same select config exists.
"""

from __future__ import annotations

import os

import numpy as np

from ray_jobs.base import Stage
from ray_jobs.console import console
from w2s import uri
from w2s.metrics import METRIC_NAMES
from w2s.selection import plot_histograms, random_subset_tv, select

DEFAULT_REFERENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "configs", "reference_metrics.parquet")


class Select(Stage):
    name, writes_failures = "select", False

    def done_before(self, ctx):
        prev = uri.read_json(self.record_path(ctx.cfg))
        if prev and prev.get("config", {}).get("select") == ctx.cfg.select.model_dump() and uri.exists(
                ctx.run_dir.selected()):
            console.summary(f"stage {self.name}: already done", {"selected": prev.get("selected"),
                                                                "output": ctx.run_dir.selected()})
            return prev
        return None

    def execute(self, ctx):
        cfg, run_dir, out = ctx.cfg, ctx.run_dir, ctx.run_dir.selected()
        pool = run_dir.read_metrics()
        ref_path = cfg.select.reference or DEFAULT_REFERENCE
        reference = uri.read_parquet(ref_path, columns=list(METRIC_NAMES))
        reference = reference[np.isfinite(reference.to_numpy()).all(axis=1)]
        n = min(cfg.select.n, len(pool))
        cand, ref = pool[list(METRIC_NAMES)].to_numpy(float), reference.to_numpy(float)
        sel = select(cand, ref, n, bins=cfg.select.bins, method=cfg.select.method, seed=cfg.select.seed,
                     time_limit=cfg.select.time_limit_s)
        tv_random = random_subset_tv(cand, ref, n, cfg.select.bins, cfg.select.seed)
        chosen = pool.iloc[sel.indices].drop(columns=["error"])
        uri.write_parquet(out, chosen)
        uri.write_parquet(run_dir.select_reference(), reference)
        png = plot_histograms(run_dir.histograms(), cand, ref, sel.indices, METRIC_NAMES, cfg.select.bins,
                              cfg.select.seed)
        ctx.rows.update({
            "candidates": len(pool), "selected": len(chosen), "reference": f"{ref_path} ({len(reference)} rows)",
            "solver": f"{cfg.select.method} (HiGHS), {sel.cells} cells, {sel.solve_s:.3f} s, {sel.status}",
            "TV distance, selected": f"{sel.tv:.4f} (mean over 9 metrics)",
            "TV distance, random": f"{tv_random:.4f} (mean of 20 random subsets)",
            "histograms": png, "output": out})
        return {"inputs": len(pool), "selected": len(chosen), "reference": ref_path,
                "reference_rows": len(reference), "tv_selected": round(sel.tv, 4), "tv_random": round(tv_random, 4),
                "cells": sel.cells, "solve_s": round(sel.solve_s, 3), "solver_status": sel.status,
                "tv_per_metric": dict(zip(METRIC_NAMES, np.round(sel.tv_per_metric, 4).tolist(), strict=True))}


STAGE = Select
run = STAGE().run  # run(cfg) -> dict: the stage from Python

if __name__ == "__main__":  # the same as `python -m ray_jobs select`
    STAGE.main()
