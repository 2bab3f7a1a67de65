"""HTML, feeds, sitemaps and WordPress REST responses for the demo sites."""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import format_datetime
from html import escape

# The leftover chatbot offer at the end of the demo op-ed: our own wording, same shape as
# the seed page's (a generated article published with the assistant's closing question).
CHATBOT_TAIL = (
    "Would you like me to adapt this column for a particular readership (for example a weekly "
    "newspaper, a political blog or a radio commentary), make the tone sharper or softer, or add "
    "a couple of concrete scenarios showing how the talks could unfold?"
)


def paragraphs_html(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)


def wordpress_page(
    *,
    title: str,
    paragraphs: list[str],
    date: str,
    author: str,
    post_id: int,
    site_name: str = "Взгляд Наблюдателя",
    recent: list[tuple[str, str]] = (),
) -> str:
    """A single post as a typical Russian-language WordPress theme renders it, comment form included."""
    human_date = datetime.fromisoformat(date).strftime("%d.%m.%Y")
    recent_html = "".join(f'<li><a href="{escape(u)}">{escape(t)}</a></li>' for u, t in recent)
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": date,
            "author": {"@type": "Person", "name": author},
        },
        ensure_ascii=False,
    )
    return f"""<!DOCTYPE html>
<html lang="ru-RU">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} &#8212; {escape(site_name)}</title>
<link rel="alternate" type="application/rss+xml" title="{escape(site_name)} &raquo; Лента" href="/feed/">
<link rel="https://api.w.org/" href="/wp-json/">
<meta property="og:type" content="article">
<meta property="og:title" content="{escape(title)}">
<meta property="article:published_time" content="{escape(date)}">
<script type="application/ld+json">{ld}</script>
</head>
<body class="post-template-default single single-post postid-{post_id} single-format-standard">
<div id="page" class="site">
<a class="skip-link screen-reader-text" href="#content">Перейти к содержимому</a>
<header id="masthead" class="site-header">
<p class="site-title"><a href="/" rel="home">{escape(site_name)}</a></p>
<p class="site-description">Аналитика и мнения</p>
<nav id="site-navigation" class="main-navigation"><ul id="primary-menu" class="menu">
<li><a href="/">Главная</a></li><li><a href="/category/politika/">Политика</a></li>
<li><a href="/category/ekonomika/">Экономика</a></li><li><a href="/category/obshchestvo/">Общество</a></li>
</ul></nav>
</header>
<div id="content" class="site-content">
<div id="primary" class="content-area"><main id="main" class="site-main">
<article id="post-{post_id}" class="post-{post_id} post type-post status-publish format-standard hentry category-politika">
<header class="entry-header">
<h1 class="entry-title">{escape(title)}</h1>
<div class="entry-meta"><span class="posted-on">Опубликовано <time class="entry-date published" datetime="{escape(date)}">{human_date}</time></span>
<span class="byline"> Автор: <span class="author vcard"><a class="url fn n" href="/author/redaktsiya/">{escape(author)}</a></span></span></div>
</header>
<div class="entry-content">
{paragraphs_html(paragraphs)}
</div>
<footer class="entry-footer"><span class="cat-links">Рубрика: <a href="/category/politika/" rel="category tag">Политика</a></span></footer>
</article>
<nav class="navigation post-navigation" aria-label="Записи"><div class="nav-links">
<div class="nav-previous"><a href="/" rel="prev">Предыдущая запись</a></div></div></nav>
<div id="comments" class="comments-area">
<div id="respond" class="comment-respond">
<h3 id="reply-title" class="comment-reply-title">Добавить комментарий <small><a rel="nofollow" id="cancel-comment-reply-link" href="#respond" style="display:none;">Отменить ответ</a></small></h3>
<form action="/wp-comments-post.php" method="post" id="commentform" class="comment-form" novalidate>
<p class="comment-notes"><span id="email-notes">Ваш адрес email не будет опубликован.</span> <span class="required-field-message">Обязательные поля помечены <span class="required">*</span></span></p>
<p class="comment-form-comment"><label for="comment">Комментарий <span class="required">*</span></label> <textarea id="comment" name="comment" cols="45" rows="8" maxlength="65525" required></textarea></p>
<p class="comment-form-author"><label for="author">Имя <span class="required">*</span></label> <input id="author" name="author" type="text" value="" size="30" maxlength="245" required></p>
<p class="comment-form-email"><label for="email">Email <span class="required">*</span></label> <input id="email" name="email" type="email" value="" size="30" maxlength="100" required></p>
<p class="comment-form-url"><label for="url">Сайт</label> <input id="url" name="url" type="url" value="" size="30" maxlength="200"></p>
<p class="comment-form-cookies-consent"><input id="wp-comment-cookies-consent" name="wp-comment-cookies-consent" type="checkbox" value="yes"> <label for="wp-comment-cookies-consent">Сохранить моё имя, email и адрес сайта в этом браузере для последующих моих комментариев.</label></p>
<p class="form-submit"><input name="submit" type="submit" id="submit" class="submit" value="Отправить комментарий"></p>
</form>
</div>
</div>
</main></div>
<aside id="secondary" class="widget-area">
<section id="recent-posts-2" class="widget widget_recent_entries"><h2 class="widget-title">Свежие записи</h2><ul>{recent_html}</ul></section>
</aside>
</div>
<footer id="colophon" class="site-footer"><div class="site-info">&copy; 2026 {escape(site_name)}. Сайт работает на WordPress</div></footer>
</div>
</body>
</html>"""


