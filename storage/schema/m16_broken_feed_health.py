"""Source health names a feed that could not be read as the source's problem."""

from storage.schema.m12_notnews_health import V_SOURCE_HEALTH as _BEFORE

# A feed answering HTTP 200 with a body that is not a feed (binary garbage, an HTML error page
# served as XML) lists nothing: the spider records it as a `broken_feed` rejection. The source
# was fetched, so no earlier rule fires, yet its listing, and with it every new page, is lost.
_ANCHOR = "WHEN l.fetched = 0 AND l.rejected > 0 THEN 'nothing could be fetched'"
_BROKEN = "coalesce(TRY_CAST(json_extract_string(l.errors, '$.broken_feed') AS INTEGER), 0)"
assert _ANCHOR in _BEFORE
V_SOURCE_HEALTH = _BEFORE.replace(
    _ANCHOR,
    f"""{_ANCHOR}
           WHEN {_BROKEN} > 0 AND l.new + l.changed = 0
               THEN 'a feed could not be read: nothing listed'""",
)

MIGRATION = (
    16,
    "v_source_health: a feed that could not be read (broken_feed) named as the problem",
    [V_SOURCE_HEALTH],
)
