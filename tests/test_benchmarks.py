"""The benchmark loaders on small folders in each dataset's official layout (real clips), the
generic uri,mos CSV, the demo's proxy, and the evaluation tables."""

import os

import numpy as np
import pandas as pd
import pytest

from tests.benchmark_layouts import BUILDERS
from tests.helpers import sample
from w2s.benchmarks import BENCHMARKS, IN_DOMAIN, OOD, BenchmarkError, domain_of, load
from w2s.benchmarks.proxy import proxy_from_pairs
from w2s.evaluation import markdown, summarize

CLIPS = [sample("bikes.mp4"), sample("carphone_pristine.mp4"), sample("bigbuckbunny.mp4")]
MOS = [3.1, 4.25, 1.5]


def test_the_registry_has_the_papers_ten_and_its_split():
    assert set(BENCHMARKS) == set(BUILDERS)
    assert {n for n, b in BENCHMARKS.items() if b.domain == IN_DOMAIN} == {
        "lsvq-test", "lsvq-1080p", "konvid-1k", "live-vqc", "youtube-ugc"}
    assert {n for n, b in BENCHMARKS.items() if b.domain == OOD} == {
        "live-yt-gaming", "cgvds", "live-yt-hfr", "waterloo-ivc-4k", "kvq"}
    assert all("Layout:" in b.layout and "Source:" in b.layout for b in BENCHMARKS.values())
    assert domain_of("kvq") == OOD and domain_of("mine") == "custom" and domain_of("kvq", "x") == "x"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_loader_reads_its_official_layout(name, tmp_path):
    want = BUILDERS[name](tmp_path, CLIPS, MOS)
    got = load(name, str(tmp_path))
    assert list(got.columns) == ["uri", "mos", "group", "video"]
    pd.testing.assert_frame_equal(got[["uri", "mos", "group"]].sort_values("uri").reset_index(drop=True),
                                  want.sort_values("uri").reset_index(drop=True), check_dtype=False)
    assert all(os.path.exists(u) for u in got["uri"])  # every path the layout gives is a real file


def test_limit_takes_a_seeded_subset(tmp_path):
    BUILDERS["kvq"](tmp_path, CLIPS, MOS)
    a, b = load("kvq", str(tmp_path), limit=2, seed=1), load("kvq", str(tmp_path), limit=2, seed=1)
    assert len(a) == 2 and a.equals(b)


def test_bad_layouts_get_clear_errors(tmp_path):
    with pytest.raises(BenchmarkError, match="KoNViD-1k label file: none of"):
        load("konvid-1k", str(tmp_path))
    with pytest.raises(BenchmarkError, match="needs `root`"):
        load("kvq")
    with pytest.raises(BenchmarkError, match="unknown benchmark 'nope'"):
        load("nope", str(tmp_path))
    (tmp_path / "test_data.csv").write_text("filename,quality\ntest/1.mp4,3\n")
    with pytest.raises(BenchmarkError, match="none of the columns 'score'"):
        load("kvq", str(tmp_path))
    (tmp_path / "test_data.csv").write_text("filename,score\ntest/1.mp4,3\ntest/2.mp4,n/a\n")
    with pytest.raises(BenchmarkError, match="1 rows without a numeric MOS"):
        load("kvq", str(tmp_path))
    (tmp_path / "data.mat").write_bytes(b"MATLAB 7.3 MAT-file, not really" + b"\0" * 200)
    with pytest.raises(BenchmarkError, match="not a MATLAB v5"):
        load("live-vqc", str(tmp_path))


def test_a_custom_csv_resolves_relative_paths_against_its_folder(tmp_path):
    (tmp_path / "clips").mkdir()
    os.symlink(CLIPS[0], tmp_path / "clips" / "a.mp4")
    (tmp_path / "mine.csv").write_text(f"uri,mos,group\nclips/a.mp4,2.5,x\n{CLIPS[1]},4,\n")
    got = load("mine", csv=str(tmp_path / "mine.csv"))
    assert got["uri"].tolist() == [str(tmp_path / "clips" / "a.mp4"), CLIPS[1]]
    assert got["mos"].tolist() == [2.5, 4.0] and got["group"].tolist() == ["x", ""]


def test_the_proxy_mos_is_the_level_order_per_family():
    pairs = pd.DataFrame({"first_uri": ["b1", "b1", "n1"], "second_uri": ["b2", "b4", "n2"],
                          "levels": ["1-2", "1-4", "1-2"], "family": ["blur", "blur", "noise"], "source": "s"})
    p = proxy_from_pairs(pairs).set_index("uri")
    assert p.loc[["b1", "b2", "b4"], "mos"].tolist() == [4.0, 3.0, 1.0]  # top level 4: mildest gets 4
    assert p.loc[["n1", "n2"], "mos"].tolist() == [2.0, 1.0] and set(p["group"]) == {"blur", "noise"}
    assert proxy_from_pairs(pairs.iloc[:0]).empty


def test_summary_leaves_failures_out_and_weights_overall_by_videos():
    rng = np.random.default_rng(0)
    rows = []
    for bench, dom, n in (("a", IN_DOMAIN, 40), ("b", IN_DOMAIN, 10), ("c", OOD, 20)):
        mos = rng.normal(size=n)
        pred = mos + rng.normal(scale={"a": 0.1, "b": 2.0, "c": 0.5}[bench], size=n)
        err = np.where(np.arange(n) < 2, "decode failed", None)
        pred = np.where(err == None, pred, np.nan)  # noqa: E711 - elementwise
        rows.append(pd.DataFrame({"model": "m", "benchmark": bench, "domain": dom, "uri": [f"{bench}{i}" for i in range(n)],
                                  "mos": mos, "prediction": pred, "error": err}))
    s = summarize(pd.concat(rows)).set_index("benchmark")
    assert s.loc["a", "videos"] == 38 and s.loc["a", "failed"] == 2
    w = s.loc[["a", "b"], "videos"].to_numpy(float)
    assert s.loc["overall in-domain", "srcc"] == pytest.approx(np.average(s.loc[["a", "b"], "srcc"], weights=w))
    assert s.loc["overall ood", "srcc"] == pytest.approx(s.loc["c", "srcc"])
    assert s.loc["a", "srcc"] > s.loc["c", "srcc"] > s.loc["b", "srcc"]
    assert s.loc["a", "plcc"] >= s.loc["a", "plcc_raw"] - 1e-6  # the logistic fit does not lose linearity
    md = markdown(s.reset_index())
    assert md.count("\n") == len(s) + 1 and "| m | overall ood | ood | 18 | 2 |" in md


def test_a_constant_prediction_has_no_correlation():
    p = pd.DataFrame({"model": "m", "benchmark": "a", "domain": "custom", "uri": list("abcd"),
                      "mos": [1.0, 2, 3, 4], "prediction": 50.0, "error": None})
    s = summarize(p)
    assert len(s) == 1 and s["srcc"].isna().all() and s["videos"].iloc[0] == 4
