"""Seeded randomized scenarios for a Telegram channel read across runs (as
``test_wordpress_random_scenarios_lose_no_post`` does for WordPress): new posts between runs
(bursts larger than a run's budget among them), deleted and edited posts, posts published
while a run reads the channel, random page sizes, ``telegram_pages`` and ``max_pages``, and
pages answering 500 for a run; then quiet runs. What a user would notice is checked: every
post still on the channel is stored in the end, nothing is stored that was never posted, no
run asks for more than the newest page and ``telegram_pages`` pages back, and once everything
is read a run asks for the newest page only (the history is not read again).

Edits are made but not checked: the README does not promise that a post's edit is read (the
channel is read down to the newest post seen last time)."""

import math
import os
import random
import threading

import pytest

from tests.crawlers.test_incremental_kinds import Channel, crawl, stored, write_sources
from tests.crawlers.test_spiders import PARA, rows


class Faulty(Channel):
    """A channel that counts the pages a run asks for (``asked``: their ``before``, None for
    the newest page), answers 500 to every page after the first ``fail_after`` of the run
    (None: none) as well as to ``fail``, and applies ``hook`` = (n, change) once, right
    after the run's n-th page is answered (a change while the channel is read)."""

    def __init__(self, name: str, per_page: int):
        super().__init__(name, per_page)
        self.lock = threading.RLock()  # a hook publishes while answering
        self.asked: list[int | None] = []
        self.fail_after: int | None = None
        self.hook = None

    def new_run(self) -> None:
        self.asked, self.fail, self.fail_after, self.hook = [], set(), None, None

    def answer(self, before: int | None):
        with self.lock:
            self.asked.append(before)
            n = len(self.asked)
            if self.fail_after is not None and n > self.fail_after:
                answer = ("text/plain", b"down", {"Status": "500"})
            else:
                answer = super().answer(before)
            if self.hook and self.hook[0] == n:
                change, self.hook = self.hook[1], None
                change()
            return answer


