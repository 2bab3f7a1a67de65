"""The similarity and anchor macros name their own tables so that no argument is read as them.

A macro's argument is written into its body, and the body named its tables `e`, `d`, `l`,
`x`, `v` and `m`: `SELECT doc_similarity('…', d.doc_id) FROM v_documents d`, the way an
analyst writes it in `narrascope sql`, compared the macro's own documents with themselves
and failed ("More than one row returned by a subquery"); so did `anchor_overlap` over
`extractions x` and `story_similarity` over `embeddings e`. The same macros now call their
tables `macro_e`, `macro_d` and so on; what they compute is unchanged."""

import re

from storage.schema.m10_language_means import MIGRATION as _M10
from storage.schema.m17_anchors import MIGRATION as _M17
from storage.schema.m30_unidentified_language_mean import LANGUAGE_MEAN
from storage.schema.m31_latest_input import MIGRATION as _M31

_TABLES = "embeddings|documents|languages|extractions"


def _own_names(sql: str) -> str:
    """``sql`` with its one-letter table aliases renamed: ``e.doc_id`` is ``macro_e.doc_id``."""
    for alias in "edlxvm":
        sql = re.sub(rf"\b({_TABLES}) {alias}\b", rf"\1 macro_{alias}", sql)
        sql = re.sub(rf"\) {alias}\b(?!\.)", f") macro_{alias}", sql)
        sql = re.sub(rf"(?<![\w.']){alias}\.(?=[a-z_])", f"macro_{alias}.", sql)
    return sql


def _macros(migration, *names: str) -> list[str]:
    return [
        s for s in migration[2] if isinstance(s, str) and any(f"MACRO {n}(" in s for n in names)
    ]


[_LATEST_MODEL] = _macros(_M10, "latest_model")
_STATEMENTS = [
    _LATEST_MODEL,
    LANGUAGE_MEAN,  # its table has no alias; here so that the set is whole
    *_macros(
        _M31, "latest_input", "doc_vector", "doc_embedding", "doc_similarity", "story_similarity"
    ),  # fmt: skip
    *_macros(_M17, "doc_anchors", "anchor_overlap"),
]
assert len(_STATEMENTS) == 9
MACROS = [_own_names(s) for s in _STATEMENTS]
for _sql in MACROS:
    assert not re.search(r"(?<![\w.'])[edlxvm]\.[a-z_]", _sql), _sql

MIGRATION = (
    35,
    "similarity and anchor macros: their tables renamed, so that an argument such as "
    "d.doc_id is read as the caller's",
    MACROS,
)
