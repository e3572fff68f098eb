"""Per-stage estimates of the planner: what each stage does at scale, from the run's config."""

from __future__ import annotations

import math

from w2s.plan.costs import STUDENT_PARAMS, Cluster, Costs, Prices, Row

GB = 1e9
TUNED_PARAMS = 0.43e9  # vision tower (SigLIP-so400m) + projectors: the parts with optimizer state


class Estimator:
    """Turns work (CPU-seconds, GPU-seconds, bytes) into the rows of the plan."""

    def __init__(self, cfg, cluster: Cluster, costs: Costs, prices: Prices):
        self.cfg, self.cl, self.costs, self.prices = cfg, cluster, costs, prices
        self.px = (cluster.video_height / 720) ** 2  # decode cost scales with pixels (measured at 720p)
        self.used: set[str] = set()

    def cpu(self, key: str) -> float:
        """CPU-seconds per second of video of one measured step."""
        self.used.add("cpu")
        return self.costs.cpu[key]

    def gpu_rate(self, key: str) -> float:
        """Items per second per GPU (measured or assumed)."""
        self.used.add(key)
        return self.costs.gpu[key]

    def row(self, stage: str, work: str, cpu_s: float = 0.0, gpu_s: float = 0.0, storage: float = 0.0,
            actors: str = "", serial_s: float = 0.0, notes=(), rows: int = 0, kind: str | None = None) -> Row:
        """Wall time: CPU and GPU work stream side by side in a stage, so the larger one bounds it
        (Ray Data's measured efficiency on the CPU side); `serial_s` runs on the driver alone.
        `rows` through the row loop of `kind` add its measured per-row overhead and fixed start."""
        if kind:
            cpu_s += rows * self.costs.row_overhead_cpu_s.get(kind, 0.0)
            serial_s += self.costs.stage_start_s.get(kind, 0.0)
        cpu_wall = cpu_s / (max(self.cl.cpus, 1) * self.costs.ray_efficiency)
        gpu_wall = gpu_s / max(self.cl.gpus, 1) if gpu_s else 0.0
        wall = max(cpu_wall, gpu_wall) + serial_s
        bound = "driver" if serial_s > max(cpu_wall, gpu_wall) else ("GPU" if gpu_wall > cpu_wall else "CPU")
        usd = (cpu_s + serial_s) / 3600 * self.prices.cpu_hour + gpu_s / 3600 * self.prices.gpu_hour
        return Row(stage, work, (cpu_s + serial_s) / 3600, gpu_s / 3600, wall / 3600, bound, usd,
                   storage / GB, actors, list(notes))

    # -- stage 1 ----------------------------------------------------------------------------------
    def metrics(self) -> Row:
        c, v = self.cfg.metrics, self.cl.videos
        return self.row("metrics", f"{v:,} videos", cpu_s=v * self.cl.video_seconds * self.px * self.cpu("metrics_720p"),
                        storage=v * 120, actors=f"{int(self.cl.cpus / c.num_cpus):,} tasks x {c.num_cpus} CPU",
                        rows=v, kind="metrics")

    def select(self) -> Row:
        n = self.cfg.select.n
        return self.row("select", f"LP over {self.cl.videos:,} candidates -> {n:,}",
                        serial_s=self.costs.lp_s_per_million * self.cl.videos / 1e6, storage=n * 100,
                        actors="driver (HiGHS)")

    def score_teachers(self) -> Row:
        from w2s.teachers import create_teacher

        n, cpu_s, gpu_s, parts, notes = self.cfg.select.n, 0.0, 0.0, [], []
        per_video = self.cl.video_seconds * self.px
        for spec in self.cfg.teachers:
            res = create_teacher(spec.name, **spec.params).resources
            declared = 1.0 if res.num_gpus is None else res.num_gpus  # None: one GPU where the cluster has them
            gpus = spec.num_gpus if spec.num_gpus is not None else declared
            if gpus:
                cpu_s += n * per_video * self.cpu("score_decode_720p")
                gpu_s += n * gpus / self._teacher_rate(spec.name, notes)
                parts.append(f"{spec.name}: {int(self.cl.gpus / gpus)} GPU actors")
            else:
                cpu_s += n * per_video * self.cpu(f"teacher_{spec.name}_720p")
                prep = spec.decode_num_cpus or res.decode_num_cpus
                parts.append(f"{spec.name}: {int(self.cl.cpus / prep):,} CPU tasks")
        names = ", ".join(t.name for t in self.cfg.teachers)
        return self.row("score_teachers", f"{n:,} videos x {len(self.cfg.teachers)} teachers ({names})",
                        cpu_s, gpu_s, storage=n * len(self.cfg.teachers) * 80, actors="; ".join(parts),
                        notes=notes, rows=n * len(self.cfg.teachers), kind="score_teachers")

    def _teacher_rate(self, name: str, notes: list) -> float:
        if name in self.costs.gpu:
            return self.gpu_rate(name)
        notes.append(f"no GPU rate for teacher {name!r}: counted at the student's scoring rate")
        return self.gpu_rate("student_score")

    def renders(self, sources: int, families: list[str]) -> tuple[int, int, float, float]:
        """(videos, pairs, CPU-seconds, bytes) of every level of `families` for `sources` clips."""
        from w2s.video.distort import FAMILIES

        videos = pairs = 0
        cpu_s = size = 0.0
        sec = self.cl.video_seconds
        for f in families:
            levels = FAMILIES[f].num_levels
            videos += sources * levels
            pairs += sources * levels * (levels - 1)
            cpu_s += sources * levels * sec * self.cpu(f"render_{f}_540p")
            size += sources * levels * sec * self.costs.render_bytes[f]
        return videos, pairs, cpu_s, size

    def make_pairs(self) -> tuple[Row, int, int]:
        p = self.cfg.pairs
        videos, syn, cpu_s, size = self.renders(p.synthetic_sources + p.heldout_sources, p.families)
        train_share = p.synthetic_sources / max(p.synthetic_sources + p.heldout_sources, 1)
        syn_train = int(syn * train_share)
        pairs = p.ensemble_pairs + syn_train
        row = self.row("make_pairs", f"{videos:,} renders ({p.synthetic_sources + p.heldout_sources:,} sources x "
                                     f"{len(p.families)} families); {pairs:,} pairs", cpu_s, storage=size,
                       actors=f"{int(self.cl.cpus / p.num_cpus):,} render tasks x {p.num_cpus} CPU",
                       notes=[f"renders: {size / GB / 1e3:.1f} TB at 540p (lossless libx264 but h264/h265 levels)"])
        return row, pairs, int(videos * train_share)

    # -- every stage N ------------------------------------------------------------------------------
    def cache_motion(self, n: int, pool_videos: int, rendered: int) -> Row:
        """Motion features of the stage's new videos: pool videos (at their size) + 540p renders."""
        m, sec = self.cfg.motion, self.cl.video_seconds
        secs = min(sec, m.max_seconds or sec)
        videos = pool_videos + rendered
        chunks = videos * math.ceil(secs)
        decode = (pool_videos * self.px + rendered * (540 / 720) ** 2) * sec * self.cpu("motion_decode_720p")
        gpus = m.num_gpus if m.num_gpus is not None else 1.0
        # each actor decodes its own videos, then runs SlowFast: its GPU waits while it decodes
        return self.row(f"cache_motion@{n}", f"{videos:,} videos, {chunks:,} 1-s chunks",
                        gpu_s=chunks / self.gpu_rate("slowfast_chunk") + decode, storage=chunks * (256 * 4 + 16),
                        actors=f"motion.max_actors {int(self.cl.gpus / max(gpus, 1e-9))} (1 GPU each)",
                        notes=[f"decoding runs inside the GPU actors: {decode / 3600:,.0f} of its GPU-hours are "
                               "decode time (the GPU idles); decode tasks on CPU nodes would cut it to "
                               f"{chunks / self.gpu_rate('slowfast_chunk') / 3600:,.1f}"])

    def train_student(self, n: int, pairs: int) -> Row:
        t = self.cfg.train
        examples = pairs * t.epochs * (2 if t.mirror_pairs else 1)
        workers = max(self.cl.gpus, 1)
        steps = math.ceil(examples / (t.batch_size * t.grad_accum * workers))
        decode = examples * 2 * self.cl.video_seconds * self.px * self.cpu("keyframes_720p")
        ckpt = STUDENT_PARAMS * 2 + TUNED_PARAMS * 12  # bf16 weights + fp32 master / Adam of the tuned parts
        return self.row(f"train_student@{n}", f"{pairs:,} pairs x {t.epochs:g} epoch(s): {steps:,} steps of "
                                              f"{t.batch_size * t.grad_accum * workers} pairs",
                        decode, examples / self.gpu_rate("student_train"),
                        storage=t.keep_checkpoints * ckpt + STUDENT_PARAMS * 2,
                        actors=f"train.num_workers {workers} (1 GPU each, ZeRO-{t.zero_stage})",
                        notes=[f"checkpoints: {t.keep_checkpoints} x {ckpt / GB:.0f} GB + a {STUDENT_PARAMS * 2 / GB:.0f} GB export"])

    def compare_row(self, stage: str, work: str, pairs: int, videos: int, extra_cpu: float = 0.0,
                    storage: float = 0.0, serial_s: float = 0.0, notes=()) -> Row:
        """A stage whose model work is student comparisons of pairs (mining, held-out, anchors)."""
        decode = videos * self.cl.video_seconds * self.cpu("score_decode_720p") * (540 / 720) ** 2
        return self.row(stage, work, decode + extra_cpu, pairs / self.gpu_rate("student_compare"),
                        storage=storage, serial_s=serial_s, actors=self._scorers(), notes=notes)

    def _scorers(self) -> str:
        g = self.cfg.scoring.num_gpus if self.cfg.scoring.num_gpus is not None else 1.0
        return f"scoring.max_actors {int(self.cl.gpus / max(g, 1e-9))} (1 GPU each)"

    def anchors(self, n: int) -> Row:
        k = self.cfg.scoring.num_anchors
        return self.compare_row(f"anchors@{n}", f"{k} anchors, {k * (k - 1) // 2} comparisons", k * (k - 1) // 2, k)

    def heldout(self, n: int) -> Row:
        p = self.cfg.pairs
        videos, pairs, _, _ = self.renders(p.heldout_sources, p.families) if p.heldout_sources else (0, 0, 0, 0)
        return self.compare_row(f"heldout@{n}", f"{pairs:,} held-out pairs", pairs, videos)

    def score(self, n: int) -> Row:
        v = self.cl.videos if self.cfg.scoring.videos == "manifest" else self.cfg.select.n
        decode = v * self.cl.video_seconds * self.px * self.cpu("score_decode_720p")
        return self.row(f"score@{n}", f"{v:,} videos", decode, v / self.gpu_rate("student_score"),
                        storage=v * 100, actors=self._scorers(), rows=v, kind="score",
                        notes=["in flight per scorer actor: ~85 MB per video (16 key frames at 384 + 16 x 32 "
                               "motion frames at 224), x batch_size x 2 batches"])

    def mine_pairs(self, n: int) -> tuple[Row, int, int]:
        m = self.cfg.mining
        videos, checked, cpu_s, size = self.renders(m.synthetic_sources, m.families or self.cfg.pairs.families)
        scored = self.cl.videos if self.cfg.scoring.videos == "manifest" else self.cfg.select.n
        # gMAD on the driver: measured (bench/scale.py, 5 teachers) or ~1 s per 1M videos per direction
        per_m = self.costs.driver_s_per_million.get("gmad")
        gmad_s = (per_m * scored / 1e6 * len(self.cfg.teachers) / 5) if per_m else len(self.cfg.teachers) * 2 * scored / 1e6
        row = self.compare_row(f"mine_pairs@{n}", f"gMAD {m.gmad_pairs:,} pairs over {scored:,} scored videos; "
                                                  f"{videos:,} fresh renders, {checked:,} pairs checked",
                               checked, videos, extra_cpu=cpu_s, storage=size, serial_s=gmad_s)
        return row, m.gmad_pairs + min(m.synthetic_pairs, checked), videos

    def evaluate(self, stages: int) -> Row:
        v = self.cl.benchmark_videos
        gpu_s = v * stages / self.gpu_rate("student_score")
        decode = v * self.cl.video_seconds * self.px * self.cpu("score_decode_720p")
        return self.row("evaluate", f"{v:,} benchmark videos x {stages} students (+ teachers on CPU)",
                        decode, gpu_s, actors=self._scorers(),
                        notes=["students of the same sampling share one decode per video"])
