"""A web server on 127.0.0.1 for the attachment tests: articles, errors, redirects, stalls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ARTICLE = """<!doctype html><html><head><title>Delta notes | Site</title>
<meta charset="utf-8"></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a> <a href="/shop">Shop</a></nav>
<div class="sidebar"><p>Subscribe to our newsletter! Buy now!</p></div>
<article><h1>How a river delta forms</h1>
<p>A river delta forms where a river meets slower water and drops the sediment it carried.
Over centuries the deposits spread into a fan of channels, marshes and islands.</p>
<p>The Nile delta is the classic example; its shape gave deltas their name.
三角洲由河流带来的泥沙沉积而成。</p>
<p>Deltas are fertile, and about half a billion people live on them today, most of them farming
the rich soil the water leaves behind every year.</p>
</article>
<footer>Copyright 2026 · Privacy · Terms</footer>
<script>document.write("tracking")</script>
</body></html>"""

PLAIN = "plain words 你好\n".encode()

Route = Callable[[BaseHTTPRequestHandler], None]


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class PageServer:
    """Serves ``routes`` (path to a function answering the request) until stopped."""

    def __init__(self, extra: dict[str, Route] | None = None) -> None:
        """Start serving on a free port."""
        self.routes: dict[str, Route] = {
            "/article": lambda h: _send(h, 200, ARTICLE.encode(), "text/html; charset=utf-8"),
            "/plain": lambda h: _send(h, 200, PLAIN, "text/plain; charset=utf-8"),
            "/missing": lambda h: _send(h, 404, b"<h1>Not here</h1>", "text/html"),
            "/loop": self._loop,
            "/slow": self._slow,
            "/zip": lambda h: _send(h, 200, b"PK\x03\x04" + b"\0" * 64, "application/zip"),
            "/empty": lambda h: _send(h, 200, b"<html><body></body></html>", "text/html"),
            **(extra or {}),
        }
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                route = routes.get(self.path.split("?")[0])
                if route is None:
                    _send(self, 404, b"no such page", "text/plain")
                else:
                    route(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.stalls = threading.Event()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        """The address of ``path`` on this server."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def stop(self) -> None:
        """Stop serving; release a stalled answer."""
        self.stalls.set()
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def _loop(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", "/loop?again")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _slow(self, handler: BaseHTTPRequestHandler) -> None:
        self.stalls.wait(30)  # never answers within the test's timeout
        time.sleep(0)
