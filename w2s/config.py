"""Typed configuration of a run, loaded from YAML (+ `--set key.sub=value` overrides).

The same file runs locally (ray.address unset: a local Ray starts) and on a
cluster (`ray job submit` sets RAY_ADDRESS; `ray.address: auto` also works).
"""

from __future__ import annotations

import os
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from w2s.uri import absolute


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored


class Resources(_Model):
    """What one copy of a stage's work needs (one task, or one actor of its pool), with the same
    keys in every section that runs on Ray: the stages, the planner and the cluster files read them."""
    num_cpus: float = Field(1.0, ge=0, description="CPUs per task / actor")
    num_gpus: float | None = Field(0.0, ge=0, description="GPUs per task / actor; null = 1 when the "
                                   "cluster has GPUs, else 0")
    memory_mb: int = Field(0, ge=0, description="memory reserved per task / actor (scheduling; 0 = none)")
    max_actors: int | None = Field(None, ge=1, description="actors of the pool (tasks: at most this many at "
                                   "once); null = 1 actor, or as many tasks as fit")
    batch_size: int = Field(4, ge=1, description="rows (videos, pairs) per call")


class RayCfg(_Model):
    address: str | None = Field(None, description="Ray address; None = local Ray (or RAY_ADDRESS)")
    num_cpus: int | None = Field(None, description="CPUs of the local Ray (ignored on a cluster)")
    progress_bars: bool = Field(True, description='Ray Data progress bars')
    op_resource_reservation: bool = Field(
        True, description="Ray Data per-operator resource reservation; off on tiny (2-CPU) clusters, "
                          "where it leaves the map operator ~1 CPU (bench/stages.py)")


class MetricsCfg(Resources):
    """Resources: one Ray task per batch of videos (decode + measure)."""
    batch_size: int = Field(4, ge=1, description="videos per task")
    num_cpus: float = Field(0.9, gt=0, description="CPUs per task (fractional: headroom for reads)")
    backend: Literal["pyav", "decord"] = Field("pyav", description='decoder: pyav or decord')
    rows_per_file: int = Field(256, ge=1, description="rows buffered per output Parquet file")


class SelectCfg(_Model):
    n: int = Field(32, ge=1, description="videos to select")
    bins: int = Field(7, ge=2, description="histogram bins per metric (H)")
    reference: str | None = Field(None, description="Parquet of reference metrics; None = the shipped "
                                                          "configs/reference_metrics.parquet")
    method: Literal["lp", "milp"] = Field("lp", description='lp (the relaxation, what the reference code does) or milp')
    time_limit_s: float = Field(600.0, description='solver time limit')
    seed: int = Field(0, description='tie-breaking inside cells')


class TeacherCfg(_Model):
    name: str = Field(..., description='a registered teacher: niqe, lowlevel, fast-vqa, fastervqa, dover, minimalisticvqa-vii, minimalisticvqa-ix, q-align')
    params: dict = Field(default_factory=dict, description="the teacher's own parameters (unknown ones are an error). Model teachers: checkpoint (path/URI; null = random weights, tests only), seed (sampling offsets). fast-vqa / fastervqa / dover: fragments (7), fsize (32), clip_len (32), num_clips (4 / 1 / 3), t_frag (null / 8 / null), aligned (32 / 8 / 32), frame_interval (2), output (sigmoid / raw; dover: overall / technical / aesthetic), dover also aesthetic_size (224), aesthetic_frames (32). minimalisticvqa-vii / -ix: frames (8; null = every second, at least 8), size (384), popt (the released logistic .npy -> MOS), -ix: slowfast_checkpoint, motion_size (224). q-align: model_dir, trust_remote_code (false), max_frames (null), frame_size (448)")
    # null = the teacher's declared resources (w2s/teachers); set one to size its pools for a cluster
    decode_num_cpus: float | None = Field(None, gt=0, description="CPUs per decode/sampling task; null = the "
                                          "teacher's declared one")
    decode_batch_size: int = Field(4, ge=1, description="videos per decode/sampling task")
    num_cpus: float | None = Field(None, ge=0, description="CPUs per model actor")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per model actor")
    memory_mb: int | None = Field(None, ge=0, description="memory per model actor (scheduling)")
    batch_size: int | None = Field(None, ge=1, description="videos per model call")
    max_actors: int | None = Field(None, ge=1, description="model actors (the autoscaler adds GPU nodes for them)")

    def overrides(self) -> dict:
        """The resource fields set in the config (they replace the teacher's declared ones)."""
        return {k: v for k, v in self.model_dump(exclude={"name", "params", "decode_batch_size"}).items()
                if v is not None}


