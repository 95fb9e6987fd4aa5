"""Trial (validation split only): hubness correction for emoji text→image with the shipped checkpoint.

A few images are near many texts ("hubs") and crowd the top of unrelated queries. CSLS (Conneau et al. 2018)
subtracts each gallery item's mean similarity to its k nearest texts of a reference set; with a fixed reference
set that is a per-image bias, which an index could store. Reference texts: the corpus without the captions of
validation and test concepts (so the queries are never their own reference). Measured over k and the bias weight.

    python bench/hubness_trial.py --out bench/results/hubness_trial.txt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"), help="xmodal align's work folder")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args()

    from report import Report
    from xmodal_server.align.pipeline import build_encoders, protocol_data
    from xmodal_server.encoders.heads import default_checkpoint, image_vectors, load_checkpoint
    from xmodal_server.evaluation.metrics import retrieval_metrics

    rep = Report("hubness correction trial: emoji text→image (google), val split, shipped checkpoint")
    ckpt = load_checkpoint(default_checkpoint("embedded"))
    data = protocol_data(build_encoders("embedded"), args.work, with_real=False)
    concepts = data.emoji.concepts
    idx, feats = data.emoji.styles["google"]
    rows = [j for j, i in enumerate(idx) if concepts[i].split == "val"]
    gallery = image_vectors(ckpt, feats["features"][rows], feats["class_probs"][rows], data.class_vectors)
    queries = data.caption_vectors[[idx[j] for j in rows]]
    held_out = {c.caption for c in concepts if c.split != "train"}
    reference = np.stack([v for x, v in zip(data.corpus, data.corpus_vectors) if x.text not in held_out])
    correct = list(range(len(rows)))
    sims = queries @ gallery.T
    base = retrieval_metrics("t2i", "m", sims, correct)
    rep.log(f"checkpoint {ckpt.id}; {len(rows)} val concepts; {len(reference)} reference texts")
    rep.log(f"no correction          R@1 {base.r1:.3f}  R@10 {base.r10:.3f}  MRR {base.mrr:.3f}")
    to_reference = gallery @ reference.T
    for k in (5, 20, 100):
        hub = np.sort(to_reference, axis=1)[:, -k:].mean(1)  # each image's mean similarity to its k nearest texts
        for beta in (0.25, 0.5, 0.75, 1.0):
            m = retrieval_metrics("t2i", "m", sims - beta * hub[None, :], correct)
            rep.log(f"k {k:<3} weight {beta:<4}      R@1 {m.r1:.3f}  R@10 {m.r10:.3f}  MRR {m.mrr:.3f}")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
