"""Training engine benchmark: DeepSpeed ZeRO-2 / ZeRO-3 vs plain DDP, same model, same data,
2 CPU workers under Ray Train (the engine `train_student` runs).

    python bench/train.py [--steps 30] [--text-hidden 256]

Each strategy trains the same student (tiny preset, widened: every part tuned) on the
same pair batch of real key frames, in its own TorchTrainer run:
  - steps/s over `--steps` timed optimizer steps after 3 warm-up steps (ratio to DDP;
    the goal is ZeRO-2 >= 0.8x);
  - per-worker bytes of model + gradients + optimizer state after the steps: the unique
    storages of the worker's parameters (its partition under ZeRO-3), gradients, fp32
    master copies and Adam moments (ratio to DDP; the goal is ZeRO-3 <= 0.6x); every live
    tensor, communication buckets included, is reported too (`tensor_bytes_all`).
    Data decode is out of the loop (the batch is fixed).
Writes bench/results/train.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import write_result  # noqa: E402


def live_tensor_bytes() -> int:
    import torch

    gc.collect()
    seen = {}
    for obj in gc.get_objects():
        try:
            if isinstance(obj, torch.Tensor) and obj.device.type == "cpu":
                st = obj.untyped_storage()
                seen[st.data_ptr()] = st.nbytes()
        except Exception:  # noqa: BLE001 (objects that only look like tensors)
            continue
    return sum(seen.values())


def state_bytes(engine) -> int:
    """Bytes of this worker's model parameters (its ZeRO-3 partition when partitioned), their
    gradients and the optimizer's parameters, gradients and state (fp32 master partitions,
    Adam moments). Views share a storage and are counted once; communication buckets are not
    model or optimizer state and are left out (they are in `tensor_bytes_all`)."""
    import torch

    tensors = []
    for p in engine.module.parameters():
        tensors += [p.ds_tensor if hasattr(p, "ds_tensor") else p.data, p.grad]
    inner = getattr(engine.optimizer, "optimizer", engine.optimizer)
    for g in inner.param_groups:
        for p in g["params"]:
            tensors += [p.data, p.grad]
    for st in inner.state.values():
        tensors += [v for v in st.values() if torch.is_tensor(v)]
    seen = {}
    for t in tensors:
        if torch.is_tensor(t) and t.numel():
            s = t.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
    return sum(seen.values())


def loop(config: dict) -> None:
    import torch

    from w2s.student.dsops import prepare

    prepare(use_gpu=False)  # this bench trains on the CPU: DS_ACCELERATOR=cpu, the op cache
    import ray.train

    from w2s.config import TrainCfg
    from w2s.student.batching import PairBatcher
    from w2s.student.engine import Engine, PairModel, param_groups
    from w2s.student.loss import confidence_loss
    from w2s.student.model import W2SStudent
    from w2s.student.presets import build_tiny_tokenizer, image_processor, tiny_config

    tc = TrainCfg.model_validate(config["train"])
    torch.manual_seed(0)
    tok = build_tiny_tokenizer()
    student = W2SStudent(tiny_config(tok, **config["model"]))
    groups = param_groups(student, tc.tune, tc.lr, tc.weight_decay)
    base = live_tensor_bytes()
    engine = Engine(tc, PairModel(student), groups, config["steps"] + 3, torch.device("cpu"))
    x = PairBatcher(student, tok, image_processor(student))(config["batch"])

    def step(i):
        logits = engine(x["input_ids"], x["attention_mask"], x["videos"])
        out = confidence_loss(logits, x["labels"], i / (config["steps"] + 3))
        engine.backward(out["loss"])
        engine.step()

    for i in range(3):
        step(i)
    t = time.perf_counter()
    for i in range(config["steps"]):
        step(3 + i)
    elapsed = time.perf_counter() - t
    mem = live_tensor_bytes()
    params = sum(p.ds_numel if hasattr(p, "ds_numel") else p.numel() for p in student.parameters())
    rank = ray.train.get_context().get_world_rank()
    with open(os.path.join(config["out"], f"rank{rank}.json"), "w") as fh:  # Result.metrics needs a checkpoint
        json.dump({"steps_per_s": config["steps"] / elapsed, "tensor_bytes": state_bytes(engine),
                   "tensor_bytes_all": mem,
                   "tensor_bytes_before_engine": base, "params": params}, fh)


def batch(size: int, rows: int) -> dict:
    """`rows` featurized pairs of real key frames (bikes / carphone), as Ray Data hands them."""
    import numpy as np
    import pandas as pd

    from w2s.pool import source_path
    from w2s.student.examples import featurize_pairs

    a, b = source_path("bikes.mp4"), source_path("carphone_pristine.mp4")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"first_uri": [a, b] * rows, "second_uri": [b, a] * rows, "label": ["better", "worse"] * rows})
    df["first_motion"] = [rng.normal(size=(10, 256)).astype(np.float32).tobytes() for _ in range(len(df))]
    df["second_motion"] = df["first_motion"]
    t = featurize_pairs(df.head(rows), size, 8).to_pandas()
    assert t["error"].isna().all(), t["error"]
    return {k: t[k].to_numpy() for k in t.columns}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=2, help="pairs per worker per step")
    ap.add_argument("--text-hidden", type=int, default=256)
    ap.add_argument("--text-layers", type=int, default=4)
    ap.add_argument("--image-size", type=int, default=112)
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ray.init(num_cpus=2, runtime_env={"env_vars": {"PYTHONPATH": root}}, include_dashboard=False)
    model = {"image_size": args.image_size, "patch_size": 8, "vision_hidden": 64, "vision_layers": 2,
             "text_hidden": args.text_hidden, "text_layers": args.text_layers}
    data = batch(args.image_size, args.batch)
    lrs = {"vision_tower": 1e-4, "projector": 1e-4, "motion_projector": 1e-4, "llm": 1e-4}
    base = {"tune": list(lrs), "lr": lrs, "batch_size": args.batch, "gradient_checkpointing": False,
            "zero3_persistence_threshold": 0}
    runs = {"ddp": {"strategy": "ddp"}, "zero2": {"strategy": "deepspeed", "zero_stage": 2},
            "zero3": {"strategy": "deepspeed", "zero_stage": 3}}
    out = {}
    for name, extra in runs.items():
        tmp = tempfile.mkdtemp(prefix=f"w2s-bench-{name}-")
        trainer = TorchTrainer(loop, train_loop_config={"train": {**base, **extra}, "model": model,
                                                        "batch": data, "steps": args.steps, "out": tmp},
                               scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
                               run_config=RunConfig(name=f"bench_{name}_{int(time.time())}",
                                                    storage_path="/tmp/w2s-bench-train"))
        trainer.fit()
        ranks = [json.load(open(os.path.join(tmp, f"rank{r}.json"))) for r in range(2)]
        out[name] = {**ranks[0], "steps_per_s": min(r["steps_per_s"] for r in ranks),
                     "tensor_bytes": max(r["tensor_bytes"] for r in ranks),
                     "tensor_bytes_per_rank": [r["tensor_bytes"] for r in ranks]}
        print(name, out[name], flush=True)
    ddp = out["ddp"]
    payload = {
        "what": "steps/s and per-worker tensor bytes (model + grads + optimizer state) of 2 CPU workers",
        "model": {**model, "params": ddp["params"]}, "steps": args.steps, "pairs_per_worker_step": args.batch,
        "runs": out,
        "zero2_vs_ddp_steps_per_s": round(out["zero2"]["steps_per_s"] / ddp["steps_per_s"], 3),
        "zero3_vs_ddp_steps_per_s": round(out["zero3"]["steps_per_s"] / ddp["steps_per_s"], 3),
        "zero2_vs_ddp_memory": round(out["zero2"]["tensor_bytes"] / ddp["tensor_bytes"], 3),
        "zero3_vs_ddp_memory": round(out["zero3"]["tensor_bytes"] / ddp["tensor_bytes"], 3),
        "goals": {"zero2_vs_ddp_steps_per_s": ">= 0.8", "zero3_vs_ddp_memory": "<= 0.6"},
    }
    print(write_result("train", payload))
    print({k: v for k, v in payload.items() if k.startswith("zero")})


if __name__ == "__main__":
    main()
