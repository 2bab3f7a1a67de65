"""language_mean: a document of no identified language has the mean over all languages removed.

`similar` and `search --semantic` centre a vector whose document has no language yet (embedded
before the langid stage ran, as `process --stage extract --stage embed` leaves it) with the
mean over all languages ('*', storage/means.py). The macro's pick weighed `lang = language`,
NULL for such a document, and arg_max skips NULL keys: it returned NULL, nothing was
subtracted, and `doc_similarity` with such a document gave another number than `similar`
showed (0.764 against 0.124 on the demo store). The language is now '*' when there is none."""

from storage.schema.m10_language_means import MIGRATION as _M10

[_BEFORE] = [s for s in _M10[2] if isinstance(s, str) and "MACRO language_mean" in s]
_OLD = "arg_max(mean, (lang = language)::INTEGER"
assert _OLD in _BEFORE
LANGUAGE_MEAN = _BEFORE.replace(_OLD, "arg_max(mean, (lang = coalesce(language, '*'))::INTEGER")

MIGRATION = (
    30,
    "language_mean: a document of no identified language has the mean over all languages "
    "removed, as `similar` and search remove it, not none",
    [LANGUAGE_MEAN],
)
