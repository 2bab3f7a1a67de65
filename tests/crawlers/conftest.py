"""Fixtures of the crawler tests that more than one module needs."""

from __future__ import annotations

import shutil

import pytest

from tests.support.redis import start_redis, stop_redis


@pytest.fixture(scope="module")
def redis_url():
    """A throwaway redis-server on a free loopback port (Debian's; .ci/run installs it)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): "
                    "the shared-crawl tests need it")  # fmt: skip
    for module in ("redis", "scrapy_redis"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install "
                            "'narrascope[redis]'): the shared-crawl tests need it")  # fmt: skip
    proc, url = start_redis(server)
    yield url
    stop_redis(proc)
