"""Key frames of a video longer than max_frames: its first seconds, or spread over its whole
length, and the motion rows of the same seconds."""

import numpy as np
import pandas as pd
import pytest

from tests.helpers import moving_frames, write_video
from w2s.student.examples import featurize_pairs, keyframes, motion_rows, seconds, spread
from w2s.video import open_reader


def test_spread_keeps_all_or_spreads_evenly():
    assert spread(3, 8).tolist() == [0, 1, 2]
    assert spread(10, 4).tolist() == [0, 3, 6, 9]
    assert spread(17, 16).tolist()[-1] == 16 and len(set(spread(17, 16).tolist())) == 16
    assert spread(5, 1).tolist() == [0]
    assert seconds(10, 4).tolist() == [0, 1, 2, 3] and seconds(10, 4, "spread").tolist() == [0, 3, 6, 9]
    with pytest.raises(ValueError):
        seconds(10, 4, "middle")


def test_long_video_key_frames_first_or_spread(tmp_path):
    path = write_video(tmp_path / "six_s.mp4", moving_frames(6 * 10, w=64, h=64), fps=10)
    with open_reader(path) as r:
        idx = r.key_frame_indices()
        every = [f for _, f in r.frames(idx, size=(32, 32))]
    assert len(every) == 6
    got = keyframes(path, 32, max_frames=3, sampling="spread")
    assert got.shape == (3, 32, 32, 3)
    for k, second in enumerate((0, 2, 5)):  # spread(6, 3): first, middle, last second
        assert np.array_equal(got[k], every[second])
    first = keyframes(path, 32, max_frames=3)
    assert all(np.array_equal(first[k], every[k]) for k in range(3))
    motion = np.arange(6, dtype=np.float32)[:, None].repeat(256, 1)
    assert motion_rows(motion, 3, "spread")[:, 0].tolist() == [0.0, 2.0, 5.0]
    assert motion_rows(motion, 3)[:, 0].tolist() == [0.0, 1.0, 2.0]
    row = featurize_pairs(pd.DataFrame({"first_uri": [path], "second_uri": [path], "label": ["similar"],
                                        "first_motion": [motion.tobytes()], "second_motion": [motion.tobytes()]}),
                          32, 3, "spread").to_pylist()[0]
    assert row["error"] is None and row["first_num_frames"] == 3 and row["first_num_chunks"] == 3
    kept = np.frombuffer(row["first_motion"], np.float32).reshape(3, 256)[:, 0]
    assert kept.tolist() == [0.0, 2.0, 5.0]
