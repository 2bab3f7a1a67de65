"""A local site that counts the requests it is answering at once: what a crawler's
concurrency settings really allow shows at the server, whatever the crawler believes."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

from crawlers.demo.server import RoutesHandler


class CountingHandler(RoutesHandler):
    """RoutesHandler that keeps ``in_flight`` and its maximum, ``peak`` (per subclass; a
    request counts from its first line read to its answer written, Delay included)."""

    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802 - http.server API
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
        try:
            return super().do_GET()
        finally:
            with cls.lock:
                cls.in_flight -= 1


def counting_site(routes: dict, **attrs) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``routes`` (path -> type, body, headers; a "Delay" header holds the answer that
    many seconds) on 127.0.0.1 from a thread; ``attrs`` are set on the handler (``stamps``, a
    list, gets (path, status, monotonic time) per answer). Returns the server (its
    RequestHandlerClass has ``peak``) and its base URL; the caller shuts it down."""
    handler = type("Counting", (CountingHandler,),
                   {"routes": routes, "lock": threading.Lock(), **attrs})  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
