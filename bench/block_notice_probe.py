"""A block notice alone: what the rules and the embed stage make of block pages and of news
briefs on blocked sites, with ``notice_alone_kinds`` as bundled and with it empty (before).

    python -m bench.block_notice_probe [FILE.tsv ...]

Each file holds one page or brief a line (title TAB text, ``\\n`` for a line break), or one
Telegram post a line (its text alone: its title is then its first line and its address a
post's, as the channel crawler gives them). By default the probes in bench/data:
``block-probe-briefs.tsv`` (20 briefs, the first probe), ``block-blind-pages.tsv`` (24 block
pages whose title is an article's headline or the site's or provider's name),
``block-blind-briefs.tsv`` (20 more briefs), both written blind by a helper session after the
rule was set, and ``block-blind-posts.tsv`` (30 posts that open with a block notice, written
blind after the rule for posts was set). For each text: the rules' verdict before (with
neither ``notice_alone_kinds`` nor ``post_urls``) and now, the weak sign, and whether the
embed stage (its example-stub vectors, and the weak sign where its lead agrees) rejects what
the rules keep; then how many each stage rejects, before and now.
docs/notnews.md ("A block notice alone") quotes the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

from crawlers.entries.telegram import post_title
from pipeline.embed import EmbedStage
from pipeline.notnews import Rules, default_rules
from storage.records import DocInput, Rejection

DATA = Path(__file__).parent / "data"
PROBES = ("block-probe-briefs.tsv", "block-blind-pages.tsv", "block-blind-briefs.tsv",
          "block-blind-posts.tsv")  # fmt: skip
BEFORE = {'notice_alone_kinds = ["block"]': "notice_alone_kinds = []",
          "post_urls = [": "# post_urls = ["}  # fmt: skip


def read(path: Path) -> list[tuple[str, str, str]]:
    """(title, text, address) a line: a line without a tab is a post."""
    texts = []
    for i, line in enumerate(path.read_text("utf-8").splitlines()):
        if not line.strip():
            continue
        fields = line.replace("\\n", "\n").split("\t")
        if len(fields) == 1:  # a post, titled as the channel crawler titles it
            texts.append((post_title(fields[0]), fields[0], f"https://t.me/probe/{i}"))
        else:
            texts.append((fields[0], fields[1], f"https://probe.example/{i}"))
    return texts


def embed_rejects(stage: EmbedStage, texts: list[tuple[str, str, str]], kept: list[int]
                  ) -> set[int]:  # fmt: skip
    """Which of the ``kept`` texts the embed stage rejects."""
    docs = [DocInput(f"d{i}", 1, texts[i][2], "probe", text=texts[i][1], title=texts[i][0])
            for i in kept]  # fmt: skip
    return {i for i, r in zip(kept, stage.process(docs), strict=True) if isinstance(r, Rejection)}


def main(paths: list[Path]) -> None:
    now = default_rules()
    text = (Path(__file__).parents[1] / "pipeline/data/notnews.toml").read_text("utf-8")
    for bundled, off in BEFORE.items():
        assert text.count(bundled) == 1, f"the bundled rules no longer say {bundled!r}"
        text = text.replace(bundled, off)
    before = Rules.from_toml(text)
    stage = EmbedStage()  # its weak sign reads the bundled rules: "before" counts the vectors
    for path in paths:
        texts = read(path)
        verdicts = {name: [r.judge(x, t, u).kind for t, x, u in texts] for name, r in
                    (("before", before), ("now", now))}  # fmt: skip
        caught = {}
        print(f"{path.name}: {len(texts)} texts")
        for name, kinds in verdicts.items():
            kept = [i for i, k in enumerate(kinds) if k is None]
            late = embed_rejects(stage, texts, kept)
            caught[name] = (sum(map(bool, kinds)), len(late))
            verdicts[name] = [k or ("embed" if i in late else "-") for i, k in enumerate(kinds)]
        for i, (title, body, url) in enumerate(texts):
            sign = now.weak(body, title, url) if verdicts["now"][i] in ("-", "embed") else None
            print(f"  before {verdicts['before'][i]:<9} now {verdicts['now'][i]:<9} "
                  f"sign {sign[1] if sign else '-':<28} {title[:50]}")  # fmt: skip
        for name, (rules, late) in caught.items():
            print(f"  {name}: the rules reject {rules}, the embed stage {late} more; "
                  f"{rules + late} of {len(texts)} in all")  # fmt: skip


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or [DATA / name for name in PROBES])
