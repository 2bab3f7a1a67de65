"""Search from the command line: keywords over original and translated text, or meaning, with
the query embedded by the same model as the documents (an English query finds Russian ones)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.embed import EmbedStage
from pipeline.langid import NO_LANGUAGE
from pipeline.similarity import (
    NOISE,
    SIMILAR_ANCHOR_WEIGHT,
    SIMILAR_CANDIDATES,
    anchor_overlap,
    cross_language,
    document_vectors,
    noiseless,
    query_vector,
)
from pipeline.snippets import snippet
from storage import connect
from storage.db import StorageError
from storage.means import load as load_means
from storage.queries import current_rejection
from storage.search import (
    RESULT_COLUMNS,
    anchors,
    copy_groups,
    documents,
    embedded_models,
    keyword_search,
    load_vectors,
    same_text_copies,
)

KEYWORD_COLUMNS = ["rank", "score", *RESULT_COLUMNS, "snippet"]
# score: what the ranking uses (search: the similarity, plus the cross-language allowance for
# a document in another language, and for a copy its copy group's best; `similar`: the
# similarity plus the anchor overlap's share);
# similarity: doc_similarity, as the SQL macro gives it
log = logging.getLogger(__name__)
SEMANTIC_COLUMNS = ["rank", "score", "similarity", *RESULT_COLUMNS]
# search --semantic: copy_group, the hit's copy group (v_copies), where it is in one. A copy
# ranks with its group: its score is the group's best, so it follows that hit
SEARCH_COLUMNS = [*SEMANTIC_COLUMNS, "copy_group"]
# `similar`: exact_copies, the other documents with a hit's very text (the query document aside),
# folded into its row unless --with-copies
SIMILAR_COLUMNS = [*SEMANTIC_COLUMNS, "exact_copies"]


def _embedded_languages(con, model_id: str, input_kind: str) -> list[tuple[str, int]]:
    """(language, documents) among the current versions embedded by this model and input
    that search compares (a site's boilerplate, which load_vectors leaves out, is not)."""
    return con.execute(
        """
        SELECT coalesce(l.lang, '(not identified yet)'), count(*)
        FROM embeddings e
        JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
        LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
        WHERE e.model_id = ? AND e.input = ?
          AND NOT EXISTS (SELECT 1 FROM site_repeats r
                          WHERE r.doc_id = e.doc_id AND r.version = e.version)
        GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        [model_id, input_kind],
    ).fetchall()


def keyword(db_path: Path, query: str, *, lang: str | None, limit: int) -> list[tuple]:
    with connect(db_path, read_only=True) as con:
        return keyword_rows(con, query, lang=lang, limit=limit)


def keyword_rows(con, query: str, *, lang: str | None, limit: int) -> list[tuple]:
    """keyword() on an open connection (the dashboard's, which keeps its own). A ``lang``
    no document is in is a StorageError naming the languages there are, as for semantic
    search (``--lang ua``, Ukrainian being uk, found nothing and said so as for no hit)."""
    rows = keyword_search(con, query.split(), lang=lang, limit=limit)
    if lang and not rows:
        here = con.execute("SELECT lang, count(DISTINCT doc_id) FROM languages "
                           "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()  # fmt: skip
        if lang not in {code for code, _ in here}:
            raise StorageError(f"no documents in {lang!r} in this database; languages: "
                               f"{_listed(here) or 'none identified yet'}")  # fmt: skip
    terms = query.split()  # for the snippet
    n = len(RESULT_COLUMNS)
    out = []
    for rank, row in enumerate(rows, 1):
        meta, score, text, translated = row[:n], row[n], row[n + 1], row[n + 2]
        piece = snippet(text, terms) or snippet(translated, terms)
        out.append((rank, int(score), *meta, piece))
    return out


def semantic(
    db_path: Path,
    query: str,
    embed_settings: dict,
    *,
    lang: str | None,
    limit: int,
    query_lang: str | None = None,
    stage: EmbedStage | None = None,
) -> list[tuple]:
    """Nearest documents by the document similarity of pipeline/similarity.py (language means
    removed, so an English query ranks a Russian piece on the same story above unrelated
    English ones). The query's language is identified by py3langid unless given.
    Rows: SEARCH_COLUMNS. A copy ranks with its copy group (the dedup stage's exact, near and
    translated copies): each member's score is its group's best, so a republished or
    translated piece follows the group's best hit rather than scattering down the list."""
    stage = stage or EmbedStage.from_settings(embed_settings)  # a caller may keep its model
    with connect(db_path, read_only=True) as con:  # nothing to rank: say so before the model
        _check_vectors(con, stage, lang)
    given = query_lang is not None
    if query_lang is None:
        query_lang = query_language(query)
    # the model works with the database closed; then one open reads the vectors and the rows
    # shown, so that they are of one state of the store (read in two opens, a writer's batch
    # in between gave a page's new title to the rank and similarity of its old text)
    raw = stage.embedder.encode([query], query=True)[0]
    with connect(db_path, read_only=True) as con:
        ids, leads, texts, langs = load_vectors(con, stage.model_id, stage.input, lang=lang)
        if not ids:  # gone while the model worked
            _check_vectors(con, stage, lang)
        means = load_means(con, stage.model_id, stage.input)
        if (given and means and query_lang not in NO_LANGUAGE  # "und" names none: no news
                and means.mean("text", query_lang) is means.mean("text", None)):  # fmt: skip
            log.warning(
                "--query-lang %s: no stored document is in that language, so the query is "
                "taken as of no known one (the mean over all languages is removed from it)",
                query_lang,
            )
        groups = copy_groups(con)
        q = query_vector(raw, query_lang, means)
        sims = document_vectors(leads, texts, langs, means) @ q
        own = cross_language(sims, langs, query_lang)
        score, group = group_best(ids, groups, own)
        # best group first; in a group, the best-ranked member first; ties by doc id
        order = top(ids, score, limit, tiebreaks=(group, -own))
        rows = rows_for(con, ids, {0: (order, score, sims)})[0]
    doc_col = SEMANTIC_COLUMNS.index("doc_id")
    return [(*r, groups.get(r[doc_col])) for r in rows]


def _check_vectors(con, stage: EmbedStage, lang: str | None) -> None:
    """A StorageError saying why there is nothing for semantic search to rank: no vectors of
    the configured model and input (naming those there are), or none in ``lang``."""
    found = con.execute(
        """
        SELECT 1 FROM embeddings e
        JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
        LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
        WHERE e.model_id = ? AND e.input = ? AND (?::VARCHAR IS NULL OR l.lang = ?)
          AND NOT EXISTS (SELECT 1 FROM site_repeats r
                          WHERE r.doc_id = e.doc_id AND r.version = e.version)
        LIMIT 1
        """,
        [stage.model_id, stage.input, lang, lang],
    ).fetchall()  # load_vectors' rows, as few as tell whether there are any
    if found:
        return
    vectors = f"{stage.model_id} ({stage.input} text)"
    langs_here = _embedded_languages(con, stage.model_id, stage.input) if lang else []
    if lang and langs_here:
        # this model's vectors exist, just none in that language
        raise StorageError(
            f"no documents in {lang!r} are embedded with {vectors}; languages with "
            f"vectors: {_listed(langs_here)}"
        )
    other = ", ".join(f"{m} ({i}): {n}" for m, i, n in embedded_models(con)) or "none"
    raise StorageError(
        f"no documents embedded with {vectors}; stored vectors: {other}. "
        "Run `narrascope process --stage embed` first."
    )


def group_best(
    ids: list[str], groups: dict[str, str], scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each document's score raised to the best among the documents of its copy group
    (``groups``: doc id -> group), and a key per document that its group's members share."""
    key = np.arange(len(ids))
    score = scores.copy()
    code: dict[str, int] = {}
    members = [(i, code.setdefault(groups[d], len(code))) for i, d in enumerate(ids) if d in groups]
    if members:
        rows, codes = np.array(members).T
        best = np.full(len(code), -np.inf)
        np.maximum.at(best, codes, scores[rows])
        score[rows] = best[codes]
        key[rows] = len(ids) + codes
    return score, key


def query_language(query: str) -> str | None:
    """The language of a search query (None: unknown, and the query is centred by the mean
    over all languages). py3langid alone: the langid stage's lingua models for short texts
    take half a minute to load, too long for one query; `--query-lang` overrides."""
    from pipeline.langid import Py3LangidDetector

    lang, confidence = Py3LangidDetector().detect(query)
    return lang if confidence >= 0.5 else None


def top(ids: list[str], scores: np.ndarray, limit: int, tiebreaks: tuple = ()) -> np.ndarray:
    """Indices of the ``limit`` best scores, best first; ties by each of ``tiebreaks`` (arrays
    over all documents, lowest first), then by doc id."""
    k = min(limit, len(ids))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    # every index tied with the k-th best (up to float noise) stays in until the keys break
    # the tie; scores and float keys equal up to noise are ties (similarity.noiseless)
    kth = np.partition(-scores, k - 1)[k - 1]
    best = np.flatnonzero(-scores <= kth + NOISE)
    named = np.array([ids[i] for i in best])  # the tied few, not every id as an array
    floats = (t[best] for t in reversed(tiebreaks))
    keys = (named, *(noiseless(t) if t.dtype.kind == "f" else t for t in floats),
            noiseless(-scores[best]))  # fmt: skip
    return best[np.lexsort(keys)][:k]


def rows_for(con, ids: list[str], picks: dict) -> dict:
    """key -> result rows, for picks {key: (indices, ranking, similarities)}: one database
    read for all, on the open that read the vectors (one state of the store)."""
    wanted = sorted({ids[i] for indices, _, _ in picks.values() for i in indices})
    meta = documents(con, wanted)
    return {
        key: [
            (rank, round(float(ranking[i]), 4), round(float(sims[i]), 4), *meta[ids[i]])
            for rank, i in enumerate(indices, 1)
            if ids[i] in meta
        ]
        for key, (indices, ranking, sims) in picks.items()
    }


def similar(
    db_path: Path,
    doc: str,
    embed_settings: dict,
    *,
    lang: str | None,
    limit: int,
    with_copies: bool = False,
) -> list[tuple]:
    """ "More like this": the documents nearest to ``doc`` (a doc id or a URL), in every
    language unless ``lang`` is given. Of the SIMILAR_CANDIDATES nearest by the document
    similarity search uses (SQL: ``doc_similarity``), those that name the same people, places
    and figures come first: ``score`` adds SIMILAR_ANCHOR_WEIGHT times their ``anchor_overlap``.
    Unless ``with_copies``, exact copies of ``doc`` (its very text at another address, which
    `copies` lists) are left out, and a hit's exact copies are folded into its row (the
    best-ranked of them), counted in ``exact_copies``. Rows: SIMILAR_COLUMNS."""
    with connect(db_path, read_only=True) as con:  # one open: one state of the store
        doc_id = resolve_document(con, doc)
        return _similar_on(
            con, [doc_id], embed_settings, lang=lang, limit=limit, with_copies=with_copies
        )[doc_id]


def similar_many(
    db_path: Path,
    doc_ids: list[str],
    embed_settings: dict,
    *,
    lang: str | None,
    limit: int,
    with_copies: bool = False,
    anchor_weight: float = SIMILAR_ANCHOR_WEIGHT,
) -> dict[str, list[tuple]]:
    """`similar` for several documents at once: doc id -> its ranked neighbours
    (``anchor_weight``: for bench/bench_similarity.py's curve)."""
    with connect(db_path, read_only=True) as con:
        return _similar_on(con, doc_ids, embed_settings, lang=lang, limit=limit,
                           with_copies=with_copies, anchor_weight=anchor_weight)  # fmt: skip


def _similar_on(
    con,
    doc_ids: list[str],
    embed_settings: dict,
    *,
    lang: str | None,
    limit: int,
    with_copies: bool = False,
    anchor_weight: float = SIMILAR_ANCHOR_WEIGHT,
) -> dict[str, list[tuple]]:
    """similar_many() on one open connection: the vectors, copies, anchors and rows it reads
    are of one state of the store (no model works meanwhile)."""
    stage = EmbedStage.from_settings(embed_settings)
    ids, leads, texts, langs = load_vectors(con, stage.model_id, stage.input)
    means = load_means(con, stage.model_id, stage.input)
    exact = same_text_copies(con)  # the store's exact copies: left out, folded, counted
    row = {doc_id: i for i, doc_id in enumerate(ids)}
    missing = [d for d in doc_ids if d not in row]
    if missing:
        raise StorageError(_no_vector(con, missing[0], f"{stage.model_id} ({stage.input} text)"))
    matrix = document_vectors(leads, texts, langs, means)
    wanted = np.array([lang is None or lg == lang for lg in langs])
    if lang is not None and not wanted.any():
        counts = Counter(lg or "(not identified yet)" for lg in langs)
        listed = _listed(sorted(counts.items(), key=lambda c: (-c[1], c[0])))
        raise StorageError(
            f"no documents in {lang!r} have vectors; languages with vectors: {listed}"
        )
    group = np.array([d if with_copies or d not in exact else exact[d][0] for d in ids])
    # folding a hit's exact copies into its row takes at most this many rows out of a list:
    # picked that many further, a --limit of N still lists N rows where N texts are left
    folded = len(ids) - len(set(group.tolist()))
    nearest = {}
    for doc_id in doc_ids:
        keep = wanted & (group != group[row[doc_id]])  # itself, and its exact copies
        sims = matrix @ matrix[row[doc_id]]
        ranking = np.where(keep, sims, -np.inf)
        k = min(max(limit, SIMILAR_CANDIDATES) + folded, int(keep.sum()))
        nearest[doc_id] = (top(ids, ranking, k), ranking, sims)
    wanted_anchors = {ids[i] for p, _, _ in nearest.values() for i in p[:SIMILAR_CANDIDATES]}
    found = anchors(con, sorted(wanted_anchors | set(doc_ids)))
    picks = {}
    for doc_id, (picked, ranking, sims) in nearest.items():
        # The SIMILAR_CANDIDATES nearest, ranked again with the anchors (each score is at least
        # its similarity, so they stay above the rest, which a longer list adds by similarity).
        # Every document embedded has an extraction: no anchors is an empty list, never NULL.
        candidates = picked[:SIMILAR_CANDIDATES]
        own = found.get(doc_id, [])
        score = ranking.copy()
        for i in candidates:
            score[i] = sims[i] + anchor_weight * anchor_overlap(own, found.get(ids[i], []))
        pool = np.zeros(len(ids), dtype=bool)
        pool[candidates] = True
        reranked = top(ids, np.where(pool, score, -np.inf), len(candidates))
        order = np.concatenate([reranked, picked[len(candidates) :]])
        if not with_copies:
            order = _fold_exact_copies(ids, order, exact)
        picks[doc_id] = (order[:limit], score, sims)
    rows = rows_for(con, ids, picks)
    doc_col = SEMANTIC_COLUMNS.index("doc_id")
    return {
        key: [(*r, _other_copies(exact, r[doc_col], key)) for r in found_rows]
        for key, found_rows in rows.items()
    }


def _other_copies(exact: dict, hit: str, query: str) -> int:
    """How many other documents carry ``hit``'s very text, ``query`` aside (it is not more
    like itself): with ``--with-copies`` a copy of the query lists 0, not the query."""
    if hit not in exact:
        return 0
    group, size = exact[hit]
    return size - 1 - (query in exact and exact[query][0] == group)


def _no_vector(con, doc_id: str, vectors: str) -> str:
    """Why a document has no vector: a stage rejected its current version (processing it
    again changes nothing), or it waits for `process`."""
    rejected = current_rejection(con, doc_id)
    if rejected:
        stage, reason, detail = rejected
        why = f"{reason}: {detail}" if detail else reason
        kept = "is left out" if stage == "dedup" else "has no vector"  # its vector stays
        return (
            f"document {doc_id} {kept}: the {stage} stage rejected it ({why}), so it "
            "takes part in no search, copies or narratives (v_rejections lists it)"
        )
    return f"document {doc_id} has no {vectors} vector yet; run `narrascope process` first"


def _listed(counts) -> str:
    """(language, documents) pairs as "ru (12), en (3)"."""
    return ", ".join(f"{code} ({n})" for code, n in counts)


def _fold_exact_copies(ids: list[str], order: np.ndarray, exact: dict) -> np.ndarray:
    """``order`` with one row per text: of a hit's exact copies only the best-ranked stays."""
    seen, kept = set(), []
    for i in order.tolist():
        group = exact[ids[i]][0] if ids[i] in exact else ids[i]
        if group not in seen:
            kept.append(i)
            seen.add(group)
    return np.array(kept, dtype=np.int64)


def resolve_document(con, doc: str) -> str:
    """A doc id, or the id of the document at a URL (canonicalised as the crawler does)."""
    from storage.urls import canonical_url

    # fetchall: a result left unfinished blocks the connection's next query (DuckDB 2)
    rows = con.execute("SELECT doc_id FROM documents WHERE doc_id = ?", [doc]).fetchall()
    if not rows and "://" in doc:
        rows = con.execute(
            "SELECT doc_id FROM documents WHERE canonical_url = ?", [canonical_url(doc)]
        ).fetchall()
    if not rows:
        raise StorageError(f"no document {doc!r} (give a doc_id or a URL from v_documents)")
    return rows[0][0]
