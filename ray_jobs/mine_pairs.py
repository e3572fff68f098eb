"""Stage `mine_pairs`: the hard pairs of stage N (N >= 2), mined with the stage N-1 student.

    python -m ray_jobs mine_pairs --config configs/demo.yaml --iteration 2

The stage N-1 student becomes a teacher (METHOD.md section 5):
- gMAD, per weak teacher and in both directions (w2s/mining.py): over the videos that
  have both the student's pool score (`score --iteration N-1`) and the teacher's score, the
  pairs one model sees as equal (same uniform level of `mining.levels`) and the other
  as far apart; `mining.gmad_pairs` in all, each video at most `mining.max_uses` times
  per level and direction, pairs trained on in an earlier stage left out. Each pair is
  labelled with the student's predicted level for it (argmax of its five probabilities,
  kept in `student_probs` with the weak model, the direction, the level and both scores).
- Misclassified synthetic pairs: `mining.synthetic_sources` fresh pool videos (never a
  source before) are rendered at every level of each family; the student compares every
  pair, and the pairs whose predicted level differs from the severity label are kept
  (`mining.synthetic_pairs`, evenly over spatial / temporal / compression). The share it
  gets right is its accuracy on pairs it never saw, reported with the misclassification rate.
The comparisons run on an actor pool of scorers (ray_jobs/compare.py). Writes
pairs/stage<N>/pairs.parquet (stage-1 columns + mining columns) and llava.json, the
audit tables under mine_pairs/stage<N>/ and failures/mine_pairs.parquet.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ray_jobs.base import Stage, iteration_record
from ray_jobs.compare import compare_pairs
from ray_jobs.console import console
from ray_jobs.renders import render_synthetic
from w2s import rundir, uri
from w2s.config import stage_name
from w2s.mining import (
    gmad_pairs,
    label_with_student,
    level_pairs,
    misclassified,
    uniform_levels,
    with_predictions,
)
from w2s.pairs import PAIR_COLUMNS, pick_sources, synthetic_pairs

MINING_COLUMNS = ["weak_model", "direction", "level", "first_weak", "second_weak", "first_student",
                  "second_student", "student_probs", "predicted", "replay_of"]


def pool_scores(cfg, run_dir: rundir.RunDir, prev: str) -> pd.DataFrame:
    """index = uri; a `student` column (the stage N-1 pool scores) and one per weak teacher."""
    t = rundir.ok_rows(rundir.read_table(run_dir.scores(prev)))
    if t.empty:
        raise rundir.MissingInput(f"pool scores of {prev}", run_dir.scores(prev), f"score --iteration {cfg.iteration - 1}")
    cols = [t.set_index("uri")["score"].rename("student")]
    cols += [run_dir.read_teacher_scores(x.name) for x in cfg.teachers]
    return pd.concat(cols, axis=1, join="outer")


def earlier_pairs(run_dir: rundir.RunDir, n: int) -> pd.DataFrame:
    """Every pair of stages 1..n-1 and the held-out pairs (what mining must not reuse)."""
    frames = []
    for s in [*range(1, n), "heldout"]:
        if uri.exists(run_dir.pairs(s)):
            frames.append(uri.read_parquet(run_dir.pairs(s)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PAIR_COLUMNS)


def mine_gmad(cfg, scores: pd.DataFrame, seen: set) -> pd.DataFrame:
    """`mining.gmad_pairs` new pairs, taken round-robin over (weak model, direction, level), the
    largest gaps first. The per-level budget starts at an even share and doubles while levels
    too small to fill theirs leave the total short."""
    mc, weak = cfg.mining, [t.name for t in cfg.teachers]
    per_level = max(1, math.ceil(mc.gmad_pairs / max(1, len(weak) * 2 * mc.levels)))
    g, last = pd.DataFrame(), -1
    while True:
        g = gmad_pairs(scores, "student", weak, mc.levels, per_level, mc.max_uses, seed=mc.seed + cfg.iteration,
                       one_direction=gmad_sharded if len(scores) > mc.shard_above else None)
        key = [frozenset(p) for p in zip(g["first_uri"], g["second_uri"], strict=True)]
        fresh = ~pd.Series(key).duplicated().to_numpy() & ~np.array([k in seen for k in key], dtype=bool)
        g = g[fresh]
        if len(g) >= mc.gmad_pairs or len(g) == last or per_level >= len(scores):
            break
        last, per_level = len(g), per_level * 2
    rank = g.groupby(["weak_model", "direction", "level"]).cumcount().to_numpy()
    return g.assign(_r=rank).sort_values("_r", kind="stable").head(mc.gmad_pairs).drop(columns="_r").reset_index(
        drop=True)


def _level_group(g: pd.DataFrame, per_level: int, max_uses: int) -> pd.DataFrame:
    """Ray Data map_groups body: one level's largest-gap pairs (global indices)."""
    g = g.sort_values("attacker", kind="stable")
    low, high, gap = level_pairs(np.arange(len(g)), g["attacker"].to_numpy(), per_level, max_uses)
    idx = g["idx"].to_numpy()
    return pd.DataFrame({"low": idx[low], "high": idx[high], "level": g["level"].iloc[:len(low)].to_numpy(),
                         "gap": gap})


