"""Stage `make_pairs`: ensemble pairs from the teachers + synthetic pairs from the simulators.

    python -m ray_jobs.make_pairs --config configs/demo.yaml

Ensemble: teacher scores are z-scored per teacher over the subset (one scale),
per-video mean / variance over teachers, pairs labelled by the 1-sigma / 2-sigma
rule. Synthetic: for sampled source videos every level of each configured
family is rendered as Ray Data tasks (files under <run_dir>/media/, skipped
when present), pairs labelled by the severity rule. Writes
<run_dir>/pairs/stage1/pairs.parquet and llava.json (conversation format).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from ray_jobs.common import stage_main, summary
from w2s import rundir
from w2s.pairs import (
    PAIR_COLUMNS,
    ensemble_pairs,
    ensemble_stats,
    normalise_teachers,
    synthetic_pairs,
    to_conversations,
)
from w2s.video import VideoDecodeError
from w2s.video.distort import FAMILIES, distort, family

STAGE = "make_pairs"


def render_row(row: dict, media_dir: str, preset: str | None, max_short_side: int | None) -> dict:
    """Render one (source, family, level); reuse the file if a readable one exists."""
    from w2s.video import probe

    stem = os.path.splitext(os.path.basename(row["source"]))[0]
    out = os.path.join(media_dir, row["family"], f"{stem}_L{row['level']}.mp4")
    error = None
    try:
        try:
            probe(out)
        except VideoDecodeError:
            tmp = out + ".part.mp4"
            distort(row["source"], tmp, row["family"], int(row["level"]), seed=int(row["seed"]),
                    preset=preset if row["family"] == "h265" else None, max_short_side=max_short_side)
            os.replace(tmp, out)
    except (VideoDecodeError, ValueError, OSError) as e:
        error = getattr(e, "reason", str(e))
    return {**row, "uri": out, "error": error}


def render_synthetic(cfg, sources: list[str]) -> pd.DataFrame:
    import ray.data

    if "://" in cfg.run_dir:
        raise SystemExit("synthetic rendering writes media files: use a shared local/NFS run_dir")
    media = os.path.abspath(rundir.join(cfg.run_dir, "media"))
    jobs = [{"source": s, "family": f, "group": family(f).group, "level": lv, "seed": cfg.pairs.seed}
            for s in sources for f in cfg.pairs.families for lv in range(1, FAMILIES[f].num_levels + 1)]
    if not jobs:
        return pd.DataFrame(columns=["source", "family", "group", "level", "seed", "uri", "error"])
    ds = ray.data.from_items(jobs).map(render_row, num_cpus=cfg.pairs.render_num_cpus,
                                       fn_kwargs={"media_dir": media, "preset": cfg.pairs.h265_preset,
                                                  "max_short_side": cfg.pairs.max_short_side})
    return ds.to_pandas()


def run(cfg) -> dict:
    for f in cfg.pairs.families:
        family(f)  # unknown family -> clear error before any work
    record = rundir.StageRecord(cfg.run_dir, STAGE, cfg.model_dump())
    teachers = [t.name for t in cfg.score.teachers]
    scores = []
    for name in teachers:
        t = rundir.read_table(rundir.join(cfg.run_dir, "teacher_scores", name))
        if t.empty:
            raise SystemExit(f"no scores for teacher {name!r}: run ray_jobs.score_teachers first")
        scores.append(t[t["error"].isna()].set_index("uri")["score"].rename(name))
    table = pd.concat(scores, axis=1, join="inner")
    stats = ensemble_stats(normalise_teachers(table)).sort_index()
    ens = ensemble_pairs(stats, cfg.pairs.ensemble_pairs, seed=cfg.pairs.seed)

    rng = np.random.default_rng(cfg.pairs.seed)
    pool = list(stats.index)
    n_src = min(cfg.pairs.synthetic_sources, len(pool))
    sources = sorted(rng.choice(pool, size=n_src, replace=False).tolist()) if n_src else []
    rendered = render_synthetic(cfg, sources)
    bad = rendered[rendered["error"].notna()]
    syn = synthetic_pairs(rendered[rendered["error"].isna()])
    pairs = pd.concat([ens, syn], ignore_index=True)[PAIR_COLUMNS]

    out_dir = rundir.join(cfg.run_dir, "pairs", "stage1")
    os.makedirs(out_dir, exist_ok=True)
    pairs.to_parquet(rundir.join(out_dir, "pairs.parquet"), index=False)
    with open(rundir.join(out_dir, "llava.json"), "w") as fh:
        json.dump(to_conversations(pairs), fh, indent=1)
    rundir.write_failures(cfg.run_dir, STAGE, bad.assign(reason=bad["family"] + ": " + bad["error"])
                          if len(bad) else pd.DataFrame({"uri": [], "reason": []}))
    balance = pairs.groupby(["kind", "label"]).size().unstack(fill_value=0)
    info = record.finish(videos=len(stats), teachers=teachers, ensemble_pairs=len(ens),
                         synthetic_pairs=len(syn), rendered=len(rendered) - len(bad), failures=len(bad),
                         label_balance=balance.to_dict(orient="index"))
    rows = {"videos scored by all teachers": len(stats), "ensemble pairs": len(ens),
            "synthetic sources x families": f"{len(sources)} x {len(cfg.pairs.families)} "
                                            f"({', '.join(cfg.pairs.families)})",
            "rendered videos": f"{len(rendered) - len(bad)} ({len(bad)} failed)",
            "synthetic pairs": len(syn), "pairs in all": len(pairs)}
    for kind, r in balance.iterrows():
        rows[f"labels, {kind}"] = ", ".join(f"{k} {v}" for k, v in r.items())
    rows["output"] = rundir.join(out_dir, "pairs.parquet") + " + llava.json"
    summary(f"stage {STAGE}: {cfg.run_dir}", {**rows, "duration": f"{info['duration_s']} s"})
    return info


def main(argv=None) -> None:
    stage_main(STAGE, __doc__, run, argv)


if __name__ == "__main__":
    # run the imported module, so Ray pickles its functions by reference (not from __main__)
    from ray_jobs.make_pairs import main as _main

    _main()