def mirror_page(
    *, title: str, paragraphs: list[str], date: str, lang: str, related: list[tuple[str, str]] = ()
) -> str:
    """A plain republisher page; the caller encodes it as windows-1251."""
    related_html = "".join(f'<li><a href="{escape(u)}">{escape(t)}</a></li>' for u, t in related)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
<title>{escape(title)} | Новости Содружества</title>
<meta property="og:type" content="article">
<meta property="article:published_time" content="{escape(date)}">
</head>
<body>
<div class="top"><a href="/">Новости Содружества</a> | <a href="/news/">Все новости</a> | <a href="/contacts.html">Контакты</a></div>
<div class="wrap">
<div class="news-item">
<h1>{escape(title)}</h1>
<div class="news-date">{escape(date[:10])}</div>
<div class="news-text">
{paragraphs_html(paragraphs)}
</div>
</div>
<div class="related"><h3>Читайте также</h3><ul>{related_html}</ul></div>
</div>
<div class="bottom">Перепечатка материалов разрешена со ссылкой на источник. 18+</div>
</body>
</html>"""


def blog_page(*, title: str, paragraphs: list[str], date: str, author: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)} - Riverside Weekly</title>
<meta property="og:type" content="article"></head>
<body>
<header><a href="/">Riverside Weekly</a> <nav><a href="/">Home</a> <a href="/about">About</a> <a href="/subscribe">Subscribe</a></nav></header>
<main>
<article>
<h1>{escape(title)}</h1>
<p class="byline">By {escape(author)} &middot; <time datetime="{escape(date)}">{escape(date[:10])}</time></p>
<div class="post-body">
{paragraphs_html(paragraphs)}
</div>
</article>
</main>
<footer><p>Riverside Weekly is a community news blog. Sign up for our Friday newsletter.</p></footer>
</body>
</html>"""


def rss(*, title: str, link: str, items: list[dict], encoding: str = "UTF-8") -> str:
    entries = "".join(
        f"<item><title>{escape(i['title'])}</title><link>{escape(i['url'])}</link>"
        f'<guid isPermaLink="true">{escape(i["url"])}</guid>'
        f"<pubDate>{format_datetime(datetime.fromisoformat(i['date']))}</pubDate>"
        f"<description>{escape(i['summary'])}</description></item>\n"
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>{escape(title)}</description>\n{entries}</channel></rss>"
    )


def atom(*, title: str, link: str, items: list[dict]) -> str:
    entries = "".join(
        f'<entry><title>{escape(i["title"])}</title><link href="{escape(i["url"])}"/>'
        f"<id>{escape(i['url'])}</id><updated>{escape(i['date'])}</updated>"
        f"<summary>{escape(i['summary'])}</summary></entry>\n"
        for i in items
    )
    updated = max((i["date"] for i in items), default="2026-01-01T00:00:00+00:00")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title>{escape(title)}</title><link href="{escape(link)}"/><id>{escape(link)}</id>'
        f"<updated>{updated}</updated>\n{entries}</feed>"
    )


