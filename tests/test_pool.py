import os

import pandas as pd

from w2s.pool import MANIFEST_COLUMNS, PHOTO_SOURCES, VIDEO_SOURCES, build_pool, plan_clip
from w2s.video import probe


def test_sample_pool_builds_real_varied_clips(tmp_path):
    n = len(VIDEO_SOURCES) + len(PHOTO_SOURCES)
    df = build_pool(n, str(tmp_path / "pool"), seed=0, workers=2, progress=False)
    man = pd.read_parquet(tmp_path / "pool" / "manifest.parquet")
    assert list(man.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert len(man) == n and set(man["source"]) == set(VIDEO_SOURCES + PHOTO_SOURCES)
    for row in man.itertuples():
        info = probe(row.uri)
        assert (info.width, info.height) == (row.width, row.height)
        assert 2.0 <= row.duration <= 5.1 and row.fps in (24, 25, 30)
        assert 240 <= min(row.width, row.height) <= 720
    assert man["crf"].nunique() > 3
    # re-running reuses the clips that are there and gives the same manifest
    again = build_pool(n, str(tmp_path / "pool"), seed=0, workers=1, progress=False)
    pd.testing.assert_frame_equal(df, again)


def test_plans_are_deterministic_and_mixed():
    plans = [plan_clip(i, 0) for i in range(64)]
    assert plans == [plan_clip(i, 0) for i in range(64)]
    assert plans != [plan_clip(i, 1) for i in range(64)]
    assert {p.fps for p in plans} == {24, 25, 30}
    assert any(p.height > p.width for p in plans) and any(p.width > p.height for p in plans)
    assert {min(p.width, p.height) for p in plans} == {240, 360, 480, 540, 720}
    assert sum(p.blur_sigma > 0 for p in plans) > 5 and sum(p.noise_sigma > 0 for p in plans) > 5
    assert os.path.basename(__file__)


def test_a_clip_is_the_same_pixels_on_every_build(tmp_path):
    """Two demo runs once built different pixels for the same clip (x264 frame threads + mbtree)."""
    import numpy as np

    from w2s.pool import POOL_X264, make_clip
    from w2s.video import open_reader

    assert POOL_X264 == {"threads": "1", "x264-params": "mbtree=0"}

    def pixels(d):
        with open_reader(make_clip(plan_clip(58, 0), str(d))["uri"]) as r:
            return np.stack([f for _, f in r.frames(range(r.num_frames))])

    first = pixels(tmp_path / "a")
    assert np.array_equal(first, pixels(tmp_path / "b"))
