"""The one entry point (`python -m ray_jobs`, `python -m ray_jobs.<stage>`, `w2s run`), the stage
registry, the layering rules, and quiet output with the full log under the run directory."""

import ast
import glob
import os
import subprocess
import sys

import pytest

from ray_jobs import registry
from tests.conftest import demo_overrides

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")


def _module(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


MODULES = {_module(p) for pkg in ("w2s", "ray_jobs", "serve")
           for p in glob.glob(os.path.join(ROOT, pkg, "**", "*.py"), recursive=True)}


def _imports(path: str) -> set[str]:
    """Every module `path` imports, in every form: `import a.b`, `from a import b` (a.b when b is a
    module, else a), relative imports, and imports inside functions."""
    me = _module(path)
    pkg = me if path.endswith("__init__.py") else me.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
            out |= subs | ({base} if len(subs) < len(node.names) else set())
    return out


def test_no_import_cycle_among_the_modules():
    paths = {_module(p): p for pkg in ("w2s", "ray_jobs", "serve")
             for p in glob.glob(os.path.join(ROOT, pkg, "**", "*.py"), recursive=True)}
    graph = {m: {i for i in _imports(p) if i in paths and i != m} for m, p in paths.items()}
    state, stack, cycles = {}, [], []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(" -> ".join(stack[stack.index(v):] + [v]))
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, cycles


def test_the_import_check_sees_every_form(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from ray_jobs import make_pairs\nimport ray_jobs.score\n\ndef f():\n    from ray_jobs.anchors import run\n")
    assert {"ray_jobs.make_pairs", "ray_jobs.score", "ray_jobs.anchors"} <= _imports(str(f))


def test_every_registered_stage_is_a_stage_class_that_agrees_with_the_registry():
    from ray_jobs.base import Stage

    for entry in registry.STAGES:
        stage = entry.module().STAGE
        assert issubclass(stage, Stage) and stage.name == entry.name and stage.iterative == entry.iterative


def test_the_pipeline_runs_every_stage_of_every_iteration_in_order():
    names = [s.name for s in registry.pipeline(3)]
    per_stage = ["cache_motion", "train_student", "anchors", "heldout", "score"]
    assert names == ["metrics", "select", "score_teachers", "make_pairs",
                     *[f"{s}@1" for s in per_stage],
                     "mine_pairs@2", *[f"{s}@2" for s in per_stage],
                     "mine_pairs@3", *[f"{s}@3" for s in per_stage]]
    assert [s.name for s in registry.pipeline(2, score_last=False)][-1] == "heldout@2"
    assert [s.name for s in registry.pipeline(2, score_last=False, evaluate=True)][-2:] == ["heldout@2", "evaluate"]
    assert [s.name for s in registry.resolve("select", 2)] == ["select"]  # not an iterative stage
    assert [s.name for s in registry.resolve("train_student", 2)] == ["train_student@2"]
    with pytest.raises(KeyError, match="unknown stage"):
        registry.get("nope")
    for s in registry.STAGES:  # every registered stage is a module with run() and a docstring
        assert callable(s.module().run) and s.module().__doc__.startswith(f"Stage `{s.name}`")


def test_pipeline_steps_know_their_records_and_refuse_per_stage_paths(tmp_path):
    from ray_jobs import runner as pipeline
    from w2s.config import load_config
    from w2s.rundir import RunDir

    cfg = load_config(CONFIG, [f"run_dir={tmp_path}"])
    steps, run = registry.pipeline(2, evaluate=True), RunDir(str(tmp_path))
    rec = {s.name: pipeline.record_of(s, cfg, run) for s in steps}
    assert rec["train_student@2"] == str(tmp_path / "train_student" / "stage2" / "stage.json")
    assert rec["score@1"] == str(tmp_path / "scores" / "stage1" / "stage.json")
    assert rec["mine_pairs@2"] == str(tmp_path / "mine_pairs" / "stage2" / "stage.json")
    assert rec["metrics"] == str(tmp_path / "metrics" / "stage.json")
    assert rec["evaluate"] == str(tmp_path / "evaluate" / "stage.json")
    assert len(set(rec.values())) == len(steps)
    assert pipeline.first_forced(steps, "train_student") == [s.name for s in steps].index("train_student@1")
    assert pipeline.first_forced(steps, "anchors@2") == [s.name for s in steps].index("anchors@2")
    assert pipeline.first_forced(steps, None) == len(steps)
    with pytest.raises(ValueError, match="not a step"):
        pipeline.first_forced(steps, "anchors@7")
    with pytest.raises(ValueError, match="train.name"):
        pipeline.check_config(load_config(CONFIG, [f"run_dir={tmp_path}", "train.name=x"]))
    pipeline.check_config(load_config(CONFIG, [f"run_dir={tmp_path}", "train.name=x", "iterations=1"]))
    assert cfg.for_iteration(3).student_name == "stage3" and cfg.student_name == "stage1"


def test_layers_library_never_imports_stages_and_stages_never_import_each_other():
    for path in glob.glob(os.path.join(ROOT, "w2s", "**", "*.py"), recursive=True):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("ray_jobs", "ray", "serve")}
        assert not bad, f"{path} imports {bad}: the library stays free of Ray and of the stages"
    stages = set(registry.BY_NAME)
    for path in glob.glob(os.path.join(ROOT, "ray_jobs", "*.py")):
        me = os.path.splitext(os.path.basename(path))[0]
        others = {m for m in _imports(path) if m.startswith("ray_jobs.") and m.split(".")[1] in stages - {me}}
        assert not others, f"{path} imports the stage(s) {others}"
        assert '"://" in' not in open(path).read(), f"{path}: use w2s.uri.is_local"


def _run(*args, **kw):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, **kw)


