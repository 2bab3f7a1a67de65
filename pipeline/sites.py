"""Where a page is: its site as the dedup stage counts a site's boilerplate (a host, or an
account on a platform where many publish) and its path as the store spells it."""

from __future__ import annotations

from urllib.parse import urlsplit

from storage.urls import canonical_url

# Hosts where many accounts publish, each its own "site": the account is the first part of
# the path (t.me/<channel>/<post>, x.com/<account>/status/<id>, vk.com/<group>?w=wall...).
_ACCOUNT_HOSTS = frozenset({
    "t.me", "telegram.me", "x.com", "twitter.com", "facebook.com", "instagram.com",
    "threads.net", "tiktok.com", "youtube.com", "vk.com", "ok.ru", "dzen.ru",
    "zen.yandex.ru", "rutube.ru", "medium.com", "reddit.com", "linkedin.com", "truthsocial.com",
    "gab.com", "gettr.com", "rumble.com", "substack.com",
})  # fmt: skip


def _canonical(url: str) -> str:
    """The URL as the store spells it (IDNA host, normalised path), or as given."""
    try:
        return canonical_url(url)
    except ValueError:
        return url


def site_of(url: str) -> str:
    """The site a page is on, as far as its boilerplate goes: its host as the store spells it
    (IDNA, lower case) without ``www.`` or ``m.``, and on a platform where many accounts
    publish (Telegram, X, Facebook, VK, ...) the account: ``t.me/<channel>``."""
    parts = urlsplit(_canonical(url))
    host = (parts.hostname or "").removeprefix("www.").removeprefix("m.")
    if host not in _ACCOUNT_HOSTS:
        return host
    path = [p for p in parts.path.lower().split("/") if p]
    if path[:1] == ["s"]:  # t.me/s/<channel>: the channel's own page
        path = path[1:]
    if len(path) > 1 and path[0] in ("c", "r", "u", "user", "channel"):
        return f"{host}/{path[0]}/{path[1]}"  # t.me/c/<id>, reddit.com/r/<sub>, ...
    return f"{host}/{path[0] if path else ''}"


def page_path(url: str) -> str:
    """A page's path as the store spells it (percent-encoding normalised)."""
    return urlsplit(_canonical(url)).path.rstrip("/")
