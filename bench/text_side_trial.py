"""Trial (validation split only): frozen vs projected text side, and caption-word attributes, for emoji
text→image on held-out concepts.

Issue 3 asks to measure the text side "either frozen (the text space as the pivot) or projected". Here the
image head trains alone (the speech task does not change what is compared) with the recipe of
``xmodal align`` (MLP depth 2, hidden 1024, AdamW, one-cycle, InfoNCE with a learnable temperature, a caption
or an extra text drawn per step), and each variant keeps its best epoch by validation MRR:

- frozen: image head -> frozen MiniLM caption vectors (what ships);
- projected (residual): captions go through t + MLP(t), its last layer zero-initialised, trained jointly;
- projected (linear): captions go through a full 384x384 matrix initialised to the identity;
- attributes (DAP, Lampert et al. 2009): a multi-label head predicts which training-caption words an image
  shows; a caption's score adds beta x the mean log-probability of its known words to the frozen cosine.

A projected text side changes text->text search too: the typed FAQ question -> answer R@1 (validation
questions) is printed for each projection beside the frozen encoder's.

    python bench/text_side_trial.py --seeds 3 --out bench/results/text_side_trial.txt
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

BETAS = (0.0, 0.02, 0.05, 0.1, 0.2)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--conse", type=float, default=0.3, help="ConSE mix for every variant (the shipped value)")
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from torch import nn
    from tqdm import tqdm

    from emoji_val import emoji_val, seeds_row
    from report import Report
    from xmodal_server.align.corpus import FAQ_QUESTION
    from xmodal_server.align.model import LogitScale, MLPHead, info_nce
    from xmodal_server.encoders.heads import l2_normalise
    from xmodal_server.evaluation.metrics import retrieval_metrics

    rep = Report("text side trial: frozen vs projected text, caption-word attributes (emoji text→image, val)")
    val = emoji_val(args.work)
    data, task, concepts = val.data, val.task, val.data.emoji.concepts
    val_ids, val_x, val_c, captions, correct = val.ids, val.x, val.conse, val.captions, val.correct

    # Word vocabulary from training captions and extra texts (test-time queries are captions only).
    train_concepts = sorted({int(g) for g in task.groups})
    vocab_count = Counter(w for i in train_concepts for w in set(words(concepts[i].caption)))
    vocab = sorted(w for w, n in vocab_count.items() if n >= 2)
    wid = {w: k for k, w in enumerate(vocab)}
    labels = np.zeros((len(task.inputs), len(vocab)), np.float32)
    for r, g in enumerate(task.groups):
        for w in words(concepts[int(g)].caption):
            if w in wid:
                labels[r, wid[w]] = 1
    cap_words = [[wid[w] for w in words(concepts[i].caption) if w in wid] for i in val_ids]
    known = np.mean([bool(c) for c in cap_words])

    faq_a, ans_of = data.faq_answers()
    faq_q = [i for i, x in enumerate(data.corpus) if x.source == FAQ_QUESTION and x.split == "val"]
    faq_correct = [ans_of[data.corpus[i].ref] for i in faq_q]

    mean, std = task.inputs.mean(0), task.inputs.std(0) + 1e-6
    X = torch.from_numpy(((task.inputs - mean) / std).astype(np.float32))
    VX = torch.from_numpy(((val_x - mean) / std).astype(np.float32))
    rep.log(f"# training rows {len(X)}, val concepts {len(val_ids)}, caption words {len(vocab)} "
            f"(val captions with a known word: {known:.2f}); epochs {args.epochs}; ConSE mix {args.conse}")

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = MLPHead(384, 384, 1024, 2, 0.1)
            nn.init.zeros_(self.mlp.layers[-1].weight)
            nn.init.zeros_(self.mlp.layers[-1].bias)

        def forward(self, t):
            return t + self.mlp(t)

    def linear() -> nn.Module:
        m = nn.Linear(384, 384)
        nn.init.eye_(m.weight)
        nn.init.zeros_(m.bias)
        return m

    def evaluate(head, text, attr=None) -> dict:
        head.eval()
        with torch.inference_mode():
            v = l2_normalise(head(VX).numpy())
            project = (lambda t: t) if text is None else (lambda t: l2_normalise(text(torch.from_numpy(t)).numpy()))
            q = project(captions)
            # ConSE vectors live in the text space, so a projected text side projects them too.
            g = l2_normalise((1 - args.conse) * v + args.conse * project(val_c)) if args.conse else v
            sims = q @ g.T
            out = {"t2i": retrieval_metrics("t2i", "m", sims, correct)}
            if attr is not None:
                logp = F.logsigmoid(attr(VX)).numpy()  # (images, vocab)
                a = np.stack([logp[:, c].mean(1) if c else np.zeros(len(logp)) for c in cap_words])  # (captions, images)
                for b in BETAS:
                    out[f"beta {b}"] = retrieval_metrics("t2i", "m", sims + b * a, correct)
            if text is not None:
                tq = l2_normalise(text(torch.from_numpy(data.corpus_vectors[faq_q])).numpy())
                ta = l2_normalise(text(torch.from_numpy(data.corpus_vectors[faq_a])).numpy())
                out["faq"] = retrieval_metrics("faq", "m", tq @ ta.T, faq_correct)
        head.train()
        if text is not None:
            text.train()
        return out

    def run(variant: str, seed: int) -> dict:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        head, scale = MLPHead(X.shape[1], 384, 1024, 2, 0.1), LogitScale()
        text = {"residual": Residual, "linear": linear}.get(variant, lambda: None)()
        attr = nn.Sequential(nn.Linear(X.shape[1], 1024), nn.GELU(), nn.Dropout(0.1), nn.Linear(1024, len(vocab))) \
            if variant == "attributes" else None
        params = [*head.parameters(), *scale.parameters()] + ([*text.parameters()] if text else []) + \
            ([*attr.parameters()] if attr else [])
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
        steps = int(np.ceil(len(X) / 256))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=args.epochs * steps, pct_start=0.1)
        best, best_mrr = None, -1.0
        for _ in range(args.epochs):
            order = rng.permutation(len(X))
            for s in range(steps):
                b = order[s * 256:(s + 1) * 256]
                tgt = torch.from_numpy(np.stack([task.targets[i][rng.integers(len(task.targets[i]))] for i in b]))
                if text is not None:
                    tgt = F.normalize(text(tgt), dim=-1)
                out = F.normalize(head(X[b]), dim=-1)
                loss = info_nce(out, tgt, scale(), torch.from_numpy(task.groups[b]))
                if attr is not None:
                    loss = loss + F.binary_cross_entropy_with_logits(attr(X[b]), torch.from_numpy(labels[b]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            res = evaluate(head, text, attr)
            key = max((k for k in res if k.startswith("beta")), key=lambda k: res[k].mrr) if attr is not None else "t2i"
            if res[key].mrr > best_mrr:
                best, best_mrr = res, res[key].mrr
        return best  # type: ignore[return-value]

    base_faq = retrieval_metrics("faq", "m", data.corpus_vectors[faq_q] @ data.corpus_vectors[faq_a].T, faq_correct)
    rep.log(f"# typed FAQ question -> answer, frozen text encoder (val questions {len(faq_q)}): R@1 {base_faq.r1:.3f} MRR {base_faq.mrr:.3f}")
    rows: dict[str, list] = {}
    for variant in tqdm(("frozen", "residual", "linear", "attributes"), desc="variants"):
        for seed in range(args.seeds):
            res = run(variant, seed)
            for k, r in res.items():
                name = variant if k == "t2i" else f"{variant} {k}"
                rows.setdefault(name, []).append(r)
    rep.log("\nvariant | val text→image R@1 | R@10 | MRR  (mean ± sd over seeds; faq rows = typed FAQ R@1/MRR)")
    for name, rs in rows.items():
        rep.log(seeds_row(name, rs, 24))
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
