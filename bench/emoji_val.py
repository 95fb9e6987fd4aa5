"""The emoji text→image validation setup shared by the image-head trials (text_side_trial.py, clipart_trial.py):
the embedded encoders, the protocol data with the shipped training styles, the training task of ``xmodal align``,
and the validation queries (captions) and gallery (Google-style images: features and ConSE vectors); and the
report line of a variant over seeds."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class EmojiVal:
    encoders: dict
    data: object  # align.pipeline.ProtocolData
    task: object  # align.train.PairTask: the emoji training rows and their caption targets
    ids: list[int]  # concept index of each validation gallery image
    x: np.ndarray  # their frozen image features
    conse: np.ndarray  # their ConSE vectors (the classifier's top-10 class names, embedded)
    captions: np.ndarray  # the validation queries: each concept's caption vector
    correct: list[int]  # query i's image is gallery item i


def emoji_val(work: Path) -> EmojiVal:
    from xmodal_server.align.pipeline import build_encoders, image_task, protocol_data
    from xmodal_server.encoders.heads import conse

    enc = build_encoders("embedded")
    data = protocol_data(enc, work, with_real=False, train_styles=("apple", "facebook"))
    idx, feats = data.emoji.styles["google"]
    rows = [j for j, i in enumerate(idx) if data.emoji.concepts[i].split == "val"]
    ids = [idx[j] for j in rows]
    return EmojiVal(enc, data, image_task(data, enc, work), ids, feats["features"][rows],
                    conse(feats["class_probs"][rows], data.class_vectors, 10), data.caption_vectors[ids],
                    list(range(len(rows))))


def seeds_row(name: str, results: list, width: int) -> str:
    """A report line of one variant: R@1 (mean ± sd), R@10, MRR (mean ± sd) over its seeds' ``RetrievalResult``s."""
    r1, r10, mrr = (np.array([getattr(r, m) for r in results]) for m in ("r1", "r10", "mrr"))
    return f"{name:{width}s} | {r1.mean():.3f} ± {r1.std():.3f} | {r10.mean():.3f} | {mrr.mean():.3f} ± {mrr.std():.3f}"