class PairsCfg(Resources):
    """Resources: one Ray task per rendered video (libx264/libx265 threads)."""
    ensemble_pairs: int = Field(200, ge=0, description="pairs drawn from the selected subset")
    synthetic_sources: int = Field(4, ge=0, description="source videos per synthetic family")
    families: list[str] = Field(default_factory=lambda: ["blur", "noise", "stutter", "h264"], description='distortion families to render')
    h265_preset: str = Field("veryslow", description='libx265 preset (the demo uses medium)')
    lossless_preset: str = Field("veryfast", description=(
        "x264 preset of the lossless renders (every family but h264/h265): the pixels are the same at "
        "every preset; ultrafast encodes ~1.8x faster and stores ~9 % more"))
    max_short_side: int | None = Field(None, description="scale larger sources down before distorting")
    num_cpus: float = Field(0.9, gt=0, description="CPUs per render task (libx264/libx265 threads)")
    batch_size: int = Field(1, ge=1, description="renders per task")
    heldout_sources: int = Field(0, ge=0, description="pool videos (not selected, not synthetic sources) "
                                 "rendered into held-out synthetic pairs (pairs/heldout): never trained on, "
                                 "the `heldout` stage measures every stage's student on them")
    seed: int = Field(0, description='pair sampling, source sampling, distortion noise')


class MotionCfg(Resources):
    """Resources: an actor pool of SlowFast extractors (each decodes its videos too)."""
    checkpoint: str | None = Field(None, description="SlowFast-R50 K400 checkpoint path/URI; null = random init (demo only)")
    size: int = Field(224, ge=32, description="frames resized to size x size")
    chunks_per_forward: int = Field(4, ge=1, description="1-s chunks per SlowFast forward")
    batch_size: int = Field(2, ge=1, description="videos per actor call")
    num_cpus: float = Field(0.9, ge=0, description="CPUs per actor (it decodes its videos too)")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per actor; null = 1 when the cluster has GPUs")
    max_actors: int | None = Field(2, ge=1, description="extractor actors")
    pairs: str | None = Field(None, description="pairs dataset; null = <run_dir>/pairs/stage<stage>/pairs.parquet")
    max_seconds: int | None = Field(None, ge=1, description="cache only each video's first N 1-s chunks "
                                    "(training with frame_sampling first reads train.max_frames of them); "
                                    "null = every second")


PARTS = ("vision_tower", "projector", "motion_projector", "llm")
Part = Literal["vision_tower", "projector", "motion_projector", "llm"]


class StudentCfg(_Model):
    preset: Literal["tiny", "paper"] = Field("tiny", description='tiny (offline, random init) or paper (LLaVA-OneVision-Chat 7B)')
    path: str | None = Field(None, description="paper preset: LLaVA-OneVision-Chat 7B dir or hub id")
    image_size: int = Field(112, ge=14, description="tiny preset: vision input size (paper: 384, fixed)")
    patch_size: int = Field(8, ge=1, description="tiny preset: vision patch size")
    seed: int = Field(0, description='tiny initialisation')


