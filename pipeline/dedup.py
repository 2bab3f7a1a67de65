"""Copies: exact (normalised-text hash), near (MinHash LSH over word shingles, datasketch) and
translated (cross-lingual vectors) copies of earlier documents.

Signature byte layout (table ``minhash.signature``): ``num_perm`` unsigned 32-bit integers,
little-endian, in permutation order — datasketch's ``MinHash(num_perm, seed).hashvalues``
(its values are below 2**32). With the default 128 permutations: 512 bytes a document. Band
``i`` of the LSH index covers values ``[i*r, (i+1)*r)``; its bucket is the first 8 bytes
(little-endian) of the BLAKE2b digest of those values' bytes. ``b`` and ``r`` are
datasketch's optimum for the threshold (``datasketch.lsh._optimal_param``). Buckets live in
``lsh_bands``: a new document is compared only with documents sharing a bucket, and stored
signatures are never recomputed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import NamedTuple

import numpy as np

from pipeline import aligned
from pipeline.config import stage_options
from pipeline.contract import Stage
from pipeline.copy_window import Window
from pipeline.embedders import model_id_for, shared_embedder
from pipeline.sites import page_path, site_of
from pipeline.textnorm import normalize, text_hash
from storage.outputs.dedup import CopyCandidates, CopyCandidatesLookup, CopyResult
from storage.outputs.repeats import RepeatedText, SameText, SameTextLookup
from storage.records import BatchResult, DocInput, Rejection

REASON = "not_news"  # as the extract and embed stages reject stubs (pipeline/notnews.py)

_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, k: int) -> set[bytes]:
    """Word k-shingles of the normalised text (the whole text when it is shorter than k)."""
    words = _WORD.findall(normalize(text))
    if len(words) <= k:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {" ".join(words[i : i + k]).encode("utf-8") for i in range(len(words) - k + 1)}


def signature(text: str, num_perm: int, seed: int, k: int) -> np.ndarray:
    from datasketch import MinHash

    minhash = MinHash(num_perm=num_perm, seed=seed)
    minhash.update_batch(list(shingles(text, k)))
    return minhash.hashvalues.astype("<u4")


#: the most permutations a signature may have (datasketch's band search takes 0.4 s at 1,024)
MAX_NUM_PERM = 1024


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising false positives and negatives equally (datasketch)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def buckets(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    return [
        int.from_bytes(
            hashlib.blake2b(sig[i * rows : (i + 1) * rows].tobytes(), digest_size=8).digest(),
            "little",
        )
        for i in range(bands)
    ]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """MinHash estimate of the Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


