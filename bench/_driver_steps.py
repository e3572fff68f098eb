"""The driver-side steps of the paper's run at its size (default 1.5M pool videos, 200k selected,
5 teachers), each in its own process for its peak RSS, on synthetic tables of the real schema
(S3-like URIs, the nine metrics, teacher and student scores): the manifest read, `select`'s
table read + LP, `skip_done` with every URI done (a local Ray), the ensemble table + pairs,
gMAD over the scored pool, and the planner.

    python bench/_driver_steps.py ROWS ROOT       # (bench/scale.py runs it)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
TEACHERS = ("minimalisticvqa-vii", "minimalisticvqa-ix", "fast-vqa", "dover", "q-align")
PART_ROWS = 50_000  # rows per part file of the synthetic stage outputs (rows_per_file at scale)


def _uris(n: int) -> np.ndarray:
    return np.array([f"s3://w2s-pool/videos/{i // 10_000:04d}/v{i:08d}.mp4" for i in range(n)], dtype=object)


def _parts(df: pd.DataFrame, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for k, i in enumerate(range(0, len(df), PART_ROWS)):
        df.iloc[i:i + PART_ROWS].to_parquet(os.path.join(folder, f"part-{k:05d}.parquet"), index=False)


def build(rows: int, root: str) -> None:
    """The synthetic run directory (kept when built for the same size)."""
    from w2s.metrics import METRIC_NAMES
    from w2s.rundir import RunDir

    stamp = os.path.join(root, "rows")
    if os.path.exists(stamp) and open(stamp).read() == str(rows):
        return
    rng = np.random.default_rng(0)
    run = RunDir(os.path.join(root, "run"))
    uris = _uris(rows)
    pd.DataFrame({"uri": uris, "source": "synthetic", "width": 1280, "height": 720, "fps": 30.0, "duration": 8.0,
                  "seed": 0}).to_parquet(os.path.join(root, "manifest.parquet"), index=False)
    ref = pd.read_parquet(os.path.join(ROOT, "configs", "reference_metrics.parquet"))
    metrics = pd.DataFrame({m: rng.normal(ref[m].mean(), ref[m].std() * 1.3, rows) for m in METRIC_NAMES})
    metrics.insert(0, "uri", uris)
    metrics["error"] = None
    _parts(metrics, run.metrics())
    selected = rng.choice(rows, size=max(rows * 2 // 15, 2), replace=False)  # 200k of 1.5M
    quality = rng.normal(size=rows)
    for t in TEACHERS:
        s = quality[selected] + rng.normal(scale=0.8, size=len(selected))
        _parts(pd.DataFrame({"uri": uris[selected], "score": s, "error": None}), run.teacher_scores(t))
    student = pd.DataFrame({"uri": uris, "score": 50 + 15 * (quality + rng.normal(scale=0.5, size=rows)),
                            **{f"c_{i}": rng.random(rows) for i in range(5)}, "error": None})
    _parts(student, run.scores("stage1"))
    with open(stamp, "w") as fh:
        fh.write(str(rows))


def _paper_cfg(root: str, rows: int):
    from w2s.config import load_config

    return load_config(os.path.join(ROOT, "configs", "paper.yaml"),
                       [f"run_dir={os.path.join(root, 'run')}", f"manifest={os.path.join(root, 'manifest.parquet')}",
                        f"select.n={max(rows * 2 // 15, 2)}", "ray.address=null", "ray.num_cpus=2",
                        "ray.progress_bars=false"])


def step(name: str, root: str, rows: int) -> dict:
    """One step; returns what it produced (its time and RSS are measured around it)."""
    from w2s.rundir import RunDir

    cfg = _paper_cfg(root, rows)
    run = RunDir(cfg.run_dir)
    if name == "manifest_read":
        from w2s import uri

        df = uri.read_parquet(cfg.manifest)
        return {"rows": len(df)}
    if name == "select_lp":
        from w2s.metrics import METRIC_NAMES
        from w2s.selection import select

        pool = run.read_metrics()
        ref = pd.read_parquet(os.path.join(ROOT, "configs", "reference_metrics.parquet"))
        sel = select(pool[list(METRIC_NAMES)].to_numpy(), ref[list(METRIC_NAMES)].to_numpy(), cfg.select.n,
                     bins=cfg.select.bins)
        return {"candidates": len(pool), "selected": len(sel.indices)}
    if name == "skip_done":
        import ray.data

        from ray_jobs.runtime import init_ray, skip_done

        init_ray(cfg)
        ds = ray.data.read_parquet(cfg.manifest).select_columns(["uri"])
        rest, n_done = skip_done(ds, run.metrics())
        return {"done": n_done, "left": rest.count()}
    if name == "ensemble_pairs":
        from w2s.pairs import ensemble_pairs

        stats = run.read_ensemble(list(TEACHERS))
        pairs = ensemble_pairs(stats, cfg.pairs.ensemble_pairs)
        return {"videos": len(stats), "pairs": len(pairs)}
    if name == "gmad":
        from ray_jobs.mine_pairs import mine_gmad
        from w2s import rundir

        cfg = cfg.for_iteration(2)
        t = rundir.ok_rows(rundir.read_table(run.scores("stage1")))
        cols = [t.set_index("uri")["score"].rename("student")] + [run.read_teacher_scores(x) for x in TEACHERS]
        scores = pd.concat(cols, axis=1, join="outer")
        g = mine_gmad(cfg, scores, set())
        return {"scored_videos": len(scores), "gmad_pairs": len(g)}
    if name == "plan":
        from w2s.plan import format_plan, plan
        from w2s.plan.costs import Cluster

        cl = Cluster(videos=rows, gpus=64, cpus=1024)
        prows, totals = plan(cfg, cl)
        format_plan(prows, totals, cl)
        return {"wall_hours": round(totals["wall_hours"], 1)}
    raise ValueError(name)


STEPS = ("manifest_read", "select_lp", "skip_done", "ensemble_pairs", "gmad", "plan")


def run_all(rows: int, root: str) -> dict:
    """Every step in a child process: seconds (import excluded) and the child's peak RSS."""
    os.makedirs(root, exist_ok=True)
    t = time.perf_counter()
    build(rows, root)
    out = {"rows": rows, "build_s": round(time.perf_counter() - t, 1), "steps": {}}
    for name in STEPS:
        res = subprocess.run([sys.executable, os.path.abspath(__file__), "_step", name, root, str(rows)],
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
        lines = [x for x in res.stdout.splitlines() if x.startswith("{")]
        if res.returncode != 0 or not lines:
            out["steps"][name] = {"error": (res.stderr or res.stdout)[-2000:]}
            print(f"  {name}: FAILED\n{res.stderr[-2000:]}", flush=True)
            continue
        out["steps"][name] = json.loads(lines[-1])
        r = out["steps"][name]
        print(f"  {rows:,} rows  {name:<15} {r['seconds']:>7.1f} s  peak RSS {r['peak_rss_mb']:.0f} MB "
              f"(imports {r['rss_before_mb']:.0f} MB)  {r['result']}", flush=True)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "_step":
        from _probe import peak_rss_mb

        name, root, rows = sys.argv[2], sys.argv[3], int(sys.argv[4])
        import ray  # noqa: F401 - imports excluded from the step's time and counted apart in RSS

        from w2s import rundir  # noqa: F401

        before = peak_rss_mb()
        t = time.perf_counter()
        result = step(name, root, rows)
        secs = time.perf_counter() - t
        print(json.dumps({"seconds": round(secs, 2), "result": result, "rss_before_mb": round(before, 1),
                          "peak_rss_mb": round(peak_rss_mb(), 1)}))
    else:
        print(json.dumps(run_all(int(sys.argv[1]), sys.argv[2]), indent=1))
