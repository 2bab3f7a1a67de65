"""Importing without crawling: JSON Lines corpora (url plus html or text) and WARC archives.

Nothing is dropped without a word: a line or file that cannot be imported is reported in
``malformed`` with why, and a line imported with part of it ignored or unusable (an
unreadable ``published_at``, ``text`` beside ``html``), or a WARC file cut short, in
``warnings``. Messages are short and never carry the input's raw bytes.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.langid import is_language_tag
from storage import connect
from storage.dates import PLAUSIBLE_SQL, WRITTEN_SQL, impossible_offset
from storage.documents import store_pages
from storage.records import PageRecord, Rejection, StoreCounts
from storage.urls import canonical_url

_STRING_KEYS = ("title", "published_at", "source", "lang")
# a longer url or hint is no URL, title or date but a mistake: a title is screened,
# translated and shown like the text, and only the body is held to max_bytes
MAX_FIELD_CHARS = 10_000
# JSON's \ud800 escapes: Python keeps an unpaired one, which DuckDB refuses to store
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class ImportReport:
    records: int = 0  # JSON lines and WARC HTML responses read
    imported: int = 0  # of those, stored or rejected with a reason (not malformed)
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, why
    warnings: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, note
    skipped: int = 0  # WARC responses that are no HTML page (images, scripts, errors, dns:)
    skipped_why: Counter = field(default_factory=Counter)  # why, as read_warc says -> count
    counts: StoreCounts = field(default_factory=StoreCounts)
    run_id: str = ""
    by_file: dict[str, int] = field(default_factory=dict)  # file -> records imported

    def empty_files(self) -> list[str]:
        """Files from which nothing could be imported (empty, unreadable or all malformed)."""
        return [file for file, n in self.by_file.items() if n == 0]

    def malformed_records(self) -> int:
        """Malformed lines: records read. An empty or unreadable file (line 0) is none."""
        return sum(1 for _, line, _ in self.malformed if line)

    def summary(self) -> dict:
        return {
            "records": self.records,
            "imported": self.imported,
            # the records that could not be read (v_runs.malformed), as the command prints
            # them: imported + malformed = records; the files themselves are counted apart
            "malformed": self.malformed_records(),
            "file_problems": len(self.malformed) - self.malformed_records(),
            "warnings": len(self.warnings),
            "skipped": self.skipped,
            "empty_files": self.empty_files(),
            **self.counts.as_dict(),
        }


def _short(text, width: int = 80) -> str:
    """``text`` cut to ``width``, in printable characters: a newline or a right-to-left override
    quoted from a line would garble the report."""
    text = str(text)
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:width])
    return shown if len(text) <= width and len(shown) <= width else shown[: width - 1] + "…"


def _kind(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)  # fmt: skip


class _Dates:
    """Whether a ``published_at`` is a date the database reads (v_documents casts it with
    ``TRY_CAST(... AS TIMESTAMPTZ)``) and a plausible publication date (``PLAUSIBLE_SQL``,
    which the store applies), asked of DuckDB itself so that they never disagree."""

    UNREAD = "is not a date (ISO 8601 expected): kept as given"

    def __init__(self):
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")  # as the store reads a date without an offset

    @staticmethod
    def extended(value: str) -> str:
        """``value`` in ISO 8601's extended form where it is in another that DuckDB does not
        read (the basic "20261125", week dates "2026-W48-3"), as given otherwise."""
        from datetime import date

        text = value.replace("Z", "+00:00") if value.endswith("Z") else value
        for kind in (date, datetime):
            try:
                return kind.fromisoformat(text).isoformat()
            except ValueError:
                continue
        return value

    def problem(self, value: str) -> str | None:
        """What keeps ``value`` from being the publication date, or None."""
        test = PLAUSIBLE_SQL.format(when="d", fetched="now()")
        written = WRITTEN_SQL.format(when="v")
        row = self.con.execute(
            f"SELECT d IS NULL, {test} AND {written} "
            "FROM (SELECT v, TRY_CAST(v AS TIMESTAMPTZ) AS d FROM (SELECT ?::VARCHAR AS v))",
            [value],
        ).fetchone()
        if row[0]:
            return self.UNREAD
        if impossible_offset(value):
            return (
                "has a UTC offset no place has (beyond -12:00 to +14:00): kept in the page's "
                "meta (published_at_ignored)"
            )
        if not row[1]:
            return (
                "is no publication date (before 1900, more than two days ahead, or a word such "
                "as 'epoch'): kept in the page's meta (published_at_ignored)"
            )
        return None

    def close(self) -> None:
        self.con.close()


def parse_line(
    raw: str, max_bytes: int, dates: _Dates | None = None
) -> tuple[PageRecord | Rejection, list[str]]:
    """One JSON line to a page (or a rejection, for one over ``max_bytes``) and the warnings
    about what of it was ignored; raise ValueError saying what is wrong with a malformed one."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg} at column {err.colno})") from err
    except RecursionError as err:
        raise ValueError("not JSON that can be read (nested too deeply)") from err
    except ValueError as err:  # an integer of more than 4,300 digits
        raise ValueError(f"not JSON that can be read ({_short(err, 60)})") from err
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    url = obj.get("url")
    if url is None:
        raise ValueError("missing 'url'")
    if not isinstance(url, str):
        raise ValueError(f"'url' must be a string, not {_kind(url)}")
    if not url.strip():
        raise ValueError("'url' is empty")
    if len(url) > MAX_FIELD_CHARS:
        raise ValueError(f"'url' is {len(url)} characters long (at most {MAX_FIELD_CHARS})")
    if _SURROGATE.search(url):
        raise ValueError("'url' holds an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape)")
    try:
        canonical_url(url)
    except ValueError as err:
        raise ValueError(_short(err, 160)) from err
    html, text = obj.get("html"), obj.get("text")
    for key, value in (("html", html), ("text", text)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{key}' must be a string, not {_kind(value)}")
    if html is None and text is None:
        raise ValueError("needs 'html' or 'text' (a string)")
    for key in _STRING_KEYS:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f"'{key}' must be a string, not {_kind(obj[key])}")
        if len(obj.get(key) or "") > MAX_FIELD_CHARS:
            raise ValueError(
                f"'{key}' is {len(obj[key])} characters long (at most {MAX_FIELD_CHARS})"
            )
    notes = []
    for key in ("html", "text", *_STRING_KEYS):
        if isinstance(obj.get(key), str) and _SURROGATE.search(obj[key]):
            obj[key] = _SURROGATE.sub("\ufffd", obj[key])
            notes.append(f"'{key}': unpaired UTF-16 surrogates replaced with U+FFFD")
    html, text = obj.get("html"), obj.get("text")
    if isinstance(html, str) and not html.strip() and isinstance(text, str) and text.strip():
        html = None  # an exporter's empty field, not a page: the text is the document's
    if html is not None and text is not None:
        notes.append("'text' ignored: 'html' is given, and the text is extracted from it")
    published = obj.get("published_at")
    if isinstance(published, str):  # spaces around a date, or an exporter's empty field
        published = published.strip() or None
    given = published  # as the warning quotes it
    wrong = dates.problem(published) if published is not None and dates is not None else None
    if wrong == _Dates.UNREAD and (extended := dates.extended(published)) != published:
        published, wrong = extended, dates.problem(extended)  # "20261125", "2026-W48-3"
    if wrong:
        notes.append(
            f"'published_at' {_short(json.dumps(given, ensure_ascii=False), 40)} {wrong}, "
            "but not used as the publication date"
        )
    lang = obj.get("lang")
    # "" is no language given; "und", "mul" name none (NO_LANGUAGE): detected, as they say
    if lang and lang.strip() and not is_language_tag(lang):
        notes.append(
            f"'lang' {_short(json.dumps(lang, ensure_ascii=False), 40)} is not a language code "
            "(like ru, en, pt-BR): ignored, the language is detected"
        )
    body = html if html is not None else text
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        reason = f"{size} bytes > limit {max_bytes}"
        return Rejection("import", "too_large", reason, url=url, source=obj.get("source")), notes
    page = PageRecord(
        url=url.strip(),
        source=obj.get("source"),
        origin="import",
        fetched_at=datetime.now(UTC),
        html=html,
        text=text if html is None else None,
        hint_title=obj.get("title"),
        hint_published_at=published,
        hint_lang=obj.get("lang"),
    )
    return page, notes


