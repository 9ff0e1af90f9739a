"""More than one Lambda instance locally: `aiusage serve --workers N`.

The local gateway runs one invocation at a time (one instance, as a Lambda
instance is), so concurrency against the embedded DynamoDB needs processes.
The serving process and N - 1 worker processes each listen on the same port
(SO_REUSEPORT: the kernel spreads connections over them) and run the same
gateway and handlers against the serving process's embedded DynamoDB, whose
endpoint and settings they inherit through the environment.

    python -m aiusage.local.workers HOST PORT [log|quiet]
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from typing import Any

READY = "worker ready"


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket other processes may bind too (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def http_server(sock: socket.socket, access_log: bool = True) -> Any:
    """The gateway, with the very same Lambda handlers, on an already listening socket."""
    from werkzeug.serving import make_server

    from aiusage.local.gateway import Gateway
    from functions.api.handler import lambda_handler as api
    from functions.authorizer.handler import lambda_handler as authorizer

    host, port = sock.getsockname()[:2]
    gateway = Gateway(api, authorizer, access_log=log_request if access_log else None)
    return make_server(host, port, gateway, threaded=True, fd=sock.fileno())


def log_request(line: str) -> None:
    """A request's line on stderr: a worker's stdout is a pipe read only up to its ready line."""
    print(line, file=sys.stderr, flush=True)


def start_workers(count: int, host: str, port: int, access_log: bool = True) -> list[subprocess.Popen]:
    """Start `count` worker processes on the port and wait until each listens."""
    workers = []
    for _ in range(count):
        process = subprocess.Popen([sys.executable, "-m", "aiusage.local.workers", host, str(port),
                                    "log" if access_log else "quiet"],
                                   stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        workers.append(process)
    for process in workers:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith(READY):
            stop_workers(workers)
            raise RuntimeError(f"a worker did not start: {line!r}")
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for process in workers:
        if process.poll() is None:
            process.terminate()
    for process in workers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main(host: str, port: str, log: str = "log") -> None:
    server = http_server(shared_socket(host, int(port)), access_log=log == "log")
    print(READY, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:4])
