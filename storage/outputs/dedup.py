"""The dedup stage's output: MinHash signatures and LSH buckets, copy links and copy groups;
and the stored documents a batch may copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np

from storage.bulk import insert_rows
from storage.documents import seen_at_sql
from storage.longtext import by_row_id
from storage.means import LanguageMeans
from storage.means import load as load_means
from storage.outputs import repeats
from storage.outputs.base import VERSIONS, Output, WriteContext, versions
from storage.outputs.dedup_texts import translation_rows
from storage.vectors import read_columns, vectors_at

COPY_KINDS = ("exact", "near", "translated")  # closest first


@dataclass(slots=True)
class CopyResult:
    """A document's MinHash signature (``num_perm`` little-endian uint32 values, see
    pipeline/dedup.py), its LSH band buckets, and the copies found: (other doc_id, kind,
    similarity) with kind 'exact', 'near' (similarity = estimated Jaccard) or 'translated'
    (similarity = cosine)."""

    doc_id: str
    version: int
    text_hash: str
    num_perm: int
    seed: int
    signature: bytes
    buckets: list[int]
    matches: list[tuple[str, str, float]] = field(default_factory=list)
    #: links that copies handled before made to this document, found again in its text now:
    #: (that copy's doc_id, kind, similarity), kept in their direction with what is found now
    relinked: list[tuple[str, str, float]] = field(default_factory=list)
    #: copies handled before whose link to this document its text no longer bears out (the
    #: page changed): their links go
    unlinked: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        # A document counts once, as its closest kind of copy: exact, else near, else
        # translated. Links point to documents processed before, so a verbatim copy fetched
        # after an edited one links to both; counting it under each kind made the summary
        # depend on the crawl's order and ``v_runs.copies_found`` count it twice.
        kinds = {k for _, k, _ in self.matches}
        closest = next((k for k in COPY_KINDS if k in kinds), None)
        return {f"{closest}_copies_of_earlier_documents": 1} if closest else {}


@dataclass(frozen=True, slots=True)
class CopyCandidatesLookup:
    """Stored documents that may be copies of a batch: same normalised-text hash, a shared LSH
    bucket, or (for translated copies) a vector of ``model_id``/``input`` dated within
    [since, until]; plus the batch documents' own vectors. Answer: CopyCandidates."""

    text_hashes: tuple[str, ...]
    buckets: tuple[tuple[int, int], ...]  # (band, bucket)
    doc_ids: tuple[str, ...]
    model_id: str | None = None
    input: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: the stage version: only documents the stage handled at it (earlier batches of this
    #: run or earlier runs) are candidates, so that a link points from the document processed
    #: later to the one before it, also when `process --force` redoes the stage (whose stored
    #: signatures then include documents it has yet to redo). None: every stored document
    stage_version: str | None = None
    #: the texts of the documents in another language whose vectors are at least this near
    #: a batch document's (its ``TEXTS_PER_LANGUAGE`` nearest in each language), which the
    #: stage compares sentence by sentence (pipeline/aligned.py). None: no texts
    translated_threshold: float | None = None
    #: ... of those dated within this many days of the batch document, as the stage takes them
    window_days: int | None = None


@dataclass(slots=True)
class VectorWindow:
    """Vectors of the documents dated near a batch: ids, languages, text lengths, matrix and
    dates."""

    ids: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    matrix: np.ndarray | None = None
    seen: np.ndarray | None = None  # each document's date, seconds since the epoch
    #: whether the stage handled each document before this batch (None: all of them)
    done: np.ndarray | None = None


@dataclass(slots=True)
class CopyCandidates:
    exact: dict[str, list[str]] = field(default_factory=dict)  # text hash -> doc ids
    near: dict[str, bytes] = field(default_factory=dict)  # doc id -> signature
    buckets: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # -> doc ids
    vectors: dict[str, list[float]] = field(default_factory=dict)  # the batch's own vectors
    window: VectorWindow = field(default_factory=VectorWindow)
    #: batch doc id -> the documents handled before that link to it (the batch's own among
    #: them: one whose new version the stage rejects keeps its links, see DedupStage.process)
    linked: dict[str, set[str]] = field(default_factory=dict)
    #: batch doc id -> the version of its stored signature (none: never deduplicated)
    versions: dict[str, int] = field(default_factory=dict)
    #: the language means of the vectors' model (translated copies compare centred vectors too)
    means: LanguageMeans | None = None
    #: doc id -> extracted text, of the window's documents that may be a batch document's
    #: translated copy (CopyCandidatesLookup.translated_threshold)
    texts: dict[str, str] = field(default_factory=dict)


def write(con, ctx: WriteContext, items: list[CopyResult], extras: list) -> None:
    repeats.write(con, items, [e for e in extras if isinstance(e, repeats.RepeatedText)], ctx.now)
    if not items:
        return
    ids = [r.doc_id for r in items]
    con.execute("DELETE FROM lsh_bands WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    before = con.execute(  # the links these documents made before: do any go now?
        "DELETE FROM copy_links WHERE doc_id IN (SELECT unnest(?::VARCHAR[])) "
        "RETURNING doc_id, other_doc_id",
        [ids],
    ).fetchall()
    insert_rows(
        con,
        "minhash",
        [("doc_id", "VARCHAR"), ("version", "INTEGER"), ("stage_version", "VARCHAR"),
         ("text_hash", "VARCHAR"), ("num_perm", "SMALLINT"), ("seed", "INTEGER"),
         ("signature", "BLOB")],
        [(r.doc_id, r.version, ctx.stage_version, r.text_hash, r.num_perm, r.seed, r.signature)
         for r in items],
    )  # fmt: skip
    insert_rows(
        con,
        "lsh_bands",
        [("band", "SMALLINT"), ("bucket", "UBIGINT"), ("doc_id", "VARCHAR")],
        [(band, bucket, r.doc_id) for r in items for band, bucket in enumerate(r.buckets)],
        replace=False,
    )
    insert_rows(
        con,
        "copy_links",
        [("doc_id", "VARCHAR"), ("other_doc_id", "VARCHAR"), ("kind", "VARCHAR"),
         ("similarity", "DOUBLE"), ("found_at", "TIMESTAMPTZ")],
        [(r.doc_id, other, kind, sim, ctx.now) for r in items for other, kind, sim in r.matches]
        + [(copy, r.doc_id, kind, sim, ctx.now) for r in items for copy, kind, sim in r.relinked],
    )  # fmt: skip
    gone = [(copy, r.doc_id) for r in items for copy in r.unlinked]
    if gone:
        con.execute(
            "DELETE FROM copy_links USING (SELECT unnest(?::VARCHAR[]) AS c, "
            "unnest(?::VARCHAR[]) AS d) g WHERE doc_id = g.c AND other_doc_id = g.d",
            [[c for c, _ in gone], [d for _, d in gone]],
        )
    # a changed page's groups first keep only the documents links still join, so that a page
    # that copies another group now joins it, as of now, rather than taking it over
    kept = {(r.doc_id, m[0]) for r in items for m in r.matches}
    split = {d for d, other in before if (d, other) not in kept} | {d for _, d in gone}
    if split:
        for (group,) in con.execute(
            "SELECT DISTINCT group_id FROM copy_members WHERE doc_id IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY 1",
            [sorted(split)],
        ).fetchall():
            _regroup(con, group)
    # group membership: only documents that have copies, a minority
    join_copy_groups(
        con, [[r.doc_id, *(m[0] for m in r.matches)] for r in items if r.matches], ctx.now
    )


def join_copy_groups(con, joins: list[list[str]], now) -> None:
    """Put each list of ids in ``joins`` in one copy group, in order: the oldest group among
    theirs survives (the one whose member among them joined first; its id is the group's
    first document), the others are folded into it; ids in no group join it now.

    One read of the memberships of every id and at most one update and one insert for the
    whole batch (two statements a copy took 400 of the 640 ms a batch of 512 spent in SQL at
    10,000 documents)."""
    if not joins:
        return
    everyone = sorted({d for ids in joins for d in ids})
    member = {  # doc id -> [its group as read or named, when it joined]
        doc: [group, joined]
        for doc, group, joined in con.execute(
            "SELECT doc_id, group_id, joined_at FROM copy_members "
            "WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [everyone],
        ).fetchall()
    }
    stored = {group for group, _ in member.values()}
    renamed: dict[str, str] = {}  # a group folded into another -> that group

    def current(group: str) -> str:
        while group in renamed:
            group = renamed[group]
        return group

    joined: list[str] = []  # the ids that join a group now, in order
    for ids in joins:
        oldest: dict[str, object] = {}  # each of their groups -> its first joined among ids
        for d in ids:
            if d in member:
                group, when = current(member[d][0]), member[d][1]
                if group not in oldest or when < oldest[group]:
                    oldest[group] = when
        if oldest:
            keep, *others = sorted(oldest, key=lambda g: (oldest[g], g))
            for group in others:
                renamed[group] = keep
        else:
            keep = f"cg-{ids[1]}"
        for d in ids:
            if d not in member:
                member[d] = [keep, now]
                joined.append(d)
    moves = [(g, current(g)) for g in sorted(stored) if current(g) != g]
    if moves:
        con.execute(
            "UPDATE copy_members SET group_id = m.new FROM (SELECT unnest(?::VARCHAR[]) AS old, "
            "unnest(?::VARCHAR[]) AS new) m WHERE copy_members.group_id = m.old",
            [[g for g, _ in moves], [n for _, n in moves]],
        )
    if joined:
        con.execute(
            "INSERT INTO copy_members SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ? "
            "ON CONFLICT DO NOTHING",
            [joined, [current(member[d][0]) for d in joined], now],
        )


def withdraw(con, keys: list[tuple[str, int]], _now) -> None:
    """Take these document versions out of copies (see Output.withdraw): their signatures,
    buckets and links, and their copy groups, which keep the documents still linked to each
    other (a group that falls apart into pieces keeps its id for the piece that holds the
    document it is named after; a document left with no link leaves)."""
    gone = [
        r[0]
        for r in con.execute(
            f"SELECT m.doc_id FROM minhash m JOIN {VERSIONS} "
            "ON k.doc_id = m.doc_id AND k.version = m.version",
            versions(keys),
        ).fetchall()
    ]
    if not gone:
        return
    groups = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT group_id FROM copy_members WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [gone],
        ).fetchall()
    ]
    for table, where in (
        ("minhash", "doc_id"),
        ("lsh_bands", "doc_id"),
        ("copy_members", "doc_id"),
        ("copy_links", "doc_id"),
        ("copy_links", "other_doc_id"),
    ):
        con.execute(f"DELETE FROM {table} WHERE {where} IN (SELECT unnest(?::VARCHAR[]))", [gone])
    for group in groups:
        _regroup(con, group)


