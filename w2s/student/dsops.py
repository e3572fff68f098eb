"""DeepSpeed on a machine without GPUs: the CPU accelerator, and its one JIT-compiled op
(the shared-memory comm op, ~45 s of g++) cached per Python environment.

torch keeps JIT extensions under ~/.cache/torch_extensions/<py>_<device>/<name>, one
directory per op name for every environment of the user: a second checkout (a fresh
clone, CI) writes other include paths into its build.ninja and recompiles, and the first
checkout then recompiles again. An environment-local TORCH_EXTENSIONS_DIR (inside
sys.prefix, when writable) keeps one build per environment; `make setup` builds it
(`python -m w2s.student.dsops`), so no training run pays the compile.
"""

from __future__ import annotations

import os
import sys
import time


def extensions_dir() -> str | None:
    """<sys.prefix>/torch_extensions when this environment is writable (a venv), else None."""
    return os.path.join(sys.prefix, "torch_extensions") if os.access(sys.prefix, os.W_OK) else None


def prepare(use_gpu: bool | None = None) -> None:
    """Before deepspeed is imported: DS_ACCELERATOR=cpu without CUDA, and the op cache of
    this environment (an explicit DS_ACCELERATOR / TORCH_EXTENSIONS_DIR wins)."""
    if use_gpu is None:
        import torch

        use_gpu = torch.cuda.is_available()
    if not use_gpu:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    d = extensions_dir()
    if d:
        os.environ.setdefault("TORCH_EXTENSIONS_DIR", d)


def build_cpu_ops() -> float:
    """Compile (or load from the cache) the CPU comm op DeepSpeed loads at start: seconds taken."""
    prepare(use_gpu=False)
    t = time.time()
    from deepspeed.ops.op_builder.cpu import ShareMemCommBuilder

    ShareMemCommBuilder().load()
    return time.time() - t


if __name__ == "__main__":
    s = build_cpu_ops()
    print(f"DeepSpeed CPU comm op ready in {os.environ['TORCH_EXTENSIONS_DIR']} ({s:.1f} s)")