class TrainCfg(_Model):
    name: str | None = Field(None, description="run name: checkpoints, resume and the exported model; "
                             "null = stage<stage>")
    pairs: str | None = Field(None, description="pairs dataset; null = <run_dir>/pairs/stage<stage>/pairs.parquet")
    strategy: Literal["deepspeed", "ddp"] = Field("deepspeed", description='deepspeed or ddp')
    zero_stage: Literal[2, 3] = Field(3, description='DeepSpeed ZeRO stage, 2 or 3 (demo: 2, ~1.5x faster on CPU)')
    bf16: bool = Field(False, description='bf16 mixed precision (GPU; the demo runs fp32)')
    gradient_checkpointing: bool = Field(True, description='HF gradient checkpointing (non-reentrant)')
    tune: list[Part] = Field(default_factory=lambda: ["vision_tower", "projector", "motion_projector"],
                             description="trained parts; the rest is frozen (METHOD.md: LLM frozen)")
    lr: dict[Part, float] = Field(default_factory=lambda: {"vision_tower": 2e-6, "projector": 1e-5,
                                                           "motion_projector": 1e-5, "llm": 1e-5},
                                  description="learning rate per part (vision_tower / projector / "
                                              "motion_projector / llm)")
    weight_decay: float = Field(0.0, ge=0, description='AdamW weight decay')
    later_lr_scale: float = Field(1.0, gt=0, description="stage N > 1 (initialised from student N-1) trains "
                                  "at every `lr` times this (docs/results.md)")
    warmup_frac: float = Field(0.03, ge=0, lt=1, description="linear warm-up, then cosine to 0")
    epochs: float = Field(1.0, gt=0, description='step budget in epochs (max_steps wins when set)')
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; null = from epochs")
    batch_size: int = Field(1, ge=1, description="pairs per worker per micro-step")
    grad_accum: int = Field(1, ge=1, description='micro-steps per optimizer step')
    max_grad_norm: float = Field(1.0, gt=0, description='gradient clipping')
    num_workers: int = Field(2, ge=1, description="Ray Train workers (actors; the world size)")
    num_cpus: float = Field(1.0, gt=0, description="CPUs per Train worker")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per Train worker; null = 1 when the cluster "
                                   "has GPUs, else 0 (CPU, gloo)")
    memory_mb: int = Field(0, ge=0, description="memory reserved per Train worker (scheduling; 0 = none)")
    checkpoint_every: int = Field(50, ge=1, description="optimizer steps between checkpoints")
    keep_checkpoints: int = Field(2, ge=1, description='Ray Train checkpoints kept')
    max_failures: int = Field(2, ge=0, description="worker-group restarts (from the last checkpoint)")
    max_frames: int = Field(16, ge=1, description="key frames (and motion rows) per video, 1 per second")
    frame_sampling: Literal["first", "spread"] = Field(
        "first", description="a video longer than max_frames seconds: its first max_frames seconds, or "
                             "max_frames seconds spread evenly over its whole length; the stage reports how "
                             "many videos the cap applies to")
    entropy_over: Literal["answer", "all"] = Field("answer", description='confidence entropy over the answer positions or all')
    confidence_loss: bool = Field(True, description="the adaptive confidence term (METHOD.md section 3); "
                                  "false = cross-entropy alone (the paper's Table 1 rows I-II)")
    zero3_persistence_threshold: int = Field(100_000, ge=0, description="ZeRO-3: params smaller stay whole")
    motion_join: Literal["auto", "hash", "broadcast"] = Field(
        "auto", description="pairs x motion join: hash (Ray Data join, any size) or broadcast (the used "
                            "motion rows in the object store); auto = broadcast below broadcast_limit_mb")
    broadcast_limit_mb: float = Field(256.0, ge=0, description='motion_join auto: broadcast below this many MB of features')
    join_partitions: int = Field(4, ge=1, description="hash partitions of the pairs x motion join")
    decode_num_cpus: float = Field(0.5, gt=0, description="CPUs per key-frame decode task")
    decode_batch_size: int = Field(4, ge=1, description='pairs per key-frame decode task')
    level_weight: float = Field(1.0, gt=0, description="weight of the level word in the answer cross-entropy "
                                "(1 = every answer token alike, METHOD.md; the random-init tiny student needs "
                                "more: the template words dilute the one informative token)")
    mirror_pairs: bool = Field(False, description="show every pair in both orders in the same step (the "
                               "swapped copy gets the mirrored label); a pair whose swapped twin is in the "
                               "dataset is kept once. batch_size still counts pairs: 2x examples per step")
    materialize: bool = Field(False, description="decode the examples once and keep them in the object store "
                              "(small runs with several epochs); false = stream, decoding again each epoch")
    preserve_order: bool = Field(True, description="examples reach the workers in the same order on every run "
                                 "(Ray Data preserve_order; deterministic split across workers), so a run is "
                                 "reproducible; false = whichever decode finishes first, a little faster")
    shuffle_buffer: int = Field(16, ge=0, description="rows each worker buffers to shuffle locally (the pair "
                                                     "order is shuffled globally first); 0 = off")
    augment: bool = Field(False, description="per pair, the same random crop (scale 0.7-1) and horizontal "
                          "flip of both videos' key frames, drawn again every epoch (the quality order of "
                          "a pair does not change; the student cannot memorise content)")
    init_from: str | None = Field(None, description="initialise from this exported student (dir/URI); null = "
                                  "stage 1: a new student from `student`, stage N > 1: student/stage<N-1>")
    storage: str | None = Field(None, description="Ray Train storage; null = <run_dir>/train_student/ray")
    verify_export: bool = Field(True, description="reload the export in the driver and compare logits "
                                                  "(small models only)")
    seed: int = Field(0, description='pair order, shuffling, initialisation')


