"""The scale planner behind `w2s plan`: per stage of a run, the work (videos, renders, pairs,
steps), the CPU- and GPU-hours, the wall time on the given cluster, the dollar cost, the storage
it leaves and the actor counts to configure; then the totals and the stage that bounds the wall
time. No Ray: arithmetic over the per-item costs of `w2s.plan.costs`.

    from w2s.plan import plan
    rows, totals = plan(cfg, Cluster(videos=1_500_000, gpus=64, cpus=1024))
"""

from __future__ import annotations

from dataclasses import asdict

from w2s.plan.costs import GPU_ASSUMPTIONS, Cluster, Costs, Prices, Row, load_costs
from w2s.plan.stages import Estimator

__all__ = ["GPU_ASSUMPTIONS", "Cluster", "Costs", "Prices", "Row", "load_costs", "plan", "format_plan"]


def plan(cfg, cluster: Cluster, costs: Costs | None = None, prices: Prices | None = None) -> tuple[list[Row], dict]:
    """Rows in pipeline order (the stages of `cfg.iterations` iterations, evaluate last) and totals."""
    costs = costs or load_costs()
    est = Estimator(cfg, cluster, costs, prices or Prices())
    rows = [est.metrics(), est.select(), est.score_teachers()]
    pairs_row, pairs, rendered = est.make_pairs()
    rows.append(pairs_row)
    pool_videos = min(cfg.select.n, 2 * cfg.pairs.ensemble_pairs)
    for n in range(1, cfg.iterations + 1):
        if n > 1:
            mine, pairs, rendered = est.mine_pairs(n)
            rows.append(mine)
            pool_videos = 0  # gMAD pairs are of scored pool videos: their motion is cached already
        rows += [est.cache_motion(n, pool_videos, rendered), est.train_student(n, pairs), est.anchors(n),
                 est.heldout(n)]
        if n < cfg.iterations or cfg.score_last_iteration:
            rows.append(est.score(n))
    rows.append(est.evaluate(cfg.iterations))
    return rows, _totals(rows, est)


def _totals(rows: list[Row], est: Estimator) -> dict:
    bound = max(rows, key=lambda r: r.wall_hours)
    wall = sum(r.wall_hours for r in rows)
    storage = sum(r.storage_gb for r in rows)
    return {"wall_hours": wall, "cpu_hours": sum(r.cpu_hours for r in rows),
            "gpu_hours": sum(r.gpu_hours for r in rows), "usd": sum(r.usd for r in rows),
            "storage_gb": storage, "storage_usd_month": storage * est.prices.storage_gb_month,
            "bounding_stage": bound.stage, "bounding_share": bound.wall_hours / wall if wall else 0.0,
            "prices": asdict(est.prices),
            "sources": {k: est.costs.sources[k] for k in sorted(est.used) if k in est.costs.sources}}


def _hours(h: float) -> str:
    return f"{h * 60:.1f} min" if h < 1 else f"{h:.1f} h"


def format_plan(rows: list[Row], totals: dict, cluster: Cluster) -> str:
    """The plan as a terminal table, the totals, and where every cost came from."""
    lines = [f"plan: {cluster.videos:,} videos ({cluster.video_seconds:g} s, {cluster.video_height}p) on "
             f"{cluster.gpus} GPUs + {cluster.cpus} CPUs",
             f"{'stage':<17} {'wall':>9} {'bound':>6} {'GPU-h':>9} {'CPU-h':>9} {'USD':>10} {'storage':>10}  work"]
    for r in rows:
        lines.append(f"{r.stage:<17} {_hours(r.wall_hours):>9} {r.bound:>6} {r.gpu_hours:>9,.1f} "
                     f"{r.cpu_hours:>9,.1f} {r.usd:>10,.0f} {r.storage_gb:>7,.1f} GB  {r.work}")
    t = totals
    lines += [f"{'total':<17} {_hours(t['wall_hours']):>9} {'':>6} {t['gpu_hours']:>9,.1f} {t['cpu_hours']:>9,.1f} "
              f"{t['usd']:>10,.0f} {t['storage_gb']:>7,.1f} GB  (+ ${t['storage_usd_month']:,.0f}/month stored)",
              f"wall time bound by: {t['bounding_stage']} ({100 * t['bounding_share']:.0f} % of the total)",
              "", "actors to configure:"]
    lines += [f"  {r.stage:<17} {r.actors}" for r in rows if r.actors]
    notes = [f"  {r.stage:<17} {n}" for r in rows for n in r.notes]
    if notes:
        lines += ["", "notes:", *notes]
    p = t["prices"]
    lines += ["", f"prices ({p['date']}): GPU ${p['gpu_hour']}/h, CPU ${p['cpu_hour']}/h, storage "
                  f"${p['storage_gb_month']}/GB-month", "costs:"]
    lines += [f"  {k}: {v}" for k, v in t["sources"].items()]
    return "\n".join(lines)
