import pytest

from storage.urls import canonical_url, doc_id_for


@pytest.mark.parametrize(
    "url, expected",
    [
        ("HTTP://Example.COM:80/a/b/?utm_source=x&b=2&a=1#frag", "http://example.com/a/b?a=1&b=2"),
        ("https://example.com:443/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com/x?fbclid=abc&gclid=1&utm_medium=m", "https://example.com/x"),
        (
            "https://example.com/%7Euser/статья/",
            "https://example.com/~user/%D1%81%D1%82%D0%B0%D1%82%D1%8C%D1%8F",
        ),
        (
            "https://пример.рф/новости",
            "https://xn--e1afmkfd.xn--p1ai/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8",
        ),
        ("https://example.com//a//b/", "https://example.com/a/b"),
    ],
)
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_spellings_of_one_page_share_an_id():
    spellings = [
        "https://News.example.org/2026/10/story/",
        "https://news.example.org:443/2026/10/story?utm_campaign=tg&utm_source=telegram",
        "https://news.example.org/2026/10/story#comments",
        "https://news.example.org/2026/10/story?fbclid=IwAR0",
    ]
    assert len({doc_id_for(u) for u in spellings}) == 1
    assert doc_id_for("https://news.example.org/2026/10/other") != doc_id_for(spellings[0])


@pytest.mark.parametrize(
    "bad", ["ftp://example.com/x", "javascript:alert(1)", "https:///nohost", "not a url"]
)
def test_non_http_urls_are_refused(bad):
    with pytest.raises(ValueError):
        canonical_url(bad)