def _regroup(con, group: str) -> None:
    """Split ``group`` into the pieces its remaining links still join. A group is named after
    one of its documents (``cg-<doc_id>``, see ``join_copy_groups``), so a piece without that
    document is named after its own oldest member: a later copy of the document a group was
    named after must not find its name taken."""
    members = con.execute(
        "SELECT doc_id FROM copy_members WHERE group_id = ? ORDER BY joined_at, doc_id", [group]
    ).fetchall()
    order = [r[0] for r in members]
    links = con.execute(
        "SELECT doc_id, other_doc_id FROM copy_links WHERE doc_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND other_doc_id IN (SELECT unnest(?::VARCHAR[]))",
        [order, order],
    ).fetchall()
    parent = {d: d for d in order}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for a, b in links:
        parent[root(a)] = root(b)
    pieces: dict[str, list[str]] = {}
    for d in order:  # oldest member first
        pieces.setdefault(root(d), []).append(d)
    named_after = group.removeprefix("cg-")
    for piece in pieces.values():
        if len(piece) == 1:
            con.execute("DELETE FROM copy_members WHERE doc_id = ?", [piece[0]])
        elif named_after not in piece:
            con.execute(
                "UPDATE copy_members SET group_id = ? WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
                [f"cg-{piece[0]}", piece],
            )


