"""Raw HTML stored compressed."""

MIGRATION = (
    7,
    "raw HTML stored compressed",
    [
        # From this version on a page's HTML is stored here, not in `html`: zlib (RFC 1950,
        # level 6) of its UTF-8 bytes (lone surrogates kept, Python's "surrogatepass").
        # About a fifth of the bytes, and DuckDB holds far less memory while a long crawl
        # appends pages. Versions stored earlier keep `html`; the WARC archive keeps the
        # original bytes as fetched.
        "ALTER TABLE document_versions ADD COLUMN html_zlib BLOB",
    ],
)
