"""Trial: sound-alike candidates for SearchBySpeech re-ranking (``lexical.py``), on the validation clips.

Re-ranking (``rerank.py``) can only promote texts it scores, and it scores the fused search's top K. When
Whisper mishears a name, the transcript's embedding lands on neighbours in meaning and the right text is often
outside the top 25. This trial adds the best N texts by sound-alike matching of the transcript (TF-IDF over
letter and sound-skeleton n-grams) to the scored candidates, and reports, with the encoder's gate:
- the share of clips whose right text is among the candidates (the ceiling of re-ranking);
- R@1 of the sound-alike matching alone, of the fused search, and of re-ranking with N = 0, 10, 25;
- the spoken FAQ question → written answer task, which sound-alike candidates must leave alone (answers were
  never spoken, so they fail the gate and the search's order stays);
- without re-ranking (no Whisper scoring): the fused cosine + w x the sound-alike cosine (``--hybrid``), over
  every gallery text and as the server ranks it (the search's best 64 joined with the 64 best-sounding texts),
  on all the split's clips. The server's default weight is the one with the best mean MRR of the two tasks.

    python bench/lexical_candidates_trial.py --split val --clips 200 --out bench/results/lexical_candidates_trial.txt

Scores are cached with the gate trial's (xmodal-align/features/rerank-scores-*.json): a rerun costs seconds.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--clips", type=int, default=200, help="speech→text clips drawn at random (seed 0); FAQ: all (default 200)")
    ap.add_argument("--candidates", type=int, default=25, help="top-K of the fused search to re-rank (default 25)")
    ap.add_argument("--extra", default="0,10,25", help="sound-alike candidates added, comma-separated (default 0,10,25)")
    ap.add_argument("--hybrid", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,1",
                    help="hybrid weights w to measure (default 0,0.1,...,0.8,1)")
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"), help="xmodal align's work folder")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args()

    from report import Report
    from xmodal_server.align.corpus import FAQ_QUESTION
    from xmodal_server.align.pipeline import build_encoders, load_speech_backbone, protocol_data
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint, speech_vectors
    from xmodal_server.evaluation.metrics import retrieval_metrics
    from xmodal_server.evaluation.rerank_eval import ScoreCache, reranked_sims, sound_alike_sims
    from xmodal_server.lexical import LexicalIndex

    rep = Report(f"SearchBySpeech sound-alike re-ranking candidates trial ({args.split} split)", torch_threads=True)
    enc = build_encoders("embedded")
    ckpt = load_checkpoint(default_checkpoint("embedded"))
    load_speech_backbone(ckpt, enc)
    data = protocol_data(enc, args.work, with_real=False)
    cache = ScoreCache(enc["speech"], args.work / "features")
    gate = float(enc["speech"].rerank_gate)
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
    k, extras = args.candidates, [int(x) for x in args.extra.split(",")]
    rep.log(f"checkpoint {ckpt.id}; top {k} of the fused search re-ranked, gate {gate}; sound-alike extras {extras}")
    for name, (rows, gallery, truth) in tasks.items():
        texts = [corpus_texts[i] for i in gallery]
        t0 = time.perf_counter()
        lexical = LexicalIndex((str(i), t) for i, t in enumerate(texts))
        lex = np.stack([lexical.scores(s.transcripts[j]) for j in rows])
        per_query = (time.perf_counter() - t0) / len(rows)
        sims = fused[rows] @ data.corpus_vectors[gallery].T
        rep.log(f"\n{name}: {len(rows)} {args.split} clips, gallery {len(gallery):,} "
                f"(index + sound-alike scores: {per_query * 1000:.1f} ms a clip)")
        rep.log(f"  fused search                          R@1 {retrieval_metrics(name, 'f', sims, truth).r1:.3f}")
        rep.log(f"  sound-alike matching alone            R@1 {retrieval_metrics(name, 'l', lex, truth).r1:.3f}")
        for n in extras:
            held = []
            for row, t, j in zip(sims, truth, rows):
                top = np.argsort(-row, kind="stable")[:k]
                extra = {int(i) for i, _ in lexical.search(s.transcripts[j], n, {str(g) for g in top})}
                held.append(t in set(top.tolist()) | extra)
            t0 = time.perf_counter()
            r = retrieval_metrics(name, "r", reranked_sims(sims, [s.paths[j] for j in rows], [s.transcripts[j] for j in rows],
                                                           texts, cache, k, gate, f"{name} +{n}", sound_alike=n), truth)
            rep.log(f"  re-rank top {k} + {n:>2} sound-alike: ceiling {np.mean(held):.3f}  R@1 {r.r1:.3f}  MRR {r.mrr:.3f}"
                    f"  ({(time.perf_counter() - t0) / len(rows):.2f} s a clip, 0 when cached)")
    rep.log("\nranking without re-ranking: fused cosine + w x sound-alike cosine, every clip of the split; "
            "R@1 / MRR over the whole gallery, then as the server ranks (pool of 64 + 64)")
    mean_mrr: dict[float, list[float]] = {}
    full = {"speech→text (gallery: whole corpus)": (range(len(s.texts)), list(range(len(data.corpus))), [where[t] for t in s.texts]),
            "spoken question→FAQ answer": tasks["spoken question→FAQ answer"]}
    for name, (rows, gallery, truth) in full.items():
        lexical = LexicalIndex((str(i), corpus_texts[g]) for i, g in enumerate(gallery))
        lex = np.stack([lexical.scores(s.transcripts[j]) for j in rows])
        sims = fused[list(rows)] @ data.corpus_vectors[gallery].T
        for w in (float(x) for x in args.hybrid.split(",")):
            r = retrieval_metrics(name, "h", sims + w * lex, truth)
            p = retrieval_metrics(name, "p", sound_alike_sims(sims, [s.transcripts[j] for j in rows], [corpus_texts[g] for g in gallery], w), truth)
            mean_mrr.setdefault(w, []).append(p.mrr)
            rep.log(f"  {name} ({len(truth)} clips), w {w:<4}  R@1 {r.r1:.3f}  MRR {r.mrr:.3f}   server: R@1 {p.r1:.3f}  MRR {p.mrr:.3f}")
    best = max(mean_mrr, key=lambda w: np.mean(mean_mrr[w]))
    rep.log(f"best mean MRR of the two tasks (as the server ranks): w {best:g} ({np.mean(mean_mrr[best]):.4f})")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
