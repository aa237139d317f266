"""Text analysis for BM25: the one tokenizer behind index build, query, snippets and goal passages.

A page is analysed by its language. Runs of CJK characters (Han, kana, Hangul) become
overlapping character bigrams, a single character alone being kept as itself (Lucene's
CJKAnalyzer): Chinese and Japanese have no spaces, and bigrams need no dictionary, so a query
needs no language. Other words are Unicode-normalised (NFKC, case folded, a Turkish dotted
capital İ folded to i), English stopwords dropped (alike in every language) and the rest
stemmed by the language's Snowball stemmer (PyStemmer, as bm25s uses); a language without one
keeps words as they are. A query has no reliable language: each of its words is analysed by every analyser the
index used, and the variants together stand for the word (`QueryGroup`).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Iterable, Iterator, NamedTuple

import regex

ANALYSIS_VERSION = 2

_CJK_CHARS = (r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u30fc\uff70")  # ー: the katakana long vowel mark
# a word: letters, marks (Devanagari, Thai and Arabic vowel signs), digits; CJK runs apart
_TOKEN = regex.compile(rf"(?P<cjk>[{_CJK_CHARS}]+)|(?P<word>[[\p{{L}}\p{{M}}\p{{N}}_]--[{_CJK_CHARS}]]+)", regex.V1)

# ISO 639-1 code (as ingest detects it) -> Snowball algorithm of PyStemmer
STEMMERS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
CJK_LANGS = {"zh", "ja", "ko"}
PLAIN = "plain"  # no stemmer


def analyzer_name(lang: str) -> str:
    """The analyser a page in `lang` is indexed with: a Snowball algorithm, "cjk" or "plain"
    (words as they are). Every analyser makes CJK runs bigrams and drops English stopwords,
    as Lucene's CJKAnalyzer does."""
    lang = (lang or "").lower().split("-")[0].split("_")[0]
    if lang in CJK_LANGS:
        return "cjk"
    return STEMMERS.get(lang, PLAIN)


@lru_cache(maxsize=None)
def _stopwords(name: str) -> frozenset[str]:
    """English stopwords, dropped by every analyser alike. A list per language would bias
    search: `die`, dropped from German pages, would be kept by the other analysers and match
    the few foreign pages that quote it as a rare word (measured in bench/multilingual.py)."""
    import bm25s.stopwords

    return frozenset(normalise(w) for w in bm25s.stopwords.STOPWORDS_EN)


_local = threading.local()  # a PyStemmer object is not safe to share between threads


def _stemmer(name: str):
    """The thread's stemmer for `name`, without PyStemmer's own word cache: each word is stemmed
    once per process anyway (the memos below), and that cache made a new word 2-4x slower to stem."""
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    if name not in stemmers:
        import Stemmer

        stemmers[name] = Stemmer.Stemmer(name, 0) if name not in ("cjk", PLAIN) else None
    return stemmers[name]


def normalise(word: str) -> str:
    """NFKC (full-width letters, ligatures), case folded; İ folds to i, not to i + a combining dot."""
    if word.isascii():
        return word.lower()
    return unicodedata.normalize("NFKC", word).casefold().replace("i\u0307", "i")


class Token(NamedTuple):
    start: int  # character span in the analysed text
    end: int
    term: str


def tokens(text: str, analyzer: str) -> list[Token]:
    """Every index term of `text` under `analyzer`, with the span of text it comes from."""
    cjk: list[Token] = []
    words: list[tuple[int, int, str]] = []
    stop = _stopwords(PLAIN)  # (the same English list under every analyser)
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        if match.lastgroup == "cjk":
            run = normalise(match.group())
            if len(run) == 1 or len(run) != end - start:  # (NFKC rarely changes a CJK run's length)
                cjk.append(Token(start, end, run))
            else:
                cjk.extend(Token(start + i, start + i + 2, run[i:i + 2]) for i in range(len(run) - 1))
            continue
        word = normalise(match.group())
        if len(word) >= 2 and word not in stop:
            words.append((start, end, word))
    stemmer = _stemmer(analyzer)
    stems = stemmer.stemWords([w for _, _, w in words]) if stemmer else [w for _, _, w in words]
    out = cjk + [Token(start, end, stem) for (start, end, _), stem in zip(words, stems) if stem]  # (a stemmer
    # can reduce a word to nothing, as Greek's does `όταν`: no term, as for a stopword)
    if cjk and words:
        out.sort(key=lambda token: token.start)
    return out


