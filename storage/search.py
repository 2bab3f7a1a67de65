"""Search queries: keyword matches over original and translated text, stored vectors of one
model, and the document fields search results show."""

from __future__ import annotations

import re

import duckdb
import numpy as np

from storage.db import StorageError
from storage.longtext import by_row_id
from storage.queries import STANDING
from storage.vectors import read_columns

MAX_TERMS = 12


def too_many_words(terms: list[str]) -> str | None:
    """Why a keyword search of ``terms`` cannot run (more words than it takes), or None."""
    n = sum(1 for t in terms if t.strip())
    if n <= MAX_TERMS:
        return None
    return (f"a keyword search takes at most {MAX_TERMS} words; this one has {n} (a search by "
            "meaning takes a sentence of any length)")  # fmt: skip


RESULT_COLUMNS = ["doc_id", "lang", "source", "published_at", "title", "title_translated", "url"]


# Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer,
# Burmese): any of their characters may start a word, and a word may start after one
# ("在NATO峰会"); a run of them is no one word, so "会议" is found in "国际会议".
UNSPACED = "\\p{Han}\\p{Hiragana}\\p{Katakana}\\p{Thai}\\p{Lao}\\p{Khmer}\\p{Myanmar}"
UNSPACED_CHARACTER = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)


# Arabic writes the definite article, and a preposition or conjunction before it, as part of
# the word: "الحرب" (the war), "بالحرب", "والحرب", "للحرب". A term that starts with an
# Arabic letter other than the article's own is also found after them ("حرب" finds "الحرب").
ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
ARABIC_ARTICLE = "(?:[\u0648\u0641\u0628\u0643]?\u0627\u0644|\u0644\u0644)?"  # RE2 and re


def takes_article(term: str) -> bool:
    """Whether ``term`` is an Arabic word written without its article ("حرب", not "الحرب")."""
    return bool(ARABIC_LETTER.match(term)) and not term.startswith("\u0627\u0644")


def starts_words(term: str) -> bool:
    """Whether ``term`` is matched only where a word starts: it starts with a letter or digit
    of a script that separates its words ("war", "санкци"), not with punctuation (".NET" in
    "ASP.NET" too) or a character of a script written without spaces ("会议")."""
    return term[:1].isalnum() and not UNSPACED_CHARACTER.match(term)


def pattern(term: str) -> str:
    """A term as a case-insensitive RE2 pattern that matches it literally where a word
    starts (after no letter or digit, or after a character of a script written without
    spaces: "war" finds "wars", not "award"; "санкци" finds "санкции" and "санкций", as
    inflected languages want): every character other than a letter or digit written as its
    code point (``\\x{2e}``), so no query text is read as regex syntax."""
    start = f"(?:^|[^\\pL\\pN]|[{UNSPACED}])" if starts_words(term) else ""
    if start and takes_article(term):  # "حرب" finds "الحرب", "بالحرب" (ARABIC_ARTICLE)
        start += ARABIC_ARTICLE
    return "(?i)" + start + _literal(term)


def _literal(term: str) -> str:
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in term)


def counting(term: str) -> tuple[str, str | None]:
    """Patterns whose match counts give ``term``'s occurrences where a word starts: the
    first's, less the second's where there is one. A match of ``pattern`` takes the
    character before the term with it, so of two occurrences that touch ("U.S.U.S." for
    "u.s.") it found one; for a term that ends in neither a letter nor a digit, count every
    occurrence and take away those after a letter or digit of a script that separates its
    words (RE2 has no look-behind)."""
    if starts_words(term) and not term[-1:].isalnum():
        return "(?i)" + _literal(term), f"(?i)(?:[^\\PL{UNSPACED}]|\\pN)" + _literal(term)
    return pattern(term), None