class ScoringCfg(Resources):
    """Resources: an actor pool of scorers (one model each), fed by CPU decode tasks."""
    checkpoint: str | None = Field(None, description="student to score with (dir/URI with anchors.json); "
                                   "null = <run_dir>/student/stage<stage> (train.name when set)")
    videos: str = Field("manifest", description="what `score` scores: manifest, selected (the select "
                        "stage's subset) or a Parquet file/URI with a `uri` column")
    num_anchors: int = Field(5, ge=2, description="anchor videos per checkpoint (paper: 5)")
    link: Literal["phi", "logistic"] = Field("phi", description="MAP link: Thurstone Case V (paper) or "
                                                                 "logistic (the authors' code)")
    temperature_test: float = Field(5.0, gt=0, description="softmax temperature, test vs anchor")
    temperature_anchor: float = Field(1.0, gt=0, description="softmax temperature, anchor vs anchor")
    batch_size: int = Field(4, ge=1, description="videos per scorer call")
    decode_num_cpus: float = Field(0.5, gt=0, description="CPUs per decode task")
    num_cpus: float = Field(1.0, ge=0, description="CPUs per scorer actor")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per scorer actor; null = 1 when the "
                                                           "cluster has GPUs")
    memory_mb: int = Field(2048, ge=0, description="memory per scorer actor (scheduling)")
    max_actors: int | None = Field(1, ge=1, description="scorer actors (one model each)")
    rows_per_file: int = Field(256, ge=1, description='rows per output Parquet file')


class MiningCfg(_Model):
    levels: int = Field(5, ge=1, description="xi: uniform levels of a model's score inside which gMAD "
                        "pairs are drawn (not given in the paper; gMAD's own work uses a handful)")
    gmad_pairs: int = Field(85_000, ge=0, description="gMAD pairs per stage, shared evenly over weak models x "
                            "2 directions x levels (paper: 85k)")
    max_uses: int = Field(2, ge=1, description="times one video may appear per weak model, direction and level")
    synthetic_pairs: int = Field(15_000, ge=0, description="misclassified synthetic pairs kept per stage, "
                                 "evenly over spatial / temporal / compression (paper: 15k)")
    synthetic_sources: int = Field(1000, ge=0, description="fresh source videos rendered per stage for the "
                                   "misclassified check (never used by an earlier stage)")
    families: list[str] | None = Field(None, description="distortion families of the fresh renders; null = "
                                       "pairs.families")
    replay_pairs: int = Field(0, ge=0, description="pairs of stage N-1's training table (a seeded sample, "
                              "their labels kept) added to stage N's, so the student keeps what it learned "
                              "(docs/results.md)")
    temperature: float = Field(1.0, gt=0, description="softmax temperature of the student's comparisons")
    batch_size: int = Field(8, ge=1, description="pairs per student call (the scorer actors of `scoring`)")
    shard_above: int = Field(2_000_000, ge=0, description="videos above which gMAD runs level by level on Ray "
                             "Data (a groupby on the level) instead of on the driver")
    seed: int = Field(0, description='fresh sources, pair order')


