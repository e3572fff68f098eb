"""Stage `make_pairs`: ensemble pairs from the teachers + synthetic pairs from the simulators.

    python -m ray_jobs make_pairs --config configs/demo.yaml

Ensemble: teacher scores are z-scored per teacher over the subset (one scale),
per-video mean / variance over teachers, pairs labelled by the 1-sigma / 2-sigma
rule. Synthetic: for sampled source videos every level of each configured
family is rendered as Ray Data tasks (files under <run_dir>/media/, skipped
when present), pairs labelled by the severity rule. Writes
<run_dir>/pairs/stage1/pairs.parquet, llava.json (conversation format) and
ensemble.parquet (per video: every teacher's raw and z-scored score, mu, var).
Held-out: `pairs.heldout_sources` pool videos outside the subset are rendered the
same way into pairs/heldout/pairs.parquet, never trained on (the `heldout` stage
measures each stage's student on them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ray_jobs.base import Stage
from ray_jobs.renders import render_synthetic
from w2s import rundir, uri
from w2s.pairs import PAIR_COLUMNS, ensemble_pairs, pick_sources, synthetic_pairs
from w2s.video.distort import family


def heldout_sources(cfg, run_dir: rundir.RunDir, exclude: set) -> list[str]:
    """`pairs.heldout_sources` pool videos (that the metrics stage decoded) outside `exclude` (the
    selected subset and the synthetic sources): their renders are never trained on."""
    if not cfg.pairs.heldout_sources:
        return []
    return pick_sources(run_dir.read_metrics()["uri"], exclude, cfg.pairs.heldout_sources, [cfg.pairs.seed, 1])


class MakePairs(Stage):
    name = "make_pairs"

    def check(self, ctx):
        for f in ctx.cfg.pairs.families:
            family(f)  # unknown family -> clear error before any work

    def execute(self, ctx):
        cfg, run_dir = ctx.cfg, ctx.run_dir
        teachers = [t.name for t in cfg.teachers]
        table = run_dir.ensemble_table(teachers)
        stats = table[["mu", "var"]]
        ens = ensemble_pairs(stats, cfg.pairs.ensemble_pairs, seed=cfg.pairs.seed)
        rng = np.random.default_rng(cfg.pairs.seed)
        n_src = min(cfg.pairs.synthetic_sources, len(stats))
        sources = sorted(rng.choice(list(stats.index), size=n_src, replace=False).tolist()) if n_src else []
        held = heldout_sources(cfg, run_dir, set(stats.index) | set(sources))
        rendered = render_synthetic(cfg, sources + held, label=f"{self.name} renders")
        bad = rendered[rendered["error"].notna()]
        good = rendered[rendered["error"].isna()]
        syn = synthetic_pairs(good[good["source"].isin(sources)])
        pairs = pd.concat([ens, syn], ignore_index=True)[PAIR_COLUMNS]
        run_dir.write_pairs(pairs, 1)
        uri.write_parquet(run_dir.ensemble_file(1), table.rename_axis("uri").reset_index())
        heldout = synthetic_pairs(good[good["source"].isin(held)], stage=0)
        uri.write_parquet(run_dir.heldout_pairs(), heldout)
        ctx.fail(bad.assign(reason=bad["family"] + ": " + bad["error"]))
        balance = pairs.groupby(["kind", "label"]).size().unstack(fill_value=0)
        ctx.rows.update({
            "videos scored by all teachers": len(stats), "ensemble pairs": len(ens),
            "synthetic sources x families": f"{len(sources)} x {len(cfg.pairs.families)} "
                                            f"({', '.join(cfg.pairs.families)})",
            "rendered videos": f"{len(rendered) - len(bad)} ({len(bad)} failed)",
            "synthetic pairs": len(syn), "pairs in all": len(pairs),
            "held-out pairs (never trained on)": f"{len(heldout)} from {len(held)} sources"})
        for kind, r in balance.iterrows():
            ctx.rows[f"labels, {kind}"] = ", ".join(f"{k} {v}" for k, v in r.items())
        ctx.rows["output"] = f"{run_dir.pairs()} + llava.json + ensemble.parquet (per-teacher scores, mu, var)"
        return {"videos": len(stats), "teachers": teachers, "ensemble_pairs": len(ens), "synthetic_pairs": len(syn),
                "rendered": len(rendered) - len(bad), "failures": len(bad),
                "label_balance": balance.to_dict(orient="index"), "synthetic_sources": sources,
                "heldout_sources": held, "heldout_pairs": len(heldout)}


STAGE = MakePairs
run = STAGE().run  # run(cfg) -> dict: the stage from Python

if __name__ == "__main__":  # the same as `python -m ray_jobs make_pairs`
    STAGE.main()
