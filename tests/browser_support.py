"""What the browser tests share: Debian's chromium, where screenshots go, a private copy of
the demo database and a live server for a browser to open.

Not a test module (no ``test_`` prefix); the test files import it as ``browser_support``,
which works because pytest's default ``prepend`` import mode puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from werkzeug.serving import make_server

from dispatch.settings import REPO_ROOT

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

CHROMIUM = os.environ.get("LOOPVAN_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("LOOPVAN_SCREENSHOTS", REPO_ROOT / "artifacts" / "screenshots"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists(),
    reason=f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
)


def copy_sqlite(src_url: str, dst: Path) -> str:
    """A consistent copy of the SQLite database at ``src_url`` in ``dst``; the copy's URL.

    SQLite's backup API rather than a file copy: the demo database is in WAL mode, and a
    consistent copy must include what still sits in the write-ahead log.
    """
    with (
        contextlib.closing(sqlite3.connect(src_url.split("///", 1)[1])) as src,
        contextlib.closing(sqlite3.connect(dst)) as out,
    ):
        src.backup(out)
    return f"sqlite:///{dst}"


@contextlib.contextmanager
def serve(app: WSGIApplication) -> Iterator[str]:
    """``app`` (any WSGI app) on a free loopback port in a daemon thread; its base URL."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
