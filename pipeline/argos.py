"""Argos Translate models: list, install (package index or file) and remove them; translating
with them is pipeline/argos_routes.py.

argostranslate reads its directories at import (``ARGOS_PACKAGES_DIR``, ``XDG_DATA_HOME``,
...), so narrascope shares the packages of the user's own argos installation. Only the light
parts of argostranslate are imported (package metadata, tokenizers); translation runs on
CTranslate2 directly so that a whole batch of sentences from many documents goes to the model
in one call, and sentence splitting never downloads a model.
"""

from __future__ import annotations

import json
import logging
import re
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ModelError, folder_problem

log = logging.getLogger(__name__)

PIVOT = "en"
INDEX_TIMEOUT_S = 10.0
DOWNLOAD_TIMEOUT_S = 60.0


def _argos():
    try:
        from argostranslate import package, settings
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ModelError("argostranslate is not installed: pip install argostranslate") from err
    except OSError as err:  # its import makes its folders: "[Errno 17] File exists: 'x'" said
        raise ModelError(
            f"argostranslate cannot make its folder {err.filename} ({folder_problem(err)}); "
            "ARGOS_PACKAGES_DIR (or XDG_DATA_HOME, XDG_CACHE_HOME, XDG_CONFIG_HOME) names "
            "where it keeps packages"
        ) from err
    return package, settings


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@dataclass(frozen=True)
class InstalledModel:
    """An installed Argos translation package."""

    from_code: str
    to_code: str
    from_name: str
    to_name: str
    version: str
    path: Path

    @property
    def model_id(self) -> str:
        return f"argos:{self.from_code}-{self.to_code}@{self.version}"

    @property
    def size_bytes(self) -> int:
        return _size(self.path)


def _installed_packages() -> list:
    """Installed translation packages. A broken package folder (no or bad metadata.json) is
    skipped with a warning instead of failing every run, as argostranslate's own listing does."""
    package, settings = _argos()
    found = []
    for directory in settings.package_dirs:
        if not Path(directory).is_dir():
            continue
        for path in sorted(Path(directory).iterdir()):
            if not path.is_dir():
                continue
            try:
                pkg = package.Package(path)
            except (OSError, ValueError) as err:
                log.warning("skipping broken Argos package folder %s: %s", path, err)
                continue
            if pkg.type == "translate" and pkg.from_code and pkg.to_code:
                found.append(pkg)
    return found


def _as_model(pkg) -> InstalledModel:
    return InstalledModel(
        pkg.from_code,
        pkg.to_code,
        pkg.from_name or pkg.from_code,
        pkg.to_name or pkg.to_code,
        pkg.package_version or "?",
        Path(pkg.package_path),
    )


def installed_models() -> list[InstalledModel]:
    """Installed translation packages, sorted by language pair."""
    return sorted(
        (_as_model(p) for p in _installed_packages()), key=lambda m: (m.from_code, m.to_code)
    )


def packages_dir() -> Path:
    """Where argostranslate installs packages (``ARGOS_PACKAGES_DIR`` or its default)."""
    _, settings = _argos()
    return Path(settings.package_data_dir)


#: a language code as Argos packages name them (en, ru, zh, zt, pt, ...)
_CODE = re.compile(r"[a-z]{2,3}")


def _check_entry(path: Path, info: zipfile.ZipInfo) -> None:
    """Refuse an entry that would land outside the package's folder or is a link: argostranslate
    unpacks the archive into the packages folder, and a downloaded file is not trusted."""
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
        raise ModelError(f"{path}: the entry {name!r} would be unpacked outside the package "
                         "folder; refused")  # fmt: skip
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ModelError(f"{path}: the entry {name!r} is a link; refused")