def sitemap(urls: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<url><loc>{escape(u)}</loc><lastmod>{escape(d)}</lastmod></url>" for u, d in urls
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'
    )


def wp_rest_post(post_id: int, url: str, item: dict, paragraphs: list[str]) -> dict:
    return {
        "id": post_id,
        "date": item["date"][:19],
        "date_gmt": item["date"][:19],
        "modified": item["date"][:19],
        "link": url,
        "slug": item["slug"],
        "status": "publish",
        "type": "post",
        "title": {"rendered": escape(item["title"])},
        "content": {"rendered": paragraphs_html(paragraphs), "protected": False},
        "excerpt": {"rendered": f"<p>{escape(paragraphs[0][:150])}</p>", "protected": False},
        "modified_gmt": item["date"][:19],
        "author": 1,
        "categories": [1],
        "_embedded": {
            "author": [{"id": 1, "name": item.get("author") or "editor"}],
            "wp:term": [
                [{"id": 1, "name": "Analytics", "taxonomy": "category"}],
                [{"id": 7, "name": "Europe", "taxonomy": "post_tag"}],
            ],
        },
    }


def news_sitemap(urls: list[tuple[str, str, str, str]], site_name: str) -> str:
    """A Google News sitemap: (url, publication date, title, language) per article."""
    entries = "".join(
        f"<url><loc>{escape(u)}</loc><news:news><news:publication><news:name>"
        f"{escape(site_name)}</news:name><news:language>{escape(lang)}</news:language>"
        f"</news:publication><news:publication_date>{escape(date)}</news:publication_date>"
        f"<news:title>{escape(title)}</news:title></news:news></url>"
        for u, date, title, lang in urls
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{entries}</urlset>\n"
    )


def sitemap_index(urls: list[str]) -> str:
    entries = "".join(f"<sitemap><loc>{escape(u)}</loc></sitemap>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}'
        "</sitemapindex>\n"
    )


def telegram_preview(channel: str, title: str, posts: list[dict], before: int | None) -> str:
    """A page of a public channel's web preview (t.me/s/<channel>), in the markup Telegram
    serves: each post a .tgme_widget_message with data-post, text, views, date, and a
    forwarded-from header; ``before`` is the id the "load more" link pages back from."""
    messages = []
    for p in posts:
        forwarded = (
            '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
            f'<a class="tgme_widget_message_forwarded_from_name" href="https://t.me/'
            f'{escape(p["forwarded_from"])}"><span>{escape(p["forwarded_from"])}</span></a></div>'
            if p.get("forwarded_from")
            else ""
        )
        text = "<br/>".join(escape(line) for line in p["text"].split("\n"))
        links = "".join(
            f' <a href="{escape(u)}" target="_blank" rel="noopener">{escape(u)}</a>'
            for u in p.get("links", [])
        )
        messages.append(
            f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
            f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" '
            f'data-post="{escape(channel)}/{p["id"]}" data-view="x">'
            f'<div class="tgme_widget_message_bubble">{forwarded}'
            f'<div class="tgme_widget_message_text js-message_text" dir="auto">{text}{links}</div>'
            f'<div class="tgme_widget_message_footer compact js-message_footer">'
            f'<div class="tgme_widget_message_info short js-message_info">'
            f'<span class="tgme_widget_message_views">{escape(p["views"])}</span>'
            f'<span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" '
            f'href="https://t.me/{escape(channel)}/{p["id"]}"><time datetime="{escape(p["date"])}" '
            f'class="time">{escape(p["date"][11:16])}</time></a></span></div></div></div></div></div>'
        )
    more = (
        f'<div class="tgme_widget_message_centered js-messages_more_wrap">'
        f'<a href="/s/{escape(channel)}?before={before}" class="tme_messages_more '
        f'js-messages_more" data-before="{before}"></a></div>'
        if before
        else ""
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)} – Telegram'
        f'</title><meta property="og:title" content="{escape(title)}"></head><body>'
        f'<main class="tgme_main"><section class="tgme_channel_history js-message_history">'
        f"{more}{''.join(messages)}</section></main></body></html>"
    )