def gmad_sharded(uris, defender, attacker, levels: int, per_level: int, max_uses: int) -> pd.DataFrame:
    """`w2s.mining.gmad` with the levels spread over the cluster (a Ray Data groupby on the level):
    the same pairs, for pools too large for the driver (`mining.shard_above`)."""
    import ray.data

    level, _ = uniform_levels(defender, levels)
    df = pd.DataFrame({"idx": np.arange(len(defender)), "level": level, "attacker": attacker})
    out = (ray.data.from_pandas(df).groupby("level")
           .map_groups(_level_group, batch_format="pandas", fn_kwargs={"per_level": per_level, "max_uses": max_uses})
           .to_pandas())
    if not len(out):
        return pd.DataFrame(columns=["low", "high", "level", "gap"])
    out = out.assign(_g=-out["gap"]).sort_values(["level", "_g"], kind="stable").drop(columns="_g")
    return out.reset_index(drop=True)


def fresh_sources(cfg, run_dir: rundir.RunDir, earlier: pd.DataFrame) -> list[str]:
    """`mining.synthetic_sources` pool videos (that the metrics stage decoded) never a synthetic
    or held-out source before (a video of an ensemble or gMAD pair may be one: its renders are new)."""
    if "source" in earlier:
        used = set(earlier["source"].dropna())
    else:  # pairs written before the `source` column: every video they name
        used = set(earlier["first_uri"]) | set(earlier["second_uri"])
    return pick_sources(run_dir.read_metrics()["uri"], used, cfg.mining.synthetic_sources,
                        [cfg.mining.seed, cfg.iteration])


