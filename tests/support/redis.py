"""A throwaway redis-server on a free loopback port, for the shared-crawl tests and the
frontier benchmark (one copy of the start-up: a free port, no persistence, wait for PING)."""

from __future__ import annotations

import socket
import subprocess
import time


def start_redis(server: str = "redis-server") -> tuple[subprocess.Popen, str]:
    """Start ``server`` (a redis-server binary) on 127.0.0.1 with nothing saved to disk;
    return the process and its URL (database 0) once it answers PING (after 5 s at most)."""
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
    finally:
        client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def stop_redis(proc: subprocess.Popen) -> None:
    """End a server ``start_redis`` started (killed if it does not stop within 10 s)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
