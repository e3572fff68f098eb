"""The official samplers, against their definitions (fastvqa/datasets/fusion_datasets.py
FragmentSampleFrames + get_spatial_fragments, DOVER's UnifiedFrameSampler, MinimalisticVQA's
key frames and 'mid' chunks)."""

import numpy as np

from w2s.teachers.mvqa import chunk_positions, key_frame_positions
from w2s.teachers.sampling import FragmentView, ResizedView, segment_indices, upscale_to_cover


def test_segment_indices_follow_the_definition():
    rng = np.random.default_rng(0)
    idx = segment_indices(300, 4, 8, 2, 1, rng)  # FasterVQA: 8 segments x 4 frames, interval 2
    assert len(idx) == 32
    seg = idx.reshape(8, 4)
    assert (np.diff(seg, axis=1) == 2).all()
    starts = np.array([300 // 8 * i for i in range(8)])
    off = seg[:, 0] - starts
    assert ((off >= 0) & (off < 300 // 8 - 8)).all()  # random offset inside each segment
    assert len(set(off)) > 1
    short = segment_indices(20, 32, 4, 2, 1, rng)  # FAST-VQA on a 20-frame clip: wraps modulo n
    assert len(short) == 128 and short.max() < 20
    assert list(short[:32]) == [(2 * j) % 20 for j in range(32)]  # no room for an offset: 0
    assert (segment_indices(100, 1, 32, 2, 1, rng) < 100).all()  # DOVER's aesthetic: 32 x 1 frame


def test_fragments_take_one_patch_inside_every_grid_cell():
    h, w, g, f = 360, 480, 7, 32
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    frame = np.stack([yy % 256, xx % 256, (yy // 256) * 16 + (xx // 256)], -1).astype(np.uint8)
    view = FragmentView(np.array([0, 0, 0, 0]), g, f, aligned=2, rng=np.random.default_rng(1))
    view.add(0, frame)
    out = view.out
    assert out.shape == (4, 224, 224, 3)
    for i in range(g):
        for j in range(g):
            p = out[0, i * f:(i + 1) * f, j * f:(j + 1) * f].astype(int)
            y0 = p[0, 0, 0] + 256 * (p[0, 0, 2] // 16)
            x0 = p[0, 0, 1] + 256 * (p[0, 0, 2] % 16)
            assert h // g * i <= y0 <= h // g * (i + 1) - f and w // g * j <= x0 <= w // g * (j + 1) - f
            assert (p[:, :, 0] == (y0 + np.arange(f))[:, None] % 256).all()  # a contiguous 32x32 patch
    assert (out[0] == out[1]).all() and (out[2] == out[3]).all()  # the same offsets inside an aligned group
    assert not (out[0] == out[2]).all()  # new offsets for the next group


def test_small_frames_are_upscaled_to_cover_the_grid():
    small = np.full((120, 160, 3), 7, np.uint8)
    up = upscale_to_cover(small, 224)
    assert min(up.shape[:2]) >= 224 and abs(up.shape[1] / up.shape[0] - 160 / 120) < 0.01
    view = FragmentView(np.array([3]), 7, 32, 32, np.random.default_rng(0))
    view.add(3, small)
    assert (view.out == 7).all()  # every patch filled from the (upscaled) frame
    r = ResizedView(np.array([5, 2, 5]), 64)
    r.add(5, small)
    assert (r.out[[0, 2]] == 7).all() and (r.out[1] == 0).all()
    stripes = np.zeros((250, 250, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-px stripes: sampled without antialiasing they alias, with it they average
    plain, smooth = ResizedView(np.array([0]), 64), ResizedView(np.array([0]), 64, antialias=True)
    plain.add(0, stripes)
    smooth.add(0, stripes)
    assert abs(int(smooth.out.mean()) - 127) <= 2 and smooth.out.std() < 3 and plain.out.std() > smooth.out.std()


def test_minimalistic_key_frames_and_chunks():
    assert list(key_frame_positions(100, 25.0, 8)) == [12, 37, 62, 87, 87, 87, 87, 87]  # middle of each second
    assert list(key_frame_positions(100, 25.0, None)) == [12, 37, 62, 87, 87, 87, 87, 87]  # at least 8
    assert len(key_frame_positions(1000, 25.0, None)) == 40  # every whole second
    assert list(key_frame_positions(230, 30.0, 8)) == [15, 45, 75, 105, 135, 165, 195, 225]  # + the partial one
    c = chunk_positions(300, 60.0, 1)  # 60 frames in the second: the 32 around its middle
    assert list(c) == list(range(60 + 14, 60 + 46))
    c = chunk_positions(100, 25.0, 2)  # 25 frames: all of them, padded with the last
    assert list(c) == list(range(50, 75)) + [74] * 7
