import numpy as np
import pytest

from tests.helpers import sample
from w2s.teachers import available_teachers, create_teacher
from w2s.teachers.lowlevel import lowlevel_score
from w2s.teachers.niqe import niqe_features, niqe_from_features, pristine_model
from w2s.video.distort import distort


def test_registry():
    assert set(available_teachers()) == {"niqe", "lowlevel", "fast-vqa", "fastervqa", "dover", "minimalisticvqa-vii",
                                         "minimalisticvqa-ix", "q-align"}
    with pytest.raises(ValueError, match="unknown teacher"):
        create_teacher("dover-v2")
    t = create_teacher("niqe")
    assert t.resources.batch_size > 0 and t.scale.name == "-NIQE"


def test_niqe_rises_with_blur_and_noise_on_a_photograph():
    from scipy import ndimage
    from skimage import data

    mu, cov = pristine_model()
    img = data.camera().astype(np.float64)
    clean = niqe_from_features(niqe_features(img).astype(float), mu, cov)
    blurred = niqe_from_features(niqe_features(ndimage.gaussian_filter(img, 2)).astype(float), mu, cov)
    noisy = img + np.random.default_rng(0).normal(0, 25, img.shape)
    assert clean < blurred and clean < niqe_from_features(niqe_features(noisy).astype(float), mu, cov)
    assert 3 < clean < 15


def test_niqe_teacher_orders_blur_levels(tmp_path):
    t = create_teacher("niqe")
    scores = [t.score(distort(sample("bikes.mp4"), tmp_path / f"b{lv}.mp4", "blur", lv)["output"])
              for lv in (1, 3, 5)]
    assert scores[0] > scores[1] > scores[2], scores  # higher = better


def test_lowlevel_teacher_formula_and_order(tmp_path):
    perfect = {"blur": 0.6, "noise": 0.0, "blockiness": 1.0, "luminance": 118.0}
    assert lowlevel_score(perfect) == pytest.approx(100.0)
    t = create_teacher("lowlevel")
    src = sample("bikes.mp4")
    s = [t.score(distort(src, tmp_path / f"h{lv}.mp4", "h264", lv)["output"]) for lv in (1, 3)]
    assert s[0] > s[1]
