"""How a labelled set of pages fares against the not-news checks, through the real pipeline.

A set is a folder of HTML pages and a ``labels.json`` ({"page.html": {"label": "stub" or
"article", "kind": ..., "lang": ...}}), such as the blind sets that helper sessions write
without seeing the rules or the examples (docs/notnews.md). Each page is
imported under a neutral URL (``https://site-N.example/news/N``: no address tells what it
is) into a fresh database, and ``process`` runs the extract, langid and embed stages, each
as the CLI runs them. A stub counts as caught by the rules when the extract stage rejected it
as ``not_news``, by the vectors when the embed stage did; an article counts as kept when no
stage rejected it and its extracted text is the page's whole text (nothing cut as a notice)
— which the script checks by extracting it once more without the screen.

    python -m bench.notnews_set bench/data/notnews-set8 [--json out.json] [--narratives]
        [--keep set8.duckdb]

``--narratives`` runs the dedup and cluster stages too and reports, for each stub that both
checks let through, whether it ended in a copy group or in a narrative with other documents
(what "forms or joins no narrative" asks; a document alone is a narrative of one).

Set 8 (``bench/data/notnews-set8``) is kept in the repository to measure changes on; a
blind measure needs a new set, written by someone who has not seen the rules.

It measures; the floors stay in tests/eval/test_notnews_gate.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from pipeline.extract import extract_html
from storage import connect

STAGES = ("extract", "langid", "embed")


def url_for(i: int) -> str:
    return f"https://site-{i}.example/news/{i}"


def run_set(folder: Path, narratives: bool = False, keep: Path | None = None) -> list[dict]:
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    names = sorted(labels)
    with tempfile.TemporaryDirectory() as tmp:
        db, corpus = keep or Path(tmp) / "set.duckdb", Path(tmp) / "set.jsonl"
        if keep and keep.exists():
            raise SystemExit(f"--keep {keep} exists: give a new file")
        with open(corpus, "w", encoding="utf-8") as fh:
            for i, name in enumerate(names):
                html = (folder / name).read_text(encoding="utf-8", errors="replace")
                fh.write(json.dumps({"url": url_for(i), "html": html, "source": "set"}) + "\n")
        cli = [sys.executable, "-m", "pipeline.cli", "--db", str(db)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        subprocess.run([*cli, "import", str(corpus)], check=True, env=env)
        run = (*STAGES, "dedup", "cluster") if narratives else STAGES
        stages = [arg for s in run for arg in ("--stage", s)]
        subprocess.run([*cli, "process", *stages, "--no-progress"], check=True, env=env)
        with connect(str(db), read_only=True) as con:
            rejected = {
                url: (stage, reason, detail)
                for url, stage, reason, detail in con.execute(
                    "SELECT url, stage, reason, detail FROM v_rejections"
                ).fetchall()
            }
            texts = dict(con.execute("SELECT url, text FROM v_documents").fetchall())
            # per document: in a copy group; the other members of its narrative
            joined = {
                url: (group is not None, others)
                for url, group, others in con.execute(
                    "SELECT d.url, d.copy_group_id, (SELECT greatest(count(*) - 1, 0) FROM narrative_members "
                    "m WHERE m.narrative_id = d.narrative_id) FROM v_documents d"
                ).fetchall()
            }
    rows = []
    for i, name in enumerate(names):
        url, meta = url_for(i), labels[name]
        stage, reason, detail = rejected.get(url, (None, None, None))
        verdict = "kept"
        if reason == "not_news":
            verdict = "rules" if stage == "extract" else "vectors"
        elif reason is not None:
            verdict = f"rejected ({stage}: {reason})"
        cut = False
        if verdict == "kept" and url in texts:
            html = (folder / name).read_text(encoding="utf-8", errors="replace")
            whole = extract_html(html, url)  # what the stage extracted, before the screen
            cut = isinstance(whole, dict) and whole["text"].strip() != (texts[url] or "").strip()
        row = {"page": name, **meta, "verdict": verdict, "cut": cut, "detail": detail}
        if narratives:
            row["copy_group"], row["narrative_others"] = joined.get(url, (False, 0))
        rows.append(row)
    return rows


def summary(rows: list[dict]) -> str:
    stubs = [r for r in rows if r["label"] == "stub"]
    articles = [r for r in rows if r["label"] == "article"]
    by = Counter(r["verdict"] for r in stubs)
    lines = [
        f"stubs: {len(stubs)}; rejected by the rules {by['rules']}, "
        f"by the rules and the vectors {by['rules'] + by['vectors']}",
        f"articles: {len(articles)}; kept {sum(r['verdict'] == 'kept' for r in articles)}, "
        f"kept whole {sum(r['verdict'] == 'kept' and not r['cut'] for r in articles)}",
    ]
    if "copy_group" in rows[0]:
        passed = [r for r in stubs if r["verdict"] == "kept"]
        lines.append(
            f"stubs let through: {len(passed)}; in a copy group "
            f"{sum(r['copy_group'] for r in passed)}, in a narrative with other documents "
            f"{sum(r['narrative_others'] > 0 for r in passed)}; articles in a copy group or "
            f"narrative with others {sum(r['copy_group'] or r['narrative_others'] > 0 for r in articles)}"
        )
    lines += [
        "",
        "| page | label | kind | lang | verdict | lines cut | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        detail = (r["detail"] or "")[:90].replace("|", "/")
        if r.get("copy_group") or r.get("narrative_others"):
            detail = (
                f"joins: copy group {r['copy_group']}, {r['narrative_others']} others; {detail}"
            )
        lines.append(
            f"| {r['page']} | {r['label']} | {r.get('kind', '')} | {r.get('lang', '')} "
            f"| {r['verdict']} | {'yes' if r['cut'] else ''} | {detail} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--narratives", action="store_true",
                        help="run dedup and cluster too: do the stubs let through join anything")  # fmt: skip
    parser.add_argument("--keep", type=Path,
                        help="build the database here (a new file) and keep it")  # fmt: skip
    args = parser.parse_args(argv)
    rows = run_set(args.folder, args.narratives, args.keep)
    print(summary(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
