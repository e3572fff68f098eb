"""A tiny random vision-language model in a local directory (the q-align teacher's tests)."""

import re

import torch

import w2s.teachers.qalign as qa

SIZE = 28  # the tiny CLIP tower: 28 px, 14 px patches -> 4 tokens per frame (CLS dropped)


def build_tiny_vlm(root: str) -> dict:
    """A tiny random LLaVA (CLIP tower, LLaMA text model, word-level tokenizer) saved in `root`:
    the q-align teacher's generic path, offline."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    specials = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
    words = sorted(set(re.findall(r"\w+|[^\w\s]", qa.PROMPT.format(images="") + " " + " ".join(qa.LEVELS))))
    tok = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(specials + words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", additional_special_tokens=["<image>"])
    ip = CLIPImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    proc = LlavaProcessor(image_processor=ip, tokenizer=fast, patch_size=14,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=SIZE, patch_size=14)
    text = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, pad_token_id=fast.pad_token_id,
                       initializer_range=0.1)  # the 5 rating logits differ, the score stays mid-range
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=fast.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(root)
    proc.save_pretrained(root)
    return {"dir": str(root), "model": model, "processor": proc, "tokenizer": fast}