def keyword_search(
    con: duckdb.DuckDBPyConnection, terms: list[str], *, lang: str | None, limit: int
) -> list[tuple]:
    """Documents containing every term (case-insensitive) in their title or text, original or
    translated; scored by the number of occurrences, per term in the original or in the
    translation, whichever has more: an English piece (v_documents shows its text as its own
    translation) and a translated one rank alike. Rows: RESULT_COLUMNS + score, text,
    text_translated.

    Texts are read from the tables, not v_documents (whose copy relations span the store),
    and in as many slices as DuckDB has threads: a table of fewer rows than a row group
    (122,880) is otherwise scanned by one thread. RE2's case-insensitive match, not
    lower(), which costs more than the match itself (bench/bench_dashboard.py). Counting
    is the test for presence too: on a text without the term it costs what a match costs,
    on one with it a match first would be extra work."""
    # as typed: RE2's (?i) folds case itself (lower() would turn "İ" into "i" + a dot)
    terms = [t for t in terms if t.strip()]
    if not terms:
        return []
    if problem := too_many_words(terms):  # every word must occur: none is dropped unsaid
        raise StorageError(problem)
    parts = max(1, min(8, int(con.execute("SELECT current_setting('threads')").fetchone()[0])))
    patterns = [counting(t) for t in terms]
    params: dict = {f"p{i}": p for i, (p, _) in enumerate(patterns)}
    params.update({f"q{i}": q for i, (_, q) in enumerate(patterns) if q})
    params.update(lang=lang, limit=limit)

    n = range(len(terms))

    def count(col: str, i: int) -> str:
        found = f"coalesce(len(regexp_extract_all({col}, $p{i})), 0)"
        if patterns[i][1] is None:
            return found
        return f"({found} - coalesce(len(regexp_extract_all({col}, $q{i})), 0))"

    def counts(cols: list[str]) -> str:
        """Per term, its occurrences in ``cols`` (m0, m1, ...)."""
        return ", ".join(" + ".join(count(c, i) for c in cols) + f" AS m{i}" for i in n)

    def scan(table: str, cols: str, where: str = "") -> str:
        """Occurrences in one table's titles and texts, in one slice per thread; counted
        before the join with the current versions, which would otherwise carry every text."""
        return " UNION ALL ".join(
            f"SELECT doc_id, version, rowid AS row_, {cols}, {counts(['title', 'text'])} "
            f"FROM {table} WHERE {where}rowid % {parts} = {k}"
            for k in range(parts)
        )

    hint = lambda i: count("c.hint_title", i)  # noqa: E731 - the listing's title
    translated = "status <> 'not_needed' AND "  # an English piece is its own translation
    none = ", ".join("0" for _ in n)  # occurrences on the other side of a branch
    branches = [
        # a document without an extraction has the listing's title at most (o: original)
        "SELECT c.doc_id, "
        + ", ".join(f"{hint(i)} AS o{i}" for i in n)
        + ", " + ", ".join(f"0 AS t{i}" for i in n)
        + ", NULL::BIGINT AS erow, NULL::BIGINT AS trow FROM current c "
        "ANTI JOIN extractions e ON e.doc_id = c.doc_id AND e.version = c.version",
        # the extracted title (else the listing's) and text
        "SELECT c.doc_id, "
        + ", ".join(f"x.m{i} + CASE WHEN x.untitled THEN {hint(i)} ELSE 0 END" for i in n)
        + f", {none}, x.row_, NULL "
        f"FROM ({scan('extractions', 'title IS NULL AS untitled')}) x "
        "JOIN current c ON c.doc_id = x.doc_id AND c.version = x.version",
        # the translated title and text (t)
        "SELECT c.doc_id, "
        + none
        + ", " + ", ".join(f"x.m{i}" for i in n)
        + f", NULL, x.row_ FROM ({scan('translations', 'status', translated)}) x "
        "JOIN current c ON c.doc_id = x.doc_id AND c.version = x.version",
    ]  # fmt: skip
    # per term, the side where it occurs more: an English piece is its own translation
    best = [f"greatest(sum(o{i}), sum(t{i}))" for i in n]
    sums = ", ".join(f"{b} AS n{i}" for i, b in enumerate(best))
    every = " AND ".join(f"{b} > 0" for b in best)  # before the join: matches only
    score = " + ".join(f"n{i}" for i in n)
    union = "\n        UNION ALL ".join(branches)
    # v_documents' columns from the tables (the view would join every text to find 20)
    sql = f"""
        WITH current AS MATERIALIZED (
            SELECT d.doc_id, d.current_version AS version, d.source, v.url, l.lang,
                   v.hint_title, coalesce(t.status = 'not_needed', false) AS own,
                   coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), x.published_at)
                       AS published_at
            FROM documents d
            JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
            LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = d.current_version
            LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version
            LEFT JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version
            WHERE ($lang::VARCHAR IS NULL OR l.lang = $lang)
              AND NOT EXISTS (  -- a page that is not news never joins search (README)
                  SELECT 1 FROM rejections r WHERE r.doc_id = d.doc_id
                  AND r.version = d.current_version AND r.reason = 'not_news' AND {STANDING})
        )
        SELECT c.doc_id, c.lang, c.source, c.published_at, c.hint_title, c.url, {score} AS score,
               c.own, s.erow, s.trow
        FROM (SELECT doc_id, {sums}, max(erow) AS erow, max(trow) AS trow
              FROM ({union}) GROUP BY doc_id HAVING {every}) s
        JOIN current c USING (doc_id)
        ORDER BY score DESC, c.published_at DESC NULLS LAST, c.doc_id
        LIMIT $limit
    """
    hits = con.execute(sql, params).fetchall()
    # titles and texts of the hits only, fetched by row id (a lookup, not a scan)
    texts = {
        table: {
            r[0]: r[1:]
            for r in con.execute(
                f"SELECT rowid, title, text FROM {table} "
                "WHERE rowid IN (SELECT unnest($rows::BIGINT[]))",
                {"rows": [h[col] for h in hits if h[col] is not None]},
            ).fetchall()
        }  # fmt: skip
        for table, col in (("extractions", 8), ("translations", 9))
    }
    out = []
    for doc_id, lang_, source, published, hint_title, url, score_, own, erow, trow in hits:
        e_title, e_text = texts["extractions"].get(erow, (None, None))
        t_title, t_text = texts["translations"].get(trow, (None, None))
        title = e_title if e_title is not None else hint_title
        # an English piece is its own translation (v_documents)
        out.append((doc_id, lang_, source, published, title, title if own else t_title, url,
                    score_, e_text, e_text if own else t_text))  # fmt: skip
    return out


