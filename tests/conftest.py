"""Shared fixtures: paths, the CLI in a subprocess, local HTTP sites, the seed page."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from crawlers.demo.render import wordpress_page
from crawlers.demo.server import RoutesHandler

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NARRASCOPE_SHARED", ROOT.parent / "shared"))
SEED = SHARED / "seeds" / "000_3c5f39f6eb4c3430.txt"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

# argostranslate reads its directories at import: point them at an empty place before any test
# imports it, so tests never see (or change) the user's own translation models.
_ARGOS_HOME = Path(tempfile.mkdtemp(prefix="narrascope-test-argos-"))
atexit.register(shutil.rmtree, _ARGOS_HOME, ignore_errors=True)  # one per test session
for _var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
    os.environ[_var] = str(_ARGOS_HOME / _var.lower())
os.environ["ARGOS_PACKAGES_DIR"] = str(_ARGOS_HOME / "no-packages")
# Test crawls talk to servers on 127.0.0.1 directly: a machine-wide proxy must not carry them
# (the one test that needs a proxy sets its own).
for _var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_var, None)


def pytest_collection_modifyitems(items):
    from tests.support.parallel import slowest_first

    slowest_first(items)


@pytest.hookimpl(optionalhook=True)  # `pytest -p no:xdist` runs without it
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (as `make test` asks) with the units of tests/support/parallel.py."""
    if config.getvalue("dist") == "loadfile":
        from tests.support.parallel import UnitScheduling

        return UnitScheduling(config, log)
    return None


def needs_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared evaluation data comes with CI, not with a clone")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return needs_shared(SHARED)


def seed_parts() -> tuple[str, list[str], list[str]]:
    """The seed page as title, article paragraphs and the trailing comment-form chrome."""
    lines = [line.strip() for line in needs_shared(SEED).read_text(encoding="utf-8").split("\n")]
    lines = [line for line in lines if line]
    cut = lines.index("Добавить комментарий")
    return lines[0], lines[1:cut], lines[cut:]


@pytest.fixture(scope="session")
def seed_html() -> str:
    """The real seed article served the way its WordPress site served it (comment form below)."""
    title, paragraphs, _ = seed_parts()
    return wordpress_page(
        title=title,
        paragraphs=paragraphs,
        date="2026-09-30T10:00:00+03:00",
        author="Редакция",
        post_id=4242,
    )


def cli_env(**extra: str) -> dict:
    """The environment a CLI subprocess runs in: this checkout's code, whatever the working
    directory (an installed copy may differ), and no configuration file from the user's."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "NARRASCOPE_CONFIG": "", "PYTHONPATH": path, **extra}


def run_cli(
    *args: str,
    db: Path | None = None,
    check: bool = True,
    timeout: int = 300,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipeline.cli"]
    if db is not None:
        cmd += ["--db", str(db)]
    proc = subprocess.run(
        cmd + list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=cli_env(),
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"narrascope {' '.join(args)} exited {proc.returncode}\n{proc.stderr}")
    return proc


class LocalSite:
    """A local HTTP server on 127.0.0.1:0 serving a dict of path -> (type, bytes, headers)."""

    def __init__(self, routes: dict):
        handler = type("LocalHandler", (RoutesHandler,), {"routes": routes})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.routes = routes
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_site():
    sites = []

    def make(routes: dict) -> LocalSite:
        site = LocalSite(routes)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


@pytest.fixture(scope="session")
def tiny_packages(tmp_path_factory) -> dict[str, Path]:
    """Tiny Argos packages (random weights, real format): ru->en and en->de."""
    from tests.support.tiny_argos import build_package

    out = tmp_path_factory.mktemp("argos-packages")
    return {
        "ru-en": build_package(out, "ru", "en"),
        "en-de": build_package(out, "en", "de", from_name="English", to_name="German"),
    }


@pytest.fixture
def argos_dir(tmp_path, monkeypatch) -> Path:
    """An empty Argos packages folder for this test, in this process and its subprocesses."""
    from argostranslate import settings

    folder = tmp_path / "argos-packages"
    folder.mkdir()
    monkeypatch.setattr(settings, "package_data_dir", folder)
    monkeypatch.setattr(settings, "package_dirs", [folder])
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`narrascope demo` run once for the session: (database, completed process). Tests read
    the database; a test that changes it works on a copy."""
    tmp_path = tmp_path_factory.mktemp("demo")
    db = tmp_path / "demo.duckdb"
    return db, run_cli("demo", "--db", str(db), cwd=tmp_path)


def import_jsonl(tmp_path: Path, db: Path, docs: list[dict], name: str = "docs.jsonl") -> None:
    import json

    src = tmp_path / name
    src.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")
    run_cli("import", str(src), db=db)
