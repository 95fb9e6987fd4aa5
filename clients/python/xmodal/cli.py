"""The ``xmodal`` command: run the server (``serve``) and talk to one (everything else).

It ships in the client distribution (clients/python, xmodal-client: grpcio, protobuf, numpy). The client verbs
always work; ``serve`` needs the server distribution (xmodal-server, the repository's top level) and ``align``/``eval``
its ``train`` extra as well. Without them those verbs exit 2 and say what to install; nothing here imports the
server package unless one of those verbs runs.

These command forms are a contract that scripts rely on; add to them, never change them.
A failed call exits 1 and prints ``error: <STATUS_CODE>: <message>`` on stderr (then a ``hint:`` line
where one helps).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator, Sequence

import grpc
from google.protobuf import json_format

from xmodal import _messages as M
from xmodal.client import Client
from xmodal.v1 import common_pb2

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
AUDIO_EXT = {".wav", ".flac", ".ogg"}
BATCH = 32

EPILOG = """examples:
  xmodal serve --demo                                  # embedded models, demo collections emoji + faq
  xmodal search emoji --text "red apple" --json
  xmodal search faq --speech question.wav
  xmodal search emoji --like apple                     # more like a stored item
  xmodal collections create products
  xmodal add products --from-dir ./photos              # id = file stem
  xmodal add products --id p1 --text "blue running shoes" --meta brand=acme
