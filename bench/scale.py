"""The scale rehearsal: the stages on a growing pool of tiny real clips, a kill in the middle of
`metrics` and its rerun, and the driver-side steps at the paper's 1.5M videos.

1. Pools of 10k / 30k / 100k rows (bench/_tinypool.py: 64x36 clips of 1-2 s cut from the sample
   footage; each row its own URI, a link to one of 48 encoded clips). On each, on a local Ray of
   2 CPUs, one child process per stage: `metrics` (every row), `select` (1 in 50), then
   `score_teachers` (the weight-free `lowlevel` teacher; NIQE needs a short side over 192 px)
   and `score` (the tiny student) on the selected 1 in 50. Per stage: rows/s, time to the first
   output file, the driver's peak RSS, the object store's peak, the files written.
2. Kill the `metrics` job at ~50 % of the largest pool (SIGKILL to the process tree it started,
   nothing else), rerun it: rows redone (processed before the kill but not on disk), rows lost
   (never written), rows duplicated (in two part files).
3. The driver-side steps at 1.5M rows (bench/_driver_steps.py): seconds and peak RSS each.

    python bench/scale.py [--sizes 10000 30000 100000] [--kill-size 100000] [--driver-rows 1500000]
    python bench/scale.py --quick       # 2k / 6k rows, kill at 6k, driver steps at 150k

Results: bench/results/scale.json and scale.png (rows/s and driver RSS vs pool size).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
from _common import CACHE, write_result  # noqa: E402

CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
POOL = os.path.join(CACHE, "scale_pool")
BASE_CLIPS = 48
SUBSET = 50  # select keeps 1 in 50 for score_teachers and score (the paper: 1 in 7.5)
STAGE_SETS = {  # what a user sizing a large pool sets; the rest is the demo config
    "metrics": ["metrics.batch_size=32", "metrics.rows_per_file=256"],  # the default (the demo has 16)
    "select": [],
    "score_teachers": ["teachers=[{name: lowlevel, decode_batch_size: 32, batch_size: 32}]"],
    "score": ["scoring.videos=selected", "scoring.batch_size=16"],
}


# -- the child: one stage, measured -------------------------------------------------------------
def child(args) -> None:
    from _probe import Watch, count_progress, parquet_files, peak_rss_mb, write_json

    from ray_jobs import registry
    from ray_jobs.runtime import init_ray
    from w2s.config import load_config
    from w2s.rundir import RunDir

    cfg = load_config(CONFIG, args.set)
    if args.progress:
        count_progress(args.progress)
    run = RunDir(cfg.run_dir)
    out = {"metrics": run.metrics(), "select": run.selected(), "score_teachers": run.teacher_scores(),
           "score": run.scores("student")}[args.stage]
    rss0 = peak_rss_mb()
    init_ray(cfg)
    rss_ray = peak_rss_mb()
    watch = Watch(out)
    watch.start()
    t = time.perf_counter()
    result = registry.get(args.stage).run(cfg)
    seconds = time.perf_counter() - t
    w = watch.stop()
    files = parquet_files(out) if os.path.isdir(out) else [out]
    rows = result.get("outputs", result.get("scored", result.get("selected"))) or 0
    done = result.get("already_done", 0) or 0
    write_json(args.out, {"stage": args.stage, "seconds": round(seconds, 2), "result": result,
                          "rows": int(args.rows), "rows_processed": int(args.rows) - int(done),
                          "rows_per_s": round((int(args.rows) - int(done)) / seconds, 1),
                          **w, "driver_peak_rss_mb": round(peak_rss_mb(), 1),
                          "driver_rss_before_ray_mb": round(rss0, 1), "driver_rss_after_ray_init_mb": round(rss_ray, 1),
                          "files": len(files), "output": out, "rows_out": rows})


def _sets(size: int, run_dir: str, manifest: str, ckpt: str | None, stage: str) -> list[str]:
    base = [f"run_dir={run_dir}", f"manifest={manifest}", "ray.num_cpus=2", "ray.progress_bars=false",
            f"select.n={max(size // SUBSET, 2)}"]
    if ckpt:
        base.append(f"scoring.checkpoint={ckpt}")
    return base + STAGE_SETS[stage]


def run_child(stage: str, size: int, rows: int, run_dir: str, manifest: str, ckpt: str | None,
              progress: str | None = None, kill_at: float | None = None, timeout_s: float = 3600) -> dict:
    """One stage in a child process (its own session); `kill_at`: SIGKILL its process tree when
    the stage's progress counter passes that fraction of `rows`."""
    import psutil

    out = os.path.join(run_dir, f"_bench_{stage}.json")
    if os.path.exists(out):
        os.remove(out)
    cmd = [sys.executable, os.path.abspath(__file__), "_child", "--stage", stage, "--out", out, "--rows", str(rows)]
    cmd += ["--progress", progress] if progress else []
    for s in _sets(size, run_dir, manifest, ckpt, stage):
        cmd += ["--set", s]
    log = open(os.path.join(run_dir, f"_bench_{stage}.log"), "a")
    env = {**os.environ, "PYTHONPATH": ROOT, "RAY_DEDUP_LOGS": "0"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    t0, seen = time.perf_counter(), 0
    try:
        while proc.poll() is None:
            time.sleep(0.25)
            if kill_at is not None and progress and os.path.exists(progress):
                try:
                    seen = int(open(progress).read() or 0)
                except ValueError:
                    continue
                if seen >= kill_at * rows:
                    me = psutil.Process(proc.pid)
                    tree = [me, *me.children(recursive=True)]
                    for p in tree:  # the driver and everything it started (raylet, GCS, workers)
                        try:
                            p.send_signal(signal.SIGKILL)
                        except psutil.NoSuchProcess:
                            pass
                    proc.wait()
                    psutil.wait_procs(tree[1:], timeout=30)
                    return {"killed_after_s": round(time.perf_counter() - t0, 2), "progress_at_kill": seen,
                            "processes_killed": len(tree)}
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"{stage} on {size} rows ran over {timeout_s} s")
    finally:
        if proc.poll() is None:
            for p in [proc, *psutil.Process(proc.pid).children(recursive=True)]:
                p.kill()
        log.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{stage} on {size} rows failed (exit {proc.returncode}); see {log.name}")
    with open(out) as fh:
        return json.load(fh)


