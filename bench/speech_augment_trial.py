"""Trial (issue 3): do augmented copies of training clips, or a second clean voice per training sentence,
help the direct speech path? Validation split only; the test split is not read.

Three training sets, the same M training sentences getting the extra clips in both levers:
- baseline: the protocol's training clips (each training sentence x 1 training voice);
- + M augmented: + one augmented copy (align/augment.py: sox speed 0.9-1.1, then noise at 5-20 dB SNR, reverb
  or both, drawn per clip from a seeded RNG) of the training clip of M training sentences;
- + M second voice: + the same M sentences spoken by their next training voice (tts.assign_voices, another
  engine than their first voice), clean.

Each set trains the heads as ``xmodal align`` does (both tasks, image and speech, λ = 0.5, the TrainConfig
defaults, each head kept at its best validation epoch) for each of ``--seeds`` training seeds; the extra clips
are the same for every seed. Reported on the validation split (held-out sentences x held-out voices), for
speech→text over the whole corpus and spoken FAQ question → written answer: direct, and fused with the direct
weight re-chosen on validation per trained model as ``pipeline.choose_fusion`` does (the weight maximising
the mean MRR of those two tasks). transcribe does not depend on the heads and is printed once for reference.
Epoch and fusion weight are chosen on the same validation split the numbers come from (as in ``xmodal align``),
so all three sets are equally optimistic; compare them with each other, not with test numbers.

Measured (bench/results/speech_augment.txt, M = 1200, 3 seeds, val): neither lever moves the fused search
(speech→text over the whole corpus R@1 0.697 baseline, 0.693 augmented, 0.697 second voice; spoken FAQ→answer
0.587 / 0.572 / 0.592, all within the seed-to-seed spread). On the direct path alone, augmentation is no gain
(MRR 0.222 → 0.228, spread 0.006) and a second voice is a small gain on speech→text MRR (0.222 → 0.243, spread
0.006; R@1 0.146 → 0.159, within its spread), too small to matter beside the transcript (direct R@1 ~0.15 vs
0.68 for transcribe).

    python bench/speech_augment_trial.py --count 1200 --seeds 3 --out bench/results/speech_augment.txt

Needs the cached features of ``xmodal align`` (its work folder, default ./xmodal-align); the extra clips'
Whisper features (about 1 s a clip on one thread) are computed once and cached there.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

TASKS = {"speech→text (gallery: whole corpus)": "speech→text, whole corpus",
         "spoken question→FAQ answer": "spoken FAQ→answer"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1200, help="M: training sentences that get an extra clip (default 1200)")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 per set (default 3)")
    ap.add_argument("--epochs", type=int, default=None, help="override TrainConfig.epochs (default: its default)")
    ap.add_argument("--time-clips", type=int, default=20, help="clips whose Whisper features are timed first (0: skip)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"), help="xmodal align's work folder")
    ap.add_argument("--out", type=Path, default=None, help="write the report here too")
    args = ap.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)

    from report import Report

    from xmodal_server.align import data as D
    from xmodal_server.align.emoji import TRAIN_STYLES
    from xmodal_server.align.pipeline import (FUSION_GRID, SPEECH_SELECTION_TASKS, _find, build_encoders,
                                              checkpoint_from, image_task, protocol_data, speech_task)
    from xmodal_server.align.train import TrainConfig, Trained, train
    from xmodal_server.encoders.base import IMAGE, SPEECH
    from xmodal_server.evaluation.protocol import image_task_results, speech_task_results
    from xmodal_server.media import MediaLimits, decode_audio

    rep = Report("Speech training-data levers for the direct path: augmentation vs a second voice (val split)",
                 torch_threads=True)
    enc = build_encoders("embedded")
    data = protocol_data(enc, args.work, with_real=False, train_styles=TRAIN_STYLES)
    base = data.speech["train"]
    rep.log(f"training clips (baseline): {len(base.texts)}; validation clips: {len(data.speech['val'].texts)} "
            f"(held-out voices); extra clips per lever: M = {args.count}")

    extra = {}
    for kind in ("augment", "voice"):
        t0 = time.perf_counter()
        extra[kind] = D.extra_train_speech(data.corpus, enc[SPEECH], args.work, kind, args.count)
        rep.log(f"built + {len(extra[kind].texts)} {kind} clips in {time.perf_counter() - t0:.0f} s "
                "(TTS/sox + Whisper features; ~0 when cached by an earlier run)")
    engines = sorted({v.split("_")[0] for v in extra["voice"].voices})
    per_engine = {e: sum(v.startswith(e + "_") for v in extra["voice"].voices) for e in engines}
    rep.log(f"second voices: {len(set(extra['voice'].voices))} training voices, clips per engine "
            + ", ".join(f"{e} {n}" for e, n in per_engine.items()))

    if args.time_clips:
        paths = extra["augment"].paths[: args.time_clips]
        waves = [decode_audio(p.read_bytes(), MediaLimits()) for p in paths]
        enc[SPEECH].encode(waves[:2], transcribe=False)  # warm-up
        per = {}
        for transcribe in (False, True):
            t0 = time.perf_counter()
            for i in range(0, len(waves), 16):  # the batch features.speech_features uses
                enc[SPEECH].encode(waves[i:i + 16], transcribe=transcribe)
            per[transcribe] = (time.perf_counter() - t0) / len(waves)
        rep.log(f"Whisper tiny.en on {len(waves)} augmented clips, {torch.get_num_threads()} thread(s): "
                f"{per[False]:.2f} s/clip features only, {per[True]:.2f} s/clip with the transcript (what the cache "
                f"stores); both levers' {2 * args.count} extra clips: ~{2 * args.count * per[True] / 60:.0f} min")

    sets = {"baseline": base,
            f"+{args.count} augmented": D.joined(base, extra["augment"]),
            f"+{args.count} second voice": D.joined(base, extra["voice"])}
    cfg0 = TrainConfig() if args.epochs is None else TrainConfig(epochs=args.epochs)
    rep.log(f"training: both heads as `xmodal align` (λ = {cfg0.lam}, {cfg0.epochs} epochs, depth {cfg0.depth}, "
            f"hidden {cfg0.hidden}, batch {cfg0.batch}, lr {cfg0.lr}; image task with styles google, twitter + "
            f"{', '.join(TRAIN_STYLES)}); seeds 0..{args.seeds - 1}")
    img = image_task(data, enc, args.work)
    steps = {name: max(-(-len(img.inputs) // cfg0.batch), -(-len(s.texts) // cfg0.batch)) for name, s in sets.items()}
    rep.log(f"steps per epoch (the larger task sets them: {len(img.inputs)} image rows): "
            + ", ".join(f"{name} {n}" for name, n in steps.items()))
    val = data.speech["val"]

    def evaluate_run(trained: Trained) -> dict[str, dict]:
        out: dict[str, dict] = {}
        res = speech_task_results(checkpoint_from(trained, "val"), data, "val", methods=("direct",), upper_bound=False)
        out["direct"] = {t: _find(res, t, "direct") for t in TASKS}
        best = (-1.0, 1.0, None)
        for w in FUSION_GRID:  # as pipeline.choose_fusion
            res = speech_task_results(checkpoint_from(trained, "val", direct_weight=w), data, "val", methods=("fused",),
                                      upper_bound=False)
            score = float(np.mean([_find(res, t, "fused").mrr for t in SPEECH_SELECTION_TASKS]))
            if score > best[0]:
                best = (score, w, res)
        out["fused"] = {t: _find(best[2], t, "fused") for t in TASKS}
        out["fused"]["w"] = best[1]
        return out

    runs: dict[str, list[dict]] = {name: [] for name in sets}
    for name, speech in sets.items():
        d = replace(data, speech={**data.speech, "train": speech})
        tasks = [img, speech_task(d)]
        for seed in range(args.seeds):
            cfg = replace(cfg0, seed=seed)

            def validate(t: Trained) -> dict[str, float]:  # as pipeline.run_align (frozen backbones)
                ck = checkpoint_from(t, "val")
                im = _find(image_task_results(ck, data, "val", "m"), "emoji text→image (google)", "m")
                sp = _find(speech_task_results(ck, data, "val", methods=("direct",), upper_bound=False),
                           "speech→text (gallery: whole corpus)", "direct")
                return {"score": cfg.lam * im.mrr + (1 - cfg.lam) * sp.mrr, f"score/{IMAGE}": im.mrr, f"score/{SPEECH}": sp.mrr}

            t0 = time.perf_counter()
            trained = train(tasks, {IMAGE: cfg.lam, SPEECH: 1 - cfg.lam}, cfg, validate)
            r = evaluate_run(trained)
            r["epoch"] = trained.best_epoch[SPEECH]
            runs[name].append(r)
            rep.log(f"  {name:<24} seed {seed}: speech head best epoch {r['epoch']:>2}, fused w {r['fused']['w']:.1f}; "
                    + "; ".join(f"{m} {TASKS[t]} R@1 {r[m][t].r1:.3f} MRR {r[m][t].mrr:.3f}"
                                for m in ("direct", "fused") for t in TASKS)
                    + f"  ({time.perf_counter() - t0:.0f} s)")

    rep.log()
    first = runs["baseline"][0]["direct"]
    rep.log(f"Validation, means over {args.seeds} seeds ± sample sd [min–max]; {len(val.texts)} queries for speech→text "
            f"(gallery {first['speech→text (gallery: whole corpus)'].gallery_size} sentences), "
            f"{first['spoken question→FAQ answer'].n_queries} for spoken FAQ→answer "
            f"(gallery {first['spoken question→FAQ answer'].gallery_size} answers)")
    ref = speech_task_results(None, data, "val", methods=("transcribe",), upper_bound=False)
    rep.log("transcribe (no head, reference): " + "; ".join(
        f"{TASKS[t]} R@1 {_find(ref, t, 'transcribe').r1:.3f} MRR {_find(ref, t, 'transcribe').mrr:.3f}" for t in TASKS))
    head = f"{'training set':<24} {'clips':>6} {'method':<7}" + "".join(f" {TASKS[t] + ' ' + m:>34}" for t in TASKS for m in ("R@1", "MRR"))
    rep.log(head)
    stats: dict[tuple[str, str, str, str], np.ndarray] = {}
    for name, rs in runs.items():
        for m in ("direct", "fused"):
            cells = []
            for t in TASKS:
                for metric in ("r1", "mrr"):
                    v = np.array([getattr(r[m][t], metric) for r in rs])
                    stats[(name, m, t, metric)] = v
                    sd = v.std(ddof=1) if len(v) > 1 else 0.0
                    cells.append(f"{v.mean():.3f} ± {sd:.3f} [{v.min():.3f}–{v.max():.3f}]")
            ws = ", ".join(f"{r['fused']['w']:.1f}" for r in rs)
            extra_w = f"   (w per seed: {ws})" if m == "fused" else ""
            rep.log(f"{name:<24} {len(sets[name].texts):>6} {m:<7}" + "".join(f" {c:>34}" for c in cells) + extra_w)

    rep.log()
    rep.log("Verdict (gain of the mean over baseline vs the seed-to-seed spread, max−min of either set; a gain not "
            "larger than the spread is no gain; the seed-by-seed differences pair runs of one training seed):")
    for name in list(sets)[1:]:
        for m in ("direct", "fused"):
            for t in TASKS:
                for metric in ("r1", "mrr"):
                    a, b = stats[("baseline", m, t, metric)], stats[(name, m, t, metric)]
                    # judged at the printed precision: a gain that prints equal to the spread is not above it
                    gain, spread = round(b.mean() - a.mean(), 3), round(max(np.ptp(a), np.ptp(b)), 3)
                    word = "no gain" if abs(gain) <= spread else ("gain" if gain > 0 else "loss")
                    rep.log(f"  {name:<24} {m:<7} {TASKS[t]:<26} {metric.upper().replace('R1', 'R@1'):<4} "
                            f"{gain:+.3f} (spread {spread:.3f}; seed by seed {', '.join(f'{d:+.3f}' for d in b - a)}): {word}")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
