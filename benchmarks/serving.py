"""`python app.py` served on a loopback port in a process of its own, for benchmarks and the
tests that must kill and restart the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(port: int, bound_s: float = 300.0, **env: str) -> subprocess.Popen:
    """Start the app with `env` added to this process's environment; return once it serves
    its page (within `bound_s`, a bound for a busy machine)."""
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           **env}  # fmt: skip
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError("app.py exited before serving")
    process.terminate()
    raise RuntimeError(f"app.py did not serve within {bound_s:.0f} s")
