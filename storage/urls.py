"""Canonical URLs and the stable document ids derived from them."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query parameters that identify a click, campaign or session, never the page itself.
TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|ysclid|igshid|mc_cid|mc_eid"
    r"|_ga|_gl|_hsenc|_hsmi|mkt_tok|oly_anon_id|oly_enc_id|vero_id|wickedid|s_cid|__twitter_impression"
    r"|ref_src|ref_url|cmpid|ito|spm)$",
    re.IGNORECASE,
)
DEFAULT_PORTS = {"http": 80, "https": 443}
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"


# C0 and C1 controls, line and paragraph separators, bidi embeddings, overrides and isolates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def canonical_url(url: str) -> str:
    """Normalise a URL so that every spelling of one page maps to one string.

    Lower-cases scheme and host (IDNA-encoded), drops default ports, fragments, tracking
    parameters (utm_*, fbclid, ...) and trailing slashes, sorts the remaining query
    parameters and normalises percent-encoding. Raises ValueError for non-http(s) URLs and
    for a URL with a control character in it (a NUL, a line break, a right-to-left override:
    no link gives one unencoded, and stored as given it would travel into logs and exports).
    """
    if _CONTROL.search(url.strip()):
        raise ValueError(f"URL has a control character: {url!r}")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = host.lower()
    netloc = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError(f"URL has an invalid port: {url!r}") from err
    if port and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = quote(unquote(parts.path), safe=_SAFE_PATH) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not TRACKING_PARAMS.match(k)
    ]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def doc_id_for(url: str) -> str:
    """Stable document id: the first 16 hex digits of SHA-256 of the canonical URL."""
    return hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()[:16]