# -- the parent --------------------------------------------------------------------------------
def prepare(sizes: list[int]) -> tuple[dict[int, str], str]:
    from _tinypool import base_clips, link_pool
    from scoring import tiny_checkpoint

    base = base_clips(BASE_CLIPS, POOL)
    manifests = {n: link_pool(n, POOL, base) for n in sorted(set(sizes))}
    ck = os.path.join(CACHE, "scale_student")
    if not os.path.exists(os.path.join(ck, "student", "anchors.json")):
        shutil.rmtree(ck, ignore_errors=True)
        tiny_checkpoint(ck)
    return manifests, os.path.join(ck, "student")


def stages_at(size: int, manifest: str, ckpt: str) -> dict:
    run_dir = os.path.join(CACHE, f"scale_run_{size}")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    sub = max(size // SUBSET, 2)
    out = {}
    for stage, rows in (("metrics", size), ("select", size), ("score_teachers", sub), ("score", sub)):
        r = run_child(stage, size, rows, run_dir, manifest, ckpt)
        out[stage] = r
        print(f"  {size:>7} rows  {stage:<15} {r['seconds']:>7.1f} s  {r['rows_per_s']:>7.1f} rows/s  "
              f"first file {r['first_file_s']} s  driver {r['driver_peak_rss_mb']:.0f} MB  "
              f"store {r['object_store_peak_mib']:.0f} MiB  files {r['files']}", flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    return out


def kill_and_rerun(size: int, manifest: str, fraction: float = 0.5) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq
    from _probe import parquet_files, rows_on_disk

    run_dir = os.path.join(CACHE, f"scale_kill_{size}")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    progress = os.path.join(run_dir, "_progress")
    killed = run_child("metrics", size, size, run_dir, manifest, None, progress=progress, kill_at=fraction)
    out = os.path.join(run_dir, "metrics")
    on_disk, broken = rows_on_disk(out)
    print(f"  killed at {killed['progress_at_kill']}/{size} rows after {killed['killed_after_s']} s "
          f"({killed['processes_killed']} processes): {on_disk} rows on disk, {broken} broken part files", flush=True)
    rerun = run_child("metrics", size, size, run_dir, manifest, None)
    uris = pd.concat([pq.read_table(f, columns=["uri"]).to_pandas() for f in parquet_files(out)])["uri"]
    want = set(pd.read_parquet(manifest, columns=["uri"])["uri"])
    redone = max(killed["progress_at_kill"] - on_disk, 0)
    res = {"rows": size, "kill": killed, "rows_on_disk_after_kill": on_disk, "broken_part_files": broken,
           "rerun": {k: rerun[k] for k in ("seconds", "rows_processed", "rows_per_s", "files")},
           "rerun_skipped": rerun["result"].get("already_done"),
           "rows_redone": redone, "redone_pct": round(100 * redone / size, 2),
           "rows_lost": len(want - set(uris)), "rows_duplicated": int(len(uris) - uris.nunique()),
           "rows_extra": len(set(uris) - want),
           "note": "redone = rows the stage's progress counter had seen before the kill minus the rows "
                   "in readable part files after it (a lower bound: the counter lags by < 0.5 s)",
           "goal": "redone <= 1 %, lost 0, duplicated 0"}
    print(f"  rerun: {res['rerun']['rows_processed']} rows processed; redone {redone} ({res['redone_pct']} %), "
          f"lost {res['rows_lost']}, duplicated {res['rows_duplicated']}", flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    return res


def baseline() -> dict:
    """The same work in this process, no Ray: seconds per row on one core of the base clips for
    metrics, the lowlevel teacher and the tiny student (the per-row overhead is the stage's cost
    per row beyond these)."""
    import torch
    from _tinypool import base_clips

    from w2s.metrics.table import safe_video_metrics
    from w2s.scoring.scorer import Scorer
    from w2s.teachers import create_teacher

    uris = list(base_clips(BASE_CLIPS, POOL)["uri"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    teacher = create_teacher("lowlevel")
    teacher.setup()
    scorer = Scorer.from_pretrained(os.path.join(CACHE, "scale_student", "student"))
    out = {}
    for name, fn in (("metrics", lambda: [safe_video_metrics(u, "pyav") for u in uris]),
                     ("score_teachers", lambda: [teacher.score(u) for u in uris]),
                     ("score", lambda: [scorer.score(uris[i:i + 16]) for i in range(0, len(uris), 16)])):
        fn()
        t = time.perf_counter()
        fn()
        out[name] = round((time.perf_counter() - t) / len(uris), 5)
    torch.set_num_threads(threads)
    return {"cpu_s_per_row_one_core": out, "rows": len(uris)}


def overheads(stages: dict, base: dict, cpus: int = 2) -> dict:
    """seconds = start + rows x per_row, a least-squares line through every pool size: the
    stage's fixed start (reading, planning, actors and models) and its CPU-seconds per row beyond
    the same work in one process (the row loop: tasks, serialisation, writes, the driver)."""
    import numpy as np

    sizes = sorted(stages, key=int)
    out = {}
    for stage in ("metrics", "score_teachers", "score"):
        rows = [stages[n][stage]["rows_processed"] for n in sizes]
        per_row, start = np.polyfit(rows, [stages[n][stage]["seconds"] for n in sizes], 1)
        work = base["cpu_s_per_row_one_core"][stage]
        out[stage] = {"start_s": round(float(start), 1),
                      "cpu_s_per_row": round(float(per_row) * cpus, 5), "work_cpu_s_per_row": work,
                      "overhead_cpu_s_per_row": round(max(float(per_row) * cpus - work, 0.0), 5)}
    return out


def linearity(by_size: dict) -> dict:
    sizes = sorted(by_size)
    lo, hi = sizes[0], sizes[-1]
    out = {}
    for stage in by_size[lo]:
        a, b = by_size[lo][stage], by_size[hi][stage]
        out[stage] = {"rows_per_s_ratio": round(b["rows_per_s"] / a["rows_per_s"], 3),
                      "driver_rss_ratio": round(b["driver_peak_rss_mb"] / a["driver_peak_rss_mb"], 3)}
    return {"from": lo, "to": hi, **out, "goal": "rows/s ratio >= 0.9, driver RSS ratio <= 1.2"}


def plot(by_size: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(by_size)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for stage in by_size[sizes[0]]:
        if stage == "select":
            continue
        xs = [by_size[n][stage]["rows"] for n in sizes]
        a.plot(xs, [by_size[n][stage]["rows_per_s"] for n in sizes], "o-", label=stage)
    for stage in by_size[sizes[0]]:
        b.plot(sizes, [by_size[n][stage]["driver_peak_rss_mb"] for n in sizes], "o-", label=stage)
    a.set(xscale="log", xlabel="rows processed by the stage", ylabel="rows / s (2 CPUs)", title="throughput")
    b.set(xscale="log", xlabel="pool size (rows)", ylabel="driver peak RSS (MB)", title="driver memory")
    b.set_ylim(bottom=0)
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/scale.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    p.add_argument("--kill-size", type=int, default=100_000, help="0: no kill test")
    p.add_argument("--driver-rows", type=int, default=1_500_000, help="0: no driver-side steps")
    p.add_argument("--quick", action="store_true", help="2k / 6k rows, kill at 6k, driver steps at 150k")
    p.add_argument("--only", choices=["stages", "kill", "driver", "baseline"], action="append",
                   help="run only these parts (repeatable); the others keep their figures in scale.json")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.kill_size, args.driver_rows = [2000, 6000], 6000, 150_000
    parts = set(args.only or ["stages", "kill", "driver", "baseline"])
    path = os.path.join(HERE, "results", "scale.json")
    prev = json.load(open(path)) if os.path.exists(path) and not args.quick else {}
    res = {k: prev[k] for k in ("stages", "linearity", "kill_rerun", "driver_steps", "baseline", "overheads")
           if k in prev}
    manifests, ckpt = prepare(args.sizes + ([args.kill_size] if args.kill_size else []))
    if "stages" in parts:
        by_size = {n: stages_at(n, manifests[n], ckpt) for n in args.sizes}
        res["stages"] = {str(n): v for n, v in by_size.items()}
        res["linearity"] = linearity(by_size)
        plot(by_size, os.path.join(HERE, "results", "scale.png" if not args.quick else "scale_quick.png"))
    if "kill" in parts and args.kill_size:
        res["kill_rerun"] = kill_and_rerun(args.kill_size, manifests[args.kill_size])
    if "driver" in parts and args.driver_rows:
        from _driver_steps import run_all

        res["driver_steps"] = run_all(args.driver_rows, os.path.join(CACHE, "scale_driver"))
    if "baseline" in parts:
        res["baseline"] = baseline()
    if "stages" in res and "baseline" in res:
        res["overheads"] = overheads(res["stages"], res["baseline"])
    print(json.dumps({k: res.get(k) for k in ("linearity", "overheads")}, indent=1))
    write_result("scale_quick" if args.quick else "scale", {
        "pool": f"{BASE_CLIPS} encoded 64x36 clips of 1-2 s (24 fps, libx264), one link per row", **res})
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        c = argparse.ArgumentParser()
        c.add_argument("_child")
        c.add_argument("--stage", required=True)
        c.add_argument("--out", required=True)
        c.add_argument("--rows", required=True)
        c.add_argument("--progress")
        c.add_argument("--set", action="append", default=[])
        child(c.parse_args())
        sys.exit(0)
    sys.exit(main())
