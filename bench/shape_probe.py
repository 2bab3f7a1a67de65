"""Short news that has a weak sign of a stub, against the stub vectors.

    python -m bench.shape_probe [FILE.tsv | SET_FOLDER ...]

Each file holds posts or briefs, one a line (title TAB text, ``\\n`` for a line break); a folder is a labelled set of
pages (bench/notnews_set.py), of which the stubs that the rules keep and that have a weak sign
are taken. By default the two probes in bench/data and the sets 8 and 9, whose stubs give the
other side of the curve: Telegram-style posts that address the reader (a stub's *shape*,
pipeline/stubshape.py), briefs titled exactly as a stub is (a film called "Access Denied":
a stub's *title alone*), and briefs on blocked sites that state a block page's notice, one
sentence a line (a block *notice alone*). For each text: the rule that rejects it at extraction (if any), its
weak sign (``Rules.weak``), how much nearer its lead vector is to the nearest example stub
than to the nearest example news text and how close to that stub it is (pipeline/stubvectors.py),
and whether the embed stage rejects it (the sign, ``shape_margin`` and ``weak_floor``). Then,
for each file, how many of its texts with a weak sign each margin (at the chosen floor) and
each floor (at the chosen margin) would reject. docs/notnews.md ("The shape
needs the vectors", "A stub's title alone") quotes the result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.embed import EmbedStage
from pipeline.notnews import default_rules
from pipeline.stubvectors import StubVectors
from storage.records import DocInput

DATA = Path(__file__).parent / "data"
PROBES = (
    DATA / "shape-probe-posts.tsv",
    DATA / "title-probe-briefs.tsv",
    DATA / "block-probe-briefs.tsv",
    DATA / "notnews-set8",
    DATA / "notnews-set9",
)
MARGINS = (0.0, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04)
FLOORS = (0.0, 0.85, 0.86, 0.87, 0.875, 0.88, 0.885, 0.89, 0.9)


def margins(stage: EmbedStage, check: StubVectors, texts: list[tuple[str, str]]
            ) -> list[tuple[float, float]]:  # fmt: skip
    """Each (title, text)'s lead margin (the nearest example stub's cosine minus the nearest
    example news text's) and its cosine with that stub."""
    docs = [DocInput(f"p{i}", 1, f"p{i}", "probe", text=x, title=t)
            for i, (t, x) in enumerate(texts)]  # fmt: skip
    out = []
    for result in stage.process(docs):
        lead = result.lead_vector if result.lead_vector is not None else result.vector
        _, stub, news = check.nearest(lead)
        out.append((stub - news, stub))
    return out


def set_stubs(folder: Path, rules) -> list[tuple[str, str]]:
    """The (title, text) of each stub of a labelled set that the rules keep, extracted as the
    extract stage extracts it, where it has a weak sign."""
    from pipeline.extract import extract_html

    labels = json.loads((folder / "labels.json").read_text("utf-8"))
    out = []
    for name, label in sorted(labels.items()):
        if label["label"] != "stub":
            continue
        html = (folder / name).read_text("utf-8")
        page = extract_html(html, url=f"https://site.example/{name}")
        if not isinstance(page, dict):
            continue
        title, text = page.get("title") or "", page["text"]
        if rules.judge(text, title).kind is None and rules.weak(text, title):
            out.append((title, text))
    return out


def main(paths: list[Path]) -> None:
    rules = default_rules()
    stage = EmbedStage(stubs=False)
    check = StubVectors.for_model(stage.embedder, stage.model_id)
    chosen, floor = check.settings.shape_margin, check.settings.weak_floor
    for path in paths:
        if path.is_dir():
            texts = set_stubs(path, rules)
        else:
            lines = path.read_text("utf-8").splitlines()
            texts = [line.replace("\\n", "\n").split("\t") for line in lines if line.strip()]
        print(f"{path.name}: {len(texts)} texts")
        found = margins(stage, check, texts)
        signs = [rules.weak(text, title) for title, text in texts]
        for (title, text), (margin, cosine), weak in zip(texts, found, signs, strict=True):
            rule = rules.judge(text, title).rule or "-"
            sign = "-" if weak is None else f"{weak[0]} ({weak[1]})"
            kept = "rejected" if weak and margin >= chosen and cosine >= floor else "kept"
            print(f"  rule {rule:<6} sign {sign:<36} margin {margin:+.3f} stub {cosine:.3f} "
                  f"{kept:<8} {title}")  # fmt: skip
        signed = [f for f, weak in zip(found, signs, strict=True) if weak]
        by_margin = ", ".join(
            f"{m}: {sum(x >= m and c >= floor for x, c in signed)}" for m in MARGINS
        )
        by_floor = ", ".join(
            f"{f}: {sum(x >= chosen and c >= f for x, c in signed)}" for f in FLOORS
        )
        print(f"  with a weak sign: {len(signed)}; rejected at floor {floor} and margin "
              f"{by_margin}; at margin {chosen} and floor {by_floor}")  # fmt: skip


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or list(PROBES))
