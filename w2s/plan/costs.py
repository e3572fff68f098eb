"""The planner's inputs: per-item costs, prices, the cluster, and a plan row.

Where the costs come from (each row of the output says which one it used):
- CPU side: bench/results/unit_costs.json, measured on this project's CI machine by
  bench/unit_costs.py (one core per step: metrics, the CPU teachers, every distortion family's
  render at 540p, the scorer's and the motion cache's decode); the Ray Data stage efficiency and
  the LP's solve time from bench/results/stages.json (the efficiency is the stage's Ray Data plan
  against a process pool: its fixed bookkeeping per run does not grow with the pool).
- GPU side: bench/results/teachers_gpu.json when a GPU run wrote it (`{"gpu": ..., "items_per_s":
  {name: rate}}`), otherwise the assumptions in GPU_ASSUMPTIONS, each derived from a published
  FLOP count and a stated utilisation of an A100-80GB (312 dense bf16 TFLOP/s, NVIDIA's A100
  datasheet); the rates are per GPU and the planner says when it used one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench", "results")
A100_BF16 = 312e12  # dense bf16 FLOP/s, NVIDIA A100 datasheet
STUDENT_PARAMS = 8.0e9  # LLaVA-OneVision-7B: Qwen2-7B (7.6B) + SigLIP-so400m (0.4B)
TOKENS_PER_FRAME = 196  # 14x14 pooled SigLIP tokens per key frame (METHOD.md section 3)


def _flops_rate(flops_per_item: float, mfu: float) -> float:
    return mfu * A100_BF16 / flops_per_item


# items per second per GPU: (rate, unit, source). Overridden by bench/results/teachers_gpu.json.
GPU_ASSUMPTIONS: dict[str, tuple[float, str, str]] = {
    "student_score": (_flops_rate(2 * STUDENT_PARAMS * 8115, 0.4), "videos",
                      "8115 prompt tokens per scored video with the cached anchor prefix (bench/results/"
                      "scoring.json, paper prompt) x 2 x 8.0B params FLOPs per token, 40% of A100 bf16 peak"),
    "student_compare": (_flops_rate(2 * STUDENT_PARAMS * (2 * 16 * (TOKENS_PER_FRAME + 1) + 120), 0.4), "pairs",
                        "one forward of a pair prompt (2 videos x 16 s x (196 + 1 motion) tokens + ~120 text) "
                        "x 2 x 8.0B FLOPs per token, 40% of A100 bf16 peak"),
    "student_train": (_flops_rate(6 * STUDENT_PARAMS * (2 * 16 * (TOKENS_PER_FRAME + 1) + 120), 0.35), "pairs",
                      "6 x params FLOPs per token (forward + backward; gradient checkpointing's recompute "
                      "roughly offsets the frozen LLM's missing weight gradients) x 6424 tokens per pair, "
                      "35% of A100 bf16 peak under ZeRO-3"),
    "slowfast_chunk": (_flops_rate(65.7e9 * 0.105, 0.15), "1-s chunks",
                       "SlowFast 8x8 R50: 65.7 GFLOPs per 32-frame clip (Feichtenhofer et al. 2019, Table 2), of "
                       "which the motion feature needs the fast pathway only: 10.5% (5.28 of 50.3 GMACs at 224 px, "
                       "torch FlopCounterMode); 15% of A100 bf16 peak (3-D convolutions, batch 4)"),
    "fast-vqa": (_flops_rate(279.1e9, 0.15), "videos", "FAST-VQA: 279.1 GFLOPs per video (Wu et al. 2022), 15% of peak"),
    "fastervqa": (_flops_rate(69.5e9, 0.15), "videos", "FasterVQA: 69.5 GFLOPs per video (Wu et al. 2023), 15% of peak"),
    "dover": (_flops_rate(282e9 + 40e9, 0.15), "videos",
              "DOVER: FAST-VQA-style technical branch (~282 GFLOPs) + ConvNeXt-T aesthetic branch (~40), 15% of peak"),
    "minimalisticvqa-vii": (_flops_rate(8 * 47e9, 0.15), "videos",
                            "MinimalisticVQA VII: Swin-B on 8 key frames at 384 (~47 GFLOPs each), 15% of peak"),
    "minimalisticvqa-ix": (_flops_rate(8 * 47e9 + 8 * 65.7e9, 0.15), "videos",
                           "MinimalisticVQA IX: Swin-B on 8 key frames (~47 GFLOPs each) + SlowFast on 8 chunks, 15% of peak"),
    "q-align": (_flops_rate(2 * 8.2e9 * 8 * 65, 0.3), "videos",
                "Q-Align (mPLUG-Owl2 8.2B): 8 frames x 65 visual tokens prefill x 2 x params, 30% of peak"),
}


@dataclass(frozen=True)
class Prices:
    """Dollar prices, with the date they were read (pass your provider's with the flags)."""
    gpu_hour: float = 5.12     # AWS p4de.24xlarge on-demand $40.97/h / 8 A100-80GB, us-east-1
    cpu_hour: float = 0.0425   # AWS c6i.8xlarge on-demand $1.36/h / 32 vCPUs, us-east-1
    storage_gb_month: float = 0.023  # S3 Standard, first 50 TB
    date: str = "2025-06 list prices"


@dataclass
class Costs:
    """Per-item costs: measured CPU costs + GPU rates, and where each came from."""
    cpu: dict[str, float]
    render_bytes: dict[str, float]
    gpu: dict[str, float]
    sources: dict[str, str] = field(default_factory=dict)
    ray_efficiency: float = 0.7
    lp_s_per_million: float = 4.5
    # from the scale rehearsal (bench/results/scale.json; zero without it): per row-loop stage, the
    # CPU-seconds each row costs beyond its work and the stage's fixed start (actors, models);
    # the driver-side steps' seconds per million rows
    row_overhead_cpu_s: dict[str, float] = field(default_factory=dict)
    stage_start_s: dict[str, float] = field(default_factory=dict)
    driver_s_per_million: dict[str, float] = field(default_factory=dict)


def load_costs(results: str = RESULTS, gpu_file: str | None = None) -> Costs:
    """The costs bench/ measured (CPU) and the GPU rates: a GPU measurement file where one
    exists (bench/results/teachers_gpu.json, or `gpu_file`), the assumptions otherwise."""
    unit = _json(os.path.join(results, "unit_costs.json"))
    if not unit:
        raise FileNotFoundError(f"no {results}/unit_costs.json: run `python bench/unit_costs.py` first")
    stages = _json(os.path.join(results, "stages.json"))
    lp = next((r["total_s"] for r in stages.get("select_lp", []) if r["candidates"] == 1_000_000), 4.5)
    costs = Costs(cpu=unit["cpu_s_per_video_second"], render_bytes=unit["render_bytes_per_video_second_540p"],
                  gpu={k: v[0] for k, v in GPU_ASSUMPTIONS.items()},
                  sources={k: f"assumed: {v[2]}" for k, v in GPU_ASSUMPTIONS.items()},
                  ray_efficiency=min(1.0, _efficiency(stages)), lp_s_per_million=lp)
    measured = _json(gpu_file or os.path.join(results, "teachers_gpu.json"))
    for name, rate in measured.get("items_per_s", {}).items():
        costs.gpu[name] = float(rate)
        costs.sources[name] = f"measured on {measured.get('gpu', 'a GPU')} ({measured.get('date', '?')})"
    _scale(costs, _json(os.path.join(results, "scale.json")))
    m = unit.get("machine", {})
    costs.sources["cpu"] = (f"measured by bench/unit_costs.py on {unit.get('date', '?')}, one process on a "
                            f"{m.get('cpus', '?')}-core {m.get('platform', '').split('-with')[0]} machine")
    return costs


def _scale(costs: Costs, scale: dict) -> None:
    """The scale rehearsal's measurements: row overheads, stage starts, driver steps."""
    for stage, o in scale.get("overheads", {}).items():
        costs.row_overhead_cpu_s[stage] = o["overhead_cpu_s_per_row"]
        costs.stage_start_s[stage] = max(o["start_s"], 0.0)
    d = scale.get("driver_steps", {})
    for step, r in d.get("steps", {}).items():
        if "seconds" in r:
            costs.driver_s_per_million[step] = r["seconds"] * 1e6 / d["rows"]
    if "select_lp" in costs.driver_s_per_million:  # the stage's table read + LP at the pool's size
        costs.lp_s_per_million = costs.driver_s_per_million["select_lp"]
    if scale:
        costs.sources["scale"] = (f"row overheads, stage starts and driver steps measured by bench/scale.py on "
                                  f"{scale.get('date', '?')} (bench/results/scale.json)")


def _efficiency(stages: dict) -> float:
    """Ray Data's throughput relative to a plain process pool at scale: the stage's plan alone
    (its per-run bookkeeping is seconds, the work at scale hours: bench/stages.py)."""
    return stages.get("overhead", {}).get("plan_ratio_vs_pool") or stages.get("throughput_ratio_ray_over_pool", 0.7)


def _json(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        return json.load(fh)


@dataclass(frozen=True)
class Cluster:
    videos: int
    gpus: int
    cpus: int
    video_seconds: float = 8.0   # mean pool video length
    video_height: int = 720      # pool videos' mean short side (decode cost scales with pixels)
    benchmark_videos: int = 20_000  # about the ten benchmarks' test videos together


@dataclass
class Row:
    """One stage of the plan."""
    stage: str
    work: str
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    wall_hours: float = 0.0
    bound: str = "-"
    usd: float = 0.0
    storage_gb: float = 0.0
    actors: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)
