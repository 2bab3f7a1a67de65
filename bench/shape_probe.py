"""Short news posts that address the reader, against the shape check and the stub vectors.

    python -m bench.shape_probe [bench/data/shape-probe-posts.tsv]

For each post (title TAB text): the rule that rejects it at extraction (if any), the kind of
stub whose shape it has (pipeline/stubshape.py), how much nearer its lead vector is to the
nearest example stub than to the nearest example news text (pipeline/stubvectors.py), and
whether the shape and the vectors together reject it at the embed stage (shape_margin).
README "Pages that are not news" ("The shape needs the vectors") quotes the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.embed import EmbedStage
from pipeline.notnews import default_rules
from pipeline.stubvectors import StubVectors
from storage.records import DocInput

POSTS = Path(__file__).parent / "data" / "shape-probe-posts.tsv"


def main(path: Path = POSTS) -> None:
    posts = [line.split("\t") for line in path.read_text("utf-8").splitlines() if line.strip()]
    rules = default_rules()
    stage = EmbedStage(stubs=False)
    check = StubVectors.for_model(stage.embedder, stage.model_id)
    docs = [
        DocInput(f"p{i}", 1, f"p{i}", "probe", text=x, title=t) for i, (t, x) in enumerate(posts)
    ]
    for (title, text), result in zip(posts, stage.process(docs), strict=True):
        lead = result.lead_vector if result.lead_vector is not None else result.vector
        _, stub, news = check.nearest(lead)
        rule = rules.judge(text, title).rule or "-"
        shape = (rules.shaped(text, title) or ("-",))[0]
        kept = "rejected" if shape != "-" and check.confirms(lead) else "kept"
        print(f"rule {rule:<6} shape {shape:<9} stub {stub:.3f} news {news:.3f} "
              f"margin {stub - news:+.3f} {kept:<8} {title}")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else POSTS)
