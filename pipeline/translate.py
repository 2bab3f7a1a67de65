"""Translation stage: every document not in the target language gets a translation, sentence
by sentence, through a sentence cache, reusing the translation of identical texts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from pipeline.config import stage_options
from pipeline.contract import Stage
from pipeline.labels import terms
from pipeline.textnorm import paragraphs, sentence_hash, text_hash
from storage.outputs.translate import (
    NoModelReopen,
    SentenceCacheLookup,
    Translation,
    TranslationReuseLookup,
)
from storage.records import DocInput

UNDETERMINED = "und"


@dataclass
class _Plan:
    """What one document needs: its title and body cut into sentences (units of translation
    and caching), and the hash that identifies copies of its body."""

    lang: str
    title: list[str]
    body: list[list[str]]  # paragraphs of sentences
    body_hash: str

    @property
    def units(self) -> list[str]:
        return self.title + [s for p in self.body for s in p]


@dataclass
class TranslateStage(Stage):
    """Argos Translate into ``target`` (English by default), batched across the documents of
    a batch: each distinct sentence not in the cache is translated once. The original text is
    never modified; paragraph breaks are kept.

    Outcomes that are not translations are values: ``not_needed`` (already in the target
    language), ``no_model`` (install one with ``narrascope models install``), ``undetermined``
    (no language identified). Documents left at ``no_model`` are picked up again by the next
    run once a model for their language is installed.
    """

    name: str = "translate"
    target: str = "en"
    max_batch_tokens: int = 2048
    max_chars: int = 400
    requires: tuple[str, ...] = ("extract", "langid")
    needs_html: bool = False
    version: str = field(init=False)

    def __post_init__(self) -> None:
        self.version = f"1:{self.target}"

    @classmethod
    def from_settings(cls, settings: dict) -> TranslateStage:
        return cls(
            **stage_options("translate", settings, ("target", "max_batch_tokens", "max_chars"))
        )

    @cached_property
    def routes(self) -> dict:
        from pipeline.argos_routes import routes

        return routes(self.target, max_batch_tokens=self.max_batch_tokens, max_chars=self.max_chars)

    def reopen(self) -> list:
        """Documents left at ``no_model`` in a language this stage can translate now are
        worth another try."""
        return [NoModelReopen(tuple(sorted(self.routes)))]

    def _outcome(self, doc: DocInput) -> str | None:
        lang = doc.lang
        if not lang or lang == UNDETERMINED:
            return "undetermined"
        if lang == self.target:
            return "not_needed"
        if lang not in self.routes:
            return "no_model"
        return None

    def _plan(self, doc: DocInput) -> _Plan:
        route = self.routes[doc.lang]
        text = doc.text or doc.raw_text or ""
        title = doc.title or doc.hint_title
        return _Plan(
            doc.lang,
            route.sentences(title) if title else [],
            [route.sentences(p) for p in paragraphs(text)],
            text_hash(text),
        )

    def prepare(self, batch: list[DocInput]) -> dict:
        """Each document to translate cut into sentences (with the package's own sentence
        model): (doc_id, version) -> plan."""
        return {
            (doc.doc_id, doc.version): self._plan(doc)
            for doc in batch
            if self._outcome(doc) is None
        }

    def lookups(self, batch: list[DocInput], prepared: dict | None = None) -> list:
        """What to fetch before translating: finished translations of identical bodies, and
        cached translations of every sentence in the batch."""
        plans = prepared if prepared is not None else self.prepare(batch)
        reuse_keys = set()
        hashes: dict[str, set[str]] = {}
        for doc in batch:
            plan = plans.get((doc.doc_id, doc.version))
            if plan is None:
                continue
            reuse_keys.add((plan.body_hash, plan.lang))
            hashes.setdefault(plan.lang, set()).update(sentence_hash(s) for s in plan.units)
        lookups: list = [TranslationReuseLookup(self.target, tuple(sorted(reuse_keys)))]
        for lang, found in sorted(hashes.items()):
            lookups.append(
                SentenceCacheLookup(
                    lang, self.target, self.routes[lang].model_id, tuple(sorted(found))
                )
            )
        return lookups

    def process(
        self, batch: list[DocInput], found: dict | None = None, prepared: dict | None = None
    ) -> list[Translation]:
        found = found or {}
        prepared = prepared if prepared is not None else self.prepare(batch)
        reuse: dict = {}
        cache: dict[str, dict[str, str]] = {}
        for lookup, answer in found.items():
            if isinstance(lookup, TranslationReuseLookup):
                reuse.update(answer)
            elif isinstance(lookup, SentenceCacheLookup):
                cache.setdefault(lookup.source_lang, {}).update(answer)

        # 1. Decide per document; collect the sentences nobody has translated yet.
        results: list[Translation | None] = []
        todo: dict[str, dict[str, str]] = {}  # lang -> sentence hash -> sentence
        first_of_copy: dict[tuple[str, str], str] = {}
        plans: list[_Plan | None] = []
        for doc in batch:
            outcome = self._outcome(doc)
            if outcome is not None:
                results.append(Translation(doc.doc_id, doc.version, doc.lang, self.target, outcome))
                plans.append(None)
                continue
            plan = prepared[(doc.doc_id, doc.version)]
            plans.append(plan)
            results.append(None)
            copy_key = (plan.body_hash, plan.lang)
            units = plan.title if (copy_key in reuse or copy_key in first_of_copy) else plan.units
            first_of_copy.setdefault(copy_key, doc.doc_id)
            known = cache.get(plan.lang, {})
            for sentence in units:
                h = sentence_hash(sentence)
                if h not in known:
                    todo.setdefault(plan.lang, {})[h] = sentence

        # 2. One batched model call per language.
        computed: dict[str, dict[str, str]] = {}
        for lang, pending in todo.items():
            hashes = list(pending)
            outputs = self.routes[lang].translate([pending[h] for h in hashes])
            computed[lang] = dict(zip(hashes, outputs, strict=True))

        # 3. Assemble each document from the cache, this batch's work, or its copy.
        assemble = _Assembler(cache, computed)
        done_bodies: dict[tuple[str, str], tuple[str, str]] = {}  # copy key -> (doc_id, text)
        for i, doc in enumerate(batch):
            plan = plans[i]
            if plan is None:
                continue
            new_cache: list[tuple[str, str]] = []
            title, hits = assemble(plan.lang, plan.title, new_cache)
            copy_key = (plan.body_hash, plan.lang)
            reused_from = None
            model_id = self.routes[plan.lang].model_id
            body_units = sum(len(p) for p in plan.body)
            if copy_key in reuse:
                reused_from, model_id = reuse[copy_key].doc_id, reuse[copy_key].model_id
                text = reuse[copy_key].text
                hits += body_units
            elif copy_key in done_bodies:
                reused_from, text = done_bodies[copy_key]
                hits += body_units
            else:
                rendered = [assemble(plan.lang, p, new_cache) for p in plan.body]
                text = "\n".join(r[0] for r in rendered)
                hits += sum(r[1] for r in rendered)
                done_bodies[copy_key] = (doc.doc_id, text)
            results[i] = Translation(
                doc.doc_id,
                doc.version,
                plan.lang,
                self.target,
                "translated",
                model_id=model_id,
                title=title if plan.title else None,
                text=text,
                sentences=len(plan.title) + body_units,
                cache_hits=hits,
                text_hash=plan.body_hash,
                reused_from=reused_from,
                new_cache=new_cache,
                terms=terms(text),
            )
        return results

    def reuse(self, batch: list[DocInput], items: list, found: dict, prepared=None) -> list:
        """A body translated here that an earlier batch stored translated: that batch's text,
        model and ``reused_from``, as ``process`` gives it when the lookup finds it (the title
        stays this document's own; its sentence-cache hits cannot be told apart afterwards:
        at most the title's sentences are counted as hits, plus the body's)."""
        reuse: dict = {}
        for lookup, answer in found.items():
            if isinstance(lookup, TranslationReuseLookup):
                reuse.update(answer)
        out = list(items)
        for i, item in enumerate(items):
            if not isinstance(item, Translation) or item.status != "translated":
                continue
            stored = reuse.get((item.text_hash, item.source_lang))
            if stored is None or stored.doc_id == item.reused_from:
                continue
            plan = prepared[(item.doc_id, item.version)]
            titles = {sentence_hash(s) for s in plan.title}
            out[i] = replace(
                item, model_id=stored.model_id, text=stored.text, reused_from=stored.doc_id,
                terms=terms(stored.text),
                cache_hits=min(item.cache_hits, len(plan.title)) + sum(map(len, plan.body)),
                new_cache=[(h, t) for h, t in item.new_cache if h in titles],
            )  # fmt: skip
        return out


class _Assembler:
    """Joins sentence translations back into text, from the stored cache or this batch's model
    output; counts cache hits and collects the entries each document adds to the cache (a
    sentence computed once in a batch is a cache hit for every later document using it)."""

    def __init__(self, cache: dict[str, dict[str, str]], computed: dict[str, dict[str, str]]):
        self.cache = cache
        self.computed = computed
        self.claimed: set[tuple[str, str]] = set()

    def __call__(
        self, lang: str, sentences: list[str], new_cache: list[tuple[str, str]]
    ) -> tuple[str, int]:
        known = self.cache.get(lang, {})
        fresh = self.computed.get(lang, {})
        out, hits = [], 0
        for sentence in sentences:
            h = sentence_hash(sentence)
            if h in known:
                hits += 1
                out.append(known[h])
                continue
            out.append(fresh[h])
            if (lang, h) in self.claimed:
                hits += 1
            else:
                self.claimed.add((lang, h))
                new_cache.append((h, fresh[h]))
        return " ".join(out), hits
