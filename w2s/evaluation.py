"""Benchmark tables: per (model, benchmark) SRCC / KRCC / PLCC, and the paper's overall rows.

The overall in-domain and OOD rows are the video-count-weighted mean of the
per-benchmark values (the paper's convention). Failed videos (decode errors,
missing files) are left out of the correlations and counted in `failed`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from w2s.benchmarks import IN_DOMAIN, OOD
from w2s.correlation import correlations

METRICS = ["srcc", "krcc", "plcc", "plcc_raw"]
PREDICTION_COLUMNS = ["model", "benchmark", "domain", "uri", "mos", "prediction", "error"]
SUMMARY_COLUMNS = ["model", "benchmark", "domain", "videos", "failed", *METRICS]


def benchmark_metrics(pred: pd.DataFrame) -> dict:
    """Videos scored, failed and the correlations of one (model, benchmark) block."""
    ok = pred["error"].isna() & pred["prediction"].notna()
    x, y = pred.loc[ok, "prediction"].to_numpy(float), pred.loc[ok, "mos"].to_numpy(float)
    out = {"videos": int(ok.sum()), "failed": int((~ok).sum())}
    if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        out.update(correlations(x, y))
    else:  # too few videos, or a constant prediction: no correlation is defined
        out.update(dict.fromkeys(METRICS, float("nan")))
    return out


def summarize(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, benchmark), then per model the overall in-domain / OOD rows."""
    rows = [{"model": m, "benchmark": b, "domain": g["domain"].iloc[0], **benchmark_metrics(g)}
            for (m, b), g in predictions.groupby(["model", "benchmark"], sort=False)]
    per = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    overall = []
    for (m, d), g in per[per["domain"].isin([IN_DOMAIN, OOD])].groupby(["model", "domain"], sort=False):
        g = g[g[METRICS].notna().all(axis=1) & (g["videos"] > 0)]
        if len(g):
            w = g["videos"].to_numpy(float)
            overall.append({"model": m, "benchmark": f"overall {d}", "domain": d, "videos": int(w.sum()),
                            "failed": int(g["failed"].sum()),
                            **{k: float(np.average(g[k], weights=w)) for k in METRICS}})
    return pd.concat([per, pd.DataFrame(overall, columns=SUMMARY_COLUMNS)], ignore_index=True)


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (one line per model and benchmark)."""
    head = "| model | benchmark | domain | videos | failed | SRCC | KRCC | PLCC | PLCC (raw) |"
    lines = [head, "|" + "---|" * 9]
    for r in summary.itertuples(index=False):
        vals = " | ".join("-" if pd.isna(getattr(r, k)) else f"{getattr(r, k):.3f}" for k in METRICS)
        lines.append(f"| {r.model} | {r.benchmark} | {r.domain} | {r.videos} | {r.failed} | {vals} |")
    return "\n".join(lines)
