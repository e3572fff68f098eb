"""Seconds per video for the nine metrics, and peak memory while computing them.

Peak RSS is measured in a fresh subprocess per clip, against a baseline
subprocess that only imports the libraries: the metrics' own memory is the
difference, and it must not grow with the clip's length (10 s vs 60 s 1080p).
    python bench/metrics.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import long_clip, write_result  # noqa: E402

# VmHWM (not ru_maxrss, which Linux carries over from the forking parent across exec)
CHILD = r"""
import json, sys, time
from w2s.metrics import video_metrics
t = time.perf_counter()
m = video_metrics(sys.argv[1]) if sys.argv[1] != "-" else None
dt = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"seconds": dt, "peak_rss_mb": int(hwm) / 1024}))
"""


def run_child(path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the 60-s 1080p clip")
    args = ap.parse_args()
    import pandas as pd

    from w2s.pool import build_pool

    pool_dir = os.path.join(os.path.dirname(__file__), ".cache", "pool16")
    pool = build_pool(16, pool_dir, seed=1, progress=False)
    from w2s.metrics import video_metrics

    t = time.perf_counter()
    for uri in pool["uri"]:
        video_metrics(uri)
    per_video = (time.perf_counter() - t) / len(pool)
    print(f"sample pool: {per_video:.3f} s/video over {len(pool)} clips "
          f"(mean {pool['duration'].mean():.1f} s, {pool['width'].mean():.0f}x{pool['height'].mean():.0f})")

    base = run_child("-")
    rows = {"baseline_import_only": base}
    lengths = (10,) if args.quick else (10, 60)
    for secs in lengths:
        path = long_clip(secs, 1920, 1080, fps=30, gop_s=2.0)
        r = run_child(path)
        r["metrics_rss_mb"] = r["peak_rss_mb"] - base["peak_rss_mb"]
        rows[f"1080p_{secs}s"] = r
        print(f"1080p {secs:2d}s: {r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
              f"({r['metrics_rss_mb']:.0f} MB above the import baseline {base['peak_rss_mb']:.0f} MB)")
    result = {"seconds_per_pool_video": round(per_video, 4), "pool_clips": len(pool),
              "goal": "peak RSS < 500 MB on 1080p 60 s, independent of length", "rss": rows}
    if len(lengths) == 2:
        result["rss_ratio_60s_over_10s"] = round(rows["1080p_60s"]["peak_rss_mb"] / rows["1080p_10s"]["peak_rss_mb"], 3)
        print(f"peak RSS ratio 60 s / 10 s: {result['rss_ratio_60s_over_10s']}")
    del pd
    write_result("metrics", result)


if __name__ == "__main__":
    main()
