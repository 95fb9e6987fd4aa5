"""Trainable projection heads and the contrastive loss.

The text side is the pivot: frozen MiniLM/BERT sentence vectors, so text→text search keeps the text
encoder's quality and every other modality is trained to land next to its caption/transcript.
Heads export to plain numpy arrays (``<modality>.l<i>.weight/bias``) that the server runs without torch
autograd (``encoders/heads.py``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MLPHead(nn.Module):
    """``depth`` linear layers with GELU between them (depth 1 = a linear head)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 1024, depth: int = 2, dropout: float = 0.1):
        super().__init__()
        dims = [in_dim] + [hidden] * (depth - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if i:
                x = self.dropout(F.gelu(x))
            x = layer(x)
        return x

    def export(self, prefix: str) -> dict[str, np.ndarray]:
        out = {}
        for i, layer in enumerate(self.layers):
            out[f"{prefix}.l{i}.weight"] = layer.weight.detach().cpu().numpy().astype(np.float32)
            out[f"{prefix}.l{i}.bias"] = layer.bias.detach().cpu().numpy().astype(np.float32)
        return out


class LogitScale(nn.Module):
    """CLIP's learnable temperature: logits = exp(s) * cosine, s clamped so exp(s) <= 100."""

    def __init__(self, init_temperature: float = 0.07):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))

    def forward(self) -> torch.Tensor:
        return self.s.clamp(max=math.log(100)).exp()


def info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned unit vectors a[i] <-> b[i].

    ``targets`` (optional) gives a group id per row: rows with the same id (e.g. two art styles of one
    emoji, or two voices of one sentence) are not treated as negatives of each other.
    """
    logits = scale * a @ b.T
    if targets is None:
        labels = torch.arange(a.shape[0], device=a.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    same = targets[:, None] == targets[None, :]
    eye = torch.eye(a.shape[0], dtype=torch.bool, device=a.device)
    masked = logits.masked_fill(same & ~eye, float("-inf"))
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(masked, labels) + F.cross_entropy(masked.T, labels)) / 2
