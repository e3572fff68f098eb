"""Q-Align (Wu et al. 2024) as a teacher: a vision-language model rates a video in words.

Official rule (github Q-Future/Q-Align, scorer.py and the HF remote code's `model.score`): prompt
"USER: How would you rate the quality of this video?\n<|image|>\nASSISTANT: The quality of the
video is", logits at the last input position, softmax over only excellent/good/fair/poor/bad,
score = probs @ [5, 4, 3, 2, 1] (1..5; scorer.py's 0..1 is (score - 1) / 4). Frames: the first
frame of each whole second (official load_video: int(fps * i) for i in range(int(n / fps)); no
cap unless `max_frames`), padded to a CLIP-mean square (expand2square) and resized to
`frame_size` on the CPU side: the payload is a small (T, S, S, 3) uint8 array.

Model paths (local dir or URI, never downloaded: local_files_only=True):
- official checkpoints (q-future/one-align, q-future/q-align-vqa, ...) ship their own code
  (config.json `auto_map`, MPLUGOwl2LlamaForCausalLM): AutoModelForCausalLM with
  trust_remote_code=True, scored by their `model.score(videos, task_="quality", input_="video")`.
  That code targets transformers 4.36 and its __init__ loads its tokenizer by hub id
  ("q-future/one-align"): run with HF_HUB_OFFLINE=1 and that id in the local HF cache;
- a standard transformers image-text-to-text model (LLaVA style, one image token per frame
  expanded by its processor), scored with the rule above (`qalign_score`).
"""

from __future__ import annotations

import inspect
import os
import tempfile

import numpy as np
import torch
from PIL import Image

from w2s import uri as uri_mod
from w2s.teachers.base import Resources, ScoreScale, Teacher, register_teacher
from w2s.teachers.weights import device
from w2s.video import VideoDecodeError, open_reader

LEVELS = ("excellent", "good", "fair", "poor", "bad")
LEVEL_WEIGHTS = (5.0, 4.0, 3.0, 2.0, 1.0)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
BACKGROUND = tuple(int(x * 255) for x in CLIP_MEAN)  # (122, 116, 104), as official expand2square
PROMPT = "USER: How would you rate the quality of this video?\n{images}\nASSISTANT: The quality of the video is"


def qalign_score(logits_5) -> np.ndarray:
    """(B, 5) logits of excellent..bad at the answer position -> (B,) scores in 1..5."""
    x = torch.as_tensor(logits_5).detach().to("cpu", torch.float64)
    if x.ndim != 2 or x.shape[1] != len(LEVELS):
        raise ValueError(f"qalign_score wants (batch, 5) logits in the order {LEVELS}, got {tuple(x.shape)}")
    return (torch.softmax(x, dim=-1) @ torch.tensor(LEVEL_WEIGHTS, dtype=torch.float64)).numpy()


def rating_token_ids(tokenizer) -> list[int]:
    """Token id of each rating word. Official: tokenizer(word).input_ids[1], i.e. the first
    sub-token after LLaMA's BOS, which for sentencepiece is the spaced word "▁excellent" (the
    word follows "is " in the prompt). A generic tokenizer may add no BOS or mark the space
    differently (BPE "Ġexcellent"), so here: the first token of " " + word without specials."""
    ids = [tokenizer(" " + w, add_special_tokens=False).input_ids[0] for w in LEVELS]
    unk = getattr(tokenizer, "unk_token_id", None)
    if len(set(ids)) < len(ids) or (unk is not None and unk in ids):
        raise ValueError(f"q-align: the rating words {LEVELS} do not map to 5 distinct known tokens "
                         f"(ids {ids}); this tokenizer cannot express the Q-Align rule")
    return ids


def expand2square(frame: np.ndarray, size: int) -> np.ndarray:
    """Pad to a centred square on the CLIP-mean colour, then bicubic-resize to size x size."""
    img = Image.fromarray(frame)
    w, h = img.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), BACKGROUND)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return np.asarray(canvas.resize((size, size), Image.BICUBIC), dtype=np.uint8)


def _positive_int(name: str, value, allow_none: bool = False):
    if (value is not None or not allow_none) and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"q-align: {name} must be a positive integer{' or null' if allow_none else ''}, got {value!r}")
    return value