def index_term_counts(text: str, analyzer: str) -> dict[str, int]:
    """How often each term of `tokens(text, analyzer)` occurs, the terms in the order they first
    occur: what an index build needs (a page's terms as a bag). The text is cut by one `findall`
    and counted in C (the page's distinct characters say which make words and CJK runs, so the
    faster scanner of `re` can cut it); each distinct word is looked up in the analyser's memo
    (normalised and stemmed once per process)."""
    extra, cjk = _page_chars(text)
    counts = Counter(_token_runs(extra, cjk).findall(text))
    words = {token for token in counts if token.isascii() or token[0] not in cjk}
    term_of = _memo_of(words, analyzer).term
    out: dict[str, int] = {}
    for token, n in counts.items():
        if token in words:
            term = term_of[token]
            if term:
                out[term] = out.get(term, 0) + n
            continue
        run = normalise(token)
        grams = (run,) if len(run) == 1 or len(run) != len(token) else (run[i:i + 2] for i in range(len(run) - 1))
        for gram in grams:
            out[gram] = out.get(gram, 0) + n
    return out


_WORD_CLASS = rf"[[\p{{L}}\p{{M}}\p{{N}}_]--[{_CJK_CHARS}]]"
_CJK_RUNS = regex.compile(rf"[{_CJK_CHARS}]+", regex.V1)


_WORD_CHAR = regex.compile(_WORD_CLASS, regex.V1)
_CJK_CHAR = regex.compile(rf"[{_CJK_CHARS}]", regex.V1)
_ASCII_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
WORD, CJK = 1, 2
TERM_MEMO_LIMIT = 200_000  # surface words remembered per analyser (then forgotten all at once)


class _TermMemo:
    """Surface word -> index term, and term -> the surface words seen for it, for one analyser.
    Words repeat across pages, so each is analysed once per process. Only strings and tuples of
    them are kept, which the garbage collector stops scanning (sets it would scan in every full
    collection: a server's memos grow with its queries, and so did its pauses)."""

    def __init__(self):
        self.term: dict[str, str] = {}  # "" when the word is dropped (one character, a stopword)
        self.surfaces: dict[str, tuple[str, ...]] = {}


_memos: dict[str, _TermMemo] = {}


@lru_cache(maxsize=1 << 16)
def _char_kind(char: str) -> int:
    """WORD, CJK or 0 (a separator), as `_TOKEN` classes the character."""
    if _WORD_CHAR.fullmatch(char):
        return WORD
    return CJK if _CJK_CHAR.fullmatch(char) else 0


def _page_chars(text: str) -> tuple[str, str]:
    """The page's non-ASCII word characters and its CJK characters (each sorted, as one string):
    what `_token_runs` needs to cut the page as `_TOKEN` does."""
    kinds = {char: _char_kind(char) for char in set(text) if not char.isascii()}
    return ("".join(sorted(char for char, kind in kinds.items() if kind == WORD)),
            "".join(sorted(char for char, kind in kinds.items() if kind == CJK)))


@lru_cache(maxsize=4096)
def _token_runs(extra: str, cjk: str) -> re.Pattern:
    """Word runs (ASCII word characters and `extra`) and CJK runs (of `cjk`), for a page whose
    non-ASCII characters are those: on that page, exactly the tokens `_TOKEN` finds."""
    return re.compile(f"[A-Za-z0-9_{re.escape(extra)}]+" + (f"|[{re.escape(cjk)}]+" if cjk else ""))


def _memo_of(words: set[str], analyzer: str) -> _TermMemo:
    """The analyser's memo, holding at least `words` (the new ones analysed now)."""
    memo = _memos.get(analyzer)
    if memo is None or len(memo.term) > TERM_MEMO_LIMIT:
        memo = _memos[analyzer] = _TermMemo()
    new = list(words.difference(memo.term))
    if new:
        stop = _stopwords(analyzer)
        normal = [normalise(word) for word in new]
        kept = [i for i, word in enumerate(normal) if len(word) >= 2 and word not in stop]
        stemmer = _stemmer(analyzer)
        stems = stemmer.stemWords([normal[i] for i in kept]) if stemmer else [normal[i] for i in kept]
        found = dict.fromkeys(new, "")
        for i, stem in zip(kept, stems):
            found[new[i]] = stem
            memo.surfaces[stem] = (*memo.surfaces.get(stem, ()), new[i])  # (a word is new once)
        memo.term.update(found)
    return memo