def _tg_random_scenario(tmp_path, local_site, seed: int, small: bool = True) -> None:
    rnd = random.Random(seed)
    chan = Faulty("chan", per_page=rnd.randint(3, 8))
    sizes = [chan.per_page] if rnd.random() < 0.6 else [chan.per_page - 1, chan.per_page + 1]
    site = local_site({})
    site.routes = site.server.RequestHandlerClass.routes = chan.routes(site.routes)
    b = site.base
    ever: set[int] = set()  # every id ever posted
    edits = {"n": 0}
    next_id = {"id": 0}

    def publish(k: int) -> str:
        new = []
        for _ in range(k):
            next_id["id"] += rnd.choice([1, 1, 1, 2])  # a channel's ids have holes
            new.append(next_id["id"])
        with chan.lock:
            chan.posts += new
        ever.update(new)
        return f"new {new[0]}..{new[-1]} ({k})"

    def delete(k: int) -> str:
        with chan.lock:
            gone = rnd.sample(chan.posts, min(k, len(chan.posts) - 1))
            chan.posts = [i for i in chan.posts if i not in gone]
        return f"deleted {sorted(gone)}"

    def edit() -> str:
        i = rnd.choice(chan.posts)
        edits["n"] += 1
        chan.texts[i] = f"Пост {i}, правка {edits['n']}\n{PARA}"
        return f"edited {i}"

    publish(rnd.randint(5, 15) if small else rnd.randint(10, 40))
    runs = rnd.randint(3, 4) if small else rnd.randint(5, 8)
    log = [f"seed={seed} small={small} per_page={sizes} posts={len(chan.posts)} runs={runs}"]
    counts, states = [], []

    def run(label: str, telegram_pages: int, max_pages: int) -> int:
        sources = write_sources(tmp_path, {"home": b + "/", "telegram": [f"{b}/s/chan"],
                                           "max_pages": max_pages})  # fmt: skip
        crawl(tmp_path, sources, f"telegram_pages = {telegram_pages}\n")
        asked = list(chan.asked)
        have = {int(u.rsplit("/", 1)[1]) for u in stored(tmp_path)}
        gaps = rows(tmp_path, "SELECT lastmod FROM crawl_state WHERE kind = 'telegram-history'")
        counts.append(len(asked))
        states.append(gaps)
        log.append(f"{label}: telegram_pages={telegram_pages} max_pages={max_pages} "
                   f"per_page={chan.per_page} asked={asked} stored={len(have)} "
                   f"missing={sorted(set(chan.posts) - have)} gaps={gaps}")  # fmt: skip
        assert len(asked) <= telegram_pages + 1, ("more pages than telegram_pages", log)
        return len(asked)

    for n in range(runs):
        chan.new_run()
        chan.per_page = rnd.choice(sizes)
        telegram_pages, max_pages = rnd.randint(1, 4), rnd.randint(2, 12)
        if n > 0:  # between runs
            for _ in range(rnd.choice([0, 1, 1, 2, 3])):
                what = rnd.choice(["new", "new", "burst", "delete", "edit"])
                if what == "new":
                    log.append(f"run {n}: " + publish(rnd.randint(1, 3)))
                elif what == "burst":  # more new posts than the run may store
                    log.append(f"run {n}: burst " + publish(max_pages + rnd.randint(1, 10)))
                elif what == "delete":
                    log.append(f"run {n}: " + delete(rnd.randint(1, 2)))
                else:
                    log.append(f"run {n}: " + edit())
        if rnd.random() < 0.25:  # while the run reads the channel
            after, what = rnd.randint(1, 2), rnd.choice(["new", "new", "delete"])

            def change(r=n, a=after, w=what):
                done = publish(rnd.randint(1, 4)) if w == "new" else delete(1)
                log.append(f"run {r} after page {a}: {done}")

            chan.hook = (after, change)
        if rnd.random() < 0.4:  # pages answering 500 for this run
            how = rnd.choice(["before", "before", "newest", "after"])
            if how == "before":  # pages the run may ask for: the channel's pages back
                # from the newest, and the gaps left unread
                pages = chan.posts[-chan.per_page :: -chan.per_page]
                tops = [
                    int(g.split(">")[0])
                    for (s,) in (states[-1] if states else [])
                    for g in s.split(",")
                ]
                ids = sorted({*pages, *tops} - {0})
                chan.fail = set(rnd.sample(ids, min(len(ids), rnd.randint(1, 2))))
            elif how == "newest":
                chan.fail = {None}
            else:
                chan.fail_after = rnd.randint(1, 3)
            log.append(f"run {n}: failing before={sorted(chan.fail, key=str)} "
                       f"after={chan.fail_after}")  # fmt: skip
        run(f"run {n}", telegram_pages, max_pages)

    # quiet runs: no changes, no faults; a small scenario reads with room for everything,
    # a full one with a budget of its own, a page budget at a time
    chan.new_run()
    chan.per_page = rnd.choice(sizes)
    if small:
        telegram_pages, max_pages = len(ever) // min(sizes) + 2, len(ever) + 10
    else:
        telegram_pages, max_pages = rnd.randint(1, 4), rnd.randint(5, 20)
    size = min(min(sizes), max_pages)
    limit = 3 if small else math.ceil(len(chan.posts) / size) + runs + 3
    wanted = set(chan.posts)
    for n in range(limit):
        chan.new_run()
        asked = run(f"quiet {n}", telegram_pages, max_pages)
        have = {int(u.rsplit("/", 1)[1]) for u in stored(tmp_path)}
        if asked == 1 and have >= wanted:
            break
    urls = stored(tmp_path)
    log.append(f"requests per run: {counts}")
    if os.environ.get("NARRASCOPE_TG_VERBOSE"):  # with -s: the scenario and its runs
        print("\n".join(log))
    missing = sorted(set(chan.posts) - have)
    assert not missing, ("lost", missing, log)
    made_up = sorted(u for u in urls if u not in {f"https://t.me/chan/{i}" for i in ever})
    assert not made_up, ("stored, never posted", made_up, log)
    assert counts[-1] == 1, ("the quiet channel is read again", log)
    assert states[-1] == [("0",)], ("gaps left", log)


# three small scenarios in the suite (about 30 s); NARRASCOPE_TG_SEEDS=20 runs 20 full ones
TG_SEEDS = int(os.environ.get("NARRASCOPE_TG_SEEDS", "0"))


@pytest.mark.parametrize("seed", range(TG_SEEDS) if TG_SEEDS else [1, 2, 3])
def test_telegram_random_scenarios_lose_no_post(tmp_path, local_site, seed):
    """New posts (bursts past the budget among them), deletions and edits between runs and
    while a run reads the channel, pages answering 500 for a run, random page sizes and
    budgets: every post left on the channel is stored in the end, none that never was, no
    run reads past telegram_pages, and a quiet run asks for the newest page only."""
    _tg_random_scenario(tmp_path, local_site, seed, small=not TG_SEEDS)