@register_teacher("q-align")
class QAlignTeacher(Teacher):
    # num_gpus=None: one GPU when the cluster has GPUs, else CPU; 18 GB: LLaMA-2-7B fp16 + the vision tower
    resources = Resources(decode_num_cpus=0.9, num_cpus=1.0, num_gpus=None, memory_mb=16000, gpu_memory_mb=18000,
                          batch_size=2, max_actors=8)
    scale = ScoreScale("Q-Align 1..5", 1.0, 5.0, "softmax over excellent..bad at the answer position, weighted 5..1")

    def __init__(self, model_dir: str, trust_remote_code: bool = False, frame_size: int = 448,
                 max_frames: int | None = None):
        if not isinstance(model_dir, str) or not model_dir:
            raise ValueError(f"q-align: model_dir must be a local path or URI of a model directory, got {model_dir!r}")
        if not isinstance(trust_remote_code, bool):
            raise ValueError(f"q-align: trust_remote_code must be true or false, got {trust_remote_code!r}")
        self.model_dir, self.trust_remote_code = model_dir, trust_remote_code
        self.frame_size = _positive_int("frame_size", frame_size)
        self.max_frames = _positive_int("max_frames", max_frames, allow_none=True)
        self._model = self._processor = self._ids = None

    def _check_config(self, local: str) -> dict:
        config = uri_mod.read_json(os.path.join(local, "config.json"))
        if config is None:
            raise ValueError(f"q-align: {self.model_dir} is not a transformers model directory (no config.json)")
        if config.get("auto_map") and not self.trust_remote_code:
            raise ValueError(
                f"q-align: {self.model_dir} ships its own model code (config.json auto_map, e.g. the official "
                "Q-Align checkpoints); loading it needs `params: {trust_remote_code: true}`, which RUNS the "
                "Python files in that model directory: use it only for a directory you trust")
        return config

    def setup(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

        dev = device()
        opts = {"local_files_only": True, "trust_remote_code": self.trust_remote_code,
                "dtype": torch.float16 if dev.type == "cuda" else torch.float32}
        with tempfile.TemporaryDirectory() as tmp:
            local = uri_mod.local_copy(self.model_dir, tmp)
            if self._check_config(local).get("auto_map"):
                model = AutoModelForCausalLM.from_pretrained(local, **opts)
                if not callable(getattr(model, "score", None)):
                    raise ValueError(f"q-align: the remote-code model in {self.model_dir} has no score() method "
                                     "(the official Q-Align code's model.score(videos, task_, input_))")
            else:
                self._processor = self._load_processor(local)
                self._ids = rating_token_ids(self._processor.tokenizer)
                model = AutoModelForImageTextToText.from_pretrained(local, **opts)
        self._model = model.to(dev).eval()

    def _load_processor(self, local: str):
        from transformers import AutoProcessor

        try:
            proc = AutoProcessor.from_pretrained(local, local_files_only=True, trust_remote_code=self.trust_remote_code)
        except (ImportError, ValueError) as e:
            if "torchvision" in str(e).lower():
                raise ValueError(f"q-align: the processor of {self.model_dir} needs torchvision (a fast image "
                                 "processor), which is not installed: install torchvision or save the model "
                                 "with a PIL image processor (e.g. CLIPImageProcessorPil)") from e
            raise
        if not getattr(proc, "image_token", None) or not hasattr(proc, "tokenizer"):
            raise ValueError(f"q-align: {self.model_dir}: the processor has no image_token / tokenizer")
        proc.tokenizer.padding_side = "right"  # pads after the answer position: batching changes nothing
        return proc

    def prepare(self, uri: str) -> dict[str, np.ndarray]:
        with open_reader(uri) as r:
            fps = r.info.fps
            if fps and fps > 0:  # official load_video: int(fps * i) for i in range(int(n / fps))
                idx = np.array([int(fps * i) for i in range(max(1, int(r.num_frames / fps)))])
            else:
                idx = r.key_frame_indices()
            idx = idx[: self.max_frames]
            frames = [expand2square(f, self.frame_size) for _, f in r.frames(idx)]
        if not frames:
            raise VideoDecodeError(uri, "no frames decoded")
        return {"frames": np.stack(frames)}  # (T, S, S, 3) uint8

    @torch.inference_mode()
    def score_batch(self, items: list[dict[str, np.ndarray]]) -> np.ndarray:
        self.setup()
        videos = [[Image.fromarray(f) for f in it["frames"]] for it in items]
        if self._processor is None:  # official remote code: its own score, already 1..5
            out = self._model.score(videos, task_="quality", input_="video")
            return torch.as_tensor(out).detach().float().cpu().numpy().astype(np.float64).reshape(len(items))
        return qalign_score(self._rating_logits(videos))

    def _rating_logits(self, videos: list[list[Image.Image]]) -> torch.Tensor:
        """(B, 5) logits of the rating words right after "... is" (each row's last real token)."""
        proc, model = self._processor, self._model
        texts = [PROMPT.format(images=proc.image_token * len(v)) for v in videos]
        inputs = proc(text=texts, images=[im for v in videos for im in v], return_tensors="pt", padding=True)
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        mask = inputs["attention_mask"]
        last = mask.shape[1] - 1 - mask.flip(1).argmax(dim=1)
        keep = torch.unique(last)
        if "logits_to_keep" in inspect.signature(model.forward).parameters:
            logits = model(**inputs, logits_to_keep=keep).logits  # (B, len(keep), V)
            pos = torch.searchsorted(keep, last)
        else:
            logits, pos = model(**inputs).logits, last
        return logits[torch.arange(len(videos), device=logits.device), pos][:, self._ids].float()
