"""The stage functions Ray runs, called directly (no cluster needed)."""

import pandas as pd
import pyarrow as pa

from ray_jobs.metrics import SCHEMA, measure
from ray_jobs.teacher_pool import ModelSide, prepare_batch


def test_an_all_bad_batch_keeps_the_float_schema(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "b.mp4").write_text("text")
    out = measure(pd.DataFrame({"uri": [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]}))
    assert out.schema == SCHEMA and out.column("blur").type == pa.float64()
    assert out.column("error").null_count == 0


def test_teacher_sides_record_bad_videos(tmp_path, small_pool):
    (tmp_path / "bad.mp4").write_bytes(b"")
    batch = pd.DataFrame({"uri": [small_pool["good"][0], str(tmp_path / "bad.mp4")]})
    prepared = prepare_batch(batch, "lowlevel", ())
    assert prepared["error"].isna().tolist() == [True, False]
    scored = ModelSide("lowlevel", ())(prepared).to_pandas()
    assert scored["score"].notna().tolist() == [True, False] and "empty" in scored["error"].iloc[1]
