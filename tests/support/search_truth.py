"""What search should find, computed with plain Python from what the store shows
(`v_documents`, `v_rejections`, the SQL macros), from the README's words ("Search",
"Similarity and language bias"), not from pipeline/search.py: for the randomized check in
tests/test_search_random.py."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

# Scripts written without spaces between words: any character of theirs may start a word.
UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR")


def unspaced(c: str) -> bool:
    return unicodedata.name(c, "").startswith(UNSPACED)


def word_starts(field: str, i: int, term: str) -> bool:
    """README: a keyword matches where a word starts (`war` finds "wars", not "award"); a
    keyword that does not start with a letter or digit (`.net`) matches anywhere, and so does
    one of a script written without spaces (Chinese, Japanese, Thai), where any character
    may start a word; a word also starts after such a character ("在NATO峰会")."""
    if i == 0 or not term[:1].isalnum() or unspaced(term[0]):
        return True
    before = field[i - 1]
    return not before.isalnum() or unspaced(before)


def occurrences(field: str | None, term: str) -> int:
    """How often ``term`` occurs in ``field``, case-insensitive, where a word starts; touching
    occurrences ("U.S.U.S.") each count, overlapping ones do not."""
    if not field:
        return 0
    n, end = 0, 0
    for m in re.finditer(f"(?={re.escape(term)})", field, re.I):
        i = m.start()
        # the occurrence's length in the field (İ and such keep their length under re.I)
        if i >= end and word_starts(field, i, term):
            n, end = n + 1, i + len(term)
    return n


def keyword_hits(docs: list[dict], rejected: set[str], query: str, lang: str | None) -> list:
    """(doc, score) of every document that holds every word, best first: README "every word
    must occur ... in the original or translated title or text; ranked by occurrences, per
    word on the side where it occurs more"; ties newest first, then by doc id (as the
    existing keyword tests read it); not-news rejections never."""
    terms = query.split()
    found = []
    for d in docs:
        if d["doc_id"] in rejected or (lang and d["lang"] != lang):
            continue
        counts = [
            max(
                occurrences(d["title"], t) + occurrences(d["text"], t),
                occurrences(d["title_translated"], t) + occurrences(d["text_translated"], t),
            )
            for t in terms
        ]
        if terms and all(counts):
            found.append((d, sum(counts)))
    found.sort(
        key=lambda x: (
            -x[1],
            -(x[0]["published_at"].timestamp() if x[0]["published_at"] else -1e18),
            x[0]["doc_id"],
        )
    )
    return found


def similar_rows(
    sims: dict[str, float],
    overlap: dict[str, float],
    langs: dict[str, str | None],
    texts: dict[str, str | None],
    doc: str,
    lang: str | None,
    limit: int,
) -> list[tuple[str, float, float, int]]:
    """README `similar`: of the 50 nearest by doc_similarity, ranked by doc_similarity + 0.4 x
    anchor_overlap; further ones by doc_similarity; exact copies of DOC (its very text at
    another address) left out; a hit's exact copies folded into its row (the best-ranked),
    counted in `exact_copies` (DOC aside). Rows: (doc_id, score, similarity, exact_copies)."""
    same = lambda a, b: texts[a] is not None and texts[a] == texts[b]  # noqa: E731
    pool = [d for d in sims if d != doc and not same(d, doc) and (lang is None or langs[d] == lang)]
    pool.sort(key=lambda d: (-sims[d], d))
    head, tail = pool[:50], pool[50:]
    score = {d: sims[d] + 0.4 * overlap[d] for d in head}
    head.sort(key=lambda d: (-score[d], d))
    rows, seen = [], set()
    for d in head + tail:
        key = texts[d] if texts[d] is not None else d
        if key in seen:
            continue
        seen.add(key)
        copies = sum(1 for x in sims if x != d and x != doc and same(x, d))
        rows.append((d, score.get(d, sims[d]), sims[d], copies))
    return rows[:limit]


def semantic_rows(
    sims: dict[str, float],
    langs: dict[str, str | None],
    groups: dict[str, str | None],
    query_lang: str | None,
    lang: str | None,
    limit: int,
) -> list[tuple[str, float, float]]:
    """README semantic search: documents ranked by `score`, the similarity plus 0.2 for a
    document in another language than the query's; a copy takes its copy group's best
    score, the group's best-ranked member first. Rows: (doc_id, score, similarity)."""
    pool = [d for d in sims if lang is None or langs[d] == lang]
    own = {
        d: sims[d] + (0.2 if query_lang and langs[d] and langs[d] != query_lang else 0)
        for d in pool
    }
    best: dict[str, float] = {}
    for d in pool:
        if groups.get(d):
            best[groups[d]] = max(best.get(groups[d], -np.inf), own[d])
    score = {d: best[groups[d]] if groups.get(d) else own[d] for d in pool}
    pool.sort(key=lambda d: (-score[d], groups.get(d) or d, -own[d], d))
    return [(d, score[d], sims[d]) for d in pool[:limit]]


def ranked_alike(got: list[str], want: list[tuple], tie: float = 1e-6) -> bool:
    """Whether ``got`` (doc ids) lists ``want``'s (doc id, *keys) rows in their order, where
    rows whose every key differs by less than ``tie`` may come in any order (two copies with
    one vector differ in the last bits of a float32 product, and a limit may cut such a run)."""
    if len(got) != len(want):
        return False
    same = lambda a, b: all(abs(x - y) < tie for x, y in zip(a[1:], b[1:], strict=True))  # noqa: E731
    i = 0
    while i < len(want):
        j = i + 1
        while j < len(want) and same(want[j], want[j - 1]):
            j += 1
        if not set(got[i:j]) <= {row[0] for row in want[i:j]}:
            return False
        i = j
    return True
