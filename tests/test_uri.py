"""One storage layer for paths and URIs: local files and fsspec's in-memory filesystem
(the same code path as any non-arrow URI) behave alike."""

import pandas as pd
import pytest

from w2s import uri


@pytest.fixture(params=["local", "memory"])
def base(request, tmp_path):
    return str(tmp_path / "store") if request.param == "local" else f"memory://w2s-test-{id(tmp_path)}/store"


def test_json_parquet_and_bytes_round_trip(base):
    assert not uri.exists(uri.join(base, "a.json")) and uri.read_json(uri.join(base, "a.json")) is None
    uri.write_json(uri.join(base, "a.json"), {"x": 1, "y": [1, 2]})
    assert uri.read_json(uri.join(base, "a.json")) == {"x": 1, "y": [1, 2]}
    df = pd.DataFrame({"uri": ["a", "b"], "score": [1.0, 2.0]})
    uri.write_parquet(uri.join(base, "t", "part-0.parquet"), df)
    pd.testing.assert_frame_equal(uri.read_parquet(uri.join(base, "t", "part-0.parquet")), df)
    uri.write_bytes(uri.join(base, "t", "notes.txt"), b"hello")
    assert [p.rsplit("/", 1)[-1] for p in uri.list_files(uri.join(base, "t"), ".parquet")] == ["part-0.parquet"]
    assert uri.size(uri.join(base, "t", "notes.txt")) == 5
    with uri.open_binary(uri.join(base, "t", "notes.txt")) as fh:
        fh.seek(2)
        assert fh.read() == b"llo"


def test_missing_things_are_empty_not_errors(base):
    assert uri.list_files(uri.join(base, "nothing")) == []
    assert uri.read_parquet(uri.join(base, "none.parquet"), columns=["uri"]).columns.tolist() == ["uri"]
    with pytest.raises(FileNotFoundError):
        uri.size(uri.join(base, "none.bin"))


def test_directories_copy_both_ways(base, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.bin").write_bytes(b"\x00\x01")
    uri.upload_dir(str(src), uri.join(base, "model"))
    assert uri.read_bytes(uri.join(base, "model", "w.bin")) == b"\x00\x01"
    local = uri.local_copy(uri.join(base, "model"), str(tmp_path / "dl"))
    assert open(f"{local}/w.bin", "rb").read() == b"\x00\x01"


def test_paths_and_schemes():
    assert uri.join("s3://b/run/", "pairs", "stage1") == "s3://b/run/pairs/stage1"
    assert uri.scheme("S3://b/x") == "s3" and uri.is_local("file:///tmp/x") and not uri.is_local("gs://b")
    assert uri.absolute("s3://b/x") == "s3://b/x" and uri.absolute("rel/x").startswith("/")
    assert uri.absolute(None) is None
