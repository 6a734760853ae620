"""Command line and serving.

    python -m crossdeploy_emulator --port 0 [--host 127.0.0.1] [--exit-on-stdin-eof] [--verbose]

Order of events:
1. ``INITIAL_NO_AUTH_ACTION_COUNT=0`` is put in the environment before moto is imported
   (``__main__`` does it; ``main`` re-asserts it on ``moto.settings``): every request is
   SigV4-checked and authorized against IAM policies from the first one on.
2. The extensions are installed (fast_paths, trust, s3_policy, codedeploy_api,
   protocol_errors, counters, faults).
3. The world is seeded in-process (``world.seed``).
4. moto's WSGI app (``DomainDispatcherApplication``, as ``moto_server`` builds it) is
   wrapped by ``faults.FaultMiddleware`` and ``counters.RecordingMiddleware`` (which
   also routes ``/_crossdeploy``) and served by werkzeug's threaded server on
   ``host:port`` (port 0 = a free port).
5. Exactly one JSON line (``world.describe``) goes to stdout; everything else, including
   anything moto ``print``s, goes to stderr.
6. Serve until SIGTERM/SIGINT, or stdin EOF with ``--exit-on-stdin-eof``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Optional

log = logging.getLogger("crossdeploy_emulator")

# Backends created eagerly so the first request of a test is not the slow one.
WARM_BACKENDS = ("sts", "s3", "codedeploy", "iam")


def _parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m crossdeploy_emulator",
        description="moto server with IAM enforcement, crossdeploy extensions and a seeded "
        "two-account world. Prints one JSON line with the world on stdout when ready.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin reaches EOF (the parent process went away)")
    parser.add_argument("--verbose", action="store_true",
                        help="log every request (werkzeug access log) and debug details")
    return parser.parse_args(argv)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s emulator %(levelname)s %(name)s: %(message)s",
    )
    # werkzeug logs one INFO line per request; moto logs request data (including
    # AssumeRole's ExternalId) at DEBUG. Keep both quiet unless asked.
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("moto", "botocore", "urllib3", "flask_cors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_app() -> tuple[object, object]:
    """(wrapped WSGI app, moto's dispatcher). Extensions must be installed first."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from . import control_api, counters, faults

    dispatcher = DomainDispatcherApplication(create_backend_app)
    for service in WARM_BACKENDS:
        dispatcher.app_instances[service] = create_backend_app(service)
    app = counters.RecordingMiddleware(faults.FaultMiddleware(dispatcher), control_api.application)
    return app, dispatcher


def install_extensions() -> None:
    from moto import settings

    # Set before import by __main__; re-asserted here for callers that import us
    # directly. moto reads settings.INITIAL_NO_AUTH_ACTION_COUNT on every request.
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0

    from . import (
        codedeploy_api,
        codedeploy_iam,
        counters,
        fast_paths,
        faults,
        protocol_errors,
        s3_policy,
        trust,
    )

    fast_paths.install()
    trust.install()
    s3_policy.install()
    codedeploy_api.install()
    codedeploy_iam.install()  # before protocol_errors/counters/faults wrap authorization
    protocol_errors.install()
    counters.install()
    faults.install()


def main(argv: Optional[list[str]] = None) -> int:
    started = time.monotonic()
    args = _parse_args(argv)
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    if os.environ.pop("MOTO_ACCOUNT_ID", None):
        print("emulator: ignoring MOTO_ACCOUNT_ID (accounts come from access keys)", file=sys.stderr)

    # stdout carries exactly one line (the world); route every other print to stderr.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    _configure_logging(args.verbose)

    install_extensions()

    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    from . import codedeploy_behaviour, control_api, world

    seeded = world.seed()
    app, _ = build_app()
    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=MotoRequestHandler)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)  # for moto code that calls itself back
    host = args.host if ":" not in args.host else f"[{args.host}]"
    endpoint = f"http://{host}:{port}"
    description = world.describe(
        seeded, endpoint, codedeploy_behaviour.BEHAVIOURS.default.to_json()
    )
    control_api.set_world(description)

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.exit_on_stdin_eof:
        def watch_stdin() -> None:
            # os.read on the raw fd, not sys.stdin: a daemon thread blocked inside a
            # buffered reader makes interpreter shutdown abort ("could not acquire lock").
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            log.info("stdin closed: shutting down")
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()

    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                               name="http", daemon=True)
    serving.start()
    real_stdout.write(json.dumps(description, separators=(",", ":")) + "\n")
    real_stdout.flush()
    log.info("ready on %s in %.2fs (moto %s, IAM enforcement on)", endpoint,
             time.monotonic() - started, _moto_version())

    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


def _moto_version() -> str:
    try:
        import moto

        return moto.__version__
    except Exception:  # pragma: no cover
        return "?"
