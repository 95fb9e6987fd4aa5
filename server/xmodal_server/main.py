"""``xmodal serve``: config from file/env/flags, logging, then run the app until a signal."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys

from .config import from_args
from .errors import XmodalError
from .logs import setup_logging


def serve_from_args(args: argparse.Namespace) -> int:
    try:
        config = from_args(args)
    except XmodalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    setup_logging(config.log_level, config.log_format)
    from .app import serve

    try:
        asyncio.run(serve(config))
    except XmodalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        # Model loading failures (missing weights, unreachable hub, wrong file) and bind errors:
        # the encoders' messages already say what to pass instead.
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
