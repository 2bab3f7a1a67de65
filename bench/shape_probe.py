"""Short news posts that address the reader, against the shape check and the stub vectors.

    python -m bench.shape_probe [bench/data/shape-probe-posts.tsv]

For each post (title TAB text): whether ``notnews.screen`` rejects it and by which rule, and
how much nearer its lead vector is to the nearest example stub than to the nearest example
news text (pipeline/stubvectors.py). README "Pages that are not news" quotes the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

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
        cosines = check._vectors @ np.asarray(lead, dtype=np.float32)
        stub, news = float(cosines[check._stubs].max()), float(cosines[check._news].max())
        rule = rules.judge(text, title).rule or "-"
        print(f"{rule:<8} stub {stub:.3f} news {news:.3f} margin {stub - news:+.3f}  {title}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else POSTS)
