"""Trial (validation split): should SearchBySpeech re-rank by default, and how deep?

Re-ranking was opt-in because of its cost on CPU, most of it the decoder over long texts (FAQ answers) that
could never pass the gate. With those skipped (``rerank.sayable``), the question is open again. Here the server's
default ranking (fused + sound-alike weight) is re-ranked at several depths K, each with the server's 10
sound-alike candidates, on every validation clip, as ``xmodal eval --rerank`` does on test. The cost column is
what the decoder does per clip: texts and characters scored (the latency bench times it on the real server).

Rule declared before the run: re-rank by default at the smallest K whose speech→text R@1 is within 0.01 of the
deepest K, if spoken FAQ R@1 does not drop below the search without re-ranking.

    python bench/rerank_default_trial.py --out bench/results/rerank_default_trial.txt
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
    ap.add_argument("--depths", default="5,10,25", help="re-ranking depths K, comma-separated")
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    depths = [int(k) for k in args.depths.split(",")]

    from report import Report
    from xmodal_server.align.pipeline import build_encoders, finetuned_data, load_speech_backbone, protocol_data
    from xmodal_server.config import Config
    from xmodal_server.encoders.base import SPEECH
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint
    from xmodal_server.evaluation.metrics import retrieval_metrics
    from xmodal_server.evaluation.rerank_eval import ScoreCache, _text_gallery_tasks, reranked_sims, sound_alike_sims

    cfg = Config()
    ckpt = load_checkpoint(default_checkpoint("embedded"))
    enc = build_encoders("embedded")
    load_speech_backbone(ckpt, enc)
    data = finetuned_data(ckpt, enc, protocol_data(enc, args.work, with_real=False), args.work)
    speech = enc[SPEECH]

    class Counting(ScoreCache):
        """The real score cache, counting what the server's decoder would score per clip."""
        texts = chars = 0

        def get(self, clip, texts):
            Counting.texts += len(texts)
            Counting.chars += sum(len(t) for t in texts)
            return super().get(clip, texts)

    rep = Report("re-ranking by default? SearchBySpeech depth trial (val split)")
    rep.log(f"checkpoint {ckpt.id}; ranking: fused + sound-alike weight {cfg.sound_alike_weight}; "
            f"{cfg.rerank_sound_alike} sound-alike candidates per re-ranking; gate {speech.rerank_gate}")
    rep.log("cost = texts and characters the decoder scores per clip (the transcript included)")
    for task, clips, heard, sims, texts, truth in _text_gallery_tasks(ckpt, data, "val"):
        first = sound_alike_sims(sims, heard, texts, cfg.sound_alike_weight)
        m = retrieval_metrics(task, "m", first, truth)
        rep.log(f"\n{task}: {len(clips)} val clips, gallery {len(texts):,}")
        rep.log(f"  no re-ranking                 R@1 {m.r1:.3f}  R@5 {m.r5:.3f}  MRR {m.mrr:.3f}")
        for k in depths:
            cache = Counting(speech, args.work / "features")
            Counting.texts = Counting.chars = 0
            ranked = reranked_sims(first, clips, heard, texts, cache, k, speech.rerank_gate, f"K {k}",
                                   sound_alike=cfg.rerank_sound_alike)
            m = retrieval_metrics(task, "m", ranked, truth)
            rep.log(f"  re-rank top {k:<2} + {cfg.rerank_sound_alike} sound-alike  R@1 {m.r1:.3f}  R@5 {m.r5:.3f}  "
                    f"MRR {m.mrr:.3f}  cost {Counting.texts / len(clips):.1f} texts, {Counting.chars / len(clips):.0f} chars")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