class BenchmarkCfg(_Model):
    name: str = Field(..., description="a registered benchmark (lsvq-test, lsvq-1080p, konvid-1k, live-vqc, "
                      "youtube-ugc, live-yt-gaming, cgvds, live-yt-hfr, waterloo-ivc-4k, kvq) or any name "
                      "with `csv`")
    root: str | None = Field(None, description="folder (local or URI) holding the dataset's own files, in its "
                             "official layout (docs/evaluation.md: Benchmarks)")
    label_file: str | None = Field(None, description="the label file, when not where the layout puts it")
    csv: str | None = Field(None, description="a custom benchmark: CSV with uri,mos (optional group) columns")
    domain: str | None = Field(None, description="overall row it counts in; null = the registry's "
                               "(in-domain / ood), custom for a CSV")
    limit: int | None = Field(None, ge=3, description="score a seeded random subset of this many videos")


class EvalCfg(_Model):
    benchmarks: list[BenchmarkCfg] = Field(default_factory=list, description="what `evaluate` scores")
    proxy: bool = Field(False, description="also the proxy benchmark built from the held-out renders "
                        "(MOS = the distortion level order; the demo has no human ratings)")
    checkpoints: list[str] | None = Field(None, description="students (names under student/, or dirs/URIs "
                                          "with anchors.json); null = student/stage1..stages that exist")
    teachers: bool = Field(True, description="score the benchmarks with the weak teachers (score.teachers) "
                           "too, in the same table")
    seed: int = Field(0, description='the `limit` subsets')


class RunCfg(_Model):
    run_dir: str = Field(..., description="local path or s3://... URI holding every stage's output")
    manifest: str = Field(..., description="Parquet manifest with a `uri` column")
    ray: RayCfg = RayCfg()
    metrics: MetricsCfg = MetricsCfg()
    select: SelectCfg = SelectCfg()
    teachers: list[TeacherCfg] = Field(default_factory=lambda: [TeacherCfg(name="niqe"), TeacherCfg(name="lowlevel")],
                                       description="the weak teachers: each scores every selected video")
    pairs: PairsCfg = PairsCfg()
    motion: MotionCfg = MotionCfg()
    student: StudentCfg = StudentCfg()
    train: TrainCfg = TrainCfg()
    scoring: ScoringCfg = ScoringCfg()
    mining: MiningCfg = MiningCfg()
    eval: EvalCfg = EvalCfg()
    iteration: int = Field(1, ge=1, description="the method's iteration N (the paper's stage N; its files are "
                           "named stage<N>) that mine_pairs / cache_motion / train_student / anchors / heldout / "
                           "score work on (`--iteration N`)")
    iterations: int = Field(3, ge=1, description="the pipeline's last iteration (paper: 3)")
    score_last_iteration: bool = Field(True, description="the pipeline scores the pool with the last "
                                       "iteration's student too (earlier ones' scores are always made: mining "
                                       "needs them)")

    @model_validator(mode="after")
    def _motion_covers_training(self) -> RunCfg:
        m, t = self.motion.max_seconds, self.train
        if m is not None and (t.frame_sampling != "first" or m < t.max_frames):
            raise ValueError(f"motion.max_seconds {m} caches the first {m} seconds only: it needs "
                             f"train.frame_sampling first and train.max_frames <= {m} "
                             f"(now {t.frame_sampling}, {t.max_frames})")
        return self

    @property
    def student_name(self) -> str:
        """The iteration's student: train.name, or stage<iteration>."""
        return self.train.name or stage_name(self.iteration)

    def for_iteration(self, n: int) -> RunCfg:
        return self.model_copy(update={"iteration": n})

    def with_absolute_paths(self) -> RunCfg:
        """Local paths made absolute: Ray workers and Ray Train do not run in our directory.
        `student.path` only when it exists here (else it is a hub id)."""
        data = self.model_dump()
        data["run_dir"], data["manifest"] = absolute(self.run_dir), absolute(self.manifest)
        data["select"]["reference"] = absolute(self.select.reference)
        data["motion"]["pairs"], data["motion"]["checkpoint"] = absolute(self.motion.pairs), absolute(
            self.motion.checkpoint)
        data["train"]["pairs"], data["train"]["storage"] = absolute(self.train.pairs), absolute(self.train.storage)
        data["train"]["init_from"] = absolute(self.train.init_from)
        data["scoring"]["checkpoint"] = absolute(self.scoring.checkpoint)
        if self.scoring.videos not in ("manifest", "selected"):
            data["scoring"]["videos"] = absolute(self.scoring.videos)
        data["eval"]["benchmarks"] = [{**b, **{k: absolute(b[k]) for k in ("root", "label_file", "csv")}}
                                      for b in data["eval"]["benchmarks"]]
        if self.eval.checkpoints:  # a dir given as a path; a bare name stays a name under student/
            data["eval"]["checkpoints"] = [absolute(c) if "/" in c else c
                                           for c in self.eval.checkpoints]
        if self.student.path and os.path.exists(self.student.path):
            data["student"]["path"] = absolute(self.student.path)
        return RunCfg.model_validate(data)