def load_vectors(
    con: duckdb.DuckDBPyConnection, model_id: str, input_kind: str, *, lang: str | None = None
) -> tuple[list[str], np.ndarray, np.ndarray, list[str | None]]:
    """Doc ids, lead vectors, whole-text vectors and languages (one row each) of current
    document versions embedded by exactly this model and input: vectors of two models are
    never compared. A version the dedup stage rejected as its site's boilerplate keeps its
    vector but is left out, as the pages rejected before embedding are."""
    got = read_columns(
        con,
        """
        SELECT e.doc_id, coalesce(e.lead_vector, e.vector) AS lead, e.vector, l.lang
        FROM embeddings e
        JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
        LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
        WHERE e.model_id = ? AND e.input = ? AND (?::VARCHAR IS NULL OR l.lang = ?)
          AND NOT EXISTS (SELECT 1 FROM site_repeats r  -- a site's boilerplate (dedup)
                          WHERE r.doc_id = e.doc_id AND r.version = e.version)
        ORDER BY e.doc_id
        """,
        [model_id, input_kind, lang, lang],
        vectors=("lead", "vector"),
    )
    return got["doc_id"], got["lead"], got["vector"], got["lang"]


# SQL: the copy data of ``c``'s document (copy_members, minhash) is of its current version: a
# page whose text changed since the dedup stage last handled it has the copies of its old text
# stored until the stage handles the new one (its old text's exact copies were hidden from
# `similar`, and search ranked the new text with the old one's copy group). The dedup stage
# may keep a page's old copies on purpose (a new version that is its site's boilerplate).
CURRENT_COPY = """EXISTS (
    SELECT 1 FROM documents cd
    LEFT JOIN minhash ch ON ch.doc_id = cd.doc_id AND ch.version = cd.current_version
    LEFT JOIN stage_state cs ON cs.doc_id = cd.doc_id AND cs.version = cd.current_version
                            AND cs.stage = 'dedup'
    WHERE cd.doc_id = c.doc_id AND (ch.doc_id IS NOT NULL OR cs.doc_id IS NOT NULL))"""


