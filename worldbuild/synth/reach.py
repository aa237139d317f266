"""Stage 4+5: mask the sources, then check without an LLM that the answer is still reachable:
is the normalised answer in a page that local search returns for the question or its key
phrases, with the mask applied?"""

from __future__ import annotations

import re
import unicodedata

from worldbuild.synth.access import LocalWorld

_PUNCT = re.compile(r"[^\w\s]")
_DIGIT_COMMA = re.compile(r"(?<=\d)[,\u202f\u00a0 ](?=\d{3}\b)")
_PHRASE = re.compile(r'"([^"]{3,80})"|((?:[A-Z][\w\-]+(?:\s+(?:of|the|de|von|and|&)?\s*)?){2,6})')


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGIT_COMMA.sub("", text)
    return " ".join(_PUNCT.sub(" ", text).split())


def key_phrases(question: str) -> list[str]:
    """Quoted strings and runs of capitalised words: the names a searcher would type."""
    found = []
    for quoted, capitalised in _PHRASE.findall(question):
        phrase = (quoted or capitalised).strip()
        if phrase and phrase not in found:
            found.append(phrase)
    return found[:4]


class PageTexts:
    """Normalised page texts, kept for the pages that come back again and again."""

    def __init__(self, world: LocalWorld, size: int = 4096):
        self.world = world
        self.size = size
        self.cache: dict[str, str] = {}

    def __call__(self, url: str) -> str:
        if url not in self.cache:
            if len(self.cache) >= self.size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[url] = f" {normalise(self.world.text(url) or '')} "
        return self.cache[url]


def check_reachable(world: LocalWorld, pair: dict, source_urls: list[str], k: int = 10,
                    texts: PageTexts | None = None, mask: list[str] | None = None) -> dict:
    """Search already hides the masked pages, so every page it returns may count as evidence."""
    texts = texts or PageTexts(world)
    mask = mask if mask is not None else world.mask_for(source_urls)
    answer = normalise(pair["answer"])
    evidence = []
    seen = set()
    for query in [pair["question"], *key_phrases(pair["question"])]:
        for url in world.search(query, k=k, mask=mask):
            if url in seen:
                continue
            seen.add(url)
            if answer and f" {answer} " in texts(url):
                evidence.append(url)
    return {"key": pair["id"], "mask_urls": mask, "evidence_urls": evidence, "reachable": bool(evidence)}