def find_terms(text: str, wanted: set[str], analyzer: str) -> list[tuple[int, str]]:
    """(start, term) of every token of `text` whose term is in `wanted`, in text order: the tokens
    `tokens(text, analyzer)` gives for those terms, found without analysing every word. The
    page's distinct characters say which of them make words, so its words are found by one C
    scan; each distinct word's term is looked up (analysed once per process), and only the words
    whose term is wanted are located (`str.find`, kept where they stand whole)."""
    found: list[tuple[int, str]] = []
    extra, page_cjk = _page_chars(text)
    words = set(_token_runs(extra, "").findall(text))
    memo = _memo_of(words, analyzer)
    located = [(word, term) for term in wanted for word in words.intersection(memo.surfaces.get(term, ()))]
    if located:
        inside = _ASCII_WORD_CHARS.union(extra)
        for word, term in located:
            start, size = text.find(word), len(word)
            while start != -1:
                end = start + size
                if (start == 0 or text[start - 1] not in inside) and (end == len(text) or text[end] not in inside):
                    found.append((start, term))
                    start = text.find(word, end)
                else:
                    start = text.find(word, start + 1)
    cjk = {term for term in wanted if term and _CJK_RUNS.fullmatch(term)}
    if cjk and page_cjk:
        runs = _CJK_RUNS.findall(text)
        if runs and not unicodedata.is_normalized("NFKC", "".join(runs)):  # rare: analyse it all
            return sorted({(t.start, t.term) for t in tokens(text, analyzer) if t.term in wanted})
        for term in cjk:
            if len(term) == 2:  # a bigram of a run: wherever the two characters stand side by side
                start = text.find(term)
                while start != -1:
                    found.append((start, term))
                    start = text.find(term, start + 1)
            else:  # one character alone in its run, or a run NFKC lengthened: as `tokens` does
                found += [(m.start(), term) for m in _CJK_RUNS.finditer(text) if normalise(m.group()) == term]
    found.sort()
    return found


_WORD_RUN = regex.compile(rf"{_WORD_CLASS}+", regex.V1)
_ASCII_RUN = re.compile(r"[A-Za-z0-9_]+")


def _key(term: str) -> str:
    """What the lowercased page holds at the start of a word that stems to `term`: stemmers
    change a word's last letters (`happy` -> `happi`, `hoping` -> `hope`), seldom more."""
    return term[:max(3, len(term) - 3)]


_quick_keys: dict[tuple[str, ...], tuple[str, ...] | None] = {}


def quick_keys(terms: tuple[str, ...]) -> tuple[str, ...] | None:
    """The stable starts `scan_quick` looks for, for one query word's terms; None when one is CJK.
    Remembered per process in a dict of tuples (see `_TermMemo` on why not an lru_cache)."""
    found = _quick_keys.get(terms, False)
    if found is False:
        if len(_quick_keys) > TERM_MEMO_LIMIT:
            _quick_keys.clear()
        cjk = any(_CJK_RUNS.fullmatch(term) for term in terms if term)
        found = _quick_keys[terms] = None if cjk else tuple(sorted({_key(term) for term in terms if term}))
    return found


def scan_quick(text: str, low: str, keys: Iterable[str], wanted: set[str], analyzer: str, begin: int = 0,
               end: int | None = None, limit: int | None = None) -> set[tuple[int, str]]:
    """(start, term) of the tokens of `wanted` terms that begin with one of `keys` in `low`
    (`text` lowercased, as long as it) and start in [begin, end); per key, its first `limit`.

    For snippets, without scanning every word of a long page: candidates are the words that
    begin with a wanted term's stable start (`str.find`), each analysed as the index does, so
    every match is a whole token of a wanted term. A form whose start the stemmer changes
    (`dying` -> `die`) can be missed; a caller that finds nothing scans every word (`find_terms`)."""
    found: set[tuple[int, str]] = set()
    for key in keys:
        found.update(scan_key(text, low, key, wanted, analyzer, begin, end, limit))
    return found


def scan_key(text: str, low: str, key: str, wanted: set[str], analyzer: str, begin: int = 0,
             end: int | None = None, limit: int | None = None) -> Iterator[tuple[int, str]]:
    """`scan_quick` for one key, in text order, as the caller asks for more."""
    memo = _memos.get(analyzer) or _memo_of(set(), analyzer)
    size = len(text)
    end = size if end is None else end
    bound = end + len(key) - 1  # (`find` looks no further than a start before `end`)
    start, held = low.find(key, begin, bound), 0
    while start != -1 and start < end:
        if start:  # inside a word: not its start
            before = text[start - 1]
            if before in _ASCII_WORD_CHARS or (not before.isascii() and _char_kind(before) == WORD):
                start = low.find(key, start + 1, bound)
                continue
        run = _ASCII_RUN.match(text, start)  # most words are ASCII: the C scanner of `re`
        stop = run.end() if run else start
        if stop == start or (stop < size and not text[stop].isascii()):  # a word with other letters
            run = _WORD_RUN.match(text, start)
            if run is None:
                start = low.find(key, start + 1, bound)
                continue
            stop = run.end()
        word = text[start:stop]
        term = memo.term.get(word)
        if term is None:
            memo = _memo_of({word}, analyzer)
            term = memo.term[word]
        if term in wanted:
            yield start, term
            held += 1
            if held == limit:
                return
        start = low.find(key, start + len(word), bound)


