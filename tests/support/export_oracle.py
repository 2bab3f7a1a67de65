"""What an export should hold, computed from the store's views in Python (not from the
export's own SQL), and each format read back under the README's conventions: Parquet as
typed columns; CSV by RFC 4180, an empty field NULL and `""` an empty string, times ISO 8601
Z, lists JSON arrays; JSON lines one object a line, times as in CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from storage import connect

# Each file's columns, as the README lists them ("Exports for researchers")
COLUMNS = {
    "documents": (
        "doc_id url canonical_url source sitename lang lang_confidence published_at "
        "first_seen_at last_seen_at fetched_at seen_at version author translation_status "
        "translation_lang translation_model copy_group_id copy_kind copy_of copy_of_url "
        "narrative_id signals signal_score machine_written title title_translated text "
        "text_translated"
    ).split(),
    "members": (
        "narrative_id doc_id url source lang published_at first_seen_at seen_at via similarity "
        "assigned_at copy_group_id copy_kind copy_of copy_of_url signals signal_score "
        "machine_written title title_translated"
    ).split(),
    "narratives": (
        "narrative_id label label_original keywords keywords_original representative_doc_id "
        "representative_url documents independent_documents sites independent_sites languages "
        "langs first_seen last_seen created_at updated_at model_id exported_members"
    ).split(),
    "copies": (
        "group_id doc_id url source lang seen_at copy_kind copy_of copy_of_url copy_of_source "
        "similarity via delay_seconds group_size title newer_version"
    ).split(),
}
TEXT_COLUMNS = {"title", "text", "title_translated", "text_translated", "label", "label_original"}
FILES = {"documents": ("documents",), "copies": ("copies",),
         "narratives": ("narratives", "members")}  # fmt: skip


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class Store:
    """The views of one store, read once."""

    def __init__(self, db: Path):
        with connect(db, read_only=True) as con:
            self.docs = {d["doc_id"]: d for d in _rows(con, "SELECT * FROM v_documents")}
            self.copies = {c["doc_id"]: c for c in _rows(con, "SELECT * FROM v_copies")}
            self.narratives = {
                n["narrative_id"]: n for n in _rows(con, "SELECT * FROM v_narratives")
            }
            self.members = {m["doc_id"]: m for m in _rows(con, "SELECT * FROM narrative_members")}
            self.groups = dict(con.execute("SELECT doc_id, group_id FROM copy_members").fetchall())
            self.ids = dict(con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall())
            self.tags = {
                name: dict(tags or {})
                for name, tags in con.execute("SELECT name, tags FROM sources").fetchall()
            }
        for d in self.docs.values():
            d["seen_at"] = d["published_at"] or d["first_seen_at"]

    def texts(self) -> list[str]:
        """Every title, text, translation and label the store holds."""
        out = [d[k] for d in self.docs.values() for k in ("title", "text", "title_translated",
                                                          "text_translated")]  # fmt: skip
        out += [n[k] for n in self.narratives.values()
                for k in ("representative_title", "representative_title_original")]  # fmt: skip
        return [t for t in out if t]

    def selected(self, kind: str, f: dict) -> list[dict]:
        """The documents the filters keep (``f`` as Filters' fields, bounds already read)."""
        # a narrative's reach is its `sites` column (the README ties --min-sites to it); a
        # copy group's, the sites of all its documents (as `sites` counts them: no source, none)
        sites = {n: v["sites"] for n, v in self.narratives.items()}
        group_sites: dict[str, set] = {}
        for doc_id, g in self.groups.items():
            group_sites.setdefault(g, set()).add(self.docs[doc_id]["source"])
        group_sites = {g: len(s - {None}) for g, s in group_sites.items()}
        wanted = {self.ids[i] for i in f.get("narratives", ())}
        out = []
        for d in self.docs.values():
            nid, gid = d["narrative_id"], d["copy_group_id"]
            tags = self.tags.get(d["source"], {})
            if (f.get("since") and d["seen_at"] < f["since"]
                    or f.get("until") and d["seen_at"] >= f["until"]
                    or f.get("langs") and d["lang"] not in f["langs"]
                    or f.get("sources") and d["source"] not in f["sources"]
                    or any(tags.get(k) != v for k, v in f.get("tags", ()))
                    or wanted and nid not in wanted
                    or kind == "narratives" and nid is None
                    or kind == "copies" and gid is None):  # fmt: skip
                continue
            if f.get("min_sites"):
                reach = group_sites.get(gid, 0) if kind == "copies" else sites.get(nid, 0)
                if reach < f["min_sites"]:
                    continue
            out.append(d)
        return out

    def expected(self, kind: str, f: dict) -> dict[str, list[dict]]:
        """Each file's rows, in the order the export writes them."""
        docs = self.selected(kind, f)
        url = {k: d["url"] for k, d in self.docs.items()}

        def doc_row(d: dict, columns) -> dict:
            row = {}
            for c in columns:
                if c == "copy_of":
                    row[c] = d["copy_of"] if d["copy_kind"] != "origin" else None
                elif c == "copy_of_url":
                    row[c] = url.get(d["copy_of"]) if d["copy_kind"] != "origin" else None
                elif c in ("via", "similarity", "assigned_at"):
                    row[c] = self.members[d["doc_id"]][c]
                else:
                    row[c] = d[c]
            return row

        if kind == "documents":
            docs.sort(key=lambda d: (d["seen_at"], d["doc_id"]))
            return {"documents": [doc_row(d, COLUMNS["documents"]) for d in docs]}
        if kind == "copies":
            rows = []
            for d in sorted(docs, key=lambda d: (d["copy_group_id"], d["seen_at"], d["doc_id"])):
                c = self.copies[d["doc_id"]]
                origin = c["copy_kind"] == "origin"
                source = None if origin else self.docs[c["copy_of"]]["source"]
                rows.append({
                    **{k: c[k] for k in ("doc_id", "url", "source", "lang", "seen_at",
                                         "copy_kind", "similarity", "via", "group_size",
                                         "title", "newer_version")},
                    "group_id": c["group_id"], "copy_of": None if origin else c["copy_of"],
                    "copy_of_url": None if origin else url[c["copy_of"]],
                    "copy_of_source": source,
                    "delay_seconds": None if c["delay"] is None else c["delay"].total_seconds(),
                })  # fmt: skip
            return {"copies": [{k: r[k] for k in COLUMNS["copies"]} for r in rows]}
        docs.sort(key=lambda d: (d["narrative_id"], d["seen_at"], d["doc_id"]))
        members = [doc_row(d, COLUMNS["members"]) for d in docs]
        counts: dict[int, int] = {}
        for m in members:
            counts[m["narrative_id"]] = counts.get(m["narrative_id"], 0) + 1
        narratives = []
        for nid in sorted(counts):
            n = self.narratives[nid]
            narratives.append({
                **n, "label": n["representative_title"],
                "label_original": n["representative_title_original"],
                "representative_url": url.get(n["representative_doc_id"]),
                "exported_members": counts[nid],
            })  # fmt: skip
        return {
            "narratives": [{k: n[k] for k in COLUMNS["narratives"]} for n in narratives],
            "members": members,
        }


# --- reading the files back ---------------------------------------------------------------


def read_csv_cells(raw: bytes) -> list[list[tuple[str, bool]]]:
    """RFC 4180, strictly: records end in CRLF; each field (text, was it quoted). Raises on
    anything RFC 4180 does not allow (a bare quote inside an unquoted field, text after a
    closing quote, a line break outside quotes)."""
    text = raw.decode("utf-8")
    records, fields, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                k = text.index('"', j)
                buf.append(text[j:k])
                if text.startswith('""', k):
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append(("".join(buf), True))
        else:
            j = i
            while j < n and text[j] not in ',\r\n"':
                j += 1
            if j < n and text[j] == '"':
                raise ValueError(f"a quote inside an unquoted field at {j}")
            fields.append((text[i:j], False))
            i = j
        if text.startswith("\r\n", i):
            records.append(fields)
            fields, i = [], i + 2
        elif i < n and text[i] == ",":
            i += 1
            if i == n:
                raise ValueError("a comma at the end of the file")
        elif i < n:
            raise ValueError(f"{text[i]!r} after a field at {i} (not a comma or CRLF)")
    if fields:
        raise ValueError("the last record has no CRLF")
    return records


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _as_written(value, fmt: str):
    """A stored value as a JSON lines file carries it (CSV: as text, compared below)."""
    if isinstance(value, datetime):
        return stamp(value)
    if isinstance(value, list | tuple):
        return [_as_written(v, fmt) for v in value]
    return value


def read_back(path: Path, fmt: str) -> tuple[list[str], list[dict]]:
    """(columns, rows) of one file, values as the README says to read them."""
    if fmt == "parquet":
        table = pq.read_table(path)
        return table.column_names, table.to_pylist()
    if fmt == "jsonl":
        raw = path.read_bytes().decode("utf-8")
        assert raw == "" or raw.endswith("\n"), path
        rows = [json.loads(line) for line in raw.split("\n")[:-1]]
        return (list(rows[0]) if rows else []), rows
    records = read_csv_cells(path.read_bytes())
    header = [name for name, _ in records[0]] if records else []
    rows = []
    for r in records[1:]:
        assert len(r) == len(header), (path, r)
        rows.append(
            {h: (None if not q and t == "" else t) for h, (t, q) in zip(header, r, strict=True)}
        )
    return header, rows


def same(got, want, fmt: str) -> bool:
    """Is a cell read back the stored value, under the format's conventions?"""
    if want is None or got is None:
        return got is want
    if fmt == "parquet":
        return (
            type(got) is type(want)
            and got == want
            or (isinstance(want, float) and isinstance(got, float) and got == want)
        )
    if fmt == "jsonl":
        if isinstance(want, bool):
            return got is want
        if isinstance(want, float):
            return isinstance(got, int | float) and float(got) == want
        return got == _as_written(want, fmt) and type(got) is type(_as_written(want, fmt))
    # CSV: every cell is text
    if isinstance(want, bool):
        return got == str(want).lower()
    if isinstance(want, int):
        return got == str(want)
    if isinstance(want, float):
        return float(got) == want
    if isinstance(want, list | tuple):
        return json.loads(got) == _as_written(want, fmt)
    if isinstance(want, datetime):
        return got == stamp(want)
    return got == want


def bound(value: str, end: bool) -> datetime:
    """--since/--until as the README reads the absolute forms the driver gives."""
    if value.endswith("d"):
        return datetime.now(UTC) - timedelta(days=float(value[:-1]))
    if value == "9999-12-31" and end:
        return datetime.max.replace(tzinfo=UTC)
    if len(value) == 10:
        day = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return day + timedelta(days=1) if end else day
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
