"""Trial (not served yet): re-rank the fused speech search's top candidates by Whisper's own likelihood of
each candidate text given the audio (``WhisperTinyEncoder.score_texts``), on the protocol's speech clips.

Why: speech→text over the whole corpus is bounded by the greedy transcript (one wrong word moves its
embedding to a neighbouring sentence), while the right sentence is usually among the top 25 of the fused
search. Scoring those 25 texts against the audio asks the ASR model which one it heard.

Measured on val (80 clips, K = 25): speech→text 0.700 → 0.800 (ceiling 0.825); spoken FAQ question → answer
0.550 → 0.275 at w = 0.05: answers were never spoken, so this is for galleries of utterances only.

    python bench/speech_rescore_trial.py --split val --clips 120 --candidates 25

Prints R@1 of the shipped checkpoint's fused search, of the likelihood alone over the fused top-K, and of
fused cosine + w x mean log-probability per token, for several w; and how often the right item is in the
top-K at all (the ceiling); for two tasks: speech→text (gallery: every corpus sentence) and the spoken FAQ
question → its written answer (gallery: the answers, which were never spoken, so the likelihood can only
add noise there: it measures what re-ranking costs a gallery of answers). Choose on ``val``; ``test`` is
for once.
Needs the cached features of ``xmodal align`` (its work folder, default ./xmodal-align).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

WEIGHTS = (0.05, 0.1, 0.25, 0.5, 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--clips", type=int, default=120, help="clips drawn at random (seed 0) from the split (default 120)")
    ap.add_argument("--candidates", type=int, default=25, help="top-K of the fused search to re-rank (default 25)")
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"), help="xmodal align's work folder")
    args = ap.parse_args()

    import torch

    from xmodal_server.align.corpus import FAQ_ANSWER, FAQ_QUESTION
    from xmodal_server.align.pipeline import build_encoders, protocol_data
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint, speech_vectors
    from xmodal_server.media import MediaLimits, decode_audio

    enc = build_encoders("embedded")
    speech = enc["speech"]
    data = protocol_data(enc, args.work, with_real=False)
    ckpt = load_checkpoint(default_checkpoint("embedded"))
    s = data.speech[args.split]
    fused = speech_vectors(ckpt, s.features, data.transcript_vectors[args.split], "fused")
    where = data.index_of()
    answers = [i for i, x in enumerate(data.corpus) if x.source == FAQ_ANSWER]
    answer_of = {data.corpus[i].ref: i for i in answers}
    spoken = [data.corpus[where[t]] for t in s.texts]
    tasks = {  # name -> (clip rows, gallery corpus indices, the right corpus index per clip)
        "speech→text (gallery: whole corpus)": (
            np.random.default_rng(0).choice(len(s.paths), min(args.clips, len(s.paths)), replace=False),
            np.arange(len(data.corpus)), [where[t] for t in s.texts]),
        "spoken question→FAQ answer": (
            np.array([j for j, x in enumerate(spoken) if x.source == FAQ_QUESTION][: args.clips]),
            np.array(answers), [answer_of.get(x.ref, -1) for x in spoken]),
    }
    for name, (rows, gallery, truth) in tasks.items():
        sims = fused[rows] @ data.corpus_vectors[gallery].T
        found = []  # (fused scores of top-K, their log-probs, their token counts, index of the truth in top-K or -1)
        t0 = time.perf_counter()
        for sim, r in zip(tqdm(sims, desc=name, unit="clip"), rows):
            top = gallery[np.argsort(-sim)[: args.candidates]]
            texts = [data.corpus[i].text for i in top]
            logp = speech.score_texts(decode_audio(s.paths[r].read_bytes(), MediaLimits()), texts)
            n_tokens = np.array([len(ids) + 1 for ids in speech.text_tokens(texts)])  # + the end of text
            hit = np.flatnonzero(top == truth[r])
            found.append((np.sort(sim)[::-1][: args.candidates], logp, n_tokens, int(hit[0]) if len(hit) else -1))
        per_clip = (time.perf_counter() - t0) / len(rows)

        def r1(score) -> float:
            return float(np.mean([f[3] >= 0 and int(np.argmax(score(*f[:3]))) == f[3] for f in found]))

        print(f"\n{name} R@1, gallery {len(gallery):,}; {len(rows)} {args.split} clips; top {args.candidates} of the fused "
              f"search re-ranked; {per_clip:.2f} s per clip on {torch.get_num_threads()} threads (encoder + scoring)")
        print(f"  fused (shipped)                     {r1(lambda c, lp, n: c):.3f}")
        print(f"  right item within the top {args.candidates:<3}        {np.mean([f[3] >= 0 for f in found]):.3f}  (ceiling)")
        print(f"  log-probability alone (sum)         {r1(lambda c, lp, n: lp):.3f}")
        print(f"  log-probability alone (per token)   {r1(lambda c, lp, n: lp / n):.3f}")
        for w in WEIGHTS:
            print(f"  fused + {w:<4} x log-prob per token   {r1(lambda c, lp, n, w=w: c + w * lp / n):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
