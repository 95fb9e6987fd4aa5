"""Random weights for the reference profile, saved in the real formats (``torch.save`` state dicts and
``save_pretrained`` folders) so that tests load them through the real loading paths. No hub is reachable
here; these are the only reference weights tests ever see, and no quality is measured with them.
``full_size=True`` keeps the real architectures' sizes (bert-base, wav2vec2-base): bench/ times those."""
from __future__ import annotations

import json
from pathlib import Path

import torch

LETTERS = list("ETAONIHSRDLUMWCFGYPBVK'XJQZ")
VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: i + 5 for i, c in enumerate(LETTERS)}}
BERT_WORDS = "a photo of dog cat the on grass running".split()


def save_resnet50(path: Path) -> Path:
    from torchvision.models import resnet50

    torch.manual_seed(0)
    torch.save(resnet50().state_dict(), path)
    return path


def save_wav2vec2(directory: Path, with_mask: bool = False, full_size: bool = False) -> Path:
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor,
                              Wav2Vec2ForCTC, Wav2Vec2Processor)

    torch.manual_seed(0)
    tiny = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
    )
    config = Wav2Vec2Config(
        vocab_size=len(VOCAB), **({} if full_size else tiny),
        # base-960h style (group norm, no mask) or large-lv60 style (layer norm, mask).
        feat_extract_norm="layer" if with_mask else "group", do_stable_layer_norm=with_mask,
    )
    Wav2Vec2ForCTC(config).save_pretrained(directory)
    vocab = directory / "vocab.json"
    vocab.write_text(json.dumps(VOCAB))
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=with_mask)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def save_bert(directory: Path, full_size: bool = False) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS]))
    BertTokenizerFast(str(directory / "vocab.txt")).save_pretrained(directory)
    torch.manual_seed(0)
    tiny = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)
    config = BertConfig(vocab_size=5 + len(BERT_WORDS), **({} if full_size else tiny))
    BertModel(config).save_pretrained(directory)
    return directory


def full_size_encoders(folder: Path, device: str = "cpu") -> dict:
    """Per modality, bert-base, ResNet-50 and wav2vec2-base with random weights saved under ``folder`` and
    loaded through the registry, as the server would load real ones (bench/ times these)."""
    from xmodal_server.encoders.registry import EncoderSpec, build

    for sub in ("bert", "w2v"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "text": build(EncoderSpec("bert", str(save_bert(folder / "bert", full_size=True)), device)),
        "image": build(EncoderSpec("resnet50", str(save_resnet50(folder / "resnet50.pth")), device)),
        "speech": build(EncoderSpec("wav2vec2-ctc", str(save_wav2vec2(folder / "w2v", full_size=True)), device)),
    }
