"""Run the askpanel web app on a real uvicorn server in a background thread, for the web and browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def running(assistant: Any) -> Iterator[str]:
    """Serve build_app(assistant) on 127.0.0.1 at a free port; yield its base URL; stop it afterwards."""
    import uvicorn

    from askpanel.web import build_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the OS picks the port; handing over the bound socket avoids a race for it
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(assistant), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
