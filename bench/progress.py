"""What the terminal progress bars cost: the `metrics` stage with progress tracking (every
task reports to a small actor that the driver polls twice a second) vs the same stage with
tracking off, side by side on the same clips and the same local Ray, alternating, best of 3.

    python bench/progress.py [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import stage_bench_pool, write_result  # noqa: E402

from ray_jobs import metrics  # noqa: E402
from ray_jobs.console import console  # noqa: E402
from w2s.config import load_config  # noqa: E402

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")


def stage_seconds(manifest: str, run_dir: str, tracked: bool) -> float:
    console.bars = tracked  # what quiet mode turns on
    cfg = load_config(CONFIG, [f"run_dir={run_dir}", f"manifest={manifest}", "ray.progress_bars=false",
                               "metrics.batch_size=2", "metrics.rows_per_file=64"])
    t = time.perf_counter()
    metrics.run(cfg)
    return time.perf_counter() - t


def main() -> None:
    import ray
    from ray.data import DataContext

    _, pool = stage_bench_pool(__doc__)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    DataContext.get_current().op_resource_reservation_enabled = False  # as configs/demo.yaml
    times = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        manifest = os.path.join(tmp, "manifest.parquet")
        pool.to_parquet(manifest, index=False)
        stage_seconds(manifest, os.path.join(tmp, "warmup"), True)  # workers started, imports cached
        for i in range(3):
            for tracked in (i % 2 == 0, i % 2 == 1):
                times[tracked].append(stage_seconds(manifest, os.path.join(tmp, f"r{i}-{tracked}"), tracked))
    ray.shutdown()
    on, off = min(times[True]), min(times[False])
    print(f"metrics stage, {len(pool)} videos: with progress tracking {on:.2f} s, without {off:.2f} s, "
          f"ratio {off / on:.3f}x (1.0 = free)")
    write_result("progress", {
        "videos": len(pool), "tracked_s": [round(t, 2) for t in times[True]],
        "untracked_s": [round(t, 2) for t in times[False]], "best_tracked_s": round(on, 2),
        "best_untracked_s": round(off, 2), "throughput_ratio_tracked_over_untracked": round(off / on, 3)})


if __name__ == "__main__":
    main()