def test_help_lists_every_stage_and_each_stage_has_its_own():
    r = _run("-m", "ray_jobs", "--help")
    assert r.returncode == 0 and all(s.name in r.stdout for s in registry.STAGES) and "all" in r.stdout
    r = _run("-m", "ray_jobs.pipeline", "--help")
    assert r.returncode == 0 and "--from" in r.stdout and "mine_pairs" in r.stdout
    r = _run("-m", "ray_jobs.mine_pairs", "--help")
    assert r.returncode == 0 and "--iteration" in r.stdout and "gMAD" in r.stdout
    r = _run("-m", "ray_jobs.train_student", "--help")
    assert r.returncode == 0 and "Ray Train + DeepSpeed" in r.stdout and "--verbose" in r.stdout
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "w2s"), "run", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "train_student" in r.stdout and "w2s run" in r.stdout


def test_a_missing_input_is_one_line_naming_the_stage_to_run(tmp_path):
    r = _run("-m", "ray_jobs", "select", "--config", CONFIG, "--set", f"run_dir={tmp_path / 'run'}")
    assert r.returncode == 2, r.stderr
    assert "run the `metrics` stage first" in r.stderr and "Traceback" not in r.stderr + r.stdout


@pytest.mark.slow
def test_quiet_by_default_with_the_full_log_in_the_run_dir(small_pool, tmp_path):
    run = tmp_path / "run"
    sets = [a for s in demo_overrides(run, small_pool["manifest"]) for a in ("--set", s)]
    r = _run("-m", "ray_jobs", "metrics", "--config", CONFIG, *sets)
    assert r.returncode == 0, r.stderr[-3000:]
    terminal = (r.stdout + r.stderr).splitlines()
    assert any("stage metrics" in line for line in terminal)  # the summary
    assert any("metrics: 12/12 videos" in line for line in terminal)  # progress (non-TTY: by quarters)
    assert not [line for line in terminal if " INFO " in line or "(pid=" in line], terminal
    assert len(terminal) < 40, len(terminal)
    logs = glob.glob(str(run / "logs" / "*-metrics.log"))
    assert len(logs) == 1
    text = open(logs[0]).read()
    assert "Started a local Ray instance" in text or "ray" in text.lower()
    assert "stage metrics" in text  # the summary is kept in the log too
    # --verbose: everything on the terminal, no log file
    r = _run("-m", "ray_jobs", "select", "--config", CONFIG, *sets, "--verbose")
    assert r.returncode == 0 and "stage select" in r.stdout
    assert not glob.glob(str(run / "logs" / "*-select.log"))


def test_no_function_is_longer_than_sixty_lines():
    paths = glob.glob(os.path.join(ROOT, "w2s", "**", "*.py"), recursive=True)
    for path in paths + glob.glob(os.path.join(ROOT, "ray_jobs", "*.py")) + glob.glob(os.path.join(ROOT, "serve", "*.py")):
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno < 60, f"{path}: {node.name} is {node.end_lineno - node.lineno} lines"


def test_w2s_evaluate_and_report_have_help(tmp_path):
    w2s = os.path.join(os.path.dirname(sys.executable), "w2s")
    p = subprocess.run([w2s, "evaluate", "--help"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "eval.benchmarks" in p.stdout and "SRCC" in p.stdout
    p = subprocess.run([w2s, "report", "--help"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "RUN_DIR" in p.stdout
    p = subprocess.run([w2s, "evaluate", "--config", CONFIG, "--set", f"run_dir={tmp_path}", "--set",
                        f"manifest={tmp_path}/none.parquet", "--set", "eval.proxy=false"], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert p.returncode == 2 and "no benchmark: set eval.benchmarks" in p.stderr

