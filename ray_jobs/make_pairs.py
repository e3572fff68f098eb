"""Stage `make_pairs`: ensemble pairs from the teachers + synthetic pairs from the simulators.

    python -m ray_jobs make_pairs --config configs/demo.yaml

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

from ray_jobs.console import console
from ray_jobs.progress import Tracker, tick
from w2s import rundir, uri
from w2s.pairs import (
    PAIR_COLUMNS,
    ensemble_pairs,
    synthetic_pairs,
    to_conversations,
)
from w2s.video import VideoDecodeError
from w2s.video.distort import FAMILIES, distort, family

STAGE = "make_pairs"


def render_row(row: dict, run_root: str, preset: str | None, max_short_side: int | None,
               progress=None) -> dict:
    """Render one (source, family, level); reuse the file if a readable one exists."""
    from w2s.video import probe

    out = uri.local_path(rundir.RunDir(run_root).rendered(row["family"], row["source"], int(row["level"])))
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
    tick(progress)
    return {**row, "uri": out, "error": error}


def render_synthetic(cfg, sources: list[str]) -> pd.DataFrame:
    """Every level of every configured family for each source, as Ray Data tasks (reused when present)."""
    import ray.data

    run_dir = rundir.RunDir(cfg.run_dir)
    if not run_dir.is_local:
        raise SystemExit("synthetic rendering writes media files: use a shared local/NFS run_dir")
    jobs = [{"source": s, "family": f, "group": family(f).group, "level": lv, "seed": cfg.pairs.seed}
            for s in sources for f in cfg.pairs.families for lv in range(1, FAMILIES[f].num_levels + 1)]
    if not jobs:
        return pd.DataFrame(columns=["source", "family", "group", "level", "seed", "uri", "error"])
    with Tracker(len(jobs), f"{STAGE} renders", "videos") as progress:
        ds = ray.data.from_items(jobs).map(render_row, num_cpus=cfg.pairs.render_num_cpus, fn_kwargs={
            "run_root": run_dir.root, "preset": cfg.pairs.h265_preset,
            "max_short_side": cfg.pairs.max_short_side, "progress": progress.handle})
        return ds.to_pandas()


def write_pairs(run_dir: rundir.RunDir, pairs: pd.DataFrame, stage: int = 1) -> None:
    uri.write_parquet(run_dir.pairs(stage), pairs)
    uri.write_bytes(run_dir.llava(stage), json.dumps(to_conversations(pairs), indent=1).encode())


def run(cfg) -> dict:
    for f in cfg.pairs.families:
        family(f)  # unknown family -> clear error before any work
    run_dir = rundir.RunDir(cfg.run_dir)
    record = run_dir.record(STAGE, cfg.model_dump())
    stats = run_dir.read_ensemble([t.name for t in cfg.score.teachers])
    ens = ensemble_pairs(stats, cfg.pairs.ensemble_pairs, seed=cfg.pairs.seed)
    rng = np.random.default_rng(cfg.pairs.seed)
    n_src = min(cfg.pairs.synthetic_sources, len(stats))
    sources = sorted(rng.choice(list(stats.index), size=n_src, replace=False).tolist()) if n_src else []
    rendered = render_synthetic(cfg, sources)
    bad = rendered[rendered["error"].notna()]
    syn = synthetic_pairs(rendered[rendered["error"].isna()])
    pairs = pd.concat([ens, syn], ignore_index=True)[PAIR_COLUMNS]
    write_pairs(run_dir, pairs)
    run_dir.write_failures(STAGE, bad.assign(reason=bad["family"] + ": " + bad["error"]) if len(bad) else None)
    balance = pairs.groupby(["kind", "label"]).size().unstack(fill_value=0)
    teachers = [t.name for t in cfg.score.teachers]
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
    rows["output"] = f"{run_dir.pairs()} + llava.json"
    console.summary(f"stage {STAGE}: {run_dir.root}", {**rows, "duration": f"{info['duration_s']} s"})
    return info


if __name__ == "__main__":  # the same as `python -m ray_jobs make_pairs`
    from ray_jobs.cli import stage_main

    stage_main(STAGE)
