"""`ganforge serve`: a local page that draws samples on demand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganforge import api


def register(commands) -> None:
    serve = commands.add_parser("serve", help="a local web page that draws samples on demand")
    serve.add_argument("source", type=Path, help="a run folder, checkpoint or exported file")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--no-ema", action="store_true")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    server = api.serve(args.source, host=args.host, port=args.port, ema=not args.no_ema)
    host, port = server.server_address[:2]
    print(f"ganforge: serving {args.source} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("ganforge: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
