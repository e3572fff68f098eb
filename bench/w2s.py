"""Weak-to-strong in miniature: the paper's Table 1 at the scale of this machine.

    python bench/w2s.py [--seeds 0 1 2] [--config configs/demo.yaml] [--set key=value ...]

The splits are fixed before any training, by source footage (w2s/pool.py's sources):
  train        the pool's clips of carphone (camera) and five photo pans: the only
               videos the pipeline sees (metrics, select, teachers, pairs, mining);
  in-domain    clips of two held-out sources, bikes (camera) and chelsea (photo pan),
               rendered with the distortion families the training used;
  ood-content  clips of bigbuckbunny (animation: a content type never trained on),
               rendered with the training families;
  ood-family   clips of all three held-out sources rendered with two families never
               trained on (brighten, resize).
A test video's "MOS" is its level order inside its (clip, family) group (level 1, the
mildest, is the best); the figures are the SRCC / PLCC between a model's score and that
order within each group, averaged over the groups of a split (the order means nothing
across clips). It measures whether a model orders known distortions, not agreement with
people.

Rows, as the paper's Table 1: the weak teachers alone (NIQE, low-level); (I) a student
trained on the ensemble pairs only, cross-entropy alone (train.confidence_loss false);
(II) + the synthetic pairs; (III) + the confidence loss (the pipeline's stage 1);
(IV) + stage 2 (mined with student III); (V) + stage 3. Every student row at each seed
(student init and data order; the data and splits stay fixed). Each step is the real
stage (`python -m ray_jobs ...`, local Ray): the shared data once into
bench/.cache/w2s/base, then per seed a copy of it where the rows train and `evaluate`
scores the three splits (custom CSV benchmarks). Results: bench/results/w2s.json and
bench/results/w2s.png (SRCC per row, in-domain vs OOD, the seeds' spread).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import CACHE, run_stage, write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
IN_DOMAIN_SOURCES = ("bikes.mp4", "chelsea.png")
OOD_CONTENT_SOURCES = ("bigbuckbunny.mp4",)
OOD_FAMILIES = ("brighten", "resize")
CONFIG_PATH = [CONFIG]  # --config
TEST_CLIPS_PER_SOURCE = 2
POOL = 72
SPLITS = ("in-domain", "ood-content", "ood-family")
TEACHERS = ("niqe", "lowlevel")
STUDENT_ROWS = {  # row -> (student name, what it adds)
    "I": ("ensemble_ce", "ensemble pairs only, cross-entropy alone"),
    "II": ("ensemble_synthetic_ce", "+ synthetic pairs (cross-entropy alone)"),
    "III": ("stage1", "+ confidence loss (the pipeline's stage 1)"),
    "IV": ("stage2", "+ stage 2 (gMAD + misclassified synthetic, labelled by III), as METHOD.md prints it"),
    "V": ("stage3", "+ stage 3, as METHOD.md prints it"),
}
# stages 2-3 as METHOD.md prints them, and with the two changes README: weak-to-strong measures
# (replay of the earlier stage's pairs, a lower learning rate going on from a student)
AS_PRINTED = {"mining.replay_pairs": 0, "train.later_lr_scale": 1.0}
REPLAY = {"mining.replay_pairs": 80, "train.later_lr_scale": 0.3}
VARIANT_ROWS = {"IV-r": ("stage2", "IV + replay of 80 stage-1 pairs, lr x0.3"),
                "V-r": ("stage3", "V + replay of 80 stage-2 pairs, lr x0.3")}


def stage(cmd: list[str], sets: dict, log: str) -> None:
    """One real stage as a user runs it; its output goes to `log`, a failure raises with its tail."""
    print(f"  {' '.join(cmd)}: {run_stage(cmd, CONFIG_PATH[0], sets, log):.0f} s", flush=True)


def split_pool(pool):
    """(train manifest rows, {split source set: test clip rows}) by source footage."""
    test_sources = IN_DOMAIN_SOURCES + OOD_CONTENT_SOURCES
    train = pool[~pool["source"].isin(test_sources)].reset_index(drop=True)
    test = pool[pool["source"].isin(test_sources)].sort_values("uri")
    test = test.groupby("source", sort=True).head(TEST_CLIPS_PER_SOURCE).reset_index(drop=True)
    return train, test


def test_videos(rendered, test) -> dict:
    """Per split: uri, mos (level order within the family), group (clip/family) of its renders."""
    bad = rendered[rendered["error"].notna()]
    if len(bad):
        raise RuntimeError(f"test renders failed: {bad[['source', 'family', 'level', 'error']].to_string()}")
    src = dict(zip(test["uri"], test["source"], strict=True))
    r = rendered.assign(content=rendered["source"].map(src))
    top = r.groupby("family")["level"].transform("max")
    r = r.assign(mos=(top + 1 - r["level"]).astype(float),
                 group=r["source"].astype(str).str.rsplit("/", n=1).str[-1] + "/" + r["family"].astype(str))
    trained = ~r["family"].isin(OOD_FAMILIES)
    parts = {"in-domain": r[trained & r["content"].isin(IN_DOMAIN_SOURCES)],
             "ood-content": r[trained & r["content"].isin(OOD_CONTENT_SOURCES)],
             "ood-family": r[~trained]}
    return {k: v[["uri", "mos", "group"]].reset_index(drop=True) for k, v in parts.items()}


def build_base(work: str, sets: dict, log: str) -> dict:
    """Pool, splits, the shared stages (metrics .. cache_motion@1) and the test renders."""
    import pandas as pd
    import ray

    from ray_jobs.renders import render_synthetic
    from ray_jobs.runtime import init_ray
    from w2s.config import load_config
    from w2s.pool import build_pool

    base = os.path.join(work, "base")
    pool = build_pool(POOL, os.path.join(work, "pool"), seed=0, workers=2, progress=False)
    train, test = split_pool(pool)
    manifest = os.path.join(work, "pool", "train_manifest.parquet")
    train.to_parquet(manifest, index=False)
    test.to_parquet(os.path.join(work, "pool", "test_clips.parquet"), index=False)
    sets = {**sets, "run_dir": base, "manifest": manifest}
    for st in ("metrics", "select", "score_teachers", "make_pairs"):
        stage(["ray_jobs", st], sets, log)
    stage(["ray_jobs", "cache_motion", "--iteration", "1"], sets, log)
    cfg = load_config(CONFIG_PATH[0], [f"{k}={v}" for k, v in sets.items()])
    init_ray(cfg)
    fams = [f for f in cfg.pairs.families if f not in OOD_FAMILIES]
    rendered = pd.concat([render_synthetic(cfg, list(test["uri"]), fams, "test renders (trained families)"),
                          render_synthetic(cfg, list(test["uri"]), list(OOD_FAMILIES), "test renders (OOD)")])
    ray.shutdown()
    csvs = {}
    for split, df in test_videos(rendered, test).items():
        csvs[split] = os.path.join(work, f"{split}.csv")
        df.to_csv(csvs[split], index=False)
    return {"base": base, "manifest": manifest, "csvs": csvs, "sets": sets,
            "pool": {"clips": len(pool), "train_clips": len(train), "test_clips": len(test),
                     "train_sources": sorted(set(train["source"])), "families": list(cfg.pairs.families)},
            "videos": {k: int(len(pd.read_csv(v))) for k, v in csvs.items()}}


def seed_dir(work: str, base: str, seed: int) -> str:
    """A copy of the base run (its renders shared through a link) for one seed's rows."""
    out = os.path.join(work, f"seed{seed}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(base, out, ignore=shutil.ignore_patterns("media"))
    os.symlink(os.path.join(base, "media"), os.path.join(out, "media"))
    return out


def run_seed(data: dict, work: str, seed: int, teachers: bool, log: str) -> tuple[str, str]:
    """Rows I-V (and IV-r, V-r) at one seed, then `evaluate` on the three splits. Returns the
    seed's run dir and its stages-2-3 variant's (a copy made after stage 1)."""
    from w2s.rundir import RunDir

    run = seed_dir(work, data["base"], seed)
    sets = {**data["sets"], "run_dir": run, "train.seed": seed, "student.seed": seed}
    pairs = RunDir(run).read_pairs(stage=1)
    ens = os.path.join(run, "pairs_ensemble.parquet")
    pairs[pairs["kind"] == "ensemble"].reset_index(drop=True).to_parquet(ens, index=False)
    for row, path in (("I", ens), ("II", RunDir(run).pairs(1))):
        name = STUDENT_ROWS[row][0]
        row_sets = {**sets, "train.name": name, "train.pairs": path, "train.confidence_loss": "false"}
        stage(["ray_jobs", "train_student"], row_sets, log)
        stage(["ray_jobs", "anchors"], row_sets, log)
    stage(["ray_jobs.pipeline"], {**sets, "iterations": 1, "score_last_iteration": "true"}, log)  # row III, scored
    variant = run + "_replay"
    shutil.rmtree(variant, ignore_errors=True)
    shutil.copytree(run, variant, symlinks=True)
    stage(["ray_jobs.pipeline"], {**sets, **AS_PRINTED, "iterations": 3, "score_last_iteration": "false"}, log)
    stage(["ray_jobs.pipeline"], {**sets, **REPLAY, "run_dir": variant, "iterations": 3, "score_last_iteration": "false"}, log)
    for where, names, with_teachers in ((run, [n for n, _ in STUDENT_ROWS.values()], teachers),
                                        (variant, ["stage2", "stage3"], False)):
        stage(["ray_jobs", "evaluate"], {**sets, "run_dir": where, "eval.benchmarks": benchmarks(data["csvs"]),
                                         "eval.checkpoints": f"[{', '.join(names)}]",
                                         "eval.teachers": str(with_teachers).lower()}, log)
    return run, variant


def benchmarks(csvs: dict) -> str:
    """The three splits as `eval.benchmarks` (custom CSV benchmarks), YAML flow."""
    return "[" + ", ".join(f"{{name: {k}, csv: {v}, domain: {'in-domain' if k == 'in-domain' else 'ood'}}}"
                           for k, v in csvs.items()) + "]"


def stage_records(run: str, names: list[str]) -> dict:
    """Per student: its held-out pair accuracy (`heldout`) and, for a mined stage, what mining
    found (pairs, replayed, the teacher's misclassification rate, the labels' balance)."""
    from w2s import uri
    from w2s.rundir import RunDir

    rd, out = RunDir(run), {}
    for name in names:
        held = rd.stage_record("heldout", name)
        mine = rd.stage_record("mine_pairs", name)
        h = uri.read_json(held) if uri.exists(held) else {}
        m = uri.read_json(mine) if uri.exists(mine) else {}
        out[name] = {"heldout_direction": (h.get("accuracy") or {}).get("direction"),
                     "heldout_level": (h.get("accuracy") or {}).get("level"),
                     **({k: m.get(k) for k in ("pairs", "gmad_pairs", "synthetic_kept", "replayed",
                                               "misclassification_rate", "fresh_direction_accuracy",
                                               "label_balance")} if m else {})}
    return out


def within_groups(pred) -> dict:
    """Mean over (clip, family) groups of SRCC and PLCC between prediction and level order."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    ok = pred[pred["error"].isna() & pred["prediction"].notna()]
    srcc, plcc = [], []
    for _, g in ok.groupby("group"):
        if len(g) >= 3 and np.ptp(g["prediction"]) > 0:
            srcc.append(spearmanr(g["prediction"], g["mos"])[0])
            plcc.append(pearsonr(g["prediction"], g["mos"])[0])
        elif len(g) >= 3:  # a constant prediction orders nothing
            srcc.append(0.0)
            plcc.append(0.0)
    return {"srcc": float(np.mean(srcc)) if srcc else None, "plcc": float(np.mean(plcc)) if plcc else None,
            "groups": len(srcc), "videos": int(len(ok)), "failed": int(len(pred) - len(ok))}


def model_figures(run: str, model: str) -> dict:
    import pandas as pd

    from w2s.rundir import RunDir

    pred = pd.read_parquet(RunDir(run).eval_predictions(model))
    out = {}
    for split in SPLITS:
        part = pred[pred["benchmark"] == split]
        out[split] = within_groups(part)
    ood = pred[pred["benchmark"] != "in-domain"]
    out["ood"] = within_groups(ood)
    return out


def aggregate(per_seed: dict) -> dict:
    """mean, std, spread (max - min) of SRCC and PLCC per split over the seeds."""
    import numpy as np

    out = {}
    for split in (*SPLITS, "ood"):
        for k in ("srcc", "plcc"):
            v = [s[split][k] for s in per_seed.values() if s[split][k] is not None]
            out[f"{split}_{k}"] = {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4),
                                   "spread": round(float(np.ptp(v)), 4), "n": len(v)} if v else None
    return out


def goals(rows: dict) -> dict:
    """The issue's goals, checked on the measured means (spread: the larger of the two rows')."""
    def m(r, k):
        return rows[r]["agg"][k]["mean"]

    def sp(r, k):
        return rows[r]["agg"][k]["spread"]

    best_in = max(TEACHERS, key=lambda t: m(t, "in-domain_srcc"))
    best_ood = max(TEACHERS, key=lambda t: m(t, "ood_srcc"))
    out = {"best_teacher_in_domain": best_in, "best_teacher_ood": best_ood,
           "III_ge_best_teacher_in_domain": m("III", "in-domain_srcc") >= m(best_in, "in-domain_srcc"),
           "III_above_best_teacher_ood_by_0.05": m("III", "ood_srcc") >= m(best_ood, "ood_srcc") + 0.05}
    for a, b in (("IV", "III"), ("V", "IV"), ("IV-r", "III"), ("V-r", "IV-r")):
        if not (rows.get(a, {}).get("agg") and rows.get(b, {}).get("agg")):
            continue
        for split in ("in-domain", "ood"):
            k = f"{split}_srcc"
            out[f"{a}_ge_{b}_{split}_within_spread"] = m(a, k) >= m(b, k) - max(sp(a, k), sp(b, k))
    return out


def figure(rows: dict, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(rows)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, (split, color) in enumerate((("in-domain", "tab:blue"), ("ood", "tab:orange"))):
        vals = [[v[split]["srcc"] for v in rows[r]["seeds"].values()] for r in names]
        mean = [float(np.mean(v)) for v in vals]
        lo = [max(0.0, m - min(v)) for m, v in zip(mean, vals, strict=True)]
        hi = [max(0.0, max(v) - m) for m, v in zip(mean, vals, strict=True)]
        ax.bar(x + (i - 0.5) * 0.38, mean, 0.38, yerr=[lo, hi], capsize=3, color=color, label=split)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, names)
    ax.set_ylabel("SRCC vs level order (within clip x family)")
    ax.set_title("weak-to-strong in miniature (bars: mean; whiskers: min-max over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--config", default=CONFIG, help="the recipe (default: the demo's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every stage (repeatable)")
    p.add_argument("--work", default=os.path.join(CACHE, "w2s"), help="where the runs go (rebuilt)")
    p.add_argument("--keep-base", action="store_true", help="reuse --work's base run (same pool and splits; "
                   "a base cut short goes on where it stopped)")
    p.add_argument("--summarise", action="store_true", help="no training: redo the figures, the stage records, the "
                   "goals and the plot from --work's seed runs (a bench cut short keeps what it measured)")
    args = p.parse_args(argv)
    if args.summarise:
        return summarise(os.path.abspath(args.work))
    CONFIG_PATH[0], args.work = os.path.abspath(args.config), os.path.abspath(args.work)
    t_start = time.time()
    # eval.proxy off: the pipeline's own `evaluate` step is replaced by the splits' one
    sets = {"ray.progress_bars": "false", "eval.proxy": "false", **dict(s.split("=", 1) for s in args.sets)}
    meta = os.path.join(args.work, "base.json")
    if args.keep_base and os.path.exists(meta):
        data = json.load(open(meta))
    else:  # --keep-base without a finished base: build it in place (the stages resume)
        if not args.keep_base:
            shutil.rmtree(args.work, ignore_errors=True)
        os.makedirs(args.work, exist_ok=True)
        print("base: pool, splits, shared stages, test renders", flush=True)
        t0 = time.time()
        data = build_base(args.work, sets, os.path.join(args.work, "base.log"))
        data["base_s"] = round(time.time() - t0, 1)
        json.dump(data, open(meta, "w"), indent=1)
    out = {"what": __doc__.split("\n\n")[0], "config": os.path.relpath(CONFIG_PATH[0], ROOT), "sets": sets,
           "pool": data["pool"], "videos": data["videos"], "base_s": data.get("base_s"), "seeds": args.seeds,
           "rows": {t: {"what": "weak teacher", "seeds": {}} for t in TEACHERS}}
    out["rows"].update({r: {"what": w, "student": n, "seeds": {}} for r, (n, w) in {**STUDENT_ROWS, **VARIANT_ROWS}.items()})
    out["stages_2_3"] = {"as_printed": AS_PRINTED, "replay": REPLAY}
    for i, seed in enumerate(args.seeds):
        print(f"seed {seed}", flush=True)
        t0 = time.time()
        run, variant = run_seed(data, args.work, seed, teachers=(i == 0), log=os.path.join(args.work, f"seed{seed}.log"))
        for t in TEACHERS if i == 0 else ():  # weight-free teachers: the same scores at every seed
            out["rows"][t]["seeds"] = {s: model_figures(run, t) for s in args.seeds}
        for r, (name, _) in STUDENT_ROWS.items():
            out["rows"][r]["seeds"][seed] = model_figures(run, name)
        for r, (name, _) in VARIANT_ROWS.items():
            out["rows"][r]["seeds"][seed] = model_figures(variant, name)
        out.setdefault("stage_records", {})[seed] = {"as_printed": stage_records(run, ["stage1", "stage2", "stage3"]),
                                                     "replay": stage_records(variant, ["stage2", "stage3"])}
        out.setdefault("seed_s", {})[seed] = round(time.time() - t0, 1)
        for r in out["rows"].values():
            r["agg"] = aggregate(r["seeds"])
        print("  " + ", ".join(f"{r}: {v['seeds'][seed]['in-domain']['srcc']:.3f} / {v['seeds'][seed]['ood']['srcc']:.3f}"
                               for r, v in out["rows"].items()), flush=True)
        out["complete"] = i == len(args.seeds) - 1
        write_result("w2s", out)  # after every seed: a stopped run keeps what it measured
    out["goals"] = goals(out["rows"])
    out["total_s"] = round(time.time() - t_start, 1)
    out["figure"] = os.path.relpath(figure(out["rows"], os.path.join(ROOT, "bench", "results", "w2s.png")), ROOT)
    print(json.dumps(out["goals"], indent=1))
    print(write_result("w2s", out))
    return 0


def summarise(work: str) -> int:
    """bench/results/w2s.json again from the seed runs under `work` (the seeds that finished)."""
    from w2s.rundir import RunDir

    out = json.load(open(os.path.join(ROOT, "bench", "results", "w2s.json")))
    done = [int(d[4:]) for d in sorted(os.listdir(work)) if d.startswith("seed") and d[4:].isdigit()
            and os.path.exists(RunDir(os.path.join(work, d + "_replay")).eval_predictions("stage3"))]
    for seed in done:
        run = os.path.join(work, f"seed{seed}")
        for r, (name, _) in STUDENT_ROWS.items():
            out["rows"][r]["seeds"][str(seed)] = model_figures(run, name)
        for r, (name, _) in VARIANT_ROWS.items():
            out["rows"][r]["seeds"][str(seed)] = model_figures(run + "_replay", name)
        out.setdefault("stage_records", {})[str(seed)] = {
            "as_printed": stage_records(run, ["stage1", "stage2", "stage3"]),
            "replay": stage_records(run + "_replay", ["stage2", "stage3"])}
    for t in TEACHERS:
        out["rows"][t]["seeds"] = {str(s): model_figures(os.path.join(work, f"seed{done[0]}"), t) for s in done}
    for r in out["rows"].values():
        r["seeds"] = {k: v for k, v in r["seeds"].items() if int(k) in done}
        r["agg"] = aggregate(r["seeds"])
    out["seeds"], out["complete"] = done, len(done) >= 3
    out["goals"] = goals(out["rows"])
    out["figure"] = os.path.relpath(figure(out["rows"], os.path.join(ROOT, "bench", "results", "w2s.png")), ROOT)
    print(json.dumps(out["goals"], indent=1))
    print(write_result("w2s", out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