def copy_groups(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """doc_id -> its copy group (the dedup stage's: exact, near and translated copies and
    their origin), for the documents in one as of their current text (CURRENT_COPY)."""
    return dict(
        con.execute(f"SELECT doc_id, group_id FROM copy_members c WHERE {CURRENT_COPY}").fetchall()
    )


def documents(con: duckdb.DuckDBPyConnection, doc_ids: list[str]) -> dict[str, tuple]:
    """doc_id -> RESULT_COLUMNS row."""
    rows = con.execute(
        f"SELECT {', '.join(RESULT_COLUMNS)} FROM v_documents "
        "WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
        [doc_ids],
    ).fetchall()
    return {r[0]: r for r in rows}


def embedded_models(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(model_id, input, documents) for the vectors stored."""
    return con.execute(
        "SELECT model_id, input, count(*) FROM embeddings GROUP BY 1, 2 ORDER BY 3 DESC"
    ).fetchall()


def anchors(con: duckdb.DuckDBPyConnection, doc_ids: list[str]) -> dict[str, list[str]]:
    """doc_id -> its anchors (storage/schema/m17_anchors.py), for the documents extracted."""
    rows = con.execute(
        "SELECT x.rowid, x.doc_id, x.version FROM extractions x "
        "JOIN documents d ON d.doc_id = x.doc_id AND d.current_version = x.version "
        "WHERE x.doc_id IN (SELECT unnest(?::VARCHAR[]))",
        [doc_ids],
    ).fetchall()
    # the texts by row id: read in the join above, every text would be decompressed
    got = by_row_id(
        con, "extractions", ("text_anchors(coalesce(x.title, '') || chr(10) || x.text)",), rows
    )
    return {doc_id: anchors for (doc_id, _), (anchors,) in got.items()}


def same_text_copies(
    con: duckdb.DuckDBPyConnection, doc_ids: list[str] | None = None
) -> dict[str, tuple[str, int]]:
    """doc_id -> (its text's key, how many documents have that text) for
    the documents of a copy group that share their very text with another member, in the
    copy groups of ``doc_ids`` (all groups when None), as of their current text
    (CURRENT_COPY). Two reposts of an edited or translated
    copy are exact copies of each other though ``v_copies`` calls neither one ``exact`` (its
    kind compares a member with the group's origin)."""
    rows = con.execute(
        f"""
        WITH members AS (
            SELECT c.doc_id, c.group_id || ':' || h.text_hash AS same_text
            FROM copy_members c JOIN minhash h ON h.doc_id = c.doc_id
            WHERE (?::VARCHAR[] IS NULL OR c.group_id IN (
                SELECT group_id FROM copy_members WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))))
              AND {CURRENT_COPY}
        )
        SELECT doc_id, same_text, count(*) OVER w FROM members
        WINDOW w AS (PARTITION BY same_text)
        QUALIFY count(*) OVER w > 1
        """,
        [doc_ids, doc_ids],
    ).fetchall()
    return {doc_id: (key, n) for doc_id, key, n in rows}
