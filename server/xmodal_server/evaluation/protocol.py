"""docs/EVALUATION.md, computed on cached features: every task, every method, baselines in the same run.

Vectors are made by ``encoders.heads.image_vectors`` / ``speech_vectors``, the same functions the server
calls, so what is measured is what is served. ``split="val"`` is for choices during training;
``split="test"`` is looked at once per decision.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..align.corpus import EMOJI_CAPTION, FAQ_ANSWER, FAQ_QUESTION, Sentence
from ..align.data import EmojiSet, SpeechSet
from ..encoders.heads import Checkpoint, image_vectors, speech_vectors
from .metrics import RetrievalResult, retrieval_metrics

PROTOCOL_VERSION = "v1"
REAL_DISTRACTORS = 500
SPEECH_METHODS = ("direct", "transcribe", "fused")


@dataclass
class ProtocolData:
    """Everything the protocol needs, as arrays (built once by ``align.pipeline.protocol_data``)."""

    emoji: EmojiSet
    caption_vectors: np.ndarray  # per concept, unit rows
    class_vectors: np.ndarray  # ImageNet class names embedded (ConSE)
    corpus: list[Sentence]
    corpus_vectors: np.ndarray  # per corpus sentence
    speech: dict[str, SpeechSet]  # split -> clips
    transcript_vectors: dict[str, np.ndarray]  # split -> text vectors of what the model heard
    real: SpeechSet | None = None
    real_text_vectors: np.ndarray | None = None  # true transcripts of the real clips

    def index_of(self) -> dict[str, int]:
        return {s.text: i for i, s in enumerate(self.corpus)}

    def faq_answers(self) -> tuple[list[int], dict[str, int]]:
        """The FAQ answers' corpus indices (the gallery of the FAQ tasks), and each FAQ entry's position in it."""
        answers = [i for i, x in enumerate(self.corpus) if x.source == FAQ_ANSWER]
        return answers, {self.corpus[i].ref: k for k, i in enumerate(answers)}


def _sims(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) @ g.astype(np.float32).T


def image_task_results(ckpt: Checkpoint, data: ProtocolData, split: str, method: str) -> list[RetrievalResult]:
    out = []
    for style in ("google", "twitter"):
        idx, feats = data.emoji.styles[style]
        rows = [j for j, i in enumerate(idx) if data.emoji.concepts[i].split == split]
        concept_ids = [idx[j] for j in rows]
        g = image_vectors(ckpt, feats["features"][rows], feats["class_probs"][rows], data.class_vectors)
        q = data.caption_vectors[concept_ids]
        correct = list(range(len(rows)))
        out.append(retrieval_metrics(f"emoji text→image ({style})", method, _sims(q, g), correct))
        if style == "google":
            out.append(retrieval_metrics("emoji image→text", method, _sims(g, q), correct))
    return out


def speech_task_results(ckpt: Checkpoint | None, data: ProtocolData, split: str, methods=SPEECH_METHODS,
                        upper_bound: bool = True, label: str = "") -> list[RetrievalResult]:
    s, heard = data.speech[split], data.transcript_vectors[split]
    where = data.index_of()
    sent = [data.corpus[where[t]] for t in s.texts]
    truth = data.corpus_vectors[[where[t] for t in s.texts]]
    vectors: dict[str, np.ndarray | None] = {m: speech_vectors(ckpt, s.features, heard, m) for m in methods}
    if upper_bound:
        vectors["true transcript (upper bound)"] = truth
    split_gallery = sorted({where[t] for t in s.texts})
    spoken_all = list(range(len(data.corpus)))
    out = []
    faq_answers, answer_of = data.faq_answers()
    emoji_rows = [j for j, x in enumerate(sent) if x.source == EMOJI_CAPTION]
    idx, feats = data.emoji.styles["google"]
    img_rows = [j for j, i in enumerate(idx) if data.emoji.concepts[i].split == split]
    img_of = {data.emoji.concepts[idx[j]].unified: k for k, j in enumerate(img_rows)}
    img_gallery = image_vectors(ckpt, feats["features"][img_rows], feats["class_probs"][img_rows], data.class_vectors) if ckpt else None
    faq_rows = [j for j, x in enumerate(sent) if x.source == FAQ_QUESTION]
    for method, v in vectors.items():
        if v is None:
            continue
        method = label + method
        for name, gallery in ((f"speech→text (gallery: {split} sentences)", split_gallery), ("speech→text (gallery: whole corpus)", spoken_all)):
            pos = {g: k for k, g in enumerate(gallery)}
            out.append(retrieval_metrics(name, method, _sims(v, data.corpus_vectors[gallery]), [pos[where[t]] for t in s.texts]))
        if img_gallery is not None and emoji_rows:
            rows = [j for j in emoji_rows if sent[j].ref in img_of]
            out.append(retrieval_metrics("speech→image (emoji captions)", method, _sims(v[rows], img_gallery), [img_of[sent[j].ref] for j in rows]))
        if faq_rows:
            out.append(retrieval_metrics("spoken question→FAQ answer", method, _sims(v[faq_rows], data.corpus_vectors[faq_answers]),
                                         [answer_of[sent[j].ref] for j in faq_rows]))
    return out


def faq_text_results(data: ProtocolData, split: str) -> list[RetrievalResult]:
    answers, answer_of = data.faq_answers()
    questions = [i for i, x in enumerate(data.corpus) if x.source == FAQ_QUESTION and x.split == split]
    return [retrieval_metrics("typed question→FAQ answer", "text encoder", _sims(data.corpus_vectors[questions], data.corpus_vectors[answers]),
                              [answer_of[data.corpus[i].ref] for i in questions])]


def real_speech_results(ckpt: Checkpoint | None, data: ProtocolData, methods=SPEECH_METHODS) -> list[RetrievalResult]:
    if data.real is None or data.real_text_vectors is None:
        return []
    r = data.real
    heard = data.transcript_vectors["real"]
    gallery, _, correct = real_gallery(data)
    out = []
    for m in methods:
        v = speech_vectors(ckpt, r.features, heard, m) if ckpt is not None else heard
        out.append(retrieval_metrics(f"real human speech→text ({len(r.texts)} clips)", m, _sims(v, gallery), correct))
    out.append(retrieval_metrics(f"real human speech→text ({len(r.texts)} clips)", "true transcript (upper bound)",
                                 _sims(data.real_text_vectors, gallery), correct))
    return out


def real_gallery(data: ProtocolData) -> tuple[np.ndarray, list[str], list[int]]:
    """The real recordings' gallery: their distinct true transcripts + the first REAL_DISTRACTORS corpus
    sentences not equal to them, as (vectors, texts, the right row per clip)."""
    r = data.real
    assert r is not None and data.real_text_vectors is not None
    texts = set(r.texts)
    distractors = [i for i, s in enumerate(data.corpus) if s.text.lower() not in texts][:REAL_DISTRACTORS]
    uniq = sorted(texts)
    vectors = np.concatenate([_unique_rows(r.texts, data.real_text_vectors, uniq), data.corpus_vectors[distractors]])
    return vectors, uniq + [data.corpus[i].text for i in distractors], [uniq.index(t) for t in r.texts]


def _unique_rows(texts: list[str], vectors: np.ndarray, uniq: list[str]) -> np.ndarray:
    first = {}
    for t, v in zip(texts, vectors):
        first.setdefault(t, v)
    return np.stack([first[t] for t in uniq])


def speech_methods(ckpt: Checkpoint) -> tuple[str, ...]:
    kind = ckpt.head_type("speech")
    return SPEECH_METHODS if kind == "fused" else ("direct",) if kind == "mlp" else ("transcribe",)


def pretrained_decoder_results(ckpt: Checkpoint, pretrained: ProtocolData, split: str = "test") -> list[RetrievalResult]:
    """The transcript-reading methods with the pretrained speech decoder's transcripts (``pretrained``: the
    protocol data before the checkpoint's decoder adapters), labelled as such: the adapters' baseline."""
    methods = tuple(m for m in ("transcribe", "fused") if m in speech_methods(ckpt))
    label = "pretrained decoder: "
    out = speech_task_results(ckpt, pretrained, split, methods=methods, upper_bound=False, label=label)
    if split == "test":
        out += [replace(r, method=label + r.method) for r in real_speech_results(ckpt, pretrained, methods=methods)
                if r.method in methods]
    return out


def evaluate(ckpt: Checkpoint, data: ProtocolData, split: str = "test", baselines: dict[str, Checkpoint] | None = None) -> list[RetrievalResult]:
    """All protocol tasks on ``split`` for ``ckpt`` (named by its id), plus each baseline checkpoint."""
    results: list[RetrievalResult] = []
    for name, c in {ckpt.id: ckpt, **(baselines or {})}.items():
        results += image_task_results(c, data, split, name)
    results += speech_task_results(ckpt, data, split, methods=speech_methods(ckpt))
    for name, c in (baselines or {}).items():
        if c.head_type("speech") in ("mlp", "fused"):
            results += speech_task_results(c, data, split, methods=("direct",), upper_bound=False, label=f"{name}: ")
    results += faq_text_results(data, split)
    if split == "test":
        results += real_speech_results(ckpt, data, methods=speech_methods(ckpt))
    return results
