"""Student presets: `tiny` (built offline, random init: tests and the demo) and `paper`
(LLaVA-OneVision-Chat 7B from a local path or hub id, SigLIP-so400m 384 px, hidden 3584)."""

from __future__ import annotations

import re

import torch

from w2s.conversation import ANSWER, LEVELS, QUESTION, SYSTEM
from w2s.student.model import W2SStudent, W2SStudentConfig, check_levels
from w2s.student.tokens import level_token_ids

SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>", "<image>"]


def build_tiny_tokenizer():
    """A word-level tokenizer over the prompt's vocabulary, made offline."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    text = " ".join([SYSTEM, QUESTION, ANSWER, " ".join(LEVELS), "system user assistant"])
    words = sorted(set(re.findall(r"\w+|[^\w\s]", text.replace("<image>", " "))))
    vocab = {t: i for i, t in enumerate(SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   additional_special_tokens=SPECIALS[2:])
    return fast


def tiny_config(tokenizer, image_size: int = 56, patch_size: int = 14, vision_hidden: int = 32,
                vision_layers: int = 2, text_hidden: int = 64, text_layers: int = 2,
                init_range: float = 0.1) -> W2SStudentConfig:
    """`init_range`: std of the random text weights. 0.1, not Qwen2's 0.02: at 0.02 the tiny
    student's answer logits start nearly input-independent and it needs about twice the steps
    to start telling pairs apart (tests/ray_jobs/test_train.py's learning run)."""
    from transformers import Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(hidden_size=vision_hidden, intermediate_size=2 * vision_hidden,
                                num_hidden_layers=vision_layers, num_attention_heads=2,
                                image_size=image_size, patch_size=patch_size)
    text = Qwen2Config(vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=2 * text_hidden,
                       num_hidden_layers=text_layers, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=2048, tie_word_embeddings=False,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=init_range)
    return W2SStudentConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                            vision_feature_layer=-1, vision_feature_select_strategy="full",
                            level_token_ids=level_token_ids(tokenizer), tie_word_embeddings=False)


def create_student(preset: str = "tiny", path: str | None = None, seed: int = 0, dtype=None,
                   image_size: int = 56, patch_size: int = 14):
    """(model, tokenizer). `paper` loads LLaVA-OneVision from `path` (local dir or hub id;
    nothing is downloaded unless the id is not local and the hub is reachable).
    `image_size` / `patch_size` shape the tiny preset only."""
    if preset == "tiny":
        torch.manual_seed(seed)
        tok = build_tiny_tokenizer()
        model = W2SStudent(tiny_config(tok, image_size, patch_size))
    elif preset == "paper":
        from transformers import AutoTokenizer

        if not path:
            raise ValueError("the paper preset needs student.path (LLaVA-OneVision-Chat 7B weights)")
        tok = AutoTokenizer.from_pretrained(path)
        model = W2SStudent.from_pretrained(path, motion_dim=256, level_token_ids=level_token_ids(tok),
                                           dtype=dtype or torch.bfloat16)
    else:
        raise ValueError(f"unknown student preset {preset!r} (tiny, paper)")
    check_levels(model.config)
    return model, tok


def load_exported(path: str, dtype=None):
    """(model, tokenizer) of an exported student (a train_student export: local dir or URI)."""
    import tempfile

    from transformers import AutoTokenizer

    from w2s import uri

    with tempfile.TemporaryDirectory() as tmp:
        local = uri.local_copy(path, tmp)
        model = W2SStudent.from_pretrained(local, dtype=dtype or torch.float32)
        tok = AutoTokenizer.from_pretrained(local)
    check_levels(model.config)
    return model, tok


def image_processor(model):
    """SigLIP preprocessing (rescale + normalise); the PIL backend when torchvision is absent."""
    import importlib.util

    s = model.config.vision_config.image_size
    if importlib.util.find_spec("torchvision") is not None:
        from transformers import SiglipImageProcessor as P
    else:
        from transformers import SiglipImageProcessorPil as P
    return P(size={"height": s, "width": s})