def stage_name(n: int) -> str:
    """The files of iteration n are named stage<n> (the paper's stage n): pairs/, student/, ..."""
    return f"stage{n}"


# old keys -> what replaced them: a config that uses one is refused with this message
RENAMED = {
    "score": "`teachers:` (the list that was score.teachers; score.decode_num_cpus and score.decode_batch_size "
             "are now per teacher: teachers[].decode_num_cpus / decode_batch_size)",
    "stage": "iteration", "stages": "iterations", "score_last_stage": "score_last_iteration",
    "pairs.render_num_cpus": "pairs.num_cpus", "pairs.render_memory_mb": "pairs.memory_mb",
    "motion.videos_per_batch": "motion.batch_size (videos per actor call; the 1-s chunks per forward that "
                               "motion.batch_size was are motion.chunks_per_forward)",
    "train.cpus_per_worker": "train.num_cpus",
    "train.use_gpu": "train.num_gpus (null: 1 per worker when the cluster has GPUs; 0: CPU)",
    "teachers[].prep_num_cpus": "teachers[].decode_num_cpus",
}


def refuse_renamed(data: dict) -> None:
    """A clear error for every key the config no longer has under that name."""
    found = [k for k in RENAMED if "." not in k and k in data]
    found += [k for k in RENAMED if "." in k and "[]" not in k
              and isinstance(data.get(k.split(".")[0]), dict) and k.split(".")[1] in data[k.split(".")[0]]]
    teachers = data.get("teachers")
    if isinstance(teachers, list) and any(isinstance(t, dict) and "prep_num_cpus" in t for t in teachers):
        found.append("teachers[].prep_num_cpus")
    if found:
        raise ValueError("; ".join(f"`{k}` is now {RENAMED[k]}" for k in found))


def _set(tree: dict, dotted: str, raw: str) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        tree = tree.setdefault(k, {})
    tree[keys[-1]] = yaml.safe_load(raw)


def load_config(path: str | None, overrides: list[str] = ()) -> RunCfg:
    """Load YAML from `path` and apply `key.sub=value` overrides (values parsed as YAML)."""
    data = {}
    if path:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        _set(data, k.strip(), v)
    refuse_renamed(data)
    return RunCfg.model_validate(data)
