"""Trial (validation split only): named clipart from Debian as extra image–caption pairs for the emoji head.

The emoji head learns from ~1,550 training concepts and misses held-out ones; more art styles of the *same*
concepts helped little (+0.017 R@1). More *concepts* is the untested lever. Two Debian packages hold colour
drawings with names: ``tuxpaint-stamps-default`` (~800 stamps, each with an English description) and
``openclipart-png`` (~8,100 drawings; titles and keywords from the SVG metadata of ``openclipart-svg``).
Images are letterboxed to 64 px like the emoji PNGs and encoded exactly as the server does.

Held-out concepts must stay held out: a drawing whose title (or description) is close to any validation or
test caption (MiniLM cosine >= the decontamination threshold, or the same words) is dropped. The trial trains
the shipped recipe (2-layer MLP head, InfoNCE with a learnable temperature, ConSE mix 0.3, best epoch by
validation MRR) on the emoji training rows alone and joined with each clipart set, 3 seeds each.

    python bench/clipart_trial.py --out bench/results/clipart_trial.txt
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

PACKAGES = ("tuxpaint-stamps-default", "openclipart-png", "openclipart-svg")


def unpack(root: Path) -> Path:
    """The three packages' files under ``root/x`` (apt-get download + dpkg -x: no install, no root)."""
    x = root / "x"
    if (x / "usr/share/tuxpaint").exists() and (x / "usr/share/openclipart/svg").exists():
        return x
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=root, check=True)
    for deb in sorted(root.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(x)], check=True)
    return x


def small_png(path: Path, size: int = 64) -> bytes | None:
    """Letterboxed to ``size`` px, alpha kept: the shape and scale of the emoji PNGs (None: too large to open)."""
    from PIL import Image

    try:
        im = Image.open(path)
        im.size  # header only
    except Image.DecompressionBombError:  # a few drawings are rendered at 15,000 px: skip them
        return None
    with im:
        im = im.convert("RGBA")
        im.thumbnail((size, size), Image.LANCZOS)
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        canvas.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
        buf = io.BytesIO()
        canvas.save(buf, "PNG")
        return buf.getvalue()


def words(s: str) -> str:
    return " ".join(re.findall(r"[a-z]+", s.lower()))


def tuxpaint(x: Path) -> list[tuple[str, Path, str, list[str]]]:
    out = []
    base = x / "usr/share/tuxpaint/stamps"
    for png in sorted(base.rglob("*.png")):
        if png.stem.endswith(("_mirror", "_flip")):
            continue
        txt = png.with_suffix(".txt")
        desc = txt.read_text(errors="replace").splitlines()[0].strip() if txt.exists() else ""
        rel = png.relative_to(base)
        extras = [t for t in (words(png.stem), " ".join(rel.parts[:-1])) if t]
        out.append((f"tuxpaint/{rel}", png, desc or words(png.stem), extras))
    return out