def keep_balanced(mis: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most n pairs, evenly over the groups (kind); a group short of its share leaves it to the others."""
    if len(mis) <= n:
        return mis
    shuffled = mis.sample(frac=1.0, random_state=seed)
    rank = shuffled.groupby("kind").cumcount()
    return shuffled.assign(_r=rank.to_numpy()).sort_values(["_r", "kind"]).head(n).drop(columns="_r")


def replayed(run_dir: rundir.RunDir, n: int, count: int, seed: int) -> pd.DataFrame:
    """`count` pairs of stage n-1's training table, its replays included (a seeded sample, labels kept,
    `replay_of` = n-1)."""
    if not count:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    prev = run_dir.read_pairs(stage=n - 1)
    return prev.sample(n=min(count, len(prev)), random_state=seed).assign(replay_of=n - 1).reset_index(drop=True)


def _gmad_table(g: pd.DataFrame, probs: np.ndarray, n: int) -> pd.DataFrame:
    lab = label_with_student(g, probs)
    return lab.assign(kind="gmad", family="gmad", levels="", stage=n, source="", predicted=lab["label"])


class MinePairs(Stage):
    name, iterative = "mine_pairs", True

    def record_name(self, cfg):
        return iteration_record(cfg)

    def check(self, ctx):
        n = ctx.cfg.iteration
        if n < 2:
            raise SystemExit("mine_pairs makes the pairs of iteration 2 and later (--iteration N); iteration 1's "
                             "come from make_pairs")
        ctx.run_dir.require(ctx.run_dir.anchors(stage_name(n - 1)), f"the stage {n - 1} student with its anchors",
                            f"anchors --iteration {n - 1}")

    def execute(self, ctx):
        return mine(ctx)


def mine(ctx) -> dict:
    cfg, run_dir, n = ctx.cfg, ctx.run_dir, ctx.cfg.iteration
    prev = stage_name(n - 1)
    ckpt = run_dir.student(prev)
    scores = pool_scores(cfg, run_dir, prev)
    earlier = earlier_pairs(run_dir, n)
    seen = {frozenset(p) for p in zip(earlier["first_uri"], earlier["second_uri"], strict=True)}
    g = mine_gmad(cfg, scores, seen)
    sources = fresh_sources(cfg, run_dir, earlier)
    rendered = render_synthetic(cfg, sources, cfg.mining.families, label=f"mine_pairs stage{n} renders")
    syn = synthetic_pairs(rendered[rendered["error"].isna()], stage=n)
    console.print(f"  the {prev} student compares {len(g)} gMAD + {len(syn)} fresh synthetic pairs ...")
    probs, errors = compare_pairs(cfg, pd.concat([g, syn], ignore_index=True), ckpt, f"mine_pairs stage{n} compare")
    ok = errors.isna().to_numpy()
    gp, sp = probs[: len(g)], probs[len(g):]
    gmad = _gmad_table(g[ok[: len(g)]], gp[ok[: len(g)]], n)
    syn_ok, sp_ok = syn[ok[len(g):]].reset_index(drop=True), sp[ok[len(g):]]
    checked = with_predictions(syn_ok, sp_ok)
    mis = misclassified(checked)
    kept = keep_balanced(mis, cfg.mining.synthetic_pairs, cfg.mining.seed + n)
    replay = replayed(run_dir, n, cfg.mining.replay_pairs, cfg.mining.seed + n)
    pairs = pd.concat([gmad, kept, replay], ignore_index=True).reindex(columns=PAIR_COLUMNS + MINING_COLUMNS)
    run_dir.write_pairs(pairs, n)
    uri.write_parquet(run_dir.mining_table(n, "gmad_pairs"), gmad)
    uri.write_parquet(run_dir.mining_table(n, "synthetic_checked"), checked)
    both = pd.concat([g, syn], ignore_index=True)
    failed = both[~ok].assign(uri=lambda d: d["first_uri"] + " | " + d["second_uri"], reason=errors[~ok].to_numpy())
    bad = rendered[rendered["error"].notna()]
    failed = pd.concat([failed[["uri", "reason"]], bad.assign(reason=bad["family"] + ": " + bad["error"])[
        ["uri", "reason"]]], ignore_index=True)
    ctx.fail(failed)
    info = _finish(cfg, scores, gmad, checked, sp_ok, mis, kept, pairs, sources, len(failed))
    ctx.rows.update(_summary(cfg, run_dir, info))
    return info


def _finish(cfg, scores, gmad, checked, probs, mis, kept, pairs, sources, failures) -> dict:
    from w2s.student.preference import pair_accuracy

    n_checked = len(checked)
    acc = pair_accuracy(probs, checked["label"])
    by = gmad.groupby(["weak_model", "direction"]).size() if len(gmad) else pd.Series(dtype=int)
    return dict(
        stage_n=cfg.iteration, teacher=stage_name(cfg.iteration - 1),
        videos_with_all_scores=int(scores.dropna().shape[0]), videos_with_student_score=int(scores["student"].notna().sum()),
        gmad_pairs=len(gmad), gmad_by_weak_model_and_direction={f"{w} / {d}": int(v) for (w, d), v in by.items()},
        synthetic_sources=sources, synthetic_checked=n_checked, synthetic_misclassified=len(mis),
        misclassification_rate=(len(mis) / n_checked) if n_checked else None,
        fresh_level_accuracy=acc["level"], fresh_direction_accuracy=acc["direction"], synthetic_kept=len(kept),
        replayed=int(pairs["replay_of"].notna().sum()), pairs=len(pairs), failures=failures,
        label_balance={k: int(v) for k, v in pairs["label"].value_counts().items()},
        label_balance_by_kind=pairs.groupby(["kind", "label"]).size().unstack(fill_value=0).to_dict(orient="index"))


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _summary(cfg, run_dir: rundir.RunDir, info: dict) -> dict:
    n = cfg.iteration
    rows = {"teacher (student promoted)": info["teacher"],
            "videos with student + every weak score": info["videos_with_all_scores"],
            "gMAD pairs (levels, max uses)": f"{info['gmad_pairs']} ({cfg.mining.levels}, {cfg.mining.max_uses})"}
    rows.update({f"  {k}": v for k, v in info["gmad_by_weak_model_and_direction"].items()})
    rows.update({
        "fresh synthetic sources / pairs checked": f"{len(info['synthetic_sources'])} / {info['synthetic_checked']}",
        "misclassified by the student": f"{info['synthetic_misclassified']} ({_pct(info['misclassification_rate'])})",
        "its accuracy on them: level / direction": f"{_pct(info['fresh_level_accuracy'])} / "
                                                   f"{_pct(info['fresh_direction_accuracy'])}",
        "misclassified pairs kept": info["synthetic_kept"],
        "labels": ", ".join(f"{k} {v}" for k, v in info["label_balance"].items()) or "-",
        f"pairs of stage {n}": f"{info['pairs']} -> {run_dir.pairs(n)} + llava.json",
        "failures": info["failures"]})
    return rows


STAGE = MinePairs
run = STAGE().run  # run(cfg) -> dict: the stage from Python

if __name__ == "__main__":  # the same as `python -m ray_jobs mine_pairs`
    STAGE.main()
