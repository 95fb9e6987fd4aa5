"""Trial: adapt Whisper tiny.en's decoder to synthetic voices (LoRA, ``align/asr_adapt.py``) and measure what
it does to the transcript path on the validation clips (held-out sentences x held-out voices) and on the 20
real human recordings, against the pretrained decoder in the same run.

    python bench/asr_adapt_trial.py --epochs 3 --rank 8 --out bench/results/asr_adapt_trial.txt

Reads the encoder outputs cached by ``xmodal align --asr-epochs`` (align/asr_states.py, work/asr-states; the
first run computes them: ~0.4 s per clip on 2 cores). Per epoch: word error rate, exact transcripts, and
R@1 of transcribe and fused search (the shipped heads) for speech→text over the whole corpus and for spoken
FAQ question→answer, and for the real recordings (gallery of the protocol).
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
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from report import Report
    from xmodal_server.align import asr_adapt as A
    from xmodal_server.align.asr_states import StateCache
    from xmodal_server.align.pipeline import build_encoders, protocol_data
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint

    rep = Report(f"Whisper decoder adaptation trial (LoRA rank {args.rank}, alpha {args.alpha}, lr {args.lr}, "
                 f"batch {args.batch}, seed {args.seed})", torch_threads=True)
    enc = build_encoders("embedded")
    data = protocol_data(enc, args.work, with_real=True)
    sp = enc["speech"]
    ckpt = load_checkpoint(default_checkpoint("embedded"))
    states = StateCache(sp, args.work / "asr-states")
    sets = {"train": data.speech["train"], "val": data.speech["val"], "real": data.real}
    t0 = time.perf_counter()
    hidden = {k: states.get(s.paths, f"{k} encoder states") for k, s in sets.items()}
    rep.log(f"encoder outputs for {', '.join(f'{k} {len(v)}' for k, v in hidden.items())} clips "
            f"in {time.perf_counter() - t0:.0f} s (0 when cached)")
    judge = Judge(data, ckpt, enc["text"])

    def evaluate(tag: str) -> None:
        t = time.perf_counter()
        for name in ("val", "real"):
            heard = A.transcribe_states(sp, hidden[name])
            rep.log(f"  {tag:10s} {name:4s} " + judge(name, heard) + f"  ({time.perf_counter() - t:.0f} s)")

    evaluate("pretrained")
    train = sets["train"]

    def after_epoch(epoch: int, loss: float) -> None:
        rep.log(f"epoch {epoch}: train loss {loss:.3f}")
        evaluate(f"epoch {epoch}")

    A.train(sp, hidden["train"], train.texts, args.epochs, args.rank, args.alpha, args.lr, args.batch, args.seed, after_epoch)
    rep.write(args.out)
    return 0


class Judge:
    """WER, exact transcripts and R@1 (transcribe, fused with the shipped heads) for a split's transcripts."""

    def __init__(self, data, ckpt, text_encoder) -> None:
        from xmodal_server.evaluation.protocol import real_gallery

        self.data, self.ckpt, self.text = data, ckpt, text_encoder
        where = data.index_of()
        answers, answer_of = data.faq_answers()
        self.tasks = {}
        s = data.speech["val"]
        from xmodal_server.align.corpus import FAQ_QUESTION

        faq = [j for j, t in enumerate(s.texts) if data.corpus[where[t]].source == FAQ_QUESTION]
        self.tasks["val"] = [("whole corpus", list(range(len(s.texts))), data.corpus_vectors, [where[t] for t in s.texts]),
                             ("FAQ", faq, data.corpus_vectors[answers], [answer_of[data.corpus[where[s.texts[j]]].ref] for j in faq])]
        vectors, _, truth = real_gallery(data)
        self.tasks["real"] = [("real", list(range(len(data.real.texts))), vectors, truth)]

    def __call__(self, split: str, heard: list[str]) -> str:
        from xmodal_server.encoders.heads import l2_normalise, speech_vectors
        from xmodal_server.evaluation.metrics import retrieval_metrics

        s = self.data.real if split == "real" else self.data.speech[split]
        errors, words, exact = 0, 0, 0
        for ref, hyp in zip(s.texts, heard):
            e, n = word_errors(ref, hyp)
            errors, words, exact = errors + e, words + n, exact + (e == 0)
        tv = l2_normalise(self.text.encode([h or "." for h in heard]).features)
        parts = [f"WER {errors / words:.3f} exact {exact / len(heard):.3f}"]
        for name, rows, gallery, truth in self.tasks[split]:
            for mode in ("transcribe", "fused"):
                q = speech_vectors(self.ckpt, s.features[rows], tv[rows], mode)
                parts.append(f"{name} {mode} R@1 {retrieval_metrics(name, mode, q @ gallery.T, truth).r1:.3f}")
        return "; ".join(parts)


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """Word-level edit distance between the spoken forms, and the reference's length."""
    from xmodal_server.rerank import spoken_form

    r, h = spoken_form(ref).split(), spoken_form(hyp).split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
    return d[len(h)], len(r)


if __name__ == "__main__":
    sys.exit(main())
