"""The run-directory contract: one place for every path, readers that dedupe and say which
stage to run when an input is missing."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2s import rundir, uri
from w2s.rundir import MissingInput, RunDir


def _all_paths(r: RunDir) -> list[str]:
    return [r.metrics(), r.selected(), r.histograms(), r.teacher_scores("niqe"), r.media("blur"),
            r.rendered("blur", "/pool/clips/clip_0001.mp4", 3), r.pairs(1), r.llava(1), r.pairs(2), r.motion(),
            r.train_dir("stage1"), r.curves("stage1"), r.curves("stage1", png=True), r.train_state("stage1"),
            r.export_check("stage1"), r.train_storage(), r.student("stage1"), r.scores("stage1"),
            r.eval("stage1"), r.failures("metrics"), r.stage_record("metrics"), r.stage_record("train_student", "s1"),
            r.logs()]


@pytest.mark.parametrize("root", ["s3://bucket/runs/r1", "/data/runs/r1"])
def test_every_path_is_distinct_and_under_the_root(root):
    r = RunDir(root + "/")
    paths = _all_paths(r)
    assert len(set(paths)) == len(paths)
    assert all(p.startswith(root + "/") for p in paths)
    assert r.pairs(2) == f"{root}/pairs/stage2/pairs.parquet"
    assert r.rendered("blur", "/pool/clips/clip_0001.mp4", 3) == f"{root}/media/blur/clip_0001_L3.mp4"


def test_relative_roots_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert RunDir("runs/x").root == str(tmp_path / "runs" / "x")


def test_read_table_dedupes_and_removes_cut_parts(tmp_path):
    out = tmp_path / "metrics"
    out.mkdir()
    pq.write_table(pa.Table.from_pandas(pd.DataFrame({"uri": ["a", "b"], "v": [1, 2]})),
                   out / "part-0.parquet")
    pq.write_table(pa.Table.from_pandas(pd.DataFrame({"uri": ["b", "c"], "v": [9, 3]})),
                   out / "part-1.parquet")
    (out / "part-2.parquet").write_bytes(b"PAR1 cut short")
    t = rundir.read_table(str(out))
    assert list(t["uri"]) == ["a", "b", "c"] and list(t["v"]) == [1, 2, 3]
    assert not (out / "part-2.parquet").exists()  # its rows are redone by the next run
    assert sorted(rundir.done_uris(str(out))) == ["a", "b", "c"]
    batch = pd.DataFrame({"uri": ["a", "x"]})
    assert list(rundir.drop_done(batch, frozenset(["a"]))["uri"]) == ["x"]


def test_read_summary_keeps_only_the_asked_columns_and_the_failures(tmp_path):
    out = tmp_path / "scores"
    out.mkdir()
    rows = [({"uri": ["a", "b", "c"], "score": [1.0, None, 3.0], "blob": [b"x"] * 3, "error": [None, "bad", None]}),
            ({"uri": ["c", "d"], "score": [9.0, 4.0], "blob": [b"y"] * 2, "error": [None, None]})]
    for i, r in enumerate(rows):
        pq.write_table(pa.Table.from_pandas(pd.DataFrame(r)), out / f"part-{i}.parquet")
    (out / "part-2.parquet").write_bytes(b"PAR1 cut short")
    table, failed = rundir.read_summary(str(out), ["score", "not_a_column"])
    assert list(table.columns) == ["error", "score", "not_a_column"]  # no uri, no blob
    assert len(table) == 4 and sorted(table["score"].dropna()) == [1.0, 3.0, 4.0]  # c once, its first row
    assert list(failed["uri"]) == ["b"] and list(failed["error"]) == ["bad"]
    assert not (out / "part-2.parquet").exists() and (out / "part-1.parquet").exists()
    empty, none = rundir.read_summary(str(tmp_path / "nothing"), ["score"])
    assert len(empty) == 0 and list(empty.columns) == ["error", "score"] and len(none) == 0


def test_missing_inputs_name_the_stage_that_makes_them(tmp_path):
    r = RunDir(tmp_path)
    cases = [(r.read_metrics, "metrics"), (lambda: r.read_teacher_scores("niqe"), "score_teachers"),
             (r.read_pairs, "make_pairs"), (r.motion_index, "cache_motion")]
    for fn, producer in cases:
        with pytest.raises(MissingInput, match=f"run the `{producer}` stage first"):
            fn()


def test_motion_and_failures_round_trip(tmp_path):
    r = RunDir(tmp_path)
    feats = np.arange(3 * 256, dtype=np.float32).reshape(3, 256)
    uri.write_parquet(uri.join(r.motion(), "part-0.parquet"), pd.DataFrame({
        "uri": ["a", "bad"], "num_chunks": [3, 0], "features": [feats.tobytes(), None], "error": [None, "empty"]}))
    motion = r.read_motion()
    assert list(motion) == ["a"] and np.array_equal(motion["a"], feats)
    assert r.read_motion(uris=["zzz"]) == {}
    assert list(r.motion_index()["uri"]) == ["a", "bad"]
    r.write_failures("cache_motion", {"uri": ["bad"], "reason": ["empty"]})
    r.write_failures("metrics")
    f = pd.read_parquet(r.failures("cache_motion"))
    assert f.to_dict("records") == [{"uri": "bad", "stage": "cache_motion", "reason": "empty"}]
    assert pd.read_parquet(r.failures("metrics")).empty


def test_stage_record_writes_stage_json(tmp_path):
    r = RunDir(tmp_path)
    info = r.record("select", {"select": {"n": 3}}).finish(selected=3)
    saved = uri.read_json(r.stage_record("select"))
    assert saved == info and saved["selected"] == 3 and saved["w2s_version"] and saved["duration_s"] >= 0