def _check_archive(path: Path) -> dict:
    """The package's metadata, after checking the file is an Argos package we can use and
    that unpacking it writes only inside its own folder."""
    if not path.is_file():
        raise ModelError(f"no file at {path}")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not an Argos package (.argosmodel files are zip archives)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_entry(path, info)
            names = [i.filename for i in infos]
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) != 1 or tops & {"", "."}:
                raise ModelError(f"{path}: an Argos package holds exactly one top-level folder")
            top = tops.pop()
            if f"{top}/metadata.json" not in names:
                raise ModelError(f"{path}: no {top}/metadata.json in the archive")
            if not any(n.startswith(f"{top}/model/") for n in names):
                raise ModelError(f"{path}: no CTranslate2 model/ folder in the archive")
            try:
                metadata = json.loads(zf.read(f"{top}/metadata.json"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ModelError(f"{path}: metadata.json is not valid JSON: {err}") from err
    except (zipfile.BadZipFile, OSError) as err:  # a damaged archive, unreadable entries
        raise ModelError(f"{path}: the archive cannot be read: {err}") from err
    if not isinstance(metadata, dict):
        raise ModelError(f"{path}: metadata.json is not an object")
    if metadata.get("type", "translate") != "translate":
        raise ModelError(f"{path}: a {metadata.get('type')!r} package, not a translation model")
    codes = [metadata.get("from_code"), metadata.get("to_code")]
    if not all(codes):
        raise ModelError(f"{path}: metadata.json names no from_code/to_code")
    if not all(isinstance(c, str) and _CODE.fullmatch(c) for c in codes):
        raise ModelError(f"{path}: metadata.json's from_code/to_code are not language codes "
                         f"({codes[0]!r}, {codes[1]!r})")  # fmt: skip
    return metadata


def install_file(path: str | Path) -> InstalledModel:
    """Install a downloaded ``.argosmodel`` file (works offline)."""
    package, _ = _argos()
    path = Path(path)
    metadata = _check_archive(path)
    package.install_from_path(path)
    for model in installed_models():
        if (model.from_code, model.to_code) == (metadata["from_code"], metadata["to_code"]):
            return model
    raise ModelError(f"{path} was unpacked but argostranslate does not list it")  # pragma: no cover


def _fetch(url: str, timeout: float) -> bytes:
    """GET with a hard deadline: urllib's timeout does not cover name resolution, which can
    hang far longer on a machine without network; the worker thread is abandoned then."""

    def get() -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "narrascope (argos models)"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.read()

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(get).result(timeout=timeout + 5)
    except FutureTimeout as err:
        raise TimeoutError(f"no answer from {url} within {timeout + 5:.0f} s") from err
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _package_index() -> list[dict]:
    """The Argos package index, fetched once with a short timeout (argostranslate's own
    fetch retries for minutes offline). Saved where argostranslate keeps its copy."""
    _, settings = _argos()
    url = settings.remote_package_index
    try:
        data = _fetch(url, INDEX_TIMEOUT_S)
        index = json.loads(data)
    except (TimeoutError, urllib.error.URLError, OSError, ValueError) as err:
        raise ModelError(
            f"cannot reach the Argos package index at {url} ({err}). Offline? Download the "
            ".argosmodel file on a connected machine and run "
            "`narrascope models install-file PATH.argosmodel`"
        ) from err
    Path(settings.local_package_index).write_bytes(data)
    return index


def _wanted_pairs(codes: list[str], target: str) -> list[tuple[str, str]]:
    pairs = []
    for code in codes:
        if code == target:
            continue
        pairs.append((code, target))
    return pairs


def install_from_index(codes: list[str], target: str = "en") -> list[InstalledModel]:
    """Install the models that translate each of ``codes`` into ``target`` from the Argos
    package index: the direct pair where the index has it, else ``code -> en -> target``."""
    index = _package_index()
    available = {
        (m.get("from_code"), m.get("to_code")): m
        for m in index
        if m.get("type", "translate") == "translate"
    }
    have = {(m.from_code, m.to_code) for m in installed_models()}
    to_get: list[dict] = []
    missing = []
    for source, tgt in _wanted_pairs(codes, target):
        if (source, tgt) in available:
            chain = [(source, tgt)]
        elif (source, PIVOT) in available and (PIVOT, tgt) in available:
            chain = [(source, PIVOT), (PIVOT, tgt)]
        else:
            missing.append(f"{source}->{tgt}")
            continue
        to_get += [available[p] for p in chain if p not in have and available[p] not in to_get]
    if missing:
        raise ModelError(f"the Argos package index has no model for {', '.join(missing)}")
    installed = []
    with tempfile.TemporaryDirectory() as tmp:
        for metadata in to_get:
            name = f"translate-{metadata['from_code']}_{metadata['to_code']}.argosmodel"
            target_file = Path(tmp) / name
            errors = []
            for link in metadata.get("links", []):
                try:
                    target_file.write_bytes(_fetch(link, DOWNLOAD_TIMEOUT_S))
                    break
                except (TimeoutError, urllib.error.URLError, OSError) as err:
                    errors.append(f"{link}: {err}")
            else:
                raise ModelError(f"could not download {name}: {'; '.join(errors) or 'no links'}")
            installed.append(install_file(target_file))
    return installed


def remove(spec: str) -> list[InstalledModel]:
    """Uninstall ``xx-yy`` (one pair) or ``xx`` (every model translating from xx)."""
    package, _ = _argos()
    if "-" in spec:
        source, target = spec.split("-", 1)
        match = lambda p: (p.from_code, p.to_code) == (source, target)  # noqa: E731
    else:
        match = lambda p: p.from_code == spec  # noqa: E731
    removed = []
    for pkg in _installed_packages():
        if match(pkg):
            model = _as_model(pkg)
            package.uninstall(pkg)
            removed.append(model)
    if not removed:
        raise ModelError(f"no installed translation model matches {spec!r}")
    return removed
