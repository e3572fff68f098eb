"""The nine metrics for many videos in local processes (the Ray stage comes later),
with failures recorded per video instead of stopping."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

from w2s.metrics.video import METRIC_NAMES, video_metrics
from w2s.video import VideoDecodeError


def safe_video_metrics(uri: str, backend: str = "pyav") -> dict:
    """Metrics row for `uri`; a bad video gives NaNs and its reason in `error`."""
    try:
        return {"uri": uri, **video_metrics(uri, backend=backend), "error": None}
    except VideoDecodeError as e:
        return {"uri": uri, **{k: float("nan") for k in METRIC_NAMES}, "error": e.reason}


def metrics_table(uris: list[str], workers: int | None = None, backend: str = "pyav",
                  progress: bool = True):
    import pandas as pd
    from tqdm import tqdm

    workers = max(1, min(len(uris), workers or os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers) as ex:
        rows = list(tqdm(ex.map(safe_video_metrics, uris, [backend] * len(uris)),
                         total=len(uris), desc="metrics", unit="video", disable=not progress))
    return pd.DataFrame(rows, columns=["uri", *METRIC_NAMES, "error"])


def format_table(df, max_rows: int = 80) -> str:
    """A fixed-width table of the metrics (file names only), then a summary line."""
    import pandas as pd

    show = df.copy()
    show.insert(0, "video", show.pop("uri").map(os.path.basename))
    with pd.option_context("display.max_rows", max_rows, "display.width", 200,
                           "display.float_format", "{:.3f}".format):
        body = show.drop(columns=["error"]).to_string(index=False)
        stats = df[list(METRIC_NAMES)].agg(["min", "mean", "max"]).to_string()
    failed = df[df["error"].notna()]
    lines = [body, "", stats, "", f"{len(df) - len(failed)} videos measured, {len(failed)} failed"]
    lines += [f"  failed: {u}: {r}" for u, r in zip(failed["uri"], failed["error"], strict=True)]
    return "\n".join(lines)
