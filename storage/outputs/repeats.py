"""Texts a site repeats at many addresses: the dedup stage's record of the document versions
it rejected as their site's boilerplate (``site_repeats``), and the stored documents that
share a batch's short texts (pipeline/dedup.py, ``DedupStage.repeat_addresses``).

The rejection itself goes where every rejection goes (``rejections``, stage state); this table
keeps the text hash of a rejected version, which the stage's other tables drop with it, so
that the next address serving the same text counts those before it. A row counts while the
stage's state for its version says rejected: a version that an earlier stage sends back (its
text extracted again) counts no more, and loses its row when the stage then keeps it."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.bulk import insert_rows

COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("site", "VARCHAR"),
    ("text_hash", "VARCHAR"),
    ("words", "INTEGER"),
    ("addresses", "INTEGER"),
    ("found_at", "TIMESTAMPTZ"),
]


@dataclass(slots=True)
class RepeatedText:
    """A document version rejected as its site's boilerplate: ``site`` serves its text (of
    ``words`` words, hash ``text_hash``) at ``addresses`` addresses, this one among them."""

    doc_id: str
    version: int
    site: str
    text_hash: str
    words: int
    addresses: int

    @property
    def counts(self) -> dict[str, int]:
        return {}  # the rejection counts it


@dataclass(frozen=True, slots=True)
class SameTextLookup:
    """The current document versions whose normalised text has one of these hashes, kept by
    the dedup stage (at ``stage_version``) or rejected by it as boilerplate. Answer:
    SameText."""

    text_hashes: tuple[str, ...]
    stage_version: str


@dataclass(slots=True)
class SameText:
    #: text hash -> [(doc_id, version, url, source, already rejected as boilerplate)]
    rows: dict[str, list[tuple[str, int, str, str | None, bool]]] = field(default_factory=dict)


def same_text(con, q: SameTextLookup) -> SameText:
    out = SameText()
    if not q.text_hashes:
        return out
    for h, doc_id, version, url, source, rejected in con.execute(
        """
        SELECT m.text_hash, m.doc_id, m.version, d.canonical_url, d.source, false
        FROM minhash m JOIN documents d ON d.doc_id = m.doc_id AND d.current_version = m.version
        WHERE m.text_hash IN (SELECT unnest(?::VARCHAR[]))
          AND EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = m.doc_id
                      AND s.version = m.version AND s.stage = 'dedup' AND s.stage_version = ?
                      AND s.status = 'done')
        UNION ALL
        SELECT r.text_hash, r.doc_id, r.version, d.canonical_url, d.source, true
        FROM site_repeats r JOIN documents d ON d.doc_id = r.doc_id AND d.current_version = r.version
        WHERE r.text_hash IN (SELECT unnest(?::VARCHAR[]))
          AND EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = r.doc_id
                      AND s.version = r.version AND s.stage = 'dedup' AND s.status = 'rejected')
        ORDER BY 2
        """,
        [list(q.text_hashes), q.stage_version, list(q.text_hashes)],
    ).fetchall():
        out.rows.setdefault(h, []).append((doc_id, version, url, source, rejected))
    return out


def write(con, items: list, repeated: list[RepeatedText], now) -> None:
    """Versions kept now are no boilerplate (any longer); the rejected ones are recorded."""
    if items:
        con.execute(
            "DELETE FROM site_repeats WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [[r.doc_id for r in items]],
        )
    insert_rows(
        con,
        "site_repeats",
        COLUMNS,
        [(r.doc_id, r.version, r.site, r.text_hash, r.words, r.addresses, now) for r in repeated],
    )
