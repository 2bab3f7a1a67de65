"""Hostile HTTP servers on 127.0.0.1 (endless, slow, silent, resetting and garbage answers) and
the CLI run in a guarded subprocess: a stub resolver, every connection outside loopback blocked
and logged, its time and peak memory measured."""

from __future__ import annotations

import json
import os
import random
import select
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.rss import high_water_kib

ROOT = Path(__file__).resolve().parents[2]
CHUNK = b"<p>" + b"x" * 65_000 + b"</p>\n"


@dataclass
class Hit:
    """One connection to a hostile server: what it asked for and how it ended."""

    path: str = ""
    started: float = 0.0
    ended: float = 0.0
    sent: int = 0
    hung_up: bool = False  # the client closed the connection (rather than the server giving up)

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class HostileServer:
    """A raw TCP server answering every request, robots.txt included, in one hostile way:

    - ``endless``: a chunked ``200 text/html`` response whose chunks never end;
    - ``slowloris``: a plausible response (status line, headers, body) sent one byte a second;
    - ``silent``: reads the request and never sends a byte (not even a status line);
    - ``reset``: reads the request and resets the connection (``SO_LINGER`` 0: an RST, no FIN);
    - ``garbage``: reads the request, sends 4 KiB of random bytes that are not HTTP, and closes;
    - ``headers``: a status line, then 8 KiB header lines that never end.

    Each gives up by itself after ``give_up`` seconds or (endless) ``cap`` bytes, so a crawler
    that does not cut it off fails its test instead of hanging it."""

    def __init__(self, mode: str, give_up: float = 60.0, cap: int = 2 * 1024**3):
        assert mode in ("endless", "slowloris", "silent", "reset", "garbage", "headers")
        self.mode, self.give_up, self.cap = mode, give_up, cap
        self.hits: list[Hit] = []
        self._stop = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer._serve(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def _serve(self, sock: socket.socket) -> None:
        hit = Hit(started=time.monotonic())
        self.hits.append(hit)
        try:
            request = sock.recv(65_536)
            hit.path = request.split(b" ", 2)[1].decode("latin-1") if b" " in request else ""
            getattr(self, f"_{self.mode}")(sock, hit)
        except OSError:  # reset or broken pipe: the client hung up
            hit.hung_up = True
        finally:
            hit.ended = time.monotonic()

    def _closed(self, sock: socket.socket, wait: float) -> bool:
        """Whether the client hung up (waiting up to ``wait`` seconds to see)."""
        readable, _, _ = select.select([sock], [], [], wait)
        return bool(readable) and sock.recv(65_536) == b""

    def _endless(self, sock: socket.socket, hit: Hit) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
        deadline = hit.started + self.give_up
        while hit.sent < self.cap and time.monotonic() < deadline and not self._stop.is_set():
            sock.sendall(frame)
            hit.sent += len(frame)

    def _headers(self, sock: socket.socket, hit: Hit) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n")
        deadline = hit.started + self.give_up
        n = 0
        while hit.sent < self.cap and time.monotonic() < deadline and not self._stop.is_set():
            line = b"X-Pad-%d: %s\r\n" % (n, b"p" * 8192)
            sock.sendall(line)
            hit.sent += len(line)
            n += 1

    def _slowloris(self, sock: socket.socket, hit: Hit) -> None:
        body = b"<html><body>" + b"<p>slow</p>" * 1000 + b"</body></html>"
        response = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body), body)  # fmt: skip
        deadline = hit.started + self.give_up
        for byte in response:
            if time.monotonic() > deadline or self._stop.is_set():
                return
            sock.sendall(bytes([byte]))
            hit.sent += 1
            if self._closed(sock, 1.0):
                hit.hung_up = True
                return

    def _silent(self, sock: socket.socket, hit: Hit) -> None:
        deadline = hit.started + self.give_up
        while time.monotonic() < deadline and not self._stop.is_set():
            if self._closed(sock, 0.1):
                hit.hung_up = True
                return

    def _reset(self, sock: socket.socket, hit: Hit) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # socketserver's own shutdown and close of it then fail quietly

    def _garbage(self, sock: socket.socket, hit: Hit) -> None:
        noise = random.Random(hit.path).randbytes(4096)  # the same bytes for the same path
        sock.sendall(b"\x00\xff" + noise)  # never a status line: not even "HTTP/" at its start
        hit.sent = 2 + len(noise)


