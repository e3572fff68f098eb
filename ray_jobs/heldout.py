"""Stage `heldout`: a stage's student on the held-out synthetic pairs (never trained on).

    python -m ray_jobs heldout --config configs/demo.yaml [--stage N]

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

from ray_jobs.compare import PROB_COLUMNS, compare_pairs
from ray_jobs.console import console
from w2s import rundir, uri
from w2s.mining import predicted_levels
from w2s.student.preference import pair_accuracy

STAGE = "heldout"


def run(cfg) -> dict:
    run_dir, name = rundir.RunDir(cfg.run_dir), cfg.student_name
    ckpt = cfg.scoring.checkpoint or run_dir.student(name)
    run_dir.require(uri.join(ckpt, "anchors.json"), f"the student {name!r} with its anchors", "anchors")
    record = run_dir.record(STAGE, cfg.model_dump(), name=name)
    pairs = run_dir.read_pairs(stage="heldout")
    if pairs.empty:
        console.warn("no held-out pairs (pairs.heldout_sources is 0): nothing to measure")
    probs, errors = compare_pairs(cfg, pairs, ckpt, f"{STAGE} {name}")
    ok = errors.isna().to_numpy() if len(pairs) else np.zeros(0, bool)
    out = pairs.assign(**dict(zip(PROB_COLUMNS, probs.T, strict=True)), error=errors.to_numpy())
    out.loc[ok, "predicted"] = predicted_levels(probs[ok]) if ok.any() else []
    uri.write_parquet(run_dir.heldout_results(name), out)
    overall = pair_accuracy(probs[ok], pairs.loc[ok, "label"])
    by_group = {k: pair_accuracy(probs[ok & (pairs["kind"] == k).to_numpy()], g["label"])
                for k, g in pairs[ok].groupby("kind")}
    run_dir.write_failures(STAGE, out[~ok].assign(uri=out["first_uri"] + " | " + out["second_uri"],
                                                  reason=out["error"]) if (~ok).any() else None)
    info = record.finish(checkpoint=ckpt, pairs=len(pairs), failed=int((~ok).sum()), accuracy=overall,
                         by_group=by_group, results=run_dir.heldout_results(name))
    rows = {"held-out pairs (failed)": f"{len(pairs)} ({info['failed']})",
            "pair accuracy: direction / level": f"{_pct(overall['direction'])} / {_pct(overall['level'])}"}
    rows.update({f"  {k}: direction / level": f"{_pct(a['direction'])} / {_pct(a['level'])} ({a['pairs']} pairs)"
                 for k, a in by_group.items()})
    console.summary(f"stage {STAGE}: {name} ({run_dir.root})", {
        **rows, "per pair": info["results"], "duration": f"{info['duration_s']} s"})
    return info


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


if __name__ == "__main__":  # the same as `python -m ray_jobs heldout`
    from ray_jobs.cli import stage_main

    stage_main(STAGE)
