"""A canonical dump of a database: what two runs over the same input must agree on.

``canonical_state(db)`` reads the documents, their versions and stage outputs, the copy groups
and the narratives into plain JSON-serialisable data that leaves out whatever differs between
two equivalent runs: run ids, timestamps, narrative and copy-group ids, floats. Narratives and
copy groups are sets of member URLs, so a clustering that formed the same groups under other
ids compares equal, and one that split or merged a group does not. Compare two dumps with
``==``; on a failure pytest's diff (or ``json.dumps(..., indent=1)``) shows what differs.

Duplicates stay visible: a document's rejections are a list, not a set, and the members of a
copy group or a narrative are listed once per membership row.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict

from storage import connect

# a member whose document row is missing stays visible (and unequal) as "missing:<doc_id>"
_MEMBER = "coalesce(d.canonical_url, 'missing:' || m.doc_id)"


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()[:16]


def _groups(rows: list[tuple]) -> list[list[str]]:
    """(group key, url) rows -> the groups as sorted URL lists, in sorted order."""
    groups: dict = defaultdict(list)
    for key, url in rows:
        groups[key].append(url)
    return sorted(sorted(urls) for urls in groups.values())


def canonical_state(db_path: str | os.PathLike) -> dict:
    """The database's documents (keyed by canonical URL), copy groups and narratives.

    Per document: ``url`` and ``source`` of the current version; ``versions``, the SHA-256 of
    each stored body in version order (``version`` is the current one); ``title`` and
    ``text`` (a digest) as extracted; ``lang``; ``translation`` (the translate stage's status,
    None before it ran); ``vectors`` (the ``model_id/input`` of every vector of the current
    version); ``machine_written`` (the signals decision); ``copy_kind``; ``stages``
    (``stage@stage_version`` -> ``done``/``rejected`` for the current version); ``rejections``
    (``stage: reason``, one entry per row, sorted); ``retrying`` (stages that raised on it and
    will retry). ``copy_groups`` and ``narratives``: sorted lists of sorted member URL lists.
    """
    with connect(db_path, read_only=True) as con:
        docs = con.execute(
            "SELECT doc_id, canonical_url, url, source, version, title, text, lang, "
            "translation_status, machine_written, copy_kind FROM v_documents"
        ).fetchall()
        versions = con.execute(
            "SELECT doc_id, list(content_hash ORDER BY version) FROM document_versions GROUP BY 1"
        ).fetchall()
        per_version = {
            table: con.execute(sql).fetchall()
            for table, sql in {
                "vectors": "SELECT e.doc_id, e.model_id || '/' || e.input FROM embeddings e "
                "JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version",
                "stages": "SELECT s.doc_id, s.stage || '@' || s.stage_version, s.status "
                "FROM stage_state s "
                "JOIN documents d ON d.doc_id = s.doc_id AND d.current_version = s.version",
                "rejections": "SELECT r.doc_id, r.stage || ': ' || r.reason FROM rejections r "
                "JOIN documents d ON d.doc_id = r.doc_id AND d.current_version = r.version",
                "retrying": "SELECT x.doc_id, x.stage FROM stage_errors x "
                "JOIN documents d ON d.doc_id = x.doc_id AND d.current_version = x.version",
            }.items()
        }
        copies = con.execute(
            f"SELECT m.group_id, {_MEMBER} FROM copy_members m LEFT JOIN documents d USING (doc_id)"
        ).fetchall()
        narratives = con.execute(
            f"SELECT m.narrative_id, {_MEMBER} FROM narrative_members m "
            "LEFT JOIN documents d USING (doc_id)"
        ).fetchall()
    hashes = dict(versions)
    lists: dict = {name: defaultdict(list) for name in per_version}
    stages: dict = defaultdict(dict)
    for name, rows in per_version.items():
        for doc_id, value, *status in rows:
            if name == "stages":
                stages[doc_id][value] = status[0]
            else:
                lists[name][doc_id].append(value)
    documents = {}
    for doc_id, canonical, url, source, version, title, text, *rest in docs:
        lang, translation, machine_written, copy_kind = rest
        documents[canonical] = {
            "url": url,
            "source": source,
            "version": version,
            "versions": list(hashes.get(doc_id, [])),
            "title": title,
            "text": _digest(text),
            "lang": lang,
            "translation": translation,
            "vectors": sorted(lists["vectors"][doc_id]),
            "machine_written": machine_written,
            "copy_kind": copy_kind,
            "stages": dict(sorted(stages[doc_id].items())),
            "rejections": sorted(lists["rejections"][doc_id]),
            "retrying": sorted(lists["retrying"][doc_id]),
        }
    return {
        "documents": dict(sorted(documents.items())),
        "copy_groups": _groups(copies),
        "narratives": _groups(narratives),
    }
