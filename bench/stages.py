"""The `metrics` stage on Ray Data vs a multiprocessing.Pool(2) loop over the same videos,
the stage's peak object-store use at two pool sizes, and the subset-selection solve time
for 10k / 100k / 1M synthetic candidates.

    python bench/stages.py [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import stage_bench_pool, write_result  # noqa: E402
from _overhead import CpuSplit, variant  # noqa: E402

from w2s.config import load_config  # noqa: E402
from w2s.metrics.table import safe_video_metrics  # noqa: E402
from w2s.selection import select  # noqa: E402

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")


class PlasmaPeak(threading.Thread):
    """Polls the aggregate object-store usage while a stage runs."""

    def __init__(self, period: float = 0.2):
        super().__init__(daemon=True)
        self.period, self.peak_mib, self._halt = period, 0.0, threading.Event()

    def run(self):
        from ray._private.internal_api import memory_summary

        while not self._halt.is_set():
            m = re.search(r"Plasma memory usage (\d+) MiB", memory_summary(stats_only=True))
            if m:
                self.peak_mib = max(self.peak_mib, float(m.group(1)))
            time.sleep(self.period)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak_mib


def ray_stage(manifest: str, run_dir: str) -> tuple[float, float]:
    from ray.data import DataContext

    from ray_jobs import metrics

    cfg = load_config(CONFIG, [f"run_dir={run_dir}", f"manifest={manifest}", "ray.progress_bars=false",
                               "metrics.batch_size=2", "metrics.rows_per_file=64"])
    DataContext.get_current().op_resource_reservation_enabled = cfg.ray.op_resource_reservation
    mon = PlasmaPeak()
    mon.start()
    t = time.perf_counter()
    metrics.run(cfg)
    return time.perf_counter() - t, mon.stop()


def pool_loop(uris: list[str]) -> float:
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(2) as p:
        p.map(safe_video_metrics, uris, chunksize=1)
    return time.perf_counter() - t


def pool_cpu(uris: list[str]) -> float:
    """CPU-seconds the pool's workers spend on the same videos (the work itself)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pool_loop(uris)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def breakdown(full: str, tmp: str, uris: list[str]) -> dict:
    """One more run of the stage with every process's CPU-seconds counted, and the stage's work
    under other Ray Data plans (no write): where the gap to the pool goes."""
    split = CpuSplit().start()
    ray_stage(full, os.path.join(tmp, "split"))
    cpu = split.stop()
    plans = {"tasks, 2 videos, 0.9 CPU (the stage)": (2, 0.9, None), "tasks, 8 videos, 0.9 CPU": (8, 0.9, None),
             "tasks, 2 videos, 1 CPU": (2, 1.0, None), "2 warm actors (0.5 CPU), 2 videos": (2, 0.5, 2)}
    times = {name: round(variant(uris, *args), 2) for name, args in plans.items()}
    for name, t in times.items():
        print(f"  plan {name:<38} {t:6.2f} s")
    return {"cpu_split_s": cpu, "plans_s": times}


