"""Why does the demo's stage-1 student learn so little? One change per row from configs/demo.yaml
toward bench/_learning.py's recipe (which reaches 0.85-0.965 held-out direction accuracy),
trained on a finished demo run's own stage-1 pairs and scored on its held-out pairs.

    python bench/ablation.py [--run-dir runs/demo/run] [--seeds 0 1] [--rows demo synthetic_only ...]

Each row trains `train_student` as a user would (a subprocess, 2 workers, local Ray) into
bench/.cache/ablation/<row>_s<seed> (the demo run is only read), then the exported student
compares every held-out pair (pairs/heldout: 2 pool clips never trained on, every family at
every level): direction accuracy (the less distorted video picked; chance 0.5) and level
accuracy (the exact word; chance 0.2). Results: bench/results/ablation.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import CACHE, run_stage, write_result  # noqa: E402
from bench._learning import pair_accuracy_of  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
FEW_FAMILIES = ("darken", "blur")
# row -> (pair filter, config overrides): each one change from the demo's stage 1
ROWS: dict[str, tuple[dict, dict]] = {
    "demo": ({}, {}),
    "synthetic_only": ({"kinds": "synthetic"}, {}),
    "darken_blur_only": ({"families": FEW_FAMILIES}, {}),
    "synthetic_darken_blur": ({"kinds": "synthetic", "families": FEW_FAMILIES}, {}),
    "synthetic_sources_3": ({"sources": 3}, {}),
    "epochs_12": ({}, {"train.epochs": 12}),
    "level_weight_1": ({}, {"train.level_weight": 1}),
    "lr_3e-4": ({}, {"train.lr": "{vision_tower: 3.0e-4, projector: 3.0e-4, motion_projector: 3.0e-4, llm: 3.0e-4}"}),
    "no_mirror": ({}, {"train.mirror_pairs": "false"}),
    "no_augment": ({}, {"train.augment": "false"}),
    "ddp": ({}, {"train.strategy": "ddp"}),
    "no_confidence": ({}, {"train.confidence_loss": "false"}),
    # more pixels at the same token count (14 x 14 patches per frame): the 240p renders' blur and
    # noise survive a 224 px input better than a 112 px one (bench/results/visibility.json)
    "image_224_patch16": ({}, {"student.image_size": 224, "student.patch_size": 16}),
    "image_224": ({}, {"student.image_size": 224}),  # 4x pixels and 4x tokens (28 x 28 patches)
}


def select_pairs(pairs, kinds: str | None = None, families=None, sources: int | None = None):
    """The stage-1 pairs a row trains on: ensemble ones are `family == "ensemble"`; `sources`
    keeps the synthetic pairs of the first N rendered source videos (sorted) only."""
    import pandas as pd

    keep = pd.Series(True, index=pairs.index)
    if sources:
        first = sorted(pairs.loc[pairs["kind"] != "ensemble", "source"].unique())[:sources]
        keep &= (pairs["kind"] == "ensemble") | pairs["source"].isin(first)
    if kinds == "synthetic":
        keep &= pairs["kind"] != "ensemble"
    if families:
        keep &= (pairs["kind"] == "ensemble") | pairs["family"].isin(families)
    return pairs[keep].reset_index(drop=True)


def train(work: str, name: str, pairs_path: str, seed: int, sets: dict) -> float:
    return run_stage(["ray_jobs.train_student"], CONFIG, {
        "run_dir": work, "ray.progress_bars": "false", "train.pairs": pairs_path, "train.name": name,
        "train.seed": seed, "student.seed": seed, "train.checkpoint_every": 1000, **sets})


def cache_heldout_motion(work: str, pairs_path: str) -> None:
    """The motion features of the held-out videos, through the cache_motion stage."""
    run_stage(["ray_jobs", "cache_motion"], CONFIG, {"run_dir": work, "motion.pairs": pairs_path,
                                                      "ray.progress_bars": "false"})


def held_out(work: str, name: str, heldout, max_frames: int) -> dict:
    acc = pair_accuracy_of(work, name, heldout, max_frames, by="family")
    return {"direction": round(acc["direction"], 4), "level": round(acc["level"], 4),
            "by_family": {k: {"direction": round(a["direction"], 4), "level": round(a["level"], 4)}
                          for k, a in acc["by"].items()}}


def rescore(work: str, out: dict, heldout, max_frames: int) -> None:
    """Held-out figures (per family too) of the students an earlier run trained, no training."""
    for row in out["rows"].values():
        for seed, r in row["seeds"].items():
            r.update(held_out(work, f"{row['name']}_s{seed}", heldout, max_frames))
        summarise(row)


def earlier(out: dict, rows) -> dict:
    """`out` with the committed table's rows other than `rows` (--add: one more row, same run)."""
    import json

    path = os.path.join(ROOT, "bench", "results", "ablation.json")
    if os.path.exists(path):
        old = json.load(open(path))
        out["rows"] = {k: v for k, v in old["rows"].items() if k not in rows}
    return out