def openclipart(x: Path) -> list[tuple[str, Path, str, list[str]]]:
    out = []
    base, svgs = x / "usr/share/openclipart/png", x / "usr/share/openclipart/svg"
    for png in sorted(base.rglob("*.png")):
        rel = png.relative_to(base)
        svg = (svgs / rel).with_suffix(".svg")
        meta = svg.read_text(errors="replace") if svg.exists() else ""
        titles = re.findall(r"<dc:title>([^<]*)</dc:title>", meta)
        keys = [k for k in re.findall(r"<rdf:li>([^<]*)</rdf:li>", meta) if k.strip() and k != "unsorted"]
        title = titles[0].strip() if titles else words(re.sub(r"_\d+$", "", png.stem))
        extras = [t for t in (", ".join(keys[:8]), " ".join(rel.parts[:-1])) if t]
        out.append((f"openclipart/{rel}", png, title, extras))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--conse", type=float, default=0.3, help="ConSE mix (the shipped value)")
    ap.add_argument("--decontaminate", type=float, default=0.8,
                    help="drop a drawing whose title is this close (cosine) to a validation or test caption")
    ap.add_argument("--work", type=Path, default=Path("xmodal-align"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from emoji_val import emoji_val, seeds_row
    from report import Report
    from xmodal_server.align import data as D
    from xmodal_server.align.features import image_features
    from xmodal_server.align.model import LogitScale, MLPHead, info_nce
    from xmodal_server.encoders.base import IMAGE, TEXT
    from xmodal_server.encoders.heads import l2_normalise
    from xmodal_server.evaluation.metrics import retrieval_metrics

    rep = Report("clipart trial: Debian clipart as extra image–caption pairs (emoji text→image, val)")
    val = emoji_val(args.work)
    enc, data, task, concepts = val.encoders, val.data, val.task, val.data.emoji.concepts
    val_x, val_c, captions, correct = val.x, val.conse, val.captions, val.correct
    held = [c for c in concepts if c.split != "train"]
    held_vectors = data.caption_vectors[[i for i, c in enumerate(concepts) if c.split != "train"]]
    held_words = {words(c.caption) for c in held}

    x = unpack(args.work / "clipart")
    sets = {"tuxpaint": tuxpaint(x), "openclipart": openclipart(x)}
    ext = {}
    for name, items in sets.items():
        pngs = [small_png(p) for _, p, *_ in tqdm(items, desc=f"{name} 64 px")]
        items = [it for it, png in zip(items, pngs) if png is not None]
        pngs = [png for png in pngs if png is not None]
        keys = [k for k, *_ in items]
        f = image_features(enc[IMAGE], keys, pngs, args.work / "features")["features"]
        cap = D.text_vectors(enc[TEXT], [c or "." for _, _, c, _ in items], args.work)
        near = (cap @ held_vectors.T).max(1)
        keep = [r for r, (_, _, c, _) in enumerate(items)
                if c and near[r] < args.decontaminate and words(c) not in held_words]
        extras = sorted({e for r in keep for e in items[r][3]})
        ev = dict(zip(extras, D.text_vectors(enc[TEXT], extras, args.work)))
        targets = [np.stack([cap[r], *[ev[e] for e in items[r][3]]]) for r in keep]
        # One group per distinct title: two drawings of "apple" are not each other's negatives.
        titles = {}
        groups = np.array([titles.setdefault(items[r][2].lower(), len(titles)) for r in keep])
        ext[name] = (f[keep].astype(np.float32), targets, groups)
        rep.log(f"# {name}: {len(items)} drawings, {len(keep)} kept after decontamination "
                f"(cosine to a val/test caption < {args.decontaminate}, not the same words), {len(titles)} titles")

    def rows(names: tuple[str, ...]):
        xs, ts, gs = [task.inputs], list(task.targets), [task.groups]
        offset = int(task.groups.max()) + 1
        for n in names:
            f, t, g = ext[n]
            xs.append(f)
            ts += t
            gs.append(g + offset)
            offset += int(g.max()) + 1
        return np.concatenate(xs), ts, np.concatenate(gs)

    def run(names: tuple[str, ...], seed: int):
        inputs, targets, groups = rows(names)
        mean, std = task.inputs.mean(0), task.inputs.std(0) + 1e-6  # the emoji rows' statistics, as shipped
        X = torch.from_numpy(((inputs - mean) / std).astype(np.float32))
        VX = torch.from_numpy(((val_x - mean) / std).astype(np.float32))
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        head, scale = MLPHead(X.shape[1], 384, 1024, 2, 0.1), LogitScale()
        opt = torch.optim.AdamW([*head.parameters(), *scale.parameters()], lr=1e-3, weight_decay=1e-4)
        steps = int(np.ceil(len(X) / 256))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=args.epochs * steps, pct_start=0.1)
        best = None
        for _ in range(args.epochs):
            order = rng.permutation(len(X))
            head.train()
            for s in range(steps):
                b = order[s * 256:(s + 1) * 256]
                tgt = torch.from_numpy(np.stack([targets[i][rng.integers(len(targets[i]))] for i in b]))
                loss = info_nce(F.normalize(head(X[b]), dim=-1), tgt, scale(), torch.from_numpy(groups[b]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            head.eval()
            with torch.inference_mode():
                v = l2_normalise(head(VX).numpy())
            g = l2_normalise((1 - args.conse) * v + args.conse * val_c)
            m = retrieval_metrics("t2i", "m", captions @ g.T, correct)
            if best is None or m.mrr > best.mrr:
                best = m
        return best

    variants = {"emoji only (shipped recipe)": (), "+ tuxpaint": ("tuxpaint",), "+ openclipart": ("openclipart",),
                "+ both": ("tuxpaint", "openclipart")}
    rep.log(f"# emoji training rows {len(task.inputs)}, val concepts {len(val.ids)}; epochs {args.epochs}; ConSE {args.conse}")
    rep.log("\nvariant | val text→image R@1 | R@10 | MRR  (mean ± sd over seeds)")
    for name, names in tqdm(variants.items(), desc="variants"):
        rep.log(seeds_row(name, [run(names, seed) for seed in range(args.seeds)], 28))
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