def solve_times(sizes) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for v in sizes:
        # correlated metrics (3 latent factors), as real low-level metrics are
        lat = rng.normal(size=(v, 3))
        cand = lat @ rng.normal(size=(3, 9)) + 0.3 * rng.normal(size=(v, 9))
        ref = (rng.normal(0.5, 0.8, size=(5000, 3)) @ rng.normal(size=(3, 9)))
        t = time.perf_counter()
        sel = select(cand, ref, v // 8, bins=7, method="lp")
        total = time.perf_counter() - t
        rows.append({"candidates": v, "n": v // 8, "cells": sel.cells, "solve_s": round(sel.solve_s, 2),
                     "total_s": round(total, 2), "tv": round(sel.tv, 4), "status": sel.status})
        print(f"select LP: {v:>8} candidates, {sel.cells:>7} cells: solve {sel.solve_s:.2f} s, "
              f"total {total:.2f} s, TV {sel.tv:.4f}")
    return rows


def main() -> None:
    import ray

    args, pool = stage_bench_pool(__doc__)
    uris = list(pool["uri"])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        small = os.path.join(tmp, "small.parquet")
        pool.iloc[: len(pool) // 3].to_parquet(small, index=False)
        full = os.path.join(tmp, "full.parquet")
        pool.to_parquet(full, index=False)
        ray_stage(small, os.path.join(tmp, "warmup"))  # workers started, imports cached
        t_small, peak_small = ray_stage(small, os.path.join(tmp, "small"))
        t_ray, peak_full = ray_stage(full, os.path.join(tmp, "full"))
        split = breakdown(full, tmp, uris)
    ray.shutdown()
    work_cpu = pool_cpu(uris)
    pool_loop(uris[: len(uris) // 3])  # warm the page cache the same way
    t_pool_small = pool_loop(uris[: len(uris) // 3])
    t_pool = pool_loop(uris)
    marginal = (t_pool - t_pool_small) / (t_ray - t_small)
    print(f"metrics stage, {len(uris)} videos: Ray Data {t_ray:.2f} s, multiprocessing.Pool(2) {t_pool:.2f} s, "
          f"end-to-end ratio {t_pool / t_ray:.2f}x (goal >= 0.9)")
    print(f"marginal throughput (the extra {len(uris) - len(uris) // 3} videos): Ray Data {t_ray - t_small:.2f} s, "
          f"pool {t_pool - t_pool_small:.2f} s, ratio {marginal:.2f}x")
    print(f"peak object store: {peak_small:.0f} MiB for {len(uris) // 3} videos, {peak_full:.0f} MiB for {len(uris)}")
    overhead = explain(split, t_ray, t_pool, work_cpu)
    rows = solve_times([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    write_result("stages", {
        "videos": len(uris), "ray_data_s": round(t_ray, 2), "mp_pool_s": round(t_pool, 2),
        "throughput_ratio_ray_over_pool": round(t_pool / t_ray, 3), "goal": ">= 0.9",
        "ray_data_small_s": round(t_small, 2), "mp_pool_small_s": round(t_pool_small, 2),
        "marginal_throughput_ratio": round(marginal, 3),
        "op_resource_reservation": False,
        "peak_object_store_mib": {str(len(uris) // 3): peak_small, str(len(uris)): peak_full},
        "overhead": overhead, "select_lp": rows})


def explain(split: dict, t_ray: float, t_pool: float, work_cpu: float) -> dict:
    """Where the Ray run's 2 x wall CPU-seconds went, against the pool's work, and the ratio a
    cluster would see once the head-only processes (driver, GCS, dashboard) are off the workers'
    cores (cluster/aws.yaml's head runs no tasks)."""
    c = split["cpu_split_s"]
    head = c["driver"] + c["ray_head"]
    extra_worker = c["workers"] - work_cpu
    projected = t_pool / max(t_ray - head / 2, 1e-9)
    plan_s = next(iter(split["plans_s"].values()))  # the stage's own plan, without its bookkeeping
    print(f"the stage's Ray Data plan alone (same UDF, no manifest count / resume check / write / read-back): "
          f"{plan_s:.2f} s = {t_pool / plan_s:.2f}x the pool")
    print(f"CPU-seconds of the Ray run ({c['wall_s']} s x 2 cores = {2 * c['wall_s']:.1f}): workers {c['workers']} "
          f"(the pool's work: {work_cpu:.1f}), driver {c['driver']}, GCS/dashboard {c['ray_head']}, "
          f"raylet/agents {c['ray_node']}, idle {c['idle_of_2_cores_s']}")
    print(f"ratio with the head-only processes off these cores: {projected:.2f}x")
    return {**split, "pool_work_cpu_s": round(work_cpu, 2), "head_only_cpu_s": round(head, 2),
            "worker_cpu_over_pool_work_s": round(extra_worker, 2),
            "projected_ratio_head_processes_elsewhere": round(projected, 3),
            "plan_ratio_vs_pool": round(t_pool / plan_s, 3),
            "stage_bookkeeping_s": round(t_ray - plan_s, 2)}


if __name__ == "__main__":
    main()
