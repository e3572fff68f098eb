"""Does the tiny student learn robustly, and does stage 2 beat stage 1?

    python bench/learning.py [--seeds 0 1 2] [--run-dir runs/demo/run] [--out bench/results/learning.json]

1. Seeds. The learning setup of bench/_learning.py (a 20-clip sample pool, darken + blur
   renders of every clip, the clips of 2 source videos held out) trained with the recipe
   in `_learning.LEARN` (pair-shared crop + flip augmentation included) at each seed
   (student init and data order); per seed the student's direction accuracy on the
   held-out pairs (goal >= 0.8 for every seed). `--baseline` also trains the recipe without
   augmentation at the same seeds, side by side.
2. Weak-to-strong on a pipeline run (`--run-dir`, e.g. the demo's after `make demo`): on
   the held-out sources (pairs/heldout: videos rendered at known levels, never trained
   on), per (source, family) the SRCC between each model's score and the distortion level
   (less distorted = better), averaged: the weak teachers (NIQE, lowlevel) against the
   stage-1 and stage-2 students (their 0-100 scores through the anchors).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _learning as learning  # noqa: E402
from bench._common import write_result  # noqa: E402


def train(data: dict, name: str, seed: int, augment: bool) -> float:
    sets = data["sets"] + [f"{k}={v}" for k, v in {**learning.TRAIN, **learning.LEARN, "train.augment": augment,
                                                   "train.name": name, "train.seed": seed, "student.seed": seed,
                                                   "train.pairs": data["paths"]["train"]}.items()]
    cmd = [sys.executable, "-m", "ray_jobs.train_student", "--config", learning.CONFIG]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    p = subprocess.run(cmd, cwd=learning.ROOT, env=env, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stdout[-3000:] + p.stderr[-3000:])
    return learning.held_out_accuracy(data, name)


def seeds_part(seeds: list[int], baseline: bool) -> dict:
    root = tempfile.mkdtemp(prefix="w2s-learning-")
    t0 = time.time()
    data = learning.build(os.path.join(root, "pool"), os.path.join(root, "run"))
    out = {"setup_s": round(time.time() - t0, 1), "runs": {}}
    for seed in seeds:
        for augment in ([True, False] if baseline else [True]):
            name = f"seed{seed}" + ("" if augment else "_noaug")
            t0 = time.time()
            acc = train(data, name, seed, augment)
            out["runs"][name] = {"seed": seed, "augment": augment, "held_out_direction_accuracy": round(acc, 4),
                                 "seconds": round(time.time() - t0, 1)}
            print(f"{name}: held-out direction accuracy {acc:.3f} ({out['runs'][name]['seconds']} s)", flush=True)
    accs = [r["held_out_direction_accuracy"] for r in out["runs"].values() if r["augment"]]
    out["min_over_seeds"], out["goal"] = min(accs), ">= 0.8 for every seed"
    return out


def videos_at_levels(pairs):
    """One row per held-out video: uri, source, family, level (from the pairs' `levels` i-j)."""
    import pandas as pd

    lv = pairs["levels"].str.split("-", expand=True).astype(int)
    rows = pd.concat([pd.DataFrame({"uri": pairs["first_uri"], "level": lv[0]}),
                      pd.DataFrame({"uri": pairs["second_uri"], "level": lv[1]})])
    rows = rows.assign(source=list(pairs["source"]) * 2, family=list(pairs["family"]) * 2)
    return rows.drop_duplicates("uri").reset_index(drop=True)


def w2s_part(run_dir: str) -> dict:
    import numpy as np
    from scipy.stats import spearmanr

    from w2s.rundir import RunDir
    from w2s.scoring.scorer import Scorer
    from w2s.teachers import create_teacher

    run = RunDir(run_dir)
    videos = videos_at_levels(run.read_pairs(stage="heldout"))
    scores = {}
    for t in ("niqe", "lowlevel"):
        teacher = create_teacher(t)
        teacher.setup()
        scores[t] = np.array([teacher.score(u) for u in videos["uri"]])
    for n in range(1, 10):
        if not os.path.exists(run.anchors(f"stage{n}")):
            break
        scorer = Scorer.from_pretrained(run.student(f"stage{n}"))
        uris = list(videos["uri"])
        scores[f"student stage{n}"] = np.array([s.score for i in range(0, len(uris), 4)
                                                for s in scorer.score(uris[i: i + 4])])
    out = {"videos": len(videos), "groups": int(videos.groupby(["source", "family"]).ngroups), "srcc": {}}
    for name, s in scores.items():
        per = [spearmanr(-g["level"], s[g.index])[0] for _, g in videos.groupby(["source", "family"])]
        per = [r for r in per if np.isfinite(r)]
        out["srcc"][name] = round(float(np.mean(per)), 4) if per else None
        print(f"{name}: SRCC vs level within (source, family), mean {out['srcc'][name]}", flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--baseline", action="store_true", help="also train without augmentation, same seeds")
    p.add_argument("--run-dir", default=os.path.join(learning.ROOT, "runs", "demo", "run"))
    p.add_argument("--skip-seeds", action="store_true", help="only the weak-to-strong part (keeps the last seeds part)")
    args = p.parse_args(argv)
    result = {"what": "held-out pair accuracy per seed (tiny student) and SRCC vs distortion level on held-out "
                      "sources: weak teachers vs stage-1 vs stage-2 students"}
    if not args.skip_seeds:
        result["seeds"] = seeds_part(args.seeds, args.baseline)
    else:  # keep the seeds part of the last run
        last = os.path.join(learning.ROOT, "bench", "results", "learning.json")
        if os.path.exists(last):
            result["seeds"] = json.load(open(last)).get("seeds")
    heldout = os.path.join(args.run_dir, "pairs", "heldout", "pairs.parquet")
    if os.path.exists(heldout):
        result["weak_to_strong"] = {"run_dir": args.run_dir, **w2s_part(args.run_dir)}
    else:
        print(f"no {heldout}: run `make demo` first for the weak-to-strong part", flush=True)
    print(write_result("learning", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