def summarise(row: dict) -> dict:
    """Mean and spread (max - min) over the seeds; per family, the mean direction accuracy."""
    seeds = list(row["seeds"].values())
    for k in ("direction", "level"):
        v = [r[k] for r in seeds]
        row[f"{k}_mean"], row[f"{k}_spread"] = round(sum(v) / len(v), 4), round(max(v) - min(v), 4)
    fams = sorted({f for r in seeds for f in r.get("by_family", {})})
    row["by_family_direction_mean"] = {f: round(sum(r["by_family"][f]["direction"] for r in seeds) / len(seeds), 4)
                                       for f in fams}
    return row


def main(argv=None) -> int:
    import pandas as pd

    from w2s.config import load_config
    from w2s.rundir import RunDir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "demo", "run"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--add", action="store_true", help="keep bench/results/ablation.json's other rows and "
                   "the students in bench/.cache/ablation; train --rows only")
    p.add_argument("--rescore", action="store_true", help="recompute the held-out figures (per family too) of "
                   "the students in bench/.cache/ablation, without training")
    args = p.parse_args(argv)
    if not os.path.isdir(args.run_dir):
        print(f"no {args.run_dir}: run `make demo` first (ablation skipped)", flush=True)
        return 0
    run = RunDir(os.path.abspath(args.run_dir))
    pairs, heldout = run.read_pairs(stage=1), run.read_pairs(stage="heldout")
    if pairs.empty or heldout.empty:
        p.error(f"{args.run_dir}: no stage-1 or held-out pairs; run `make demo` first")
    work = os.path.join(CACHE, "ablation")
    max_frames = load_config(CONFIG).train.max_frames
    if args.rescore:
        import json

        out = json.load(open(os.path.join(ROOT, "bench", "results", "ablation.json")))
        for name, row in out["rows"].items():
            row["name"] = name
        rescore(work, out, heldout, max_frames)
        print(write_result("ablation", out))
        return 0
    held_path = os.path.join(work, "pairs_heldout.parquet")
    out = {"what": "held-out pair accuracy of the demo's stage-1 student, one change per row (chance: "
                   "direction 0.5, level 0.2)", "run_dir": args.run_dir, "heldout_pairs": len(heldout),
           "rows": {}}
    if args.add and os.path.exists(os.path.join(work, "motion")):
        out = earlier(out, args.rows)
    else:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(os.path.join(run.root, "motion"), os.path.join(work, "motion"))
        heldout.to_parquet(held_path, index=False)
        cache_heldout_motion(work, held_path)  # the demo computes them in its `heldout` actors, uncached
    for row in args.rows:
        filt, sets = ROWS[row]
        part = select_pairs(pairs, **filt)
        path = os.path.join(work, f"pairs_{row}.parquet")
        part.to_parquet(path, index=False)
        runs = {}
        for seed in args.seeds:
            name = f"{row}_s{seed}"
            seconds = train(work, name, path, seed, sets)
            runs[seed] = {**held_out(work, name, heldout, max_frames), "seconds": round(seconds, 1)}
            print(f"{row} seed {seed}: {runs[seed]}", flush=True)
        out["rows"][row] = summarise({"name": row, "pairs": len(part), "filter": filt, "overrides": sets,
                                      "seeds": runs})
        write_result("ablation", out)  # after every row: a stopped run keeps what it measured
    table = pd.DataFrame({r: {k: v[k] for k in ("pairs", "direction_mean", "direction_spread", "level_mean")}
                          for r, v in out["rows"].items()}).T
    print(table.to_string())
    print(write_result("ablation", out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
