"""Fine-tuning the top layers of a backbone (``xmodal align --unfreeze-top N``): the narrow part shared by
the training side (align/) and the serving side (the encoders' ``load_finetuned``).

A backbone that supports it splits at the input of its top N layers:
- ``trunk(prepared, n)``: the frozen part, run once per item; its output rows are cached on disk;
- ``top_layers(n)``: the top N layers as a trainable ``TopLayers`` module, fed with those rows, returning
  the same features ``forward`` returns;
- ``load_finetuned(state, where)``: at serve time, the trained layers over the pretrained backbone.

The fine-tuned layers feed only the features the trained head reads. The backbone's own pretrained
outputs (ImageNet probabilities for ConSE) keep coming from the pretrained layers, which were trained
for exactly those activations; so the zero-shot paths and their cached values stay valid.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

PREFIX = "backbone"  # checkpoint keys: backbone.<modality>.<parameter name in the backbone's state dict>


class TopLayers(nn.Module):
    """The trainable top of a backbone. ``forward(rows)`` maps cached trunk rows (N, D_trunk) to
    features (N, feature_dim); ``export`` gives the trained layers' state under the backbone's own names.

    Always in eval mode: BatchNorm keeps its running (ImageNet) statistics, frozen, because (1) the server
    normalises with exactly those statistics (EfficientNet folds them into its convolutions), so training
    must compute the function that is served, (2) a batch of one narrow domain (emoji on white) would drag the means away
    from what the frozen lower layers were normalised for, and (3) these blocks have no dropout to switch.
    Affine BatchNorm parameters (scale, shift) still train."""

    n: int  # how many top layers (as counted by --unfreeze-top)
    layer_names: list[str]  # module names in the backbone, e.g. "_blocks.15", "_conv_head"
    model: nn.Module  # a copy of the whole backbone; only ``layer_names`` train

    def train(self, mode: bool = True) -> "TopLayers":
        return super().train(False)

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def export(self) -> dict[str, np.ndarray]:
        return exportable(self.model.state_dict(), self.layer_names)

    def load(self, state: Mapping[str, np.ndarray], where: str) -> None:
        """Trained layers from checkpoint ``where`` (``xmodal eval`` of a fine-tuned checkpoint)."""
        check_state(state, self.export(), "backbone", where)
        device = next(self.model.parameters()).device
        self.model.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)).to(device) for k, v in state.items()},
                                   strict=False)

    def features(self, rows: np.ndarray, chunk: int = 256) -> np.ndarray:
        """``forward`` on numpy rows, in chunks (trunk rows are wide), without autograd."""
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            return np.concatenate([self(torch.from_numpy(rows[i : i + chunk]).to(device)).float().cpu().numpy()
                                   for i in range(0, len(rows), chunk)])


@runtime_checkable
class LoadsFinetuned(Protocol):
    """A backbone that takes trained weights from a checkpoint over its pretrained ones (an empty state:
    back to the pretrained backbone)."""

    def load_finetuned(self, state: Mapping[str, np.ndarray], where: str) -> None: ...


@runtime_checkable
class FineTunable(LoadsFinetuned, Protocol):
    max_unfreeze: int  # the largest N

    def trunk(self, prepared: Any, n: int) -> np.ndarray: ...

    def top_layers(self, n: int) -> TopLayers: ...


def load_backbone_weights(encoder: Any, state: Mapping[str, np.ndarray], modality: str, where: str) -> None:
    """A checkpoint's trained backbone weights for ``modality`` into ``encoder`` (an empty state: back to the
    pretrained backbone), for the server and ``xmodal eval`` alike. ValueError where the checkpoint has
    weights for a backbone that cannot take them."""
    if isinstance(encoder, LoadsFinetuned):
        encoder.load_finetuned(state, where)
    elif state:
        raise ValueError(f"checkpoint {where} fine-tunes the {modality} backbone, but {encoder.info.name} "
                         "cannot load fine-tuned layers")


# Low-rank adapters (align/asr_adapt.py) are stored as two factors per adapted linear layer:
# <linear's name>.lora_a (rank x in) and <linear's name>.lora_b (out x rank, already multiplied by the
# adapter's scale), so that serving folds them in as W += B A with no other setting to carry.
LOW_RANK_A, LOW_RANK_B = "lora_a", "lora_b"


def merge_low_rank(model: nn.Module, state: Mapping[str, np.ndarray], where: str) -> dict[str, torch.Tensor]:
    """Add each adapter's B A to its linear layer's weight in ``model`` (names relative to ``model``), in place.
    Checks every adapter before changing anything; returns the merged layers' original weights (copies) so
    that the caller can undo. ValueError, naming the checkpoint, for adapters that do not fit."""
    names = sorted({k.rsplit(".", 1)[0] for k in state})
    weights, deltas = {}, {}
    for name in names:
        a, b = state.get(f"{name}.{LOW_RANK_A}"), state.get(f"{name}.{LOW_RANK_B}")
        stray = sorted(k for k in state if k.startswith(name + ".") and k.rsplit(".", 1)[1] not in (LOW_RANK_A, LOW_RANK_B))
        if a is None or b is None or stray:
            raise ValueError(f"checkpoint {where}: adapter {name} needs exactly {LOW_RANK_A} and {LOW_RANK_B}")
        try:
            w = model.get_submodule(name).weight
        except AttributeError:
            raise ValueError(f"checkpoint {where}: adapter {name}: this backbone has no such layer") from None
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1] or (b.shape[0], a.shape[1]) != tuple(w.shape):
            raise ValueError(f"checkpoint {where}: adapter {name}: A {tuple(a.shape)} and B {tuple(b.shape)} do not fit "
                             f"the weight {tuple(w.shape)}; it was trained for another model")
        weights[name] = w
        deltas[name] = torch.from_numpy(np.asarray(b, np.float32) @ np.asarray(a, np.float32))
    originals = {name: w.detach().clone() for name, w in weights.items()}
    with torch.no_grad():
        for name, w in weights.items():
            w.add_(deltas[name].to(w.device, w.dtype))
    return originals


def exportable(state: Mapping[str, torch.Tensor], layers: list[str]) -> dict[str, np.ndarray]:
    """The float tensors of ``layers`` from a state dict (BatchNorm's integer step counter is not a weight)."""
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in state.items()
            if any(k.startswith(layer + ".") for layer in layers) and v.is_floating_point()}


def check_state(state: Mapping[str, np.ndarray], expected: Mapping[str, torch.Tensor], what: str, where: str) -> None:
    """Names and shapes of fine-tuned weights must be exactly those of ``expected``; the error names the
    checkpoint and the first few differences."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in sorted(set(state) & set(expected)) if tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = ([f"missing {', '.join(missing[:5])}"] if missing else []) + \
               ([f"unexpected {', '.join(unexpected[:5])}"] if unexpected else []) + \
               ([f"shape mismatch {'; '.join(shapes[:5])}"] if shapes else [])
    if problems:
        raise ValueError(f"checkpoint {where}: its fine-tuned {what} weights do not fit this backbone "
                         f"({'; '.join(problems)}); it was trained for another model")
