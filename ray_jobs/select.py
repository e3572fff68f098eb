"""Stage `select`: distribution-matched subset of the measured pool (METHOD.md section 1).

    python -m ray_jobs.select --config configs/demo.yaml [--set select.n=100]

Reads <run_dir>/metrics, solves the histogram-matching LP/MILP (scipy HiGHS),
writes <run_dir>/select/selected.parquet and histograms.png (target vs random
vs selected). Skipped when an output with the same select config exists.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ray_jobs.common import stage_main, summary
from w2s import rundir
from w2s.metrics import METRIC_NAMES
from w2s.selection import plot_histograms, random_subset_tv, select

STAGE = "select"
DEFAULT_REFERENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "configs", "reference_metrics.parquet")


def run(cfg) -> dict:
    out_dir = rundir.join(cfg.run_dir, STAGE)
    out = rundir.join(out_dir, "selected.parquet")
    prev = rundir.read_json(rundir.join(out_dir, "stage.json"))
    if prev and prev.get("config", {}).get("select") == cfg.select.model_dump() and rundir.parquet_files(out_dir):
        summary(f"stage {STAGE}: already done", {"selected": prev.get("selected"), "output": out})
        return prev
    record = rundir.StageRecord(cfg.run_dir, STAGE, cfg.model_dump())
    pool = rundir.read_table(rundir.join(cfg.run_dir, "metrics"))
    if pool.empty:
        raise SystemExit(f"no metrics under {cfg.run_dir}/metrics: run ray_jobs.metrics first")
    pool = pool[pool["error"].isna()].reset_index(drop=True)
    ref_path = cfg.select.reference or DEFAULT_REFERENCE
    reference = pd.read_parquet(ref_path, columns=list(METRIC_NAMES))
    reference = reference[np.isfinite(reference.to_numpy()).all(axis=1)]
    n = min(cfg.select.n, len(pool))
    cand = pool[list(METRIC_NAMES)].to_numpy(float)
    sel = select(cand, reference.to_numpy(float), n, bins=cfg.select.bins,
                 method=cfg.select.method, seed=cfg.select.seed, time_limit=cfg.select.time_limit_s)
    tv_random = random_subset_tv(cand, reference.to_numpy(float), n, cfg.select.bins, cfg.select.seed)
    chosen = pool.iloc[sel.indices].drop(columns=["error"])
    fsys, path = rundir.filesystem(out)
    fsys.create_dir(os.path.dirname(path), recursive=True)
    chosen.to_parquet(out, index=False)
    png = None
    if "://" not in cfg.run_dir:
        png = os.path.join(out_dir, "histograms.png")
        plot_histograms(png, cand, reference.to_numpy(float), sel.indices, METRIC_NAMES,
                        cfg.select.bins, cfg.select.seed)
    info = record.finish(inputs=len(pool), selected=len(chosen), reference=ref_path,
                         reference_rows=len(reference), tv_selected=round(sel.tv, 4),
                         tv_random=round(tv_random, 4), cells=sel.cells,
                         solve_s=round(sel.solve_s, 3), solver_status=sel.status,
                         tv_per_metric=dict(zip(METRIC_NAMES, np.round(sel.tv_per_metric, 4).tolist(),
                                                strict=True)))
    summary(f"stage {STAGE}: {cfg.run_dir}", {
        "candidates": len(pool), "selected": len(chosen), "reference": f"{ref_path} ({len(reference)} rows)",
        "solver": f"{cfg.select.method} (HiGHS), {sel.cells} cells, {sel.solve_s:.3f} s, {sel.status}",
        "TV distance, selected": f"{sel.tv:.4f} (mean over 9 metrics)",
        "TV distance, random": f"{tv_random:.4f} (mean of 20 random subsets)",
        "histograms": png or "(not drawn for remote run dirs)", "output": out,
    })
    return info


def main(argv=None) -> None:
    stage_main(STAGE, __doc__, run, argv, needs_ray=False)


if __name__ == "__main__":
    # run the imported module, so Ray pickles its functions by reference (not from __main__)
    from ray_jobs.select import main as _main

    _main()