def terms(text: str, lang: str) -> list[str]:
    """The index terms of a page in `lang` (for building the index)."""
    return [token.term for token in tokens(text, analyzer_name(lang))]


class QueryGroup(NamedTuple):
    """One word of a query as every analyser of the index sees it (or one CJK bigram)."""

    text: str  # as the query spells it
    variants: tuple[str, ...]  # index terms that stand for it


# per set of analysers: a query's surface word -> (its normalised word, its variants), () when dropped
_query_words: dict[tuple[str, ...], dict[str, tuple]] = {}


def analyse_query(query: str, analyzers: Iterable[str]) -> list[QueryGroup]:
    """The query's words in order, each with its terms under every analyser the index used (a
    word that is a stopword is dropped under all of them alike); CJK runs as bigrams, as in every
    page. Each distinct surface word is analysed once per process (a memo per set of analysers):
    a server sees the same words again and again, and looking one up is a fraction of analysing it."""
    return analyse_queries([query], analyzers)[0]


def analyse_queries(queries: list[str], analyzers: Iterable[str]) -> list[list[QueryGroup]]:
    """`analyse_query` of each query, the words none of the memos has seen analysed together
    first: one pass of each analyser for the whole batch instead of one per new word (most of a
    new word's cost was the passes, 9 of them under 8 analysers), and a server's queries bring
    new words all the time (a tenth to a third of the words of a run of real queries)."""
    names = tuple(sorted(set(analyzers))) or (PLAIN,)
    known = _query_words.get(names)
    if known is None or len(known) > TERM_MEMO_LIMIT:
        known = _query_words[names] = {}
    split = [_surfaces(query) for query in queries]
    new = {surface for surfaces in split if surfaces for surface in surfaces if surface not in known}
    if new:
        _learn(new, names, known)
    return [_analyse_cjk_query(query, names) if surfaces is None else _groups(surfaces, known)
            for query, surfaces in zip(queries, split)]


def _surfaces(query: str) -> list[str] | None:
    """The query's words as it spells them, in order; None when it holds a CJK run (bigrams)."""
    if query.isascii():  # (ASCII words are what `_TOKEN` finds in ASCII text)
        return _ASCII_RUN.findall(query)
    runs = list(_TOKEN.finditer(query))
    if any(run.lastgroup == "cjk" for run in runs):
        return None
    return [run.group() for run in runs]


def _groups(surfaces: list[str], known: dict[str, tuple]) -> list[QueryGroup]:
    """One group per distinct normalised word (a word's variants follow from its normalised form)."""
    groups: dict[str, QueryGroup] = {}
    for surface in surfaces:
        found = known[surface]
        if found and found[0] not in groups:
            groups[found[0]] = QueryGroup(surface, found[1])
    return list(groups.values())


def _learn(surfaces: set[str], names: tuple[str, ...], known: dict[str, tuple]) -> None:
    """Each of `surfaces` into `known`: (normalised word, its term under each analyser in
    `names`, duplicates once), or () when the word is dropped (one character, a stopword), as
    each analyser's memo says, as for pages."""
    plain = _memo_of(surfaces, PLAIN).term  # (no stemmer: the normalised word, "" if dropped)
    memos = [_memo_of(surfaces, name).term for name in names]
    for surface in surfaces:
        word = plain[surface]
        known[surface] = (word, tuple(dict.fromkeys(memo[surface] for memo in memos))) if word else ()


def _query_word(surface: str, names: tuple[str, ...]) -> tuple:
    """`_learn` of one word: (normalised word, its variants), or () when it is dropped."""
    learnt: dict[str, tuple] = {}
    _learn({surface}, names, learnt)
    return learnt[surface]


def _analyse_cjk_query(query: str, names: tuple[str, ...]) -> list[QueryGroup]:
    """`analyse_query` of a query holding CJK runs: its bigrams and its words, in text order."""
    groups: dict[str, QueryGroup] = {}
    for token in tokens(query, PLAIN):  # words as they are (normalised), CJK bigrams: one per group
        surface = query[token.start:token.end]
        if _char_kind(surface[0]) == CJK:
            key, variants = surface, (token.term,)
        else:
            key, variants = token.term, _query_word(surface, names)[1]
        found = groups.get(key)
        if found is None:
            groups[key] = QueryGroup(surface, variants)
        else:
            groups[key] = QueryGroup(found.text, tuple(dict.fromkeys(found.variants + variants)))
    return list(groups.values())
