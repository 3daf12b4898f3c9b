"""A loopback stand-in for ZeroGPU's device API, for running the app as a ZeroGPU Space on a CPU.

`spaces` (the package a ZeroGPU Space runs under) calls four POST endpoints: `/startup-report`
once at launch, then for every GPU call `/schedule` (answered with a GPU and an allow token),
`/allow` from the forked worker, and `/release` when the call ends. This server grants every
schedule at once, unless told to refuse the next ones as an exhausted quota does, and records
every call with its query parameters, in order.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    path: str  # /startup-report, /schedule, /allow or /release
    params: dict[str, str]


class DeviceApi:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.refusals = 0  # how many coming /schedule calls to refuse as over quota
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                url = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                status, body = api._answer(Call(url.path, params))
                self.send_response(status)
                if body is not None:
                    data = json.dumps(body).encode()
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self.send_header("content-length", "0")
                    self.end_headers()

            def log_message(self, *args) -> None:  # quiet: the calls are recorded instead
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, call: Call) -> tuple[int, dict | None]:
        with self._lock:
            self.calls.append(call)
            if call.path != "/schedule":
                return 200, None
            if self.refusals:
                self.refusals -= 1
                return 429, {"left": 5, "wait": 3600}  # seconds of quota left, seconds to wait
        grant = {"idle": True, "nvidiaIndex": 0, "nvidiaUUID": "GPU-stand-in", "allowToken": "t"}
        return 200, grant

    def paths(self) -> list[str]:
        with self._lock:
            return [call.path for call in self.calls]

    def of(self, path: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.path == path]

    def __enter__(self) -> DeviceApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
