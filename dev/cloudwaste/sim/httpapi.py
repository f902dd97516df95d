"""What the local Azure and GCP endpoints share: a threaded HTTP server on 127.0.0.1 that serves a
vendor's REST shapes from an in-memory estate, checks bearer tokens, records every request and
injects faults (throttling with Retry-After, a failing subscription or project) on request.

The cloud SDKs talk to it exactly as to the real APIs (the scanner only changes their base URL),
so paging, retries, errors and authentication go through the SDKs' own code.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ADMIN_PREFIX = "/_sim/"

@dataclass
class Fault:
    """Answer `status` to requests whose path matches `path` (a regex searched in the path,
    query excluded) and whose method is `method` (None: any): `times` times (None: always)."""

    path: str
    status: int
    times: int | None = None
    retry_after: int | None = None  # seconds, an integer as HTTP says
    code: str = "Injected"
    message: str = "injected fault"
    method: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return re.search(self.path, path) is not None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body that is not JSON (a CSV download), sent as is
    content_type: str = "application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class LocalApi:
    """Base of a local vendor endpoint. Subclasses implement `route(method, path, query, body)`
    (returning a Response or raising ApiError), `error_body(status, code, message)` in the
    vendor's error shape, and `token(path, form)` for their token endpoint (None: not a token
    request)."""

    name = "api"

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every API request served
        self.lock = threading.RLock()
        self.current = threading.local()  # the request being served by this thread (`.token`)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- what tests and the estate use -----------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return token

    def call_count(self, pattern: str = "", method: str | None = None) -> int:
        with self.lock:
            return sum(
                1 for m, p in self.calls if (method is None or m == method) and re.search(pattern, p)
            )

    def start(self, port: int = 0) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: tests read api.calls instead
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                resp = api.handle(method, self.path, dict(self.headers.items()), raw)
                if resp.raw is not None:
                    payload = resp.raw
                else:
                    payload = b"" if resp.body is None else json.dumps(resp.body).encode()
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.name}-api", daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the request path ------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> Response:
        split = urllib.parse.urlsplit(raw_path)
        path = split.path
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        try:
            if path.startswith(ADMIN_PREFIX):  # the estate's own controls, not the vendor's API
                return self.admin(method, path.removeprefix(ADMIN_PREFIX), json.loads(raw) if raw else {})
            form = self.token(path, raw)
            if form is not None:
                return form
            with self.lock:
                self.calls.append((method, path))
                fault = next((f for f in self.faults if f.matches(method, path)), None)
                if fault is not None:
                    fault.hits += 1
            if fault is not None:
                extra = {} if fault.retry_after is None else {"Retry-After": str(int(fault.retry_after))}
                return Response(fault.status, self.error_body(fault.status, fault.code, fault.message), extra)
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if not auth.startswith("Bearer ") or not self.accepts(auth[7:]):
                raise ApiError(401, "InvalidAuthenticationToken", "the access token is missing or invalid")
            self.current.token = auth[7:]
            body = json.loads(raw) if raw else None
            return self.route(method, path, query, body)
        except ApiError as exc:
            return Response(exc.status, self.error_body(exc.status, exc.code, exc.message))

    # -- for subclasses --------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        raise NotImplementedError

    def error_body(self, status: int, code: str, message: str) -> dict:
        raise NotImplementedError

    def token(self, path: str, raw: bytes) -> Response | None:
        return None

    def admin(self, method: str, action: str, body: dict) -> Response:
        """`POST /_sim/delete {"resource_id": ...}`: what a simulated user does between scans
        (the demo runs in another process than the estate)."""
        if method == "POST" and action == "delete":
            found = self.delete_resource(str(body.get("resource_id", "")))
            return Response(200 if found else 404, {"deleted": found})
        raise ApiError(404, "NotFound", f"no estate action {action!r}")

    def delete_resource(self, resource_id: str) -> bool:
        raise NotImplementedError

    def accepts(self, token: str) -> bool:
        """Whether a bearer token is valid: by default, one this endpoint issued."""
        with self.lock:
            return token in self.tokens

    def page_url(self, path: str, query: dict[str, str], **changes: str) -> str:
        """The absolute URL of `path` with `query` updated by `changes` (a next page's link)."""
        return f"{self.url}{path}?{urllib.parse.urlencode({**query, **changes})}"


def paged(items: list, start: int, size: int) -> tuple[list, int | None]:
    """items[start:start+size] and the next start (None on the last page)."""
    end = start + size
    return items[start:end], (end if end < len(items) else None)
