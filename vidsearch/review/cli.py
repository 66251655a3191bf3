"""`vidsearch review`: the review page on its own, in front of any vidsearch server."""

from __future__ import annotations

import argparse
import threading
from typing import Any

from vidsearch.cli_args import existing_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "review",
        help="serve the review page (copy matches side by side) for a running server",
        description=(
            "A web page where a person searches by clip or text and looks at each match: "
            "query and reference side by side, matched segments grey on the progress "
            "bars. It calls the gRPC server with the caller's bearer token. `make run` "
            "starts it beside the server (`vidsearch serve --review-port`)."
        ),
    )
    parser.add_argument("--target", default="127.0.0.1:50051", help="gRPC server host:port")
    parser.add_argument("--config", type=existing_file, default=None,
                        help="the server's YAML config (for its upload limit)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address of the page")
    parser.add_argument("--port", type=int, default=8765, help="port of the page; 0 = any")
    parser.add_argument("--ca-cert", type=existing_file, default=None,
                        help="PEM CA bundle: call the server over TLS")
    parser.set_defaults(func=review)


def review(args: argparse.Namespace) -> int:
    from vidsearch.config import load_config

    try:
        from vidsearch.review.app import ReviewSettings
        from vidsearch.review.server import start_review
    except ModuleNotFoundError as exc:
        print(f"vidsearch review needs the web extra ({exc.name} is missing): "
              "pip install 'vidsearch[web]'")
        return 2
    credentials = None
    if args.ca_cert is not None:
        import grpc

        credentials = grpc.ssl_channel_credentials(args.ca_cert.read_bytes())
    config = load_config(args.config)
    settings = ReviewSettings(target=args.target, credentials=credentials,
                              max_upload_bytes=config.media.max_upload_bytes)
    running = start_review(settings, args.host, args.port)
    print(f"Review page: {running.url} (for the server at {args.target})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0
