"""Schema changes after version 9, one module each (storage/migrations.py holds 1-9).

Each module defines ``MIGRATION = (version, description, [statements])``; the list below is
applied in order after storage.migrations.MIGRATIONS."""

from storage.schema import (
    m10_language_means,
    m11_narrative_labels,
    m12_notnews_health,
    m13_signals,
    m14_alerts,
    m15_analyst_views,
    m16_broken_feed_health,
    m17_anchors,
    m18_doc_term_lists,
    m19_notnews_embed_health,
    m20_translation_terms,
    m21_narrative_withdrawn,
    m22_shape_at_embed,
    m23_notnews_rejudged,
    m24_copy_links_one_way,
    m25_block_notice_rejudged,
)

LATER = [
    m10_language_means.MIGRATION,
    m11_narrative_labels.MIGRATION,
    m12_notnews_health.MIGRATION,
    m13_signals.MIGRATION,
    m14_alerts.MIGRATION,
    m15_analyst_views.MIGRATION,
    m16_broken_feed_health.MIGRATION,
    m17_anchors.MIGRATION,
    m18_doc_term_lists.MIGRATION,
    m19_notnews_embed_health.MIGRATION,
    m20_translation_terms.MIGRATION,
    m21_narrative_withdrawn.MIGRATION,
    m22_shape_at_embed.MIGRATION,
    m23_notnews_rejudged.MIGRATION,
    m24_copy_links_one_way.MIGRATION,
    m25_block_notice_rejudged.MIGRATION,
]