# Runs in the crawl's subprocess before the CLI: names resolve through a stub table only (an
# unknown name is unknown: no DNS query leaves), and a connection or datagram to anything but
# loopback is refused before a packet leaves (and logged). A name's answer may be a list:
# the answers to its lookups in turn, the last one repeated; null fails that lookup (a name
# server answering SERVFAIL, then an address).
_GUARD = """
import ipaddress, json, os, runpy, socket, sys

_hosts = {"localhost": "127.0.0.1", **json.loads(os.environ["HOSTILE_STUB_HOSTS"])}
_log = os.environ["HOSTILE_CONNECT_LOG"]
_getaddrinfo = socket.getaddrinfo
_asked = {}

def _lookup(host):
    if isinstance(host, bytes):
        host = host.decode("idna")
    try:
        ipaddress.ip_address(str(host).split("%")[0])
        return host  # a literal: nothing to resolve
    except ValueError:
        pass
    if host not in _hosts:
        raise socket.gaierror(socket.EAI_NONAME, f"test stub resolver: unknown name {host}")
    answer = _hosts[host]
    if isinstance(answer, list):
        asked = _asked[host] = _asked.get(host, -1) + 1
        answer = answer[min(asked, len(answer) - 1)]
    if answer is None:
        raise socket.gaierror(socket.EAI_AGAIN, f"test stub resolver: no answer for {host} now")
    return answer

def getaddrinfo(host, *args, **kwargs):
    return _getaddrinfo(host if host is None else _lookup(host), *args, **kwargs)

def gethostbyname(host):
    return _getaddrinfo(_lookup(host), None, socket.AF_INET)[0][4][0]

socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname

def _guard(event, args):
    if event not in ("socket.connect", "socket.sendto") or not isinstance(args[-1], tuple):
        return
    host = str(args[-1][0])
    try:
        loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        with open(_log, "a") as f:
            f.write(json.dumps([event, *args[-1][:2]]) + "\\n")
        raise PermissionError(f"test guard: no connection to {host} from a test")

sys.addaudithook(_guard)
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__", alter_sys=True)
"""


@dataclass
class GuardedRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float
    connects: list = field(default_factory=list)  # (event, host, port) the guard refused


def run_guarded_cli(*args: str, stub_hosts: dict, workdir: Path,
                    env: dict[str, str] | None = None, timeout: float = 120) -> GuardedRun:  # fmt: skip
    """``narrascope ARGS`` in a subprocess with the stub resolver and the connection guard;
    its wall time and peak resident memory (the child's own high-water mark, VmHWM, polled:
    wait4's ru_maxrss starts from the forking parent's RSS, which is pytest with models loaded)."""
    runs = len(list(workdir.glob("connects-*.jsonl")))
    log = workdir / f"connects-{runs}.jsonl"
    log.write_text("")
    out, err = workdir / f"stdout-{runs}.txt", workdir / f"stderr-{runs}.txt"
    env = {
        **os.environ,
        "NARRASCOPE_CONFIG": "",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "HOSTILE_STUB_HOSTS": json.dumps(stub_hosts),
        "HOSTILE_CONNECT_LOG": str(log),
        **(env or {}),
    }
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", _GUARD, *args], stdout=stdout,
                                stderr=stderr, env=env, cwd=ROOT)  # fmt: skip
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, high_water_kib(proc.pid))
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                proc.kill()
                _, status, _ = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return GuardedRun(
        returncode=proc.returncode,
        stdout=out.read_text(),
        stderr=err.read_text(),
        seconds=seconds,
        peak_rss_mb=peak_kib / 1024,
        connects=[tuple(json.loads(line)) for line in log.read_text().splitlines()],
    )