@dataclass
class DedupStage(Stage):
    """Find which earlier documents each document copies.

    - exact: the same normalised text (case, spacing and Unicode form aside);
    - near: estimated Jaccard similarity of word ``shingle``-grams >= ``threshold``
      (edited republications);
    - translated: another language, cosine of the documents' vectors >= ``translated_threshold``,
      each the other's nearest document in its language, dated within ``window_days``, and of
      comparable length (a translation is neither half nor twice as long); and, their
      languages' means removed, a cosine >= ``translated_centred`` (two stories on one topic
      reach the raw threshold too, a translation stays close once the language is taken out);
      and sentence by sentence: of the shorter text's sentences, a ``translated_share`` at
      least have a counterpart ``translated_gap`` nearer than the next sentence of the other
      text (pipeline/aligned.py: the stage then loads the embedding model).

    Vectors come from the embed stage (``embed_model``/``embed_input``); with
    ``translated = false`` the stage needs no vectors at all.
    """

    name: str = "dedup"
    version: str = "2"  # 2: translated copies are checked sentence by sentence
    threshold: float = 0.5
    num_perm: int = 128
    seed: int = 1
    shingle: int = 3
    translated: bool = True
    translated_threshold: float = 0.88
    #: ... and their whole-text vectors' cosine with their languages' means removed at least
    #: this (0: not asked; see ``Window.centred``)
    translated_centred: float = 0.33
    #: ... and their sentences align (pipeline/aligned.py; 0: not asked)
    translated_share: float = aligned.Settings.share
    translated_gap: float = aligned.Settings.gap
    window_days: int = 30
    embed_model: str = "e5-small"
    embed_input: str = "original"
    embed_prefix: str = "query"
    #: a text of at most ``repeat_words`` words that one site serves at ``repeat_addresses``
    #: addresses or more is that site's boilerplate, not news (0: off; see ``_repeats``)
    repeat_addresses: int = 3
    repeat_words: int = 160
    needs_html: bool = False
    requires: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.requires = ("extract", "langid", "embed") if self.translated else ("extract", "langid")
        # datasketch's search for the bands grows with num_perm: 1e18 never came back
        for key, low, high in (("num_perm", 2, MAX_NUM_PERM), ("shingle", 1, 64)):
            if not low <= getattr(self, key) <= high:
                raise ValueError(f"[dedup] {key} must be from {low} to {high}, "
                                 f"not {getattr(self, key)!r}")  # fmt: skip
        for key in ("translated_centred", "translated_share"):
            if not 0 <= getattr(self, key) < 1:
                raise ValueError(f"[dedup] {key} must be from 0 (not asked) to below 1, "
                                 f"not {getattr(self, key)!r}")  # fmt: skip
        if not 0 < self.translated_gap < 1:
            raise ValueError("[dedup] translated_gap must be above 0 and below 1 (translated_share "
                             f"= 0 turns the check off), not {self.translated_gap!r}")  # fmt: skip
        if not 0 < self.threshold < 1:
            raise ValueError(
                f"[dedup] threshold must be above 0 and below 1, not {self.threshold!r}"
            )
        self.bands, self.rows = lsh_params(self.threshold, self.num_perm)

    @classmethod
    def from_settings(cls, settings: dict) -> DedupStage:
        keys = (
            "threshold", "num_perm", "seed", "shingle", "translated", "translated_threshold",
            "translated_centred", "translated_share", "translated_gap", "window_days", "embed_model",
            "embed_input", "embed_prefix", "repeat_addresses", "repeat_words",
        )  # fmt: skip
        return cls(**stage_options("dedup", settings, keys))

    def _text(self, doc: DocInput) -> str:
        return doc.text or doc.raw_text or ""

    # Each batch's documents are compared with each other too, and later documents see the
    # copy groups earlier batches formed: the batch is never split (see pipeline/contract.py).
    whole_batch = True
    # A batch reads the vectors (and text lengths) of every document dated near it, so a
    # batch's fixed cost grows with the documents in the window: batches of 8 x [pipeline]
    # batch_size (pipeline/contract.py). The results do not depend on the batch: a document
    # is compared with the documents before it, stored or earlier in its batch, and with the
    # vectors dated within window_days of it (tests/pipeline/test_dedup.py; docs/benchmarks.md, "End
    # to end").
    batch_factor = 8

    def _signed(self, doc: DocInput) -> tuple[str, np.ndarray, list[int]]:
        text = self._text(doc)
        sig = signature(text, self.num_perm, self.seed, self.shingle)
        return text_hash(text), sig, buckets(sig, self.bands, self.rows)

    def prepare(self, batch: list[DocInput]) -> list[tuple[str, np.ndarray, list[int]]]:
        """(text hash, MinHash signature, LSH buckets) per document, in batch order."""
        return [self._signed(d) for d in batch]

    def lookups(self, batch: list[DocInput], prepared: list | None = None) -> list:
        signed = prepared if prepared is not None else self.prepare(batch)
        dates = [d.seen_at for d in batch if d.seen_at is not None]
        window = timedelta(days=self.window_days)
        model = model_id_for(self.embed_model, self.embed_prefix) if self.translated else None
        short = tuple(sorted({h for d, (h, _, _) in zip(batch, signed, strict=True)
                              if self._short(d)}))  # fmt: skip
        repeats = [SameTextLookup(short, self.version)] if short else []
        return repeats + [
            CopyCandidatesLookup(
                tuple(sorted({h for h, _, _ in signed})),
                tuple(sorted({(i, b) for _, _, bs in signed for i, b in enumerate(bs)})),
                tuple(d.doc_id for d in batch),
                model_id=model if dates else None,
                input=self.embed_input,
                since=min(dates) - window if dates else None,
                until=max(dates) + window if dates else None,
                stage_version=self.version,
                translated_threshold=self.translated_threshold if self._aligner else None,
                window_days=self.window_days,
            )
        ]

    def process(
        self, batch: list[DocInput], found: dict | None = None, prepared: list | None = None
    ) -> list[CopyResult]:
        signed = prepared if prepared is not None else self.prepare(batch)
        answers = {type(a): a for a in (found or {}).values()}
        answer = answers.get(CopyCandidates) or CopyCandidates()
        same = answers.get(SameText) or SameText()
        now, extras = self._repeats(batch, signed, same) if self.repeat_addresses else ({}, [])
        # what is stored of the batch's own documents is of a version they replace now: a
        # batch document is compared by its text in this batch, once it has been handled,
        # and found by its buckets now, not by the stored ones of its old text. One whose new
        # version is its site's boilerplate stays the article it was, where it was one: that
        # stored version is the others' candidate, and its links to them are weighed again
        stays = {d.doc_id for d in batch if d.doc_id in now
                 and answer.versions.get(d.doc_id, d.version) < d.version}  # fmt: skip
        ours = {d.doc_id for d in batch} - stays
        stored_sigs = {d: np.frombuffer(s, dtype="<u4") for d, s in answer.near.items()}
        index = {key: [i for i in ids if i not in ours] for key, ids in answer.buckets.items()}
        batch_sigs: dict[str, np.ndarray] = {}
        results = []
        earlier: dict[str, list[str]] = {}  # text hash -> documents of this batch before
        translations = (
            self._translations(
                batch,
                answer.vectors,
                Window(answer.window, self, batch, answer.means),
                {**answer.texts, **{d.doc_id: self._text(d) for d in batch}},
            )  # fmt: skip
            if self.translated
            else {}
        )
        for doc, (digest, sig, bucket_list) in zip(batch, signed, strict=True):
            if doc.doc_id in now:
                results.append(None)
                continue
            matches: dict[str, tuple[str, float]] = {}
            stored = [o for o in answer.exact.get(digest, []) if o not in ours]
            for other in stored + earlier.get(digest, []):
                matches[other] = ("exact", 1.0)
            candidates = {o for band, b in enumerate(bucket_list) for o in index.get((band, b), [])}
            for other in sorted(candidates):
                if other in matches or other == doc.doc_id:
                    continue
                other_sig = batch_sigs.get(other) if other in ours else stored_sigs.get(other)
                if other_sig is None:
                    continue
                estimate = jaccard(sig, other_sig)
                if estimate >= self.threshold:
                    matches[other] = ("near", round(estimate, 4))
            for other, cosine in translations.get(doc.doc_id, []):
                matches.setdefault(other, ("translated", round(cosine, 4)))
            matches.pop(doc.doc_id, None)
            # a changed page: the copies that linked to its old text keep their links where
            # its text bears them out now, in their direction, and lose them where not
            linked = {c for c in answer.linked.get(doc.doc_id, set()) if c not in ours}
            results.append(
                CopyResult(
                    doc.doc_id,
                    doc.version,
                    digest,
                    self.num_perm,
                    self.seed,
                    sig.tobytes(),
                    bucket_list,
                    sorted((o, k, s) for o, (k, s) in matches.items() if o not in linked),
                    sorted((o, k, s) for o, (k, s) in matches.items() if o in linked),
                    sorted(linked - matches.keys()),
                )
            )
            earlier.setdefault(digest, []).append(doc.doc_id)
            batch_sigs[doc.doc_id] = sig
            for band, b in enumerate(bucket_list):
                index.setdefault((band, b), []).append(doc.doc_id)
        if not extras:
            return results
        gone = {r.doc_id for r in extras if isinstance(r, Rejection)} | (now.keys() - stays)
        items: list = []
        for doc, result in zip(batch, results, strict=True):
            if doc.doc_id in now:
                items.append(Rejection.of(self.name, doc, REASON, now[doc.doc_id]))
                continue
            result.matches = [m for m in result.matches if m[0] not in gone]
            result.relinked = [m for m in result.relinked if m[0] not in gone]
            items.append(result)
        return BatchResult(items, extras)

    def _short(self, doc: DocInput) -> bool:
        return 0 < len(_WORD.findall(self._text(doc))) <= self.repeat_words

    def _repeats(self, batch: list[DocInput], signed: list, same: SameText) -> tuple[dict, list]:
        """(batch doc id -> why it is rejected, the stored documents rejected with them and
        the site_repeats rows). Reject the texts a site serves at ``repeat_addresses``
        addresses or more: a challenge, block or error page served in place of every
        article, a header scraped instead of the article (six SemEval-2022 texts are one
        Arabic site's header). Whatever its wording, it would otherwise make one copy group
        and one narrative of its addresses. Only short texts (``repeat_words``), and only one site's: the same text
        on other sites is a copy. The documents of the site handled before are rejected with
        it (withdrawn from copies and narratives), and their addresses count for the next."""
        sites: dict[tuple[str, str], dict[str, _Seen]] = {}  # (site, hash) -> doc id -> seen
        words: dict[str, int] = {}  # hash -> words, from the batch's texts
        for doc, (digest, _, _) in zip(batch, signed, strict=True):
            if self._short(doc):
                seen = _Seen(doc.version, doc.url, doc.source, stored=False, rejected=False)
                sites.setdefault((site_of(doc.url), digest), {})[doc.doc_id] = seen
                words[digest] = len(_WORD.findall(self._text(doc)))
        for digest, rows in same.rows.items():
            for doc_id, version, url, source, rejected in rows:
                members = sites.get((site_of(url), digest))
                if members is not None and doc_id not in members:
                    members[doc_id] = _Seen(version, url, source, stored=True, rejected=rejected)
        now: dict[str, str] = {}  # batch doc id -> why it is rejected
        extras: list = []
        for (site, digest), members in sites.items():
            # an address is a path: one page at http and https, or with a query the URL's
            # canonical form keeps, counts once
            addresses = len({page_path(seen.url) for seen in members.values()})
            if addresses < self.repeat_addresses:
                continue
            detail = (f"boilerplate: rule site-repeat; the same {words[digest]}-word text at "
                      f"{addresses} addresses of {site}")  # fmt: skip
            for doc_id, seen in sorted(members.items()):
                if seen.rejected:
                    continue  # rejected as such before
                if seen.stored:
                    extras.append(Rejection(self.name, REASON, detail, url=seen.url,
                                            source=seen.source, doc_id=doc_id,
                                            version=seen.version))  # fmt: skip
                else:
                    now[doc_id] = detail
                extras.append(RepeatedText(doc_id, seen.version, site, digest, words[digest],
                                           addresses))  # fmt: skip
        return now, extras

    @cached_property
    def _aligner(self) -> aligned.Aligner | None:
        """The sentence check, where it is asked and calibrated for the model (the model is
        loaded when a pair first needs it)."""
        settings = aligned.Settings(gap=self.translated_gap, share=self.translated_share)
        model_id = model_id_for(self.embed_model, self.embed_prefix)
        if not self.translated or not settings.share or model_id not in settings.models:
            return None
        return aligned.Aligner(
            lambda: shared_embedder(self.embed_model, doc_prefix=self.embed_prefix), settings
        )

    def _translations(self, batch: list[DocInput], vectors: dict, w: Window,
                      texts: dict[str, str] | None = None) -> dict:  # fmt: skip
        """doc id -> [(other doc id, cosine)]: the documents in other languages, dated within
        ``window_days`` of it, that are mutual nearest neighbours of the document, and whose
        sentences align with its own (``texts``: doc id -> text, where known). The cosines
        with the window are matrix products, 64 documents at a time."""
        docs = [d for d in batch if d.lang and d.doc_id in vectors]
        if not docs or w.matrix is None or not len(w.ids):
            return {}
        w.texts = texts or {}
        if self._aligner:
            self._aligner.forget()  # sentence vectors are kept for one batch
        out = {}
        for i in range(0, len(docs), 64):  # 64 x the window's cosines at a time
            part = docs[i : i + 64]
            sims = np.asarray([vectors[d.doc_id] for d in part], dtype=np.float32) @ w.matrix.T
            out.update(
                (d.doc_id, self._translations_of(d, vectors[d.doc_id], row, w))
                for d, row in zip(part, sims, strict=True)
            )
        return out

    def _translations_of(self, doc: DocInput, vector, sims: np.ndarray, w: Window) -> list:
        length = len(self._text(doc))
        near = w.near(doc.seen_at.timestamp() if doc.seen_at else None)
        out = []
        for lang in sorted(w.languages - {doc.lang}):
            idx = w.rows(lang, near)
            if not len(idx):
                continue
            best = w.best(idx, sims, doc.doc_id)
            if sims[best] < self.translated_threshold:
                continue
            if not 0.5 <= w.lengths[best] / max(length, 1) <= 2.0:
                continue
            if (
                self.translated_centred
                and w.centred(vector, doc.lang, best) < self.translated_centred
            ):
                continue
            # mutual: doc is the candidate's nearest document in doc's language (of those
            # dated within window_days of the candidate)
            peers = w.rows(doc.lang, w.near(w.seen[best] if w.seen is not None else None))
            if len(peers):
                back = w.matrix[peers] @ w.matrix[best]
                nearest = peers[int(np.argmax(back))]
                if float(back.max()) > float(sims[best]) + 1e-6 and w.ids[nearest] != doc.doc_id:
                    continue
            # a link points to the document handled before: the pair is found once, by the
            # later of the two (both are in the window, vectors being older than this stage)
            if not w.before(best, doc.doc_id):
                continue
            if not self._aligns(doc.doc_id, w.ids[best], w.texts):
                continue
            out.append((w.ids[best], float(sims[best])))
        return sorted(out)

    def _aligns(self, doc_id: str, other: str, texts: dict[str, str]) -> bool:
        """Whether the sentences of two documents allow one to translate the other (so where
        the check is off, or a text was not read: the stored candidate was not among its
        language's TEXTS_PER_LANGUAGE nearest)."""
        if self._aligner is None or doc_id not in texts or other not in texts:
            return True
        return self._aligner.translates(doc_id, texts[doc_id], other, texts[other])


class _Seen(NamedTuple):
    """A document serving a short text, as ``_repeats`` counts it."""

    version: int
    url: str
    source: str | None
    stored: bool  # handled by an earlier batch (else: in this one)
    rejected: bool  # rejected as its site's boilerplate before
