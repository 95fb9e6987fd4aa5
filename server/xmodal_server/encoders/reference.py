"""The *reference* profile's image and speech backbones: torchvision ResNet-50 and a transformers
Wav2Vec2 CTC model.

Their pretrained weights live on model hubs, which this project's own machines cannot reach, so the
loading code accepts local files/directories as well as the hub/cache defaults:

* ResNet-50 ``source``: None or "torchvision" -> ``ResNet50_Weights.IMAGENET1K_V2`` through torchvision,
  which reads ``$TORCH_HOME/hub/checkpoints/resnet50-11ad3fa6.pth`` (default ``~/.cache/torch``) and only
  downloads when that file is missing. Offline users copy the file there. Otherwise a path to a
  ``.pth``/``.pt``/``.safetensors`` state dict of ``torchvision.models.resnet50()``.
* Wav2Vec2 ``source``: a hub id (default "facebook/wav2vec2-base-960h", served from the HF cache when
  there) or a local directory written by ``save_pretrained`` (model + processor).
"""
from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from ..ranking.likelihood import per_token
from .base import IMAGE, SPEECH, EncoderInfo, Features, ImageEncoder, SpeechEncoder
from .finetune import TopLayers, check_state, exportable
from .registry import EncoderSpec

log = logging.getLogger(__name__)

DEFAULT_WAV2VEC2 = "facebook/wav2vec2-base-960h"
SAMPLE_RATE = 16_000
_STATE_DICT_SUFFIXES = (".pth", ".pt", ".safetensors")


