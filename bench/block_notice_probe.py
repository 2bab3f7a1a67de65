"""A block notice alone: what the rules and the embed stage make of block pages and of news
briefs on blocked sites, with ``notice_alone_kinds`` as bundled and with it empty (before).

    python -m bench.block_notice_probe [FILE.tsv ...]

Each file holds one page or brief a line (title TAB text, ``\\n`` for a line break). By default
the probes in bench/data: ``block-probe-briefs.tsv`` (20 briefs, the first probe),
``block-blind-pages.tsv`` (24 block pages whose title is an article's headline or the site's
or provider's name) and ``block-blind-briefs.tsv`` (20 more briefs), both written blind by a
helper session after the rule was set. For each text: the rules' verdict before and now, the
weak sign, and whether the embed stage (its example-stub vectors, and the weak sign where its
lead agrees) rejects what the rules keep; then how many each stage rejects, before and now.
README "Pages that are not news" ("A block notice alone") quotes the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.embed import EmbedStage
from pipeline.notnews import Rules, default_rules
from storage.records import DocInput, Rejection

DATA = Path(__file__).parent / "data"
PROBES = ("block-probe-briefs.tsv", "block-blind-pages.tsv", "block-blind-briefs.tsv")


def read(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text("utf-8").splitlines()
    return [tuple(line.replace("\\n", "\n").split("\t")) for line in lines if line.strip()]


def embed_rejects(stage: EmbedStage, texts: list[tuple[str, str]], kept: list[int]) -> set[int]:
    """Which of the ``kept`` texts the embed stage rejects."""
    docs = [DocInput(f"d{i}", 1, f"https://probe.example/{i}", "probe", text=texts[i][1],
                     title=texts[i][0]) for i in kept]  # fmt: skip
    return {i for i, r in zip(kept, stage.process(docs), strict=True) if isinstance(r, Rejection)}


def main(paths: list[Path]) -> None:
    now = default_rules()
    text = (Path(__file__).parents[1] / "pipeline/data/notnews.toml").read_text("utf-8")
    bundled = 'notice_alone_kinds = ["block"]'
    assert bundled in text, "the bundled rules no longer set notice_alone_kinds so"
    before = Rules.from_toml(text.replace(bundled, "notice_alone_kinds = []"))
    stage = EmbedStage()  # its weak sign reads the bundled rules: "before" counts the vectors
    for path in paths:
        texts = read(path)
        verdicts = {name: [r.judge(x, t).kind for t, x in texts] for name, r in
                    (("before", before), ("now", now))}  # fmt: skip
        caught = {}
        print(f"{path.name}: {len(texts)} texts")
        for name, kinds in verdicts.items():
            kept = [i for i, k in enumerate(kinds) if k is None]
            late = embed_rejects(stage, texts, kept)
            caught[name] = (sum(map(bool, kinds)), len(late))
            verdicts[name] = [k or ("embed" if i in late else "-") for i, k in enumerate(kinds)]
        for i, (title, body) in enumerate(texts):
            sign = now.weak(body, title) if verdicts["now"][i] in ("-", "embed") else None
            print(f"  before {verdicts['before'][i]:<9} now {verdicts['now'][i]:<9} "
                  f"sign {sign[1] if sign else '-':<28} {title[:50]}")  # fmt: skip
        for name, (rules, late) in caught.items():
            print(f"  {name}: the rules reject {rules}, the embed stage {late} more; "
                  f"{rules + late} of {len(texts)} in all")  # fmt: skip


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or [DATA / name for name in PROBES])
