"""The paper's checkpoint teachers: parameter layouts pinned against the official model
definitions, strict loading in the official file formats, and forward passes on a real clip.

tests/teachers/official_keys/*.json hold the state_dict() keys and shapes (in order, buffers
included) of the official classes instantiated with the released checkpoints' options, read
by running the code of:
- VQAssessment/FAST-VQA-and-FasterVQA @ 9f264e436a97b23f5efb477b048bfbff83565032
  (fastvqa.models.DiViDeAddEvaluator; options/fast/fast-b.yml, options/fast/f3dvqa-b.yml)
- VQAssessment/DOVER @ f1ddc96215bc7fbcf8f315c65d47905f339c3419 (dover.models.DOVER; dover.yml)
- sunwei925/MinimalisticVQA @ 0dca3ba383eaf1812542a0d2d4b38ba3459a843f (models/VQAModels.py
  Model_VII / Model_IX over torchvision 0.14.1 swin_b)
"""

import json
import os

import numpy as np
import pytest
import torch

from tests.helpers import sample
from w2s.teachers import create_teacher
from w2s.teachers.fastvqa import dover_fusion
from w2s.teachers.vqa_nets import DOVERNet, FastVQANet, MinimalisticVQANet
from w2s.teachers.weights import CheckpointError

KEYS = os.path.join(os.path.dirname(__file__), "official_keys")
NETS = {"fastvqa_b": lambda: FastVQANet(), "fastervqa": lambda: FastVQANet(), "dover": DOVERNet,
        "minimalisticvqa_vii": lambda: MinimalisticVQANet(False), "minimalisticvqa_ix": lambda: MinimalisticVQANet(True)}
# small inputs: the same networks, cheap sampling (the official sizes are the defaults)
SMALL = {"fast-vqa": dict(fragments=2, clip_len=8, num_clips=2, aligned=8),
         "fastervqa": dict(fragments=2, clip_len=8, t_frag=4, aligned=4),
         "dover": dict(fragments=2, clip_len=8, num_clips=2, aligned=8, aesthetic_size=64, aesthetic_frames=8),
         "minimalisticvqa-vii": dict(frames=2, size=64),
         "minimalisticvqa-ix": dict(frames=2, size=64, motion_size=64)}
FILE = {"fast-vqa": ("fastvqa_b", "state_dict"), "fastervqa": ("fastervqa", "state_dict"), "dover": ("dover", None),
        "minimalisticvqa-vii": ("minimalisticvqa_vii", None), "minimalisticvqa-ix": ("minimalisticvqa_ix", None)}


def official(name: str) -> dict:
    with open(os.path.join(KEYS, f"{name}.json")) as fh:
        return json.load(fh)


@pytest.mark.parametrize("name", sorted(NETS))
def test_state_dict_layout_is_the_official_one(name):
    ref = official(name)
    assert len(ref["commit"]) == 40 and ref["repo"]
    mine = [[k, list(v.shape)] for k, v in NETS[name]().state_dict().items()]
    assert mine == ref["keys"]  # every key, shape and position, buffers included


def _perturbed(net):
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return net.eval()


@pytest.mark.parametrize("teacher", sorted(SMALL))
def test_checkpoint_in_the_official_format_loads_strictly_and_scores_a_clip(teacher, tmp_path):
    stem, container = FILE[teacher]
    torch.manual_seed(1)
    src = _perturbed(NETS[stem]())
    path = tmp_path / f"{stem}.pth"
    torch.save({container: src.state_dict()} if container else src.state_dict(), path)
    t = create_teacher(teacher, checkpoint=str(path), **SMALL[teacher])
    item = t.prepare(sample("bikes.mp4"))
    assert all(v.dtype == np.uint8 for v in item.values())  # small uint8 arrays cross the object store
    score = t.score_batch([item])[0]
    assert np.isfinite(score) and not t.random_init
    for k, v in t.net.state_dict().items():
        assert torch.equal(v.cpu(), src.state_dict()[k]), k
    again = t.prepare(sample("bikes.mp4"))  # the official random offsets, drawn reproducibly
    assert all(np.array_equal(again[k], item[k]) for k in item)
    assert t.score_batch([again])[0] == pytest.approx(score, rel=1e-6)


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path):
    bad = FastVQANet().state_dict()
    bad.pop("vqa_head.fc_last.bias")
    bad["extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": bad}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="1 missing keys .*fc_last.bias.* 1 unexpected keys .*extra.weight"):
        create_teacher("fast-vqa", checkpoint=str(tmp_path / "bad.pth")).setup()
    wrong = DOVERNet().state_dict()
    wrong["technical_head.fc_hid.bias"] = torch.zeros(65)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="shape mismatch for .*technical_head.fc_hid.bias"):
        create_teacher("dover", checkpoint=str(tmp_path / "wrong.pth")).setup()
    torch.save({"epoch": 3}, tmp_path / "nothing.pth")
    with pytest.raises(CheckpointError, match="not a state dict"):
        create_teacher("dover", checkpoint=str(tmp_path / "nothing.pth")).setup()


def test_official_input_sizes_give_the_official_feature_maps():
    t = create_teacher("fastervqa")  # the official sampling: 8 segments x 4 frames, 7x7 fragments of 32
    item = t.prepare(sample("bikes.mp4"))
    assert item["fragments"].shape == (32, 224, 224, 3)
    t.setup()
    maps = []
    t.net.fragments_backbone.register_forward_hook(lambda m, i, o: maps.append(o.shape))
    assert np.isfinite(t.score_batch([item])[0])
    assert maps == [(1, 768, 16, 7, 7)]  # as the official forward (FAST-VQA-B / FasterVQA / DOVER technical)


def test_scores_differ_between_videos_and_teachers_declare_resources():
    clips = [sample("bikes.mp4"), sample("carphone_pristine.mp4")]
    for name, params in SMALL.items():
        t = create_teacher(name, **params)
        s = t.score_batch([t.prepare(c) for c in clips])
        assert s.shape == (2,) and np.isfinite(s).all() and s[0] != s[1], name
        assert t.resources.num_gpus is None and t.resources.gpu_memory_mb > 0 and t.resources.batch_size >= 1
        assert t.scale.name
    with pytest.raises(ValueError, match="unknown parameters"):
        create_teacher("fast-vqa", fragment=7)
    with pytest.raises(ValueError, match="integer >= 1"):
        create_teacher("dover", num_clips=0)
    with pytest.raises(CheckpointError, match="not found"):
        create_teacher("fast-vqa", checkpoint="/nonexistent/FAST_VQA_B_1_4.pth").setup()


def test_dover_fusion_is_the_official_formula():
    t, a = np.array([0.1107, 0.2]), np.array([-0.08285, 0.0])
    assert dover_fusion(t, a)[0] == pytest.approx(0.5)
    x = (0.2 - 0.1107) / 0.07355 * 0.6104 + (0.0 + 0.08285) / 0.03774 * 0.3896
    assert dover_fusion(t, a)[1] == pytest.approx(1 / (1 + np.exp(-x)))
