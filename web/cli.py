"""The ``loopvan`` console script: dispatch's CLI plus serving the web app."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dispatch.cli import main as dispatch_main
from dispatch.settings import Settings


def serve(settings: Settings, host: str, port: int) -> int:
    """Run the web app until interrupted."""
    from web import create_app

    app = create_app({"LOOPVAN_SETTINGS": settings})
    print(f"serving the dispatcher view on http://{host}:{port}/  (Ctrl-C to stop)", flush=True)
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``loopvan`` command."""
    return dispatch_main(argv, serve=serve)


if __name__ == "__main__":
    sys.exit(main())