"""


def _depths(value: str) -> tuple[int, ...]:
    try:
        out = tuple(int(k) for k in value.split(",") if k.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give re-ranking depths as integers, e.g. 25 or 25,64") from None
    if any(not 1 <= k <= 64 for k in out):
        raise argparse.ArgumentTypeError(f"{value!r}: each depth must be 1..64")
    return out


def _int_range(low: int, high: int):
    """An argparse type: an integer in low..high, with an error that says so."""
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if not low <= n <= high:
            raise argparse.ArgumentTypeError(f"{value}: must be {low}..{high}")
        return n
    return parse


def _add_query(p: argparse.ArgumentParser, search: bool = False) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    if search:
        g.add_argument("--like", metavar="ID", help="items most like this stored item, by its vector (itself excluded)")
    g.add_argument("--text", help="a text query")
    g.add_argument("--image", metavar="PATH", help="an image file (JPEG, PNG, WebP, GIF, BMP)")
    g.add_argument("--speech", metavar="PATH", help="an audio file (WAV, FLAC, OGG)")
    p.add_argument("--speech-mode", default="", choices=["direct", "transcribe", "fused"],
                   help="with --speech: how speech reaches the space (default: the server's best measured mode)")
    p.add_argument("--direct-weight", type=float, help="with --speech-mode fused: weight of the direct path, 0..1")
    if search:
        p.add_argument("--rerank", type=_int_range(0, 64), default=None, metavar="K",
                       help="with --speech: score the texts of the best K hits (1..64) against the audio and put the ones "
                            "said verbatim first; 0 = off (default: the server's, see xmodal info)")
        p.add_argument("--sound-alike-weight", type=float, default=None, metavar="W",
                       help="with --speech: rank hits by score + W x how much their text sounds like the transcript "
                            "(0 = the vector search alone, at most 10; default: the server's, see xmodal info)")
        p.add_argument("--sound-alike", type=_int_range(0, 64), default=None, metavar="N",
                       help="with --rerank K: also score N texts that sound like the transcript (misheard names the "
                            "search misses; 0 = none; default: the server's, see xmodal info)")


def _connection_flags(p: argparse.ArgumentParser, top: bool) -> None:
    """Where and how to connect. On the top-level parser with their defaults; repeated on each client
    command (defaults suppressed, so they only override when given), so that both
    ``xmodal --tls-ca ca.pem health`` and ``xmodal health --tls-ca ca.pem`` work."""
    kw = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("--address", help=f"server address host:port (default: $XMODAL_ADDRESS, then {M.DEFAULT_ADDRESS})", **kw)
    p.add_argument("--timeout", type=float, help="seconds to wait for each call (default 300)",
                   **({"default": 300.0} if top else kw))
    sec = p.add_argument_group("connection security (the server's own settings are under 'xmodal serve --help')")
    sec.add_argument("--tls-ca", metavar="PEM", help="connect with TLS, trusting this CA certificate "
                     "(default: $XMODAL_TLS_CA; without it and without --tls: plaintext)", **kw)
    sec.add_argument("--tls", action="store_true", help="connect with TLS, trusting the system's root certificates "
                     "(default: $XMODAL_TLS)", **({"default": None} if top else kw))
    sec.add_argument("--tls-cert", metavar="PEM", help="client certificate for mutual TLS, with --tls-key "
                     "(default: $XMODAL_TLS_CERT)", **kw)
    sec.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert (default: $XMODAL_TLS_KEY)", **kw)
    sec.add_argument("--tls-server-name", metavar="NAME", help="host name to verify in the server's certificate "
                     "when it differs from the address (default: $XMODAL_TLS_SERVER_NAME)", **kw)
    sec.add_argument("--token", help="bearer token sent with every call (default: $XMODAL_TOKEN; prefer the "
                     "variable: a flag shows in the process list)", **kw)


SERVER_MISSING = ("error: `xmodal {verb}` needs the xmodal server package (xmodal_server), which is not installed "
                  "here: this is the client alone (xmodal-client). From a checkout of the repository install the "
                  "server too: bash scripts/setup.sh, or pip install ./clients/python {target}")
TRAIN_MISSING = ("error: `xmodal {verb}` needs the training and evaluation extra, which is not installed here "
                 "(missing: {missing}). From a checkout of the repository: pip install ./clients/python \".[train]\" "
                 "(bash scripts/setup.sh installs it too)")


def _server_arguments():
    """The server's ``add_arguments`` when the server package is installed, else None. Only a missing
    xmodal_server counts as missing: a server whose own import fails raises, so the cause shows."""
    try:
        from xmodal_server.config import add_arguments
    except ModuleNotFoundError as e:
        if e.name in ("xmodal_server", "xmodal_server.config"):
            return None
        raise
    return add_arguments


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xmodal", description="Cross-modal retrieval server and client: images, text and speech in one space.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_flags(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_arguments = _server_arguments()
    if add_arguments is None:  # client-only install: any arguments are accepted, then main() says what to install
        serve = sub.add_parser("serve", help="run the server (not installed here: needs the server package)",
                               add_help=False)
        serve.set_defaults(server_missing=True)
    else:
        serve = sub.add_parser("serve", help="run the server", description="Run the xmodal gRPC server. Every "
                               "setting can also come from a TOML file (--config) or an XMODAL_<NAME> environment "
                               "variable.")
        add_arguments(serve)

    info = sub.add_parser("info", help="show the server's models, space and limits")
    info.add_argument("--json", action="store_true", help="print JSON")
    health = sub.add_parser("health", help="print the server's health status (exit 1 unless SERVING)")

    coll = sub.add_parser("collections", help="create, list or delete collections")
    csub = coll.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = csub.add_parser("create", help="create an empty collection")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--index-type", default="", choices=["auto", "exact", "ivf", "hnsw"],
                        help="exact (every item compared), ivf, hnsw, or auto (exact, then ivf once big); "
                             "default: the server's --index-type")
    lst = csub.add_parser("list", help="list collections with their item counts")
    lst.add_argument("--json", action="store_true", help="print JSON")
    delete = csub.add_parser("delete", help="delete a collection and all its items")
    delete.add_argument("name")
    reindex = csub.add_parser("reindex", help="re-embed a collection from its stored payloads (after a checkpoint change)")
    reindex.add_argument("name")

    add = sub.add_parser("add", help="add items to a collection")
    add.add_argument("collection")
    src = add.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="one text item")
    src.add_argument("--image", metavar="PATH", help="one image file")
    src.add_argument("--speech", metavar="PATH", help="one audio file")
    src.add_argument("--from-dir", metavar="DIR", help="every image/audio file in DIR (by extension); id = file stem")
    src.add_argument("--from-tsv", metavar="FILE", help="TSV with a header row: columns id, text, then metadata columns")
    add.add_argument("--id", help="item id (default: file stem, or a hash of the text)")
    add.add_argument("--meta", action="append", default=[], metavar="K=V", help="metadata entry (repeatable)")
    add.add_argument("--upsert", action="store_true", help="replace items whose id already exists (default: fail)")

    search = sub.add_parser("search", help="search a collection by text, image or speech")
    search.add_argument("collection")
    _add_query(search, search=True)
    search.add_argument("--top-k", type=int, default=10, help="number of hits (default 10)")
    search.add_argument("--modality", action="append", default=[], choices=["text", "image", "speech", "vector"],
                        help="only return items of this modality (repeatable)")
    search.add_argument("--where", action="append", default=[], metavar="K=V",
                        help="only items whose metadata K is V (repeatable: the same K again means 'or', "
                             "another K means 'and'); an unknown K is an error")
    search.add_argument("--nprobe", type=int, default=0, help="IVF collections: lists to visit (default: the collection's)")
    search.add_argument("--ef-search", type=int, default=0, help="HNSW collections: candidate list size (default: the collection's)")
    search.add_argument("--json", action="store_true", help='print {"hits": [{"id","score","modality","metadata"}...]}')

    embed = sub.add_parser("embed", help="print the shared-space vector of one input")
    _add_query(embed)
    embed.add_argument("--json", action="store_true", help="print JSON")

    for name, text in (("align", "train projection heads and write a checkpoint + report (needs the server package)"),
                       ("eval", "run the evaluation protocol for a checkpoint and write a report (needs the server package)")):
        p_ = sub.add_parser(name, help=text, description=text)
        p_.add_argument("--profile", default="embedded", choices=["embedded", "reference"])
        p_.add_argument("--work-dir", default="xmodal-align", help="cache of downloads, speech and features (default xmodal-align)")
        p_.add_argument("--limit", type=int, help="only the first N concepts/sentences per split (a quick trial)")
        p_.add_argument("--out", help="output directory (align: the checkpoint; eval: the report)")
        p_.add_argument("--text-model", help="override the text weights (hub id or directory)")
        p_.add_argument("--image-model", help="override the image weights")
        p_.add_argument("--speech-model", help="override the speech weights")
        if name == "align":
            p_.add_argument("--epochs", type=int, default=40)
            p_.add_argument("--lam", type=float, default=0.5, help="λ: weight of the image–text loss (1−λ for speech–text)")
            p_.add_argument("--depth", type=int, default=2, help="layers per head (1 = linear)")
            p_.add_argument("--hidden", type=int, default=1024)
            p_.add_argument("--seed", type=int, default=0)
            p_.add_argument("--no-real", action="store_true", help="skip the real human recordings")
            p_.add_argument("--train-styles", default="apple,facebook",
                            help="extra emoji art styles for training concepts only, comma-separated, '' for none "
                                 "(default apple,facebook; each is a ~100 MB npm download)")
            p_.add_argument("--unfreeze-top", type=int, default=0, metavar="N",
                            help="also fine-tune the top N layers of the backbone (EfficientNet-Lite0: N MBConv blocks "
                                 "+ the head conv; ResNet-50: N of layer4's 3 blocks) with the heads; default 0 = frozen "
                                 "backbones. Meant for a GPU: the input activations of those layers are cached once "
                                 "(~40 KB an image for EfficientNet N=1, ~400 KB for ResNet-50), then every epoch runs "
                                 "them forward and backward: on 2 CPU cores N=1 made training ~3.5x slower (13 vs 4 min, "
                                 "full data, 12 epochs) and did not improve validation (see docs/training.md)")
            p_.add_argument("--unfreeze-modalities", default="image",
                            help="backbones --unfreeze-top applies to, comma-separated (default image; the only one "
                                 "so far: the text encoder stays frozen by design, it is the pivot space)")
            p_.add_argument("--backbone-lr", type=float, default=1e-4,
                            help="peak learning rate of unfrozen backbone layers (default 1e-4; heads use 1e-3)")
            p_.add_argument("--asr-epochs", type=_int_range(0, 100), default=0, metavar="N",
                            help="also train low-rank adapters on the speech model's decoder for N epochs on the training "
                                 "voices' true transcripts (Whisper only; its encoder stays frozen and its outputs are "
                                 "cached once in --work-dir/asr-states, ~1.2 MB a clip); default 0 = pretrained decoder")
            p_.add_argument("--asr-rank", type=_int_range(1, 256), default=8, help="rank of the decoder adapters (default 8)")
            p_.add_argument("--asr-lr", type=float, default=1e-3, help="learning rate of the decoder adapters (default 1e-3)")
            p_.add_argument("--device", default="auto",
                            help="torch device for encoding and training: auto (default: cuda when available, else cpu), "
                                 "cpu, cuda, cuda:1...")
        else:
            p_.add_argument("--checkpoint", help="checkpoint directory (default: the server's default)")
            p_.add_argument("--rerank", type=_depths, default=(), metavar="K[,K...]",
                            help="also measure SearchBySpeech re-ranking of the fused top K (one method per K, e.g. 25,64) "
                                 "on the speech tasks with text galleries (the speech model scores each clip's K texts: "
                                 "~1 s a clip on 2 CPU cores the first time, cached in --work-dir afterwards); the server's "
                                 "default re-ranking (--rerank-candidates) is always measured")
            p_.add_argument("--sound-alike", type=_int_range(0, 64), default=None, metavar="N",
                            help="with --rerank: each K is measured alone and with N sound-alike candidates, as the "
                                 "server's --rerank-sound-alike (0..64; default: the server's default)")
            p_.add_argument("--sound-alike-weight", type=float, default=None, metavar="W",
                            help="also measure the fused search ranked by cosine + W x sound-alike similarity, as "
                                 "SearchBySpeech does (and under each --rerank K); 0 skips it (default: the server's)")

    delete_items = sub.add_parser("delete", help="delete items by id")
    delete_items.add_argument("collection")
    delete_items.add_argument("ids", nargs="+")
    for client_command in (info, health, create, lst, delete, reindex, add, search, embed, delete_items):
        _connection_flags(client_command, top=False)
    return p


def _meta(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --meta {pair!r} must look like KEY=VALUE")
        out[key] = value
    return out


def _where(pairs: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --where {pair!r} must look like KEY=VALUE")
        out.setdefault(key, []).append(value)
    return out


def _chunks(items: list, n: int) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class _Counter:
    """The progress shown without tqdm (the client distribution does not need it): one line on stderr, rewritten."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.n = total, desc, 0

    def __enter__(self) -> "_Counter":
        self._show()
        return self

    def update(self, n: int) -> None:
        self.n += n
        self._show()

    def _show(self) -> None:
        end = "\n" if self.n >= self.total else ""
        print(f"\r{self.desc}: {self.n}/{self.total} items", end=end, file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self.n < self.total:
            print(file=sys.stderr)


def _progress(total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # the client alone: pip install "./clients/python[progress]" for a bar
        return _Counter(total, desc)
    return tqdm(total=total, desc=desc, unit="item", file=sys.stderr)


def _bulk_add(client: Client, collection: str, items: list, upsert: bool = False) -> int:
    added = 0
    with _progress(len(items), f"adding to {collection}") as bar:
        for chunk in _chunks(items, BATCH):
            added += client.upsert_items(collection, chunk)[0] if upsert else client.add_items(collection, chunk)
            bar.update(len(chunk))
    return added


def _items_from_dir(folder: Path) -> list:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXT | AUDIO_EXT)
    if not files:
        raise SystemExit(f"error: no image ({', '.join(sorted(IMAGE_EXT))}) or audio ({', '.join(sorted(AUDIO_EXT))}) files in {folder}")
    stems = [f.stem for f in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise SystemExit(f"error: several files share the id(s) {dupes[:5]} (same stem, different extension); rename them")
    return [
        M.Item.image(f.stem, f, {"file": f.name}) if f.suffix.lower() in IMAGE_EXT else M.Item.speech(f.stem, f, {"file": f.name})
        for f in files
    ]


def _items_from_tsv(path: Path) -> list:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or not {"id", "text"} <= set(rows[0]):
        raise SystemExit(f"error: {path} needs a header row with columns 'id' and 'text' (then metadata columns)")
    return [M.Item.text(r["id"], r["text"], {k: v for k, v in r.items() if k not in ("id", "text") and v is not None})
            for r in rows]


def _print_search(result: M.SearchResult, as_json: bool) -> None:
    if as_json:
        out = {"hits": [h.to_json() for h in result.hits]}
        if result.transcript:
            out["transcript"] = result.transcript
        if result.transcript_logprob is not None:
            out["transcript_logprob"] = result.transcript_logprob
        print(json.dumps(out, ensure_ascii=False))
        return
    if result.transcript:
        heard = f"  (log-prob per token {result.transcript_logprob:.2f})" if result.transcript_logprob is not None else ""
        print(f"heard: {result.transcript!r}{heard}")
    for rank, h in enumerate(result.hits, 1):
        label = h.metadata.get("name") or h.text[:80]
        scored = f"  [log-prob {h.transcript_logprob:.2f}]" if h.transcript_logprob is not None else ""
        sounds = f"  [sounds alike {h.sound_alike:.2f}]" if h.sound_alike is not None else ""
        print(f"{rank:>3}. {h.score:+.4f}  {h.modality:<6} {h.id}  {label}{sounds}{scored}")


def run(args: argparse.Namespace, client: Client) -> int:
    cmd = args.command
    if cmd == "info":
        info = client.info()
        if args.json:
            print(json_format.MessageToJson(info, preserving_proto_field_name=True))
        else:
            print(f"xmodal {info.version}  profile={info.profile}  device={info.device}")
            print(f"space {info.space_id}  dim={info.shared_dim}  aligned={info.aligned}")
            print(f"  {info.alignment_note}")
            for e in info.encoders:
                print(f"  {M.MODALITY_NAMES.get(e.modality):<6} {e.name:<20} {e.architecture} -> head {e.head}")
            modes = [common_pb2.SpeechMode.Name(m).removeprefix("SPEECH_MODE_").lower() for m in info.speech_modes]
            rerank = (f"; re-ranking (search --rerank K): top {info.rerank_candidates or 'off'} by default, gate "
                      f"{info.rerank_gate:.1f} log-prob per token, {info.rerank_sound_alike} sound-alike texts"
                      if info.HasField("rerank_gate")
                      else "; no re-ranking (the speech encoder cannot score texts)")
            print(f"speech modes: {', '.join(modes)} (first = default){rerank}; sound-alike weight "
                  f"{info.sound_alike_weight:g} (search --sound-alike-weight W)")
            if info.metrics:
                # The checkpoint's own numbers (xmodal align, per method); the server's speech search adds the
                # sound-alike ranking and re-ranking on top, which xmodal eval measures.
                print("checkpoint metrics (test split, from xmodal align; SearchBySpeech's defaults add sound-alike "
                      "ranking and re-ranking: xmodal eval, README):")
            for key, value in sorted(info.metrics.items()):
                print(f"  {key}: {value}")
            print(f"index: {info.index_backend}")
        return 0
    if cmd == "health":
        status = client.health()
        print(status)
        return 0 if status == "SERVING" else 1
    if cmd == "collections":
        if args.action == "create":
            c = client.create_collection(args.name, args.description, args.index_type)
            print(f"created {c['name']} (dim {c['dim']}, space {c['space_id']}, index {c['index_type']})")
        elif args.action == "reindex":
            c, n = client.reindex_collection(args.name)
            print(f"reindexed {n} items of {c['name']} into space {c['space_id']}")
        elif args.action == "delete":
            client.delete_collection(args.name)
            print(f"deleted {args.name}")
        else:
            cols = client.list_collections()
            if args.json:
                print(json.dumps(cols))
            for c in [] if args.json else cols:
                print(f"{c['name']:<24} {c['item_count']:>8} items  dim {c['dim']}  {c['space_id']}  index {c['index_state']}")
        return 0
    if cmd == "add":
        if args.from_dir or args.from_tsv:
            items = _items_from_dir(Path(args.from_dir)) if args.from_dir else _items_from_tsv(Path(args.from_tsv))
            print(f"added {_bulk_add(client, args.collection, items, args.upsert)} items to {args.collection}")
            return 0
        meta = _meta(args.meta)
        if args.text is not None:
            item = M.Item.text(args.id or hashlib.sha1(args.text.encode()).hexdigest()[:12], args.text, meta)
        elif args.image:
            item = M.Item.image(args.id or Path(args.image).stem, args.image, meta)
        else:
            item = M.Item.speech(args.id or Path(args.speech).stem, args.speech, meta)
        if args.upsert:
            replaced = client.upsert_items(args.collection, [item])[1]
            print(f"{'replaced' if replaced else 'added'} {item.id} in {args.collection}")
        else:
            client.add_items(args.collection, [item])
            print(f"added {item.id} to {args.collection}")
        return 0
    if cmd == "delete":
        deleted, missing = client.delete_items(args.collection, args.ids)
        print(f"deleted {deleted}" + (f"; not found: {', '.join(missing)}" if missing else ""))
        return 0
    if cmd == "search":
        knobs = dict(where=_where(args.where), nprobe=args.nprobe, ef_search=args.ef_search)
        if args.like is not None:
            result = client.search_like(args.collection, args.like, args.top_k, args.modality, **knobs)
        elif args.text is not None:
            result = client.search_text(args.collection, args.text, args.top_k, args.modality, **knobs)
        elif args.image:
            result = client.search_image(args.collection, args.image, args.top_k, args.modality, **knobs)
        else:
            result = client.search_speech(args.collection, args.speech, args.top_k, args.modality,
                                          mode=args.speech_mode, direct_weight=args.direct_weight,
                                          rerank=args.rerank, sound_alike=args.sound_alike,
                                          sound_alike_weight=args.sound_alike_weight, **knobs)
        _print_search(result, args.json)
        return 0
    if cmd == "embed":
        if args.text is not None:
            emb = client.embed_text([args.text])
        elif args.image:
            emb = client.embed_image([args.image])
        else:
            emb = client.embed_speech([args.speech], mode=args.speech_mode, direct_weight=args.direct_weight)
        vec = emb.vectors[0]
        if args.json:
            print(json.dumps({"space_id": emb.space_id, "dim": int(vec.size), "vector": [float(x) for x in vec],
                              "transcript": emb.transcripts[0], "truncated": emb.truncated[0]}))
        else:
            print(f"space {emb.space_id} dim {vec.size}: [{', '.join(f'{x:.4f}' for x in vec[:8])}, ...]")
            if emb.transcripts[0]:
                print(f"heard: {emb.transcripts[0]!r}")
        return 0
    raise AssertionError(cmd)


def _train_missing() -> list[str]:
    """The train extra's modules that are not installed (the server's own dependencies are checked by its import)."""
    import importlib.util

    return [name for name in ("matplotlib",) if importlib.util.find_spec(name) is None]


def _offline(args: argparse.Namespace) -> int:
    if _server_arguments() is None:
        print(SERVER_MISSING.format(verb=args.command, target='".[train]"'), file=sys.stderr)
        return 2
    missing = _train_missing()
    if missing:
        print(TRAIN_MISSING.format(verb=args.command, missing=", ".join(missing)), file=sys.stderr)
        return 2
    from xmodal_server.align import pipeline
    import logging

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {"text": args.text_model, "image": args.image_model, "speech": args.speech_model}
    work = Path(args.work_dir)
    if args.command == "align":
        from xmodal_server.align.train import TrainConfig

        cfg = TrainConfig(epochs=args.epochs, lam=args.lam, depth=args.depth, hidden=args.hidden, seed=args.seed,
                          unfreeze_top=args.unfreeze_top, backbone_lr=args.backbone_lr, asr_epochs=args.asr_epochs,
                          asr_rank=args.asr_rank, asr_lr=args.asr_lr,
                          unfreeze=tuple(m for m in args.unfreeze_modalities.split(",") if m))
        out = Path(args.out or f"checkpoints/{args.profile}-latest")
        styles = tuple(s for s in args.train_styles.split(",") if s)
        device = args.device
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        path = pipeline.run_align(args.profile, work, out, cfg, args.limit, overrides, with_real=not args.no_real,
                                  train_styles=styles, device=device)
        print(f"checkpoint written to {path}; report: {path / 'report' / 'report.md'}")
    else:
        out = Path(args.out or "reports/eval")
        print(f"report written to {pipeline.run_eval(args.checkpoint, args.profile, work, out, args.limit, overrides, args.rerank, args.sound_alike, args.sound_alike_weight)}")
    return 0


def security_options(args: argparse.Namespace, env=None) -> dict:
    """Client keyword arguments from the flags, each falling back to its XMODAL_* variable."""
    env = os.environ if env is None else env

    def pick(name: str):
        return getattr(args, name, None) or env.get("XMODAL_" + name.upper()) or None

    tls_env = env.get("XMODAL_TLS", "").strip().lower() in ("1", "true", "yes", "on")
    return {"tls": bool(getattr(args, "tls", None) or tls_env), "tls_ca": pick("tls_ca"), "tls_cert": pick("tls_cert"),
            "tls_key": pick("tls_key"), "tls_server_name": pick("tls_server_name"), "token": pick("token")}


def _hint(code: grpc.StatusCode, opts: dict) -> str:
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return ("this server wants a bearer token: pass --token TOKEN or set XMODAL_TOKEN "
                "(a token from the server's --auth-tokens-file)")
    if code == grpc.StatusCode.UNAVAILABLE:
        if not (opts["tls"] or opts["tls_ca"]):
            return "is the server running? If it uses TLS, pass --tls-ca CA.pem (or --tls for the system's roots)"
        if not opts["tls_cert"]:
            return "is the server running? If it requires client certificates (mutual TLS), pass --tls-cert and --tls-key"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "server_missing", False):  # `xmodal serve ...` with the client alone: any arguments, one message
        print(SERVER_MISSING.format(verb="serve", target="."), file=sys.stderr)
        return 2
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "search" and args.sound_alike is not None and args.rerank is None:
        parser.error("search --sound-alike N applies to an explicit --rerank K (the server's default depth: xmodal info)")
    if args.command == "serve":
        from xmodal_server.main import serve_from_args

        return serve_from_args(args)
    if args.command in ("align", "eval"):
        return _offline(args)
    security = security_options(args)
    try:
        client = Client(args.address, timeout=args.timeout, **security)
    except (OSError, ValueError) as e:  # unreadable TLS file, --tls-cert without --tls-key, a bad token
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        with client:
            return run(args, client)
    except M.XmodalClientError as e:
        print(f"error: {e.code.name}: {e.details}", file=sys.stderr)
        hint = _hint(e.code, security)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