# ---------------------------------------------------------------------------------------------- image
def _resnet_trunk(model: torch.nn.Module, x: torch.Tensor, cut: int) -> torch.Tensor:
    """torchvision's ResNet forward up to (not including) ``layer4[cut]``."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    x = model.layer3(model.layer2(model.layer1(x)))
    return model.layer4[:cut](x)


def _resnet_top(model: torch.nn.Module, x: torch.Tensor, cut: int) -> torch.Tensor:
    return torch.flatten(model.avgpool(model.layer4[cut:](x)), 1)


class ResNetTop(TopLayers):
    """The last n bottleneck blocks of layer4 (+ average pool), fed with their cached input, flattened."""

    def __init__(self, model: torch.nn.Module, n: int) -> None:
        super().__init__()
        blocks = len(model.layer4)
        if not 1 <= n <= blocks:
            raise ValueError(f"ResNet-50's layer4 has {blocks} blocks; cannot unfreeze the top {n}")
        self.n, self.cut = n, blocks - n
        self.layer_names = [f"layer4.{i}" for i in range(self.cut, blocks)]
        self.model = copy.deepcopy(model).cpu().float()
        for name, p in self.model.named_parameters():
            p.requires_grad = any(name.startswith(layer + ".") for layer in self.layer_names)
        with torch.no_grad():
            self.act_shape = tuple(_resnet_trunk(self.model.eval(), torch.zeros(1, 3, 224, 224), self.cut).shape[1:])
        self.train()  # = eval, see TopLayers

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return _resnet_top(self.model, rows.reshape(-1, *self.act_shape), self.cut)


class ResNet50Encoder(ImageEncoder):
    def __init__(self, model: torch.nn.Module, source: str, device: str, name: str):
        from torchvision.models import ResNet50_Weights

        weights = ResNet50_Weights.IMAGENET1K_V2
        # Keep the classifier apart so one pass yields both the pooled feature and the logits.
        self.fc = model.fc
        model.fc = torch.nn.Identity()
        self.model = model.eval().to(device)
        self.fc = self.fc.eval().to(device)
        self.device = device
        # Fine-tuned top from a checkpoint: (cut, a network whose layer4[cut:] is trained).
        self.finetuned: tuple[int, torch.nn.Module] | None = None
        self.max_unfreeze = len(model.layer4)
        # The preprocessing the V2 weights were evaluated with (resize 232 bilinear+antialias, crop
        # 224, ImageNet mean/std); the classic 256 resize costs V2 accuracy. Offline: no download.
        self.transform = weights.transforms()
        # A strict load into resnet50() guarantees a 1000-way head; we assume ImageNet-1k order.
        self.class_names = list(weights.meta["categories"])
        self.info = EncoderInfo(name, IMAGE, "torchvision ResNet-50, global average pool", 2048, source)

    def prepare_items(self, items: Sequence) -> list[torch.Tensor]:
        return [self.transform(img.convert("RGB")) for img in items]

    def collate(self, prepared: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(prepared))

    def prepare(self, items: Sequence) -> torch.Tensor:
        return self.collate(self.prepare_items(items))

    @torch.inference_mode()
    def forward(self, prepared: torch.Tensor, **kwargs) -> Features:
        x = prepared.to(self.device)
        if self.finetuned is None:
            feats = pooled = self.model(x)
        else:
            # One trunk; the pretrained top feeds the classifier (ConSE), the fine-tuned top the head.
            cut, tuned = self.finetuned
            act = _resnet_trunk(self.model, x, cut)
            pooled, feats = _resnet_top(self.model, act, cut), _resnet_top(tuned, act, cut)
        probs = torch.softmax(self.fc(pooled).float(), dim=-1)
        return Features(features=feats.float().cpu().numpy(), class_probs=probs.cpu().numpy())

    def warmup(self) -> None:
        from PIL import Image

        self.encode([Image.new("RGB", (224, 224))])

    # -- fine-tuning (see finetune.py) ---------------------------------------------------------------
    @torch.inference_mode()
    def trunk(self, prepared: torch.Tensor, n: int) -> np.ndarray:
        if not 1 <= n <= self.max_unfreeze:
            raise ValueError(f"ResNet-50's layer4 has {self.max_unfreeze} blocks; cannot unfreeze the top {n}")
        act = _resnet_trunk(self.model, prepared.to(self.device), self.max_unfreeze - n)
        return act.reshape(act.shape[0], -1).float().cpu().numpy()

    def top_layers(self, n: int) -> ResNetTop:
        return ResNetTop(self.model, n)

    def load_finetuned(self, state: Mapping[str, np.ndarray], where: str) -> None:
        """Serve with fine-tuned layer4 blocks from checkpoint ``where`` (empty: the pretrained network)."""
        if not state:
            self.finetuned = None
            return
        blocks = [int(k.split(".")[1]) for k in state if k.startswith("layer4.") and k.split(".")[1].isdigit()]
        cut = min(max(min(blocks), 0), self.max_unfreeze - 1) if blocks else self.max_unfreeze - 1
        tuned = copy.deepcopy(self.model)
        expected = exportable(tuned.state_dict(), [f"layer4.{i}" for i in range(cut, self.max_unfreeze)])
        check_state(state, expected, f"image ({self.info.name})", where)
        tuned.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in state.items()}, strict=False)
        self.finetuned = (cut, tuned.eval())
        log.info("%s: top %d layer4 blocks fine-tuned, from checkpoint %s", self.info.name, self.max_unfreeze - cut, where)


def _load_state_dict(path: str) -> dict:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    try:
        # weights_only: a checkpoint is data; never run a pickle's code (refuses pickled modules).
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError and friends
        raise ValueError(
            f"{path}: not a loadable state dict ({e.__class__.__name__}: {e}). Save one with "
            "torch.save(model.state_dict(), path); whole pickled modules are refused."
        ) from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def resnet50(spec: EncoderSpec) -> ResNet50Encoder:
    from torchvision.models import ResNet50_Weights
    from torchvision.models import resnet50 as build_resnet50

    t0 = time.monotonic()
    source = spec.source
    if source in (None, "torchvision"):
        weights = ResNet50_Weights.IMAGENET1K_V2
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
        try:
            model = build_resnet50(weights=weights)
        except OSError as e:  # URLError/HTTPError: no cache and no network
            raise OSError(
                f"could not load torchvision ResNet-50 IMAGENET1K_V2 weights ({e}). Offline, download "
                f"{weights.url} elsewhere and put it at {cached} (set TORCH_HOME to move that cache), "
                "or pass a state-dict file as the image model source (--image-model FILE.pth)."
            ) from e
        where = f"torchvision:IMAGENET1K_V2 ({cached})"
    else:
        path = os.path.expanduser(source)
        if not path.endswith(_STATE_DICT_SUFFIXES):
            raise ValueError(
                f"resnet50 source {source!r} is not supported: use 'torchvision' (the IMAGENET1K_V2 "
                "weights from the torch hub cache) or a path to a .pth/.pt/.safetensors state dict "
                "of torchvision.models.resnet50(). Hub ids (e.g. timm/...) are not supported."
            )
        if not os.path.isfile(path):
            raise ValueError(f"resnet50 weights file {path!r} does not exist")
        model = build_resnet50()
        try:
            model.load_state_dict(_load_state_dict(path), strict=True)
        except RuntimeError as e:  # missing/unexpected keys or shape mismatch
            raise ValueError(f"{path}: not a torchvision resnet50 state dict: {e}") from e
        where = path
    encoder = ResNet50Encoder(model, where, spec.device, spec.name)
    log.info("loaded resnet50 from %s on %s in %.1fs", where, spec.device, time.monotonic() - t0)
    return encoder


# --------------------------------------------------------------------------------------------- speech
@dataclass
class SpeechBatch:
    input_values: torch.Tensor  # (N, T) float32, normalised, zero-padded
    attention_mask: torch.Tensor | None  # (N, T) when the checkpoint was trained with one
    lengths: list[int]  # real samples per clip


class Wav2Vec2CTCEncoder(SpeechEncoder):
    can_transcribe = True
    # NOT measured (no pretrained Wav2Vec2 weights are reachable here): the embedded encoder's value. CTC targets
    # are characters, not Whisper's word pieces, so the right gate may differ: choose it on validation clips as
    # docs/decisions/0001-rerank-gate.md did before relying on re-ranking with this encoder.
    rerank_gate = 2.0

    def __init__(self, model, processor, source: str, device: str, name: str):
        self.model = model.eval().to(device)
        self.processor = processor
        self.device = device
        self.use_mask = bool(processor.feature_extractor.return_attention_mask)
        # Shortest input giving one output frame; shorter clips are zero-padded up to it.
        n = 1
        for k, s in zip(reversed(model.config.conv_kernel), reversed(model.config.conv_stride)):
            n = (n - 1) * s + k
        self.min_samples = n
        cfg = model.config
        arch = f"Wav2Vec2ForCTC {cfg.num_hidden_layers}x{cfg.hidden_size}, mean pooling, greedy CTC"
        self.info = EncoderInfo(name, SPEECH, arch, cfg.hidden_size, source)

    def prepare_items(self, items: Sequence[np.ndarray]) -> list[tuple[torch.Tensor, int]]:
        """Per clip: its normalised input values (T,) and T. The extractor normalises each clip over its own
        samples only (the mask), so a clip prepared alone equals its row of a padded batch."""
        out = []
        for x in items:
            clip = np.asarray(x, dtype=np.float32).reshape(-1)
            clip = np.pad(clip, (0, max(0, self.min_samples - len(clip))))
            values = self.processor.feature_extractor(
                [clip], sampling_rate=SAMPLE_RATE, padding=True, return_attention_mask=True, return_tensors="pt",
            )["input_values"][0]
            out.append((values, len(clip)))
        return out

    def collate(self, prepared: Sequence[tuple[torch.Tensor, int]]) -> SpeechBatch:
        """Zero-pad to the longest clip with its mask, as the extractor does with ``padding=True`` (the mask
        is handed to the model only if the checkpoint expects one)."""
        lengths = [n for _, n in prepared]
        width = max(lengths, default=0)
        pad = self.processor.feature_extractor.padding_value
        values = torch.full((len(prepared), width), pad, dtype=torch.float32)
        mask = torch.zeros((len(prepared), width), dtype=torch.int32)
        for i, (v, n) in enumerate(prepared):
            values[i, :n] = v
            mask[i, :n] = 1
        return SpeechBatch(values, mask if self.use_mask else None, lengths)

    def prepare(self, items: Sequence[np.ndarray]) -> SpeechBatch:
        return self.collate(self.prepare_items(items))

    @torch.inference_mode()
    def forward(self, prepared: SpeechBatch, transcribe: bool = False, keep_state: bool = False, **kwargs) -> Features:
        n = len(prepared.lengths)
        feats: list[np.ndarray | None] = [None] * n
        pred_ids: list[list[int]] = [[] for _ in range(n)]
        states: list[torch.Tensor | None] = [None] * n  # keep_state: each clip's CTC log-probabilities (T, V)
        if self.use_mask:
            groups = [list(range(n))]
        else:
            # Checkpoints without a mask (e.g. base-960h: group norm over time, unmasked attention)
            # see padding as signal, so clips only share a forward pass with clips of equal length.
            by_len: dict[int, list[int]] = {}
            for i, length in enumerate(prepared.lengths):
                by_len.setdefault(length, []).append(i)
            groups = list(by_len.values())
        for idx in groups:
            t = max(prepared.lengths[i] for i in idx)
            x = prepared.input_values[idx, :t].to(self.device)
            mask = None
            if prepared.attention_mask is not None:
                mask = prepared.attention_mask[idx, :t].to(self.device)
            hidden = self.model.wav2vec2(x, attention_mask=mask).last_hidden_state
            frames = self.model._get_feat_extract_output_lengths(
                torch.tensor([prepared.lengths[i] for i in idx])
            ).tolist()
            logits = self.model.lm_head(hidden) if transcribe or keep_state else None
            ids = logits.argmax(-1).cpu() if transcribe else None
            for j, i in enumerate(idx):
                feats[i] = hidden[j, : frames[j]].float().mean(0).cpu().numpy()
                if ids is not None:  # decode real frames only: padded ones would add junk
                    pred_ids[i] = ids[j, : frames[j]].tolist()
                if keep_state:
                    states[i] = logits[j, : frames[j]].float().log_softmax(-1)
        transcripts = None
        if transcribe:
            # Greedy CTC: the tokenizer collapses repeats and drops <pad> (the blank).
            transcripts = [t.lower().strip() for t in self.processor.batch_decode(pred_ids)]
        return Features(features=np.stack(feats).astype(np.float32), transcripts=transcripts,
                        states=states if keep_state else None)

    @torch.inference_mode()
    def transcript_logprobs(self, wave: np.ndarray, texts: Sequence[str], state: torch.Tensor | None = None) -> np.ndarray:
        """CTC log-likelihood of each text given the clip (every alignment summed; the blank is ``<pad>``),
        per target token + 1 (the end of text Whisper counts, so both encoders' gates read alike)."""
        import torch.nn.functional as F

        logp = state if state is not None else self.forward(self.prepare([wave]), keep_state=True).states[0]  # (T, V)
        frames = logp.shape[0]
        tok = self.processor.tokenizer
        vocab = tok.get_vocab()
        upper = not any(k.isalpha() and k.islower() for k in vocab)  # base-960h spells in capitals
        ids = [tok(t.upper() if upper else t).input_ids or [tok.unk_token_id] for t in texts]
        targets = torch.zeros((len(ids), max(map(len, ids))), dtype=torch.long)
        for i, row in enumerate(ids):
            targets[i, : len(row)] = torch.tensor(row)
        dev = logp.device
        nll = F.ctc_loss(logp[:, None, :].expand(-1, len(ids), -1), targets.to(dev), torch.full((len(ids),), frames, device=dev),
                         torch.tensor([len(r) for r in ids], device=dev), blank=tok.pad_token_id, reduction="none")
        return per_token(-nll.cpu().numpy(), [len(r) + 1 for r in ids])

    def warmup(self) -> None:
        self.encode([np.zeros(SAMPLE_RATE // 2, dtype=np.float32)], transcribe=True)


def wav2vec2_ctc(spec: EncoderSpec) -> Wav2Vec2CTCEncoder:
    from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

    t0 = time.monotonic()
    source = spec.source or DEFAULT_WAV2VEC2
    path = os.path.expanduser(source)
    local = os.path.isdir(path)
    if local:
        source = path
    elif os.path.exists(path) or path.startswith(("/", ".", "~")) or path.count("/") > 1:
        raise ValueError(
            f"wav2vec2 source {source!r} is not a directory; pass a folder written by "
            "save_pretrained (model + processor files) or a hub id such as "
            f"{DEFAULT_WAV2VEC2!r}"
        )
    try:
        processor = Wav2Vec2Processor.from_pretrained(source)
        model = Wav2Vec2ForCTC.from_pretrained(source)
    except OSError as e:
        hint = (
            "The directory must hold a Wav2Vec2ForCTC checkpoint and its processor files."
            if local
            else "If the model hub is unreachable, download the model where it is (e.g. "
            f"`huggingface-cli download {source} --local-dir DIR`) and pass the local directory "
            "with --speech-model DIR."
        )
        raise OSError(f"could not load Wav2Vec2 CTC model + processor from {source!r}: {e}\n{hint}") from e
    encoder = Wav2Vec2CTCEncoder(model, processor, source, spec.device, spec.name)
    log.info("loaded wav2vec2 from %s on %s in %.1fs", source, spec.device, time.monotonic() - t0)
    return encoder
