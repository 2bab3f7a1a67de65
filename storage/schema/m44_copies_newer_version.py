"""v_copies says when a member's page has a newer version than the one its copy group holds.

Schema version 42 shows each member as the version its group holds: its title, language,
address and date. A page that changed since is shown as it was, and nothing said so: while the
dedup stage has yet to compare the new text (the next run's), the row was as current as any
other, and a page whose new version a stage rejected (a challenge page, the site's header)
stays its group's member for good. ``newer_version`` is true for such a member: the row is
the article as the group holds it, and the page now shows something else. Which of the two
it is, ``v_documents`` and ``rejections`` say (the page's current version)."""

from storage.schema.m42_copies_as_kept import MIGRATION as _KEPT

(_BEFORE,) = _KEPT[2]
_SEEN = "coalesce(x.title, v.hint_title) AS title, r.seen_at\n"
assert _BEFORE.count(_SEEN) == 1
V_COPIES = _BEFORE.replace(
    _SEEN,
    "coalesce(x.title, v.hint_title) AS title, r.seen_at,\n"
    "                   v.version < d.current_version AS newer_version\n",
)

MIGRATION = (
    44,
    "v_copies: newer_version, a member whose page has a newer version than the one its copy "
    "group holds (not yet compared, or rejected by a stage)",
    [V_COPIES],
)
