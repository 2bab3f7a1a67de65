"""A list's page past its last (a bookmarked or shared link after the list shrank, as when
`cluster --rebuild` merges narratives) says that there are no more rows, not that there are
none at all."""

from __future__ import annotations

import re


def empty(page: str) -> list[str]:
    return re.findall(r'class="empty">([^<]*)<', page)


def test_a_page_past_the_last_says_no_more_not_none(client):
    first = client.get("/").text
    assert "No runs yet." not in first and 'href="/narratives/' in first  # the demo has both
    # before: "No runs yet.", "No narrative gained documents in the last 7 days.", "No
    # sources." and "No narrative matches these filters." on lists that have rows
    past = client.get("/?runs_page=999&growth_page=999&attention_page=999").text
    assert empty(past) == ["No more narratives.", "No more sources.", "No more runs."]
    assert empty(client.get("/sources?page=999").text) == ["No more sources."]
    assert empty(client.get("/narratives?page=999").text) == ["No more narratives."]
    assert 'rel="prev"' in client.get("/narratives?page=999").text
    # a narrative's sites and members past their last page (before: empty tables, no word)
    narrative = re.search(r'href="/narratives/(\d+)"', first).group(1)
    past = client.get(f"/narratives/{narrative}?page=999&sites_page=999&lineage_page=999").text
    assert empty(past) == ["No more sites.", "No more copy groups.", "No more documents."]
    assert not {"No sites.", "No documents."} & set(
        empty(client.get(f"/narratives/{narrative}").text)
    )
