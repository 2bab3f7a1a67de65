"""Source health counts the pages the embed stage rejected as not news beside those the
extract stage rejected."""

from storage.schema.m16_broken_feed_health import V_SOURCE_HEALTH as _BEFORE

# The extract stage's rules reject a stub by its wording; the embed stage rejects one worded
# as no rule knows by its lead vector (pipeline/stubvectors.py), with the same reason and the
# same "<kind>: rule vectors; ..." detail. Its other rejections (an empty text, a missing
# translation) are not about the page and stay out, as before.
_ANCHOR = "FROM rejections WHERE stage = 'extract'"
assert _ANCHOR in _BEFORE
V_SOURCE_HEALTH = _BEFORE.replace(
    _ANCHOR,
    "FROM rejections WHERE stage = 'extract' OR (stage = 'embed' AND reason = 'not_news')",
)

MIGRATION = (
    19,
    "v_source_health: pages the embed stage rejected as not news counted too",
    [V_SOURCE_HEALTH],
)