def _handled(alias: str) -> str:
    """SQL: the dedup stage handled ``alias``'s document version at the stage version given
    as the next parameter (see CopyCandidatesLookup.stage_version)."""
    return (
        f"EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = {alias}.doc_id "
        f"AND s.version = {alias}.version AND s.stage = 'dedup' AND s.stage_version = ? "
        "AND s.status = 'done') OR NOT EXISTS (SELECT 1 FROM documents c "
        f"WHERE c.doc_id = {alias}.doc_id AND c.current_version = {alias}.version)"
    )


def copy_candidates(con: duckdb.DuckDBPyConnection, q: CopyCandidatesLookup) -> CopyCandidates:
    out = CopyCandidates()
    handled = f" AND ({_handled('m')})" if q.stage_version is not None else ""
    given = [q.stage_version] if q.stage_version is not None else []
    # links to the batch's documents (pages seen before, changed since): few, mostly none
    links = con.execute(
        "SELECT other_doc_id, doc_id FROM copy_links WHERE other_doc_id IN "
        "(SELECT unnest(?::VARCHAR[]))",
        [list(q.doc_ids)],
    ).fetchall()
    out.versions = dict(
        con.execute(
            "SELECT doc_id, version FROM minhash WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(q.doc_ids)],
        ).fetchall()
    )
    if links:
        handled_copies = {
            r[0]
            for r in con.execute(
                "SELECT doc_id FROM minhash m "
                f"WHERE doc_id IN (SELECT unnest(?::VARCHAR[])){handled}",
                [sorted({c for _, c in links}), *given],
            ).fetchall()
        }
        for doc_id, copy in links:
            if copy in handled_copies:
                out.linked.setdefault(doc_id, set()).add(copy)
    for h, doc_id in con.execute(
        "SELECT text_hash, doc_id FROM minhash m "
        f"WHERE text_hash IN (SELECT unnest(?::VARCHAR[])){handled}",
        [list(q.text_hashes), *given],
    ).fetchall():
        out.exact.setdefault(h, []).append(doc_id)
    if q.buckets:
        rows = con.execute(
            """
            SELECT b.band, b.bucket, b.doc_id
            FROM lsh_bands b
            JOIN (SELECT unnest(?::SMALLINT[]) AS band, unnest(?::UBIGINT[]) AS bucket) k
              ON k.band = b.band AND k.bucket = b.bucket
            """,
            [[b for b, _ in q.buckets], [k for _, k in q.buckets]],
        ).fetchall()
        out.near = dict(
            con.execute(
                "SELECT doc_id, signature FROM minhash m "
                f"WHERE doc_id IN (SELECT unnest(?::VARCHAR[])){handled}",
                [sorted({r[2] for r in rows}), *given],
            ).fetchall()
        )
        for band, bucket, doc_id in rows:
            if doc_id in out.near:
                out.buckets.setdefault((band, bucket), []).append(doc_id)
    if q.model_id is None:
        return out
    out.vectors = dict(
        con.execute(
            "SELECT doc_id, vector FROM embeddings e JOIN documents d USING (doc_id) "
            "WHERE e.version = d.current_version AND e.model_id = ? AND e.input = ? "
            "AND doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [q.model_id, q.input, list(q.doc_ids)],
        ).fetchall()
    )
    out.means = load_means(con, q.model_id, q.input)
    window = read_columns(
        con,
        f"""
        SELECT e.doc_id, l.lang, x.rowid AS row_id, e.rowid AS vector_row, e.version,
               epoch({seen_at_sql()}) AS seen,
               ({_handled("e") if q.stage_version is not None else "true"}) AS done
        FROM embeddings e
        JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
        JOIN document_versions v ON v.doc_id = e.doc_id AND v.version = e.version
        JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
        JOIN extractions x ON x.doc_id = e.doc_id AND x.version = e.version
        WHERE e.model_id = ? AND e.input = ?
          AND {seen_at_sql()} BETWEEN ? AND ?
          AND NOT EXISTS (SELECT 1 FROM site_repeats r  -- a site's boilerplate: no copy
                          WHERE r.doc_id = e.doc_id AND r.version = e.version)
        """,
        [*given, q.model_id, q.input, q.since, q.until],
    )
    if window["doc_id"]:
        # the lengths by row id: a length read in the join above decompresses every text;
        # every row is found (by key where its id moved): lookups run on one read connection
        keys = list(zip(window["row_id"], window["doc_id"], window["version"], strict=True))
        lengths = by_row_id(con, "extractions", ("length(x.text)",), keys)
        # the vectors by row id: read in the join above, every stored vector would be read
        at = list(zip(window["vector_row"], window["doc_id"], window["version"], strict=True))
        vectors = vectors_at(con, "embeddings", at, "AND x.model_id = ? AND x.input = ?",
                             [q.model_id, q.input])  # fmt: skip
        out.window = VectorWindow(
            window["doc_id"],
            window["lang"],
            [lengths[(k[1], k[2])][0] for k in keys],
            vectors,
            np.asarray(window["seen"], dtype=np.float64),
            np.asarray(window["done"], dtype=bool),
        )
        if q.translated_threshold is not None and out.vectors:
            rows = translation_rows(out, q.translated_threshold, q.window_days)
            texts = by_row_id(con, "extractions", ("x.text",), [keys[i] for i in rows])
            out.texts = {doc_id: text for (doc_id, _), (text,) in texts.items()}
    return out


OUTPUT = Output(
    "dedup",
    records=(CopyResult,),
    write=write,
    batch_records=(repeats.RepeatedText,),
    answers={CopyCandidatesLookup: copy_candidates, repeats.SameTextLookup: repeats.same_text},
    withdraw=withdraw,
)
