"""Stage `heldout`: a stage's student on the held-out synthetic pairs (never trained on).

    python -m ray_jobs heldout --config configs/demo.yaml [--iteration N]

make_pairs renders `pairs.heldout_sources` pool videos outside the training data
into pairs/heldout/pairs.parquet. This stage has the stage-N student compare every
one of them (the actor pool of ray_jobs/compare.py) and reports its pair accuracy:
`direction` (the less distorted video is the better one: what matters for ranking)
and `level` (the exact level word), overall and per distortion group. Per-pair
probabilities go to eval/stage<N>/heldout_pairs.parquet, the figures to
heldout/stage<N>/stage.json, so the stages of one run can be compared.
"""

from __future__ import annotations

import numpy as np

from ray_jobs.base import Stage
from ray_jobs.compare import PROB_COLUMNS, compare_pairs
from ray_jobs.console import console
from w2s import rundir, uri
from w2s.mining import predicted_levels
from w2s.student.preference import pair_accuracy


class Heldout(Stage):
    name, iterative = "heldout", True

    def check(self, ctx):
        ckpt = ctx.cfg.scoring.checkpoint or ctx.run_dir.student(ctx.name)
        ctx.run_dir.require(rundir.anchors_file(ckpt), f"the student {ctx.name!r} with its anchors", "anchors")

    def execute(self, ctx):
        cfg, run_dir, name = ctx.cfg, ctx.run_dir, ctx.name
        ckpt = cfg.scoring.checkpoint or run_dir.student(name)
        pairs = run_dir.read_pairs(stage="heldout")
        if pairs.empty:
            console.warn("no held-out pairs (pairs.heldout_sources is 0): nothing to measure")
        probs, errors = compare_pairs(cfg, pairs, ckpt, f"{self.name} {name}")
        ok = errors.isna().to_numpy() if len(pairs) else np.zeros(0, bool)
        out = pairs.assign(**dict(zip(PROB_COLUMNS, probs.T, strict=True)), error=errors.to_numpy())
        out.loc[ok, "predicted"] = predicted_levels(probs[ok]) if ok.any() else []
        uri.write_parquet(run_dir.heldout_results(name), out)
        overall = pair_accuracy(probs[ok], pairs.loc[ok, "label"])
        by_group = {k: pair_accuracy(probs[ok & (pairs["kind"] == k).to_numpy()], g["label"])
                    for k, g in pairs[ok].groupby("kind")}
        ctx.fail(out[~ok].assign(uri=out["first_uri"] + " | " + out["second_uri"], reason=out["error"]))
        ctx.rows.update({"held-out pairs (failed)": f"{len(pairs)} ({int((~ok).sum())})",
                         "pair accuracy: direction / level": f"{_pct(overall['direction'])} / {_pct(overall['level'])}"})
        ctx.rows.update({f"  {k}: direction / level": f"{_pct(a['direction'])} / {_pct(a['level'])} ({a['pairs']} pairs)"
                         for k, a in by_group.items()})
        ctx.rows["per pair"] = run_dir.heldout_results(name)
        return {"checkpoint": ckpt, "pairs": len(pairs), "failed": int((~ok).sum()), "accuracy": overall,
                "by_group": by_group, "results": run_dir.heldout_results(name)}


STAGE = Heldout
run = STAGE().run  # run(cfg) -> dict: the stage from Python



def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"

if __name__ == "__main__":  # the same as `python -m ray_jobs heldout`
    STAGE.main()
