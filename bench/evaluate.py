"""Evaluation throughput: the `evaluate` job (Ray Data decode tasks + an actor pool of Scorers,
one decode per video for every student) vs scoring the same videos in a plain loop with
`Scorer` in one process, side by side on this machine, as videos/s and their ratio.

1. one student: `python -m ray_jobs evaluate` (wall time of the whole command, Ray start
   included, and the stage's own duration) vs `Scorer.score([video])` per video (model load
   included), at N/2 and N videos; the difference of the two is the marginal rate, where the
   fixed costs (starting Ray, the actors, loading the model) cancel out.
2. two students (the demo evaluates stage 1 and stage 2): the job decodes each video once for
   both; the loop scores with each student in turn.

    python bench/evaluate.py [--videos N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench._common import CACHE, write_result  # noqa: E402
from bench.scoring import tiny_checkpoint  # noqa: E402


def loop(ckpts: list[str], videos: list[str]) -> float:
    """The baseline: every video through Scorer.score, one student after the other (seconds)."""
    from w2s.scoring.scorer import Scorer

    t = time.perf_counter()
    for c in ckpts:
        scorer = Scorer.from_pretrained(c)
        for v in videos:
            scorer.score([v])
    return time.perf_counter() - t


def job(run: str, ckpts: list[str], bench_csv: str, manifest: str) -> tuple[float, float]:
    """The evaluate job as a user runs it: (wall seconds of the command, the stage's duration)."""
    shutil.rmtree(os.path.join(run, "eval"), ignore_errors=True)
    shutil.rmtree(os.path.join(run, "evaluate"), ignore_errors=True)
    sets = {"run_dir": run, "manifest": manifest, "ray.num_cpus": 2, "ray.progress_bars": "false",
            "eval.teachers": "false", "eval.proxy": "false", "eval.checkpoints": "[" + ", ".join(ckpts) + "]",
            "eval.benchmarks": f"[{{name: bench, csv: {bench_csv}}}]"}
    cmd = [sys.executable, "-m", "ray_jobs.evaluate", "--config", os.path.join(ROOT, "configs", "demo.yaml")]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(p.stdout[-3000:] + p.stderr[-3000:])
    with open(os.path.join(run, "evaluate", "stage.json")) as f:
        return wall, json.load(f)["duration_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=48)
    ap.add_argument("--quick", action="store_true", help="12 videos")
    args = ap.parse_args()
    n = 12 if args.quick else args.videos
    from w2s.pool import build_pool

    with tempfile.TemporaryDirectory() as tmp:
        ckpt, _ = tiny_checkpoint(tmp)
        second = os.path.join(tmp, "student2")
        shutil.copytree(ckpt, second)
        pool = build_pool(n, os.path.join(CACHE, f"pool_evaluate_{n}"), seed=7, progress=False)
        videos = list(pool["uri"])
        bench_csv = os.path.join(tmp, "bench.csv")
        pd.DataFrame({"uri": videos, "mos": np.random.default_rng(0).random(len(videos))}).to_csv(bench_csv, index=False)
        manifest = os.path.join(CACHE, f"pool_evaluate_{n}", "manifest.parquet")
        half_csv = os.path.join(tmp, "half.csv")
        pd.read_csv(bench_csv).iloc[: len(videos) // 2].to_csv(half_csv, index=False)
        run = os.path.join(tmp, "run")
        out = {}
        cases = (("one_student_half", [ckpt], videos[: len(videos) // 2], half_csv),
                 ("one_student", [ckpt], videos, bench_csv), ("two_students", [ckpt, second], videos, bench_csv))
        for label, ckpts, vids, csv in cases:
            base = loop(ckpts, vids)
            wall, stage = job(run, ckpts, csv, manifest)
            scored = len(vids) * len(ckpts)
            out[label] = {"videos": len(vids), "students": len(ckpts),
                          "loop_s": round(base, 1), "job_wall_s": round(wall, 1), "job_stage_s": round(stage, 1),
                          "loop_videos_per_s": round(scored / base, 3),
                          "job_videos_per_s": round(scored / wall, 3),
                          "ratio_job_vs_loop": round(base / wall, 2),
                          "ratio_stage_vs_loop": round(base / stage, 2)}
            print(label, out[label], flush=True)
    h, f = out["one_student_half"], out["one_student"]
    extra = f["videos"] - h["videos"]
    out["marginal_one_student"] = {  # the fixed costs (Ray, actor start, model load) cancel out
        "videos": extra, "loop_videos_per_s": round(extra / (f["loop_s"] - h["loop_s"]), 3),
        "stage_videos_per_s": round(extra / (f["job_stage_s"] - h["job_stage_s"]), 3),
        "ratio_stage_vs_loop": round((f["loop_s"] - h["loop_s"]) / (f["job_stage_s"] - h["job_stage_s"]), 2)}
    out["note"] = ("2 CPUs, tiny student at 112 px, 2 key frames, 32 px motion; job: 2 scorer actors + decode tasks "
                   "(configs/demo.yaml scoring.*); wall includes starting a local Ray; a video scored by 2 students "
                   "counts twice")
    print(json.dumps(out, indent=1))
    print("results:", write_result("evaluate", out))


if __name__ == "__main__":
    main()
