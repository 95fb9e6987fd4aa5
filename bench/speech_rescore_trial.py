"""Trial: choose the gate of SearchBySpeech re-ranking (``rerank.py``) on the validation clips.

The fused search's top K hits are scored against the audio by Whisper (mean log-probability per token of
each text as the transcript, every text in ``rerank.spoken_form``); hits within ``gate`` of the model's own
transcript move first. Two tasks pull the gate in opposite directions:
- speech→text over the whole corpus (gallery 4,067 utterances): the right sentence was said verbatim, so a
  wide gate lets it through even when the greedy transcript differs by a word or two;
- spoken FAQ question → written answer: answers were never spoken, so any answer let through is noise
  (ranking answers by the likelihood alone, i.e. an infinite gate, halved R@1 in the first trial).

    python bench/speech_rescore_trial.py --split val --clips 200 --candidates 25 --out bench/results/speech_rescore_trial.txt

Scores are cached (xmodal-align/features/rerank-scores-*.json, shared with ``xmodal eval --rerank``), so a
rerun with other gates costs seconds. Choose on ``val``; ``test`` is for ``xmodal eval``, once.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

GATES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, float("inf"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--clips", type=int, default=200, help="speech→text clips drawn at random (seed 0); FAQ: all (default 200)")
    ap.add_argument("--candidates", type=int, default=25, help="top-K of the fused search to re-rank (default 25)")
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"), help="xmodal align's work folder")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args()

    from report import Report
    from xmodal_server.align.corpus import FAQ_QUESTION
    from xmodal_server.align.pipeline import build_encoders, load_speech_backbone, protocol_data
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint, speech_vectors
    from xmodal_server.evaluation.metrics import retrieval_metrics
    from xmodal_server.evaluation.rerank_eval import ScoreCache, reranked_sims
    from xmodal_server.rerank import spoken_form

    rep = Report(f"SearchBySpeech re-ranking gate trial ({args.split} split)", torch_threads=True)
    enc = build_encoders("embedded")
    ckpt = load_checkpoint(default_checkpoint("embedded"))
    load_speech_backbone(ckpt, enc)  # its decoder adapters: the transcripts and scores the server produces
    data = protocol_data(enc, args.work, with_real=False)
    cache = ScoreCache(enc["speech"], args.work / "features")
    s = data.speech[args.split]
    fused = speech_vectors(ckpt, s.features, data.transcript_vectors[args.split], "fused")
    where = data.index_of()
    corpus_texts = [x.text for x in data.corpus]
    answers, answer_of = data.faq_answers()
    faq = [j for j, t in enumerate(s.texts) if data.corpus[where[t]].source == FAQ_QUESTION]
    sample = np.random.default_rng(0).choice(len(s.texts), min(args.clips, len(s.texts)), replace=False)
    tasks = {  # name -> (clip rows, gallery corpus indices, the right gallery position per clip)
        "speech→text (gallery: whole corpus)": (list(sample), list(range(len(data.corpus))), [where[s.texts[j]] for j in sample]),
        "spoken question→FAQ answer": (faq, answers, [answer_of[data.corpus[where[s.texts[j]]].ref] for j in faq]),
    }
    k = args.candidates
    rep.log(f"checkpoint {ckpt.id}; top {k} of the fused search re-ranked; gate in log-probability per token")
    for name, (rows, gallery, truth) in tasks.items():
        sims = fused[rows] @ data.corpus_vectors[gallery].T
        t0 = time.perf_counter()
        args_ = ([s.paths[j] for j in rows], [s.transcripts[j] for j in rows], [corpus_texts[i] for i in gallery], cache, k)
        reranked_sims(sims, *args_, gate=0.5, desc=name)  # scores every clip once (cached afterwards)
        per_clip = (time.perf_counter() - t0) / len(rows)
        ceiling = np.mean([t in np.argsort(-row)[:k] for row, t in zip(sims, truth)])
        rep.log(f"\n{name}: {len(rows)} {args.split} clips, gallery {len(gallery):,}; "
                f"{per_clip:.2f} s per clip to score (0 when cached)")
        rep.log(f"  fused, no re-ranking           R@1 {retrieval_metrics(name, 'f', sims, truth).r1:.3f}")
        rep.log(f"  right item within the top {k:<3}  {ceiling:.3f}  (ceiling)")
        # How far the best-explained candidate is from the model's own transcript: where a gate would cut.
        margins = []
        for j, row in zip(rows, sims):
            top = np.argsort(-row, kind="stable")[:k]
            lp = cache.get(s.paths[j], [spoken_form(corpus_texts[gallery[g]]) for g in top] + [spoken_form(s.transcripts[j])])
            margins.append(lp[-1] - lp[:-1].max())
        q = np.percentile(margins, [5, 25, 50, 75, 95])
        rep.log("  transcript minus best candidate, per token: 5/25/50/75/95th percentiles " + " / ".join(f"{x:.2f}" for x in q))
        for gate in GATES:
            r = retrieval_metrics(name, "r", reranked_sims(sims, *args_, gate=gate, desc=name), truth)
            rep.log(f"  re-ranked, gate {gate:<4}          R@1 {r.r1:.3f}  MRR {r.mrr:.3f}")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
