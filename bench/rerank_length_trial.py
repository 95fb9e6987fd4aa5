"""Trial: which texts can the re-ranking skip because they are too long to have been said in the clip?

The decoder's cost grows with every token it scores, and an answer collection's long texts were most of it,
although a text far longer than the clip could hold never passes the gate. Over every (clip, text) pair that
``xmodal eval --rerank`` and the trials have scored (the score cache), with each clip's duration and its
transcript (the shipped decoder's), this prints how much each length rule would skip and whether it would have
skipped a text that passed the gate or the sentence actually said. The rule is chosen on the validation clips;
the test clips confirm it.

    python bench/rerank_length_trial.py --out bench/results/rerank_length.txt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

RULES = ((2.0, 10, 0.0), (2.0, 20, 0.0), (2.0, 20, 20.0), (3.0, 20, 0.0), (3.0, 20, 20.0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from report import Report
    from xmodal_server.align.pipeline import build_encoders, load_speech_backbone, protocol_data
    from xmodal_server.encoders.base import SPEECH
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint
    from xmodal_server.evaluation.rerank_eval import ScoreCache
    from xmodal_server.rerank import spoken_form

    ckpt = load_checkpoint(default_checkpoint("embedded"))
    enc = build_encoders("embedded")
    load_speech_backbone(ckpt, enc)
    data = protocol_data(enc, args.work, with_real=False)
    cache = ScoreCache(enc[SPEECH], args.work / "features")
    gate = enc[SPEECH].rerank_gate
    rep = Report("re-ranking: texts too long to have been said (score cache of the shipped decoder)")
    rep.log(f"checkpoint {ckpt.id}; gate {gate}; a rule skips a text when its characters (spoken form) exceed "
            "max(a x the transcript's characters + b, r x the clip's seconds)")
    for split in ("val", "test"):
        s = data.speech[split]
        rows = []  # (chars, transcript chars, seconds, margin below the transcript, is the sentence said)
        for path, truth, heard in zip(s.paths, s.texts, s.transcripts):
            scores, own = cache.scores.get(str(path)), spoken_form(heard)
            if not scores or own not in scores:
                continue
            seconds = cache.seconds(path)
            rows += [(len(t), len(own), seconds, lp - scores[own], t == spoken_form(truth))
                     for t, lp in scores.items() if t != own]
        ch, heard_ch, sec, margin, said = (np.array(c) for c in zip(*rows))
        passed = margin >= -gate
        clips = len({p for p in s.paths if str(p) in cache.scores})
        rep.log(f"\n{split}: {clips} clips, {len(rows):,} scored texts ({int(passed.sum())} passed the gate); the "
                f"sentence said runs at most {(ch[said] / sec[said]).max():.1f} characters a second")
        for a, b, r in RULES:
            skip = ch > np.maximum(a * heard_ch + b, r * sec)
            closest = f"{-margin[skip].max():.2f}" if skip.any() else "-"
            rep.log(f"  a {a} b {b:<2} r {r:<4}: skips {skip.mean():.3f} of texts, {ch[skip].sum() / ch.sum():.3f} of "
                    f"characters; skipped texts that passed the gate {int((skip & passed).sum())}, sentences said "
                    f"{int((skip & said).sum())}; closest skipped text {closest} per token below the transcript")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
