"""The run report on partial run directories: missing stages are left out, a corrupt file
costs only its own section."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from w2s import rundir
from w2s.report import build_report


def test_an_empty_run_gets_a_page_that_says_so(tmp_path):
    page = open(build_report(str(tmp_path))).read()
    assert "No stage has run" in page and "<img" not in page


def test_a_missing_run_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run directory"):
        build_report(str(tmp_path / "nope"))
    p = subprocess.run([sys.executable, "-m", "w2s.cli", "report", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "no run directory" in p.stderr


def test_only_the_stages_that_ran_and_a_corrupt_file_costs_its_section_only(tmp_path):
    run = rundir.RunDir(str(tmp_path))
    rng = np.random.default_rng(0)
    for t in ("niqe", "lowlevel"):
        df = pd.DataFrame({"uri": [f"v{i}" for i in range(12)], "teacher": t, "score": rng.normal(size=12),
                           "error": None})
        (tmp_path / "teacher_scores" / t).mkdir(parents=True)
        df.to_parquet(tmp_path / "teacher_scores" / t / "part-0.parquet")
    (tmp_path / "evaluate").mkdir()
    (tmp_path / "evaluate" / "summary.parquet").write_bytes(b"PAR1 cut short")
    run.write_failures("metrics", pd.DataFrame({"uri": ["a", "b"], "reason": ["empty file", "empty file"]}))
    out = build_report(run.root)
    page = open(out).read()
    assert '<section id="teachers">' in page and "teacher_scatter.png" in page
    assert "empty file (2)" in page  # the failures, though no stage.json is there
    assert '<section id="training">' not in page and '<section id="subset">' not in page
    assert '<section id="evaluation">' in page and "could not be built" in page
    assert (tmp_path / "report" / "teacher_scores.png").stat().st_size > 1000


def test_an_evaluated_run_shows_the_miniature_table_1_when_the_bench_result_exists(tmp_path, monkeypatch):
    import json

    from w2s.benchmarks import miniature

    agg = {f"{s}_{k}": {"mean": m, "std": 0.01, "spread": 0.02, "n": 3}
           for s in ("in-domain", "ood", "ood-content", "ood-family") for k, m in (("srcc", 0.4321), ("plcc", 0.5))}
    result = {"rows": {"niqe": {"what": "weak teacher", "seeds": {"0": {}}, "agg": agg},
                       "III": {"what": "+ confidence loss", "student": "stage1", "seeds": {"0": {}, "1": {}},
                               "agg": agg}}, "complete": True}
    bench = tmp_path / "w2s.json"
    bench.write_text(json.dumps(result))
    monkeypatch.setenv("W2S_TABLE1", str(bench))
    t = miniature.table(miniature.load())
    assert list(t["row"]) == ["teacher niqe", "III"] and t.loc[1, "in-domain SRCC"] == "0.432 ± 0.010"
    run = tmp_path / "run"
    run.mkdir()
    assert "Weak-to-strong in miniature" not in open(build_report(str(run))).read()  # no evaluation yet
    (run / "evaluate").mkdir()
    (run / "evaluate" / "stage.json").write_text(json.dumps({"stage": "evaluate", "duration_s": 1.0}))
    page = open(build_report(str(run))).read()
    assert "Weak-to-strong in miniature" in page and "0.432 ± 0.010" in page
    monkeypatch.setenv("W2S_TABLE1", str(tmp_path / "none.json"))
    assert "Weak-to-strong in miniature" not in open(build_report(str(run))).read()
