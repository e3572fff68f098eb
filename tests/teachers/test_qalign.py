"""The q-align teacher: the pure rule, a tiny offline LLaVA, and the remote-code path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import w2s.teachers.qalign as qa  # noqa: F401  (registers "q-align")
from tests.helpers import moving_frames, sample, write_video
from tests.teachers.tiny_vlm import SIZE, build_tiny_vlm
from w2s.teachers import create_teacher
from w2s.video import VideoDecodeError


def test_rule_by_hand():
    assert qa.qalign_score(np.zeros((1, 5)))[0] == pytest.approx(3.0)
    assert qa.qalign_score(torch.tensor([[100.0, 0, 0, 0, 0]]))[0] == pytest.approx(5.0)
    assert qa.qalign_score(np.array([[0, 0, 0, 0, 100.0]]))[0] == pytest.approx(1.0)
    # logits ln[1, 2, 3, 4, 0+] -> probs [1, 2, 3, 4, 0] / 10 (bad gets e^-50 ~ 0)
    got = qa.qalign_score(np.log([[1.0, 2.0, 3.0, 4.0, np.exp(-50)]]))[0]
    assert got == pytest.approx((5 * 1 + 4 * 2 + 3 * 3 + 2 * 4) / 10)  # 3.0
    # good = fair = e, the rest 1: probs [1, e, e, 1, 1] / (3 + 2e)
    e = np.e
    got = qa.qalign_score(np.array([[0.0, 1.0, 1.0, 0.0, 0.0], [2.0, 0, 0, 0, 0]]))
    assert got[0] == pytest.approx((5 + 4 * e + 3 * e + 2 + 1) / (3 + 2 * e))
    assert got[1] == pytest.approx((5 * e**2 + 4 + 3 + 2 + 1) / (e**2 + 4))
    with pytest.raises(ValueError, match="batch, 5"):
        qa.qalign_score(np.zeros((2, 4)))


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return build_tiny_vlm(str(tmp_path_factory.mktemp("tiny_vlm")))


def _expected(tiny, frames: np.ndarray) -> float:
    """The rule computed here: full forward, logits at the last token, numpy softmax, @ 5..1."""
    from PIL import Image

    proc, tok = tiny["processor"], tiny["tokenizer"]
    prompt = qa.PROMPT.format(images="<image>" * len(frames))
    inputs = proc(text=[prompt], images=[Image.fromarray(f) for f in frames], return_tensors="pt")
    with torch.no_grad():
        logits = tiny["model"](**inputs).logits[0, -1].double().numpy()
    l5 = logits[[tok.convert_tokens_to_ids(w) for w in qa.LEVELS]]
    p = np.exp(l5 - l5.max())
    return float((p / p.sum()) @ np.array([5, 4, 3, 2, 1.0]))


def test_tiny_vlm_scores_with_the_rule(tiny_vlm, tmp_path):
    teacher = create_teacher("q-align", model_dir=tiny_vlm["dir"], frame_size=SIZE, max_frames=2)
    item = teacher.prepare(sample("bikes.mp4"))  # 10 s at 25 fps
    assert item["frames"].dtype == np.uint8 and item["frames"].shape == (2, SIZE, SIZE, 3)
    short = teacher.prepare(write_video(tmp_path / "short.mp4", moving_frames(20)))  # 0.8 s -> 1 frame
    assert short["frames"].shape == (1, SIZE, SIZE, 3)
    scores = teacher.score_batch([item, short])
    assert np.all(np.isfinite(scores)) and np.all((scores >= 1) & (scores <= 5))
    assert scores[0] == pytest.approx(_expected(tiny_vlm, item["frames"]), abs=1e-5)
    assert scores[1] == pytest.approx(_expected(tiny_vlm, short["frames"]), abs=1e-5)
    assert teacher.score_batch([short])[0] == pytest.approx(scores[1], abs=1e-5)  # padding changes nothing
    assert abs(scores[0] - scores[1]) > 1e-6  # the frames matter


def test_frames_whole_seconds_square_pad():
    teacher = create_teacher("q-align", model_dir="unused", frame_size=32)
    frames = teacher.prepare(sample("bikes.mp4"))["frames"]
    assert frames.shape == (10, 32, 32, 3)  # int(250 / 25) whole seconds, no cap
    assert tuple(frames[0, 0, 16]) == qa.BACKGROUND == (122, 116, 104)  # 640x272: padded top and bottom


def test_bad_inputs(tiny_vlm, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError):
        create_teacher("q-align", model_dir=tiny_vlm["dir"]).prepare(str(empty))
    for bad in ({"frame_size": 0}, {"max_frames": 1.5}, {"trust_remote_code": "yes"}, {"model_dir": ""}):
        with pytest.raises(ValueError, match="q-align"):
            create_teacher("q-align", **{"model_dir": tiny_vlm["dir"], **bad})
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", "auto_map": {"AutoConfig": "x.Y"}}))
    with pytest.raises(ValueError, match="trust_remote_code: true"):
        create_teacher("q-align", model_dir=str(tmp_path)).setup()


CONFIG_PY = '''from transformers import PretrainedConfig


class BrightConfig(PretrainedConfig):
    model_type = "qalign-bright-test"
'''
MODELING_PY = '''import numpy as np
import torch
from transformers import PreTrainedModel

from .configuration_bright import BrightConfig


class BrightModel(PreTrainedModel):
    config_class = BrightConfig

    def __init__(self, config):
        super().__init__(config)
        self.offset = torch.nn.Parameter(torch.zeros(1))
        self.post_init()

    def forward(self, x):
        return x

    def score(self, videos, task_="quality", input_="image"):
        assert (task_, input_) == ("quality", "video")
        means = [np.mean([np.asarray(im, dtype=np.float64).mean() / 255 for im in v]) for v in videos]
        return 1 + 4 * torch.tensor(means) + self.offset.detach().double()
'''


def test_remote_code_model(tmp_path):
    from safetensors.torch import save_file

    root = tmp_path / "bright_model"
    root.mkdir()
    (root / "configuration_bright.py").write_text(CONFIG_PY)
    (root / "modeling_bright.py").write_text(MODELING_PY)
    auto_map = {"AutoConfig": "configuration_bright.BrightConfig", "AutoModelForCausalLM": "modeling_bright.BrightModel"}
    (root / "config.json").write_text(json.dumps({"model_type": "qalign-bright-test", "auto_map": auto_map,
                                                  "architectures": ["BrightModel"]}))
    save_file({"offset": torch.full((1,), 0.25)}, str(root / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="RUNS the Python files"):
        create_teacher("q-align", model_dir=str(root), frame_size=24).setup()
    teacher = create_teacher("q-align", model_dir=str(root), trust_remote_code=True, frame_size=24, max_frames=3)
    item = teacher.prepare(sample("bikes.mp4"))
    got = teacher.score_batch([item, item])
    want = 1 + 4 * item["frames"].astype(np.float64).mean() / 255 + 0.25  # the loaded weight counts
    assert got.shape == (2,) and got == pytest.approx([want, want])


def test_resources():
    r = qa.QAlignTeacher.resources
    assert r.num_gpus is None and r.gpu_memory_mb == 18000
    assert (r.batch_size, r.max_actors, r.memory_mb) == (2, 8, 16000)
    assert qa.QAlignTeacher.scale.low == 1.0 and qa.QAlignTeacher.scale.high == 5.0