def _lines(handle, limit: int):
    """The lines of a binary file, or for one longer than ``limit`` bytes its length: it is
    read past in pieces, never held whole (a file of one endless line costs bounded memory)."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        length = len(line)
        while piece := handle.readline(1 << 20):
            length += len(piece)
            if piece.endswith(b"\n"):
                break
        yield length


def is_warc(path: str | Path) -> bool:
    return str(path).lower().endswith((".warc", ".warc.gz"))


def file_kind(path: str | Path) -> str:
    """How to read a file given to `import`: ``warc``, ``jsonl``, ``jsonl.gz`` (JSON Lines
    gzipped), ``utf-16`` or ``utf-32``, by its name and then its first bytes. By name alone, a gzipped
    JSON Lines file, or a WARC file named otherwise (Heritrix's ``.warc.gz.open``), gave one
    "not UTF-8" or "not JSON" line for every line of it."""
    if is_warc(path):
        return "warc"
    with open(path, "rb") as handle:
        head = handle.read(5)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as inner:
                first = inner.read(5)
        except (OSError, EOFError, zlib.error):  # a broken stream: read as JSON Lines, it
            first = b""  # says where it breaks off
        return "warc" if first == b"WARC/" else "jsonl.gz"
    if head.startswith(b"WARC/"):
        return "warc"
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    return "jsonl"


class _Importer:
    """Collects pages and rejections into batches and keeps the report."""

    def __init__(self, db_path, report: ImportReport, batch_size: int, max_bytes: int):
        self.db_path, self.report = db_path, report
        self.batch_size, self.max_bytes = batch_size, max_bytes
        self.pages: list[PageRecord] = []
        self.rejections: list[Rejection] = []

    def add(self, file: str, item: PageRecord | Rejection) -> None:
        self.report.imported += 1
        self.report.by_file[file] += 1
        (self.pages if isinstance(item, PageRecord) else self.rejections).append(item)
        if len(self.pages) + len(self.rejections) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.pages or self.rejections:
            with connect(self.db_path) as con:
                counts = store_pages(con, self.pages, self.rejections, run_id=self.report.run_id)
            self.report.counts.add(counts)
        self.pages, self.rejections = [], []

    def jsonl(self, file: str, dates: _Dates, gzipped: bool = False) -> None:
        report = self.report
        # a body of max_bytes JSON-escaped (\u0001: 6 bytes for 1), a megabyte for the rest
        limit = 6 * self.max_bytes + (1 << 20)
        number = 0
        try:
            with gzip.open(file, "rb") if gzipped else open(file, "rb") as handle:
                for number, raw in enumerate(_lines(handle, limit), 1):
                    self._line(file, number, raw, limit, dates)
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:  # a gzip stream broken off
            where = "after this line" if number else "before its first line"
            report.warnings.append((file, number, f"the gzip stream breaks off {where} "
                                    f"({type(err).__name__}): what came before was read"))  # fmt: skip

    def _line(self, file: str, number: int, raw, limit: int, dates: _Dates) -> None:
        report = self.report
        if isinstance(raw, int):
            report.records += 1
            report.malformed.append(
                (file, number, f"a line of {raw} bytes: longer than any record within "
                 f"max_bytes can be ({limit} bytes)")
            )  # fmt: skip
            return
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
        if not raw.strip():
            return
        report.records += 1
        try:
            item, notes = parse_line(raw.decode("utf-8"), self.max_bytes, dates)
        except UnicodeDecodeError as err:
            report.malformed.append((file, number, f"not UTF-8 ({err.reason})"))
            return
        except ValueError as err:
            report.malformed.append((file, number, str(err)))
            return
        report.warnings.extend((file, number, note) for note in notes)
        self.add(file, item)

    def warc(self, file: str) -> None:
        from crawlers.warc_read import WarcProblem, read_warc

        report = self.report
        for item in read_warc(file, max_bytes=self.max_bytes):  # bodies unpacked no further
            if isinstance(item, WarcProblem):
                if item.whole_file:  # nothing of the file is readable
                    report.malformed.append((file, 0, item.note))
                else:
                    report.warnings.append((file, 0, item.note))
                continue
            if isinstance(item, tuple):
                report.skipped += 1
                report.skipped_why[item[1]] += 1
                continue
            report.records += 1
            size = len(item.html.encode("utf-8", "surrogatepass"))
            if size > self.max_bytes:
                reason = f"{size} bytes > limit {self.max_bytes}"
                self.add(file, Rejection("import", "too_large", reason, url=item.url))
            else:
                self.add(file, item)


def import_files(
    db_path,
    files: list[str | Path],
    *,
    batch_size: int = 500,
    max_bytes: int = 10 * 1024 * 1024,
    on_done: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import JSON Lines files line by line (malformed lines are reported with their numbers
    and skipped) and WARC files record by record (HTML responses only), holding the
    database's writer lock and recording the run. ``on_done(report)`` (the CLI's report) runs
    inside the run, before its end is recorded: a stop signal while it prints stops the run."""
    from storage.lock import writer_lock
    from storage.runs import recorded_run

    report = ImportReport()
    with writer_lock(db_path), recorded_run(db_path, "import") as run:
        report.run_id = run.run_id
        importer = _Importer(db_path, report, batch_size, max_bytes)
        dates = _Dates()
        try:
            for path in files:
                file = str(path)
                report.by_file.setdefault(file, 0)
                try:
                    if Path(file).is_dir():
                        report.malformed.append((file, 0, "a folder, not a file: name the files "
                                                 "in it (FOLDER/*.warc.gz, ...)"))  # fmt: skip
                    elif Path(file).exists() and not Path(file).is_file():  # /dev/stdin
                        report.malformed.append((file, 0, "not a regular file (a pipe or a "
                                                 "device): save it to a file and import that"))  # fmt: skip
                    elif Path(file).stat().st_size == 0:
                        report.malformed.append((file, 0, "empty file"))
                    elif (kind := file_kind(file)) == "warc":
                        importer.warc(file)
                    elif kind in ("utf-16", "utf-32"):  # one line for the file, not one a line
                        wide = kind.upper()
                        report.malformed.append((file, 0, f"{wide} text: JSON Lines are read as "
                                                 f"UTF-8 (iconv -f {wide} -t UTF-8 converts it)"))  # fmt: skip
                    else:
                        importer.jsonl(file, dates, gzipped=kind == "jsonl.gz")
                except OSError as err:
                    report.malformed.append((file, 0, f"cannot read: {err.strerror or err}"))
            importer.flush()
            if report.empty_files():
                run.fail("nothing could be imported from " + ", ".join(report.empty_files()))
            if on_done is not None:
                on_done(report)
        finally:
            dates.close()
            run.summary.update(report.summary())
    return report
