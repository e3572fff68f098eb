"""The paper's Table 1 in miniature: bench/w2s.py's result as a table, for the run report and
`w2s evaluate` (shown when the bench result exists: a checkout's bench/results/w2s.json, or
the file named by W2S_TABLE1)."""

from __future__ import annotations

import json
import os

import pandas as pd

DEFAULT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "bench", "results", "w2s.json")
SPLITS = ("in-domain", "ood", "ood-content", "ood-family")
NOTE = ("bench/w2s.py: splits disjoint by source footage; the MOS of a test video is its distortion level "
        "order within its clip and family (not people); SRCC/PLCC within each group, averaged; mean +- std "
        "over the seeds")


def path() -> str:
    return os.environ.get("W2S_TABLE1", DEFAULT)


def load(where: str | None = None) -> dict | None:
    """The bench result, or None when there is none (or it is not a finished result)."""
    where = where or path()
    if not os.path.exists(where):
        return None
    with open(where) as fh:
        result = json.load(fh)
    return result if result.get("rows") else None


def _cell(agg: dict | None) -> str:
    if not agg:
        return "-"
    return f"{agg['mean']:.3f} ± {agg['std']:.3f}" if agg.get("n", 1) > 1 else f"{agg['mean']:.3f}"


def table(result: dict) -> pd.DataFrame:
    """One row per model row (teachers, I..V): SRCC (and PLCC) per split, mean +- std."""
    rows = []
    for name, r in result["rows"].items():
        agg = r.get("agg") or {}
        teacher = "student" not in r  # labelled apart from a run's own model names in `evaluate`'s output
        row = {"row": f"teacher {name}" if teacher else name, "model": "-" if teacher else r["student"],
               "adds": r.get("what", ""),
               "seeds": len(r.get("seeds") or {})}
        for split in SPLITS:
            row[f"{split} SRCC"] = _cell(agg.get(f"{split}_srcc"))
        row["in-domain PLCC"], row["ood PLCC"] = _cell(agg.get("in-domain_plcc")), _cell(agg.get("ood_plcc"))
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(result: dict) -> str:
    t = table(result)
    cols = list(t.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in t.itertuples(index=False)]
    return "\n".join(lines)
