"""Pages that the extract stage rejected as not news are extracted again, under today's rules.

A stub's title alone ("Access Denied", "Error 404", "Login": titles a film, an episode or an
app can have) made a page a stub at extraction when it had under 1,000 characters of prose,
and news briefs so titled were lost. Since this version such a title over prose with no
notice is a weak sign that the embed stage weighs with the lead vector, as it weighs a stub's
shape (schema 22). Which rejections the title alone made cannot be told from their detail,
and the rules have been narrowed since many stores were written (headlines that quote a
notice, phrases news uses too), so every current document version that the extract stage
rejects as not news loses that stage state (an older version is never processed again): the
next `process` extracts it again and the stages after it judge what is kept. The rejections
stay in the log; source health counts each page's latest rejection, and only while the stage
still rejects that version (schema 22)."""

MIGRATION = (
    23,
    "pages rejected as not news at extraction are extracted again under the current rules (a "
    "stub's title alone is weighed by the embed stage)",
    [
        """DELETE FROM stage_state s
        WHERE s.stage = 'extract' AND s.status = 'rejected'
          AND s.version = (SELECT d.current_version FROM documents d WHERE d.doc_id = s.doc_id)
          AND (
              SELECT arg_max(r.reason, r.rejection_id) FROM rejections r
              WHERE r.doc_id = s.doc_id AND r.version = s.version AND r.stage = 'extract'
          ) = 'not_news'""",
    ],
)
