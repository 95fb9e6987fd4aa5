"""`xmodal serve` as a real process for tests: started, waited on until it says it is SERVING, and never left
behind."""
from __future__ import annotations

import os
import re
import subprocess
from contextlib import contextmanager
from typing import Iterator

SERVING = re.compile(r"xmodal SERVING on [\d.]+:(\d+)")


@contextmanager
def serving(argv: list[str]) -> Iterator[tuple[subprocess.Popen, str, list[str]]]:
    """Runs ``argv`` (an ``xmodal serve`` command line with ``--port 0``) and yields (the process, its address,
    the lines it printed up to SERVING); kills it on the way out if the test did not stop it."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            m = SERVING.search(line)
            if m:
                break
        else:
            raise AssertionError("the server did not start:\n" + "".join(log))
        yield proc, f"127.0.0.1:{m.group(1)}", log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
