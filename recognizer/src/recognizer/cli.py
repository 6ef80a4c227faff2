"""`python -m recognizer serve|embed|compare --pairs` (the CLI contract in ../shared/DESIGN.md), and
`rekey`, the last step of an embedding-key rotation (recognizer/README.md).

`embed` and `compare` use the same FaceEmbedder and the same decision rule (faces.metric.is_match
with FACEFLEET_THRESHOLD) as the service, so offline results equal what a login would decide.
Per-image failures are data (an `error` field holding the contract code), not a failed exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from recognizer import wiring
from recognizer.config import ConfigError, Settings
from recognizer.errors import FacefleetError
from recognizer.faces.protocol import Embedder
from recognizer.logs import configure_logging


def _embed_path(embedder: Embedder, path: str) -> tuple[list[float] | None, str | None]:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None, "not_found"
    try:
        return [float(x) for x in embedder.embed(data).embedding], None
    except FacefleetError as exc:
        return None, exc.code.value


def cmd_embed(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    embedder = wiring.load_embedder(settings)
    try:
        for path in args.images:
            vec, err = _embed_path(embedder, path)
            out.write(
                json.dumps({"path": path, "embedding": vec} if err is None else {"path": path, "error": err}) + "\n"
            )
            out.flush()
    finally:
        embedder.close()
    return 0


def _pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"line {n}: expected pathA<TAB>pathB, got {line!r}")
        pairs.append((fields[0], fields[1]))
    return pairs


def cmd_compare(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from recognizer.faces import metric

    try:
        pairs = _pairs(Path(args.pairs).read_text())
    except (OSError, ValueError) as exc:
        print(f"recognizer compare: {exc}", file=sys.stderr)
        return 2
    threshold = settings.threshold if args.threshold is None else args.threshold
    embedder = wiring.load_embedder(settings)
    cache: dict[str, tuple[list[float] | None, str | None]] = {}  # each distinct image embedded once

    def get(path: str) -> tuple[list[float] | None, str | None]:
        key = os.path.realpath(path)
        if key not in cache:
            cache[key] = _embed_path(embedder, path)
        return cache[key]

    try:
        for a, b in pairs:
            (va, ea), (vb, eb) = get(a), get(b)
            row: dict[str, Any] = {
                "a": a,
                "b": b,
                "distance": None,
                "threshold": threshold,
                "match": None,
                "error": ea or eb,
            }
            if va is not None and vb is not None and row["error"] is None:
                d = metric.distance(np.asarray(va), np.asarray(vb))
                row.update(distance=d, match=metric.is_match(d, threshold))
            out.write(json.dumps(row) + "\n")
            out.flush()
    finally:
        embedder.close()
    return 0


def cmd_rekey(settings: Settings, out: TextIO) -> int:
    """Re-encrypt stored embeddings with FACEFLEET_EMBEDDING_KEY; print one JSON report line.

    Exit 0 when every user is now under the current key; 1 when some user could not be read or
    changed during the run (run it again; the message says which).
    """
    from dataclasses import asdict

    try:
        settings.check_secrets()
    except ConfigError as exc:
        print(f"recognizer rekey: {exc}", file=sys.stderr)
        return 2
    if settings.is_replica:
        print(
            "recognizer rekey: this recognizer is a replica (FACEFLEET_HOME_URL is set); run rekey at the home: "
            "the re-encrypted users reach every replica from there",
            file=sys.stderr,
        )
        return 2
    repo = wiring.repository(settings)
    try:
        report = repo.rekey_users()
    except FacefleetError as exc:
        print(f"recognizer rekey: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        repo.close()
    out.write(json.dumps(asdict(report)) + "\n")
    if report.unreadable:
        print(
            f"recognizer rekey: {report.unreadable} user(s) open with neither FACEFLEET_EMBEDDING_KEY nor "
            "FACEFLEET_EMBEDDING_KEY_PREVIOUS (their names are in the log); keep the previous key until "
            "they are re-enrolled",
            file=sys.stderr,
        )
        return 1
    if report.changed_meanwhile:
        print(
            f"recognizer rekey: {report.changed_meanwhile} user(s) changed during the run; run it again",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from recognizer import weights
    from recognizer.api import create_app

    configure_logging(settings.log_level)
    try:
        settings.check_secrets()
        weights.check_weights()  # fail fast, with the fix in the message, before binding the port
    except (ConfigError, RuntimeError) as exc:
        print(f"recognizer serve: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    # X-Forwarded-For is believed only from FACEFLEET_TRUSTED_PROXIES: uvicorn's own default trusts
    # 127.0.0.1, which let any local caller pick a fresh address per request and dodge the
    # per-client 1:N limit (tests/reliability/test_abuse.py).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=[str(net) for net in settings.trusted_proxies] or None,
    )
    error = app.state.runtime.model_error
    if error:
        print(f"recognizer serve: the face model failed to load: {error}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recognizer", description="facefleet recognizer")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    embed = sub.add_parser("embed", help="print one JSON line per image: {path, embedding} or {path, error}")
    embed.add_argument("images", nargs="+", metavar="IMAGE")
    cmp_ = sub.add_parser("compare", help="compare image pairs listed in a file (pathA<TAB>pathB per line)")
    cmp_.add_argument("--pairs", required=True, metavar="FILE")
    cmp_.add_argument("--threshold", type=float, default=None, help="override FACEFLEET_THRESHOLD")
    sub.add_parser(
        "rekey",
        help="re-encrypt stored embeddings with FACEFLEET_EMBEDDING_KEY "
        "(those only FACEFLEET_EMBEDDING_KEY_PREVIOUS opens)",
    )
    return p


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"recognizer: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return cmd_serve(args, settings)
    if args.command == "rekey":
        configure_logging(settings.log_level)
        return cmd_rekey(settings, out)
    try:
        if args.command == "embed":
            return cmd_embed(args, settings, out)
        return cmd_compare(args, settings, out)
    except RuntimeError as exc:  # missing weights: the message says how to fix it
        print(f"recognizer {args.command}: {exc}", file=sys.stderr)
        return 2
