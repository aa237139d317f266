"""Search, snippets, browse and stats through the Python API."""

import pytest

from worldbuild.index import topk
from worldbuild.index.bm25 import BM25Index
from worldbuild.index.snippets import snippet
from worldbuild.world import World


@pytest.fixture(scope="module")
def world(sample_world):
    with World.open(sample_world[0]) as opened:
        yield opened


def test_search_finds_the_page_about_the_query(world):
    hits = world.search("CCBot Nutch crawler", k=5)
    assert hits[0].url.startswith("https://commoncrawl.org/")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.doc_id for h in hits}) == len(hits)


def test_snippet_is_the_matching_passage_not_the_opening(world):
    hit = world.search("CCBot Nutch crawler", k=1)[0]
    page = world.page(hit.url)
    opening = " ".join(page.text.split())[:80]
    assert "CCBot" in hit.snippet or "Nutch" in hit.snippet
    assert not hit.snippet.startswith(opening[:40])
    assert len(hit.snippet) <= 260


def test_snippets_are_deterministic(world):
    first = [h.to_dict() for h in world.search("root zone database", k=5)]
    second = [h.to_dict() for h in world.search("root zone database", k=5)]
    assert first == second and first


def test_k_limits_and_unknown_words(world):
    assert len(world.search("the domain", k=3)) <= 3
    assert world.search("zzxqwv unfindableword") == []
    assert world.search("") == []
    assert world.search("the and of") == []  # stopwords only
    assert world.search("domain", k=0) == []
    assert len(world.search("domain", k=100000)) <= len(world)


def test_stemming_and_stems_in_snippets(world):
    terms = world.index.terms("Kindersitze crawled crawling")
    assert "crawl" in terms.terms
    text = "Nothing here. " * 40 + "Our crawlers crawled the whole web in 2024. " + "Filler text. " * 40
    assert "crawled the whole web" in snippet(text, terms, lang="en")


def test_snippet_prefers_rare_terms_together():
    from worldbuild.index.analysis import QueryGroup
    from worldbuild.index.bm25 import QueryTerms
    terms = QueryTerms(token_ids=[1, 2], groups=[QueryGroup("harbour", ("harbour",)),
                                                 QueryGroup("albatross", ("albatross",))], weights=[0.1, 5.0])
    text = ("harbour " * 5 + "filler " * 200 + "An albatross landed in the harbour at dawn. " + "filler " * 200)
    assert "albatross landed" in snippet(text, terms, lang="en")


@pytest.mark.parametrize("variant", [
    "http://www.iana.org/domains",
    "https://www.iana.org/domains",
    "http://www.iana.org/domains/",
    "HTTP://WWW.IANA.ORG/domains",
    "http://iana.org/domains#section",
    "http://www.iana.org/domains?utm_source=newsletter",
    "http://www.iana.org:80/domains",
])
def test_browse_by_any_url_variant(world, variant):
    page = world.page(variant)
    assert page is not None and page.title == "Domain Name Services"


def test_browse_missing(world):
    assert world.page("http://www.iana.org/no-such-page") is None
    assert world.page("not a url") is None


def test_stats(world):
    stats = world.stats(top=5)
    assert sum(stats["languages"].values()) == stats["pages"] == len(world)
    assert len(stats["top_domains"]) == 5
    assert list(stats["top_domains"].values()) == sorted(stats["top_domains"].values(), reverse=True)
    assert stats["snapshot"] == world.snapshot


def test_index_is_memory_mapped(world):
    import numpy as np
    assert isinstance(world.index.retriever.scores["data"], np.memmap)


def test_the_page_store_reads_through_a_memory_map(world):
    """Searches read pages through SQLite's memory map (the writer does not map); the same pages either way."""
    from worldbuild.store import PageStore

    mapped, unmapped = PageStore(world.store.path), PageStore(world.store.path, memory_mapped=False)
    assert mapped.db.execute("PRAGMA mmap_size").fetchone()[0] > 0
    assert unmapped.db.execute("PRAGMA mmap_size").fetchone()[0] == 0
    ids = [doc_id for doc_id, _ in world.index.search(world.index.terms("root zone database"), 5)]
    assert ids and mapped.by_ids(ids) == unmapped.by_ids(ids)


@pytest.mark.parametrize("lookup_cost", [0, topk.LOOKUP_COST, 10**9])  # lookups always, as set, never
def test_numba_backend_gives_the_same_ranking(sample_world, world, lookup_cost, monkeypatch):
    """The compiled kernel (weighted sums, postings pruned by score bounds, the terms left
    looked up or scored whole) ranks as the numpy path does: bm25s's plain sum, or each variant
    scaled to its word's idf where a word has several (a world of several languages), call
    after call in one workspace."""
    monkeypatch.setattr(topk, "LOOKUP_COST", lookup_cost)
    fast = BM25Index(world.index.path, backend="numba")
    fast.warmup()
    words = [text.split() for _, text in world.store.index_texts()][:40]
    queries = ["root zone database", "Kindersitze Test", "common crawl blog"]
    queries += [" ".join(page[i:i + 3]) for page in words for i in range(0, min(len(page), 60), 20)]
    scaled = 0
    for query in queries:
        terms = world.index.terms(query)
        scaled += bool(terms.scale)
        for k in (1, 3, 10):  # a small k prunes most postings: the answer must not change
            numba_hits, numpy_hits = fast.search(terms, k), world.index.search(terms, k)
            assert [s for _, s in numba_hits] == pytest.approx([s for _, s in numpy_hits], rel=1e-5)
            bar = numpy_hits[-1][1] * (1 + 1e-5) if numpy_hits else 0  # a tie at the cut may keep either
            assert [d for d, s in numba_hits if s > bar] == [d for d, s in numpy_hits if s > bar]
    assert scaled >= 3, "no query had variants weighed apart: the weighted path went untested"
    scores, seen, _ = fast._workspaces.arrays  # one workspace served every call: left clean by each
    assert not scores.any() and not seen.any()


def test_snippet_windows_are_those_of_a_whole_page_scan(world):
    """Looking for the rarest query word first, and for the others only near its places, picks
    the window that finding every query word on the whole page picks (the sample world's long
    real pages, queries from their own words, two snippet widths)."""
    from worldbuild.index import snippets
    from worldbuild.index.analysis import analyzer_name, find_terms, quick_keys, scan_quick

    words = [text.split() for _, text in world.store.index_texts()][:60]
    queries = [" ".join(page[i:i + 3]) for page in words for i in range(0, min(len(page), 90), 30)]
    checked = 0
    for query in queries:
        terms = world.index.terms(query)
        hits = world.index.search(terms, 5)
        pages = world.store.by_ids([doc_id for doc_id, _ in hits])
        for page in pages.values():
            low, analyzer = page.text.lower(), analyzer_name(page.lang)
            if quick_keys(tuple(terms.wanted)) is None or len(low) != len(page.text):
                continue
            tokens = scan_quick(page.text, low, quick_keys(tuple(terms.wanted)), terms.wanted, analyzer)
            found: list[list[int]] = [[] for _ in terms.groups]
            for start, term in sorted(tokens or find_terms(page.text, terms.wanted, analyzer)):
                for number in terms.group_of[term]:
                    found[number].append(start)
            for width in (240, 600):
                whole = snippets._window(found, snippets._weights(terms), width)
                assert snippets._best_window(page.text, terms, width, page.lang) == whole, (query, page.url, width)
            checked += 1
    assert checked > 200 and max(len(page.text) for page in world.store.by_ids(range(1, 50)).values()) > 20_000


def test_a_scan_of_part_of_a_page_finds_what_the_whole_scan_finds_there(world):
    """`scan_quick` over [begin, end) (the snippet's merged windows) keeps exactly the words of
    the whole page's scan that start there: a word that starts just before `end` and runs past
    it counts, one that starts at `end` does not."""
    from worldbuild.index.analysis import analyzer_name, quick_keys, scan_quick

    page = max(world.store.by_ids(range(1, 50)).values(), key=lambda page: len(page.text))
    low, analyzer = page.text.lower(), analyzer_name(page.lang)
    words = page.text.split()
    checked = 0
    for i in range(0, min(len(words), 400), 40):
        terms = world.index.terms(" ".join(words[i:i + 3]))
        keys = quick_keys(tuple(terms.wanted))
        if not keys:
            continue
        whole = scan_quick(page.text, low, keys, terms.wanted, analyzer)
        for start, _ in sorted(whole)[:6]:
            for begin, end in ((start, start + 1), (start + 1, start + 400), (max(0, start - 50), start)):
                part = scan_quick(page.text, low, keys, terms.wanted, analyzer, begin, end)
                assert part == {(s, t) for s, t in whole if begin <= s < end}, (terms.wanted, begin, end)
                checked += 1
    assert checked > 30


def test_a_batch_answers_as_one_query_at_a_time(world):
    """search_many (one bm25s call, split over threads when large) ranks and snips exactly as
    search does per query; repeated queries, a query of stopwords only and a mask included."""
    queries = ["root zone database", "common crawl blog", "the of and", "Kindersitze Test", "time zones"] * 60
    fast = BM25Index(world.index.path, backend="numba", batch_threads=2)
    fast.warmup()
    batch = [fast.terms(query) for query in queries]
    assert fast.search_many(batch, 5) == [fast.search(terms, 5) for terms in batch]
    mask = ["https://www.iana.org/domains/root/db"]
    many = world.search_many(queries[:5], k=4, mask=mask, snippet_chars=300)
    assert many == [world.search(query, k=4, mask=mask, snippet_chars=300) for query in queries[:5]]
    assert many[2] == [] and many[0] and "https://www.iana.org/domains/root/db" not in [h.url for h in many[0]]
    paged = world.search_many(["root zone database"], k=2, offset=2)[0]
    assert [h.url for h in paged] == [h.url for h in world.search("root zone database", k=4)][2:]


def test_a_query_remembered_word_by_word_is_the_query_analysed_whole(world, monkeypatch):
    """`terms` remembers each query word's variants, weight and token ids; a query asked again,
    or built of words other queries brought, is the query analysed and weighed as a whole."""
    from worldbuild.index import analysis
    from worldbuild.index.bm25 import group_weights

    index = world.index

    def whole(query):
        groups = analysis.analyse_query(query, index.analyzers)
        weights, scale = group_weights(groups, index.document_frequency, index.size)
        token_ids = index.token_ids(dict.fromkeys(term for group in groups for term in group.variants))
        return groups, weights, scale, token_ids

    queries = ["Root zone DATABASE root", "crawler crawling crawled", "the of and", "Kindersitze im Test",
               "東京 大学", "zone crawler Test database", "naïve Café café", "root"]
    for query in queries + queries[::-1]:
        terms = index.terms(query)
        assert (terms.groups, terms.weights, terms.scale, terms.token_ids) == whole(query)
    remembered = [index.terms(query) for query in queries]
    monkeypatch.setattr(analysis, "TERM_MEMO_LIMIT", -1)  # every memo forgotten at each use
    monkeypatch.setattr("worldbuild.index.bm25.WORD_MEMO_LIMIT", -1)
    assert [index.terms(query) for query in queries] == remembered
    assert index.terms("Root zone DATABASE root").token_ids and index.terms("the of and").token_ids == []


def test_what_searches_remember_leaves_the_collector_nothing_to_scan(world):
    """A server remembers every query word it analysed, and every page word its snippets read.
    Those memos hold strings and tuples of them only, which a collection stops tracking, so a
    full collection's pause does not grow with the queries served (sets there made 25-28 ms
    pauses in a server's worker after 60,000 queries)."""
    import gc

    from worldbuild.index import analysis

    queries = ["Root zone DATABASE root", "crawler crawling crawled", "Kindersitze im Test", "time zones",
               "naïve Café café", "common crawl blog"]
    assert all(world.search_many(queries, k=5))
    gc.unfreeze()  # (a server started earlier in this process froze what existed then: never examined)
    for _ in range(3):  # a tuple is let go once what it holds is (one level of nesting a collection)
        gc.collect()
    held = [(memo.term, memo.surfaces) for memo in analysis._memos.values()]
    held += [analysis._quick_keys, *analysis._query_words.values(), world.index._words.known]
    entries = [entry for memo in held for pair in (memo if isinstance(memo, tuple) else (memo,))
               for entry in pair.items()]
    assert len(entries) > 100
    assert [entry for entry in entries if gc.is_tracked(entry[0]) or gc.is_tracked(entry[1])] == []

def test_an_index_analysed_by_workers_is_the_same_index(sample_world, tmp_path):
    """The analysis of an index build shared by two worker processes, in waves of pages, gives
    the index one process makes: the same files, byte for byte."""
    import os

    from worldbuild.executor import LocalExecutor
    from worldbuild.index import bm25

    with World.open(sample_world[0]) as world:
        pages = list(world.store.index_pages())
    assert len(pages) > 2 * bm25.ANALYSE_PAGES  # more than one task per wave
    alone = bm25.build_index(iter(pages), str(tmp_path / "alone"))
    shared = bm25.build_index(iter(pages), str(tmp_path / "shared"), LocalExecutor(2))
    assert alone == shared
    names = sorted(os.listdir(tmp_path / "alone"))
    assert names == sorted(os.listdir(tmp_path / "shared")) and "doc_lengths.npy" in names
    for name in names:
        assert (tmp_path / "alone" / name).read_bytes() == (tmp_path / "shared" / name).read_bytes(), name
    groups = bm25.analysed(iter(pages), LocalExecutor(2))
    assert [page[0] for group in groups for page in group.pages] == [d for d, _, _ in pages]


def test_an_index_analysed_in_small_tasks_a_few_at_a_time(sample_world, tmp_path, monkeypatch):
    """Many small tasks through one pool, a few out at a time (results come back out of order):
    the pages come back in their order and the index is the one a single process builds; a task
    that fails ends the build with its error instead of leaving it waiting."""
    from worldbuild.executor import LocalExecutor
    from worldbuild.index import bm25
    from worldbuild.index.analysis import analyzer_name, index_term_counts

    monkeypatch.setattr(bm25, "ANALYSE_PAGES", 3)
    monkeypatch.setattr(bm25, "ANALYSE_WINDOW", 2)
    with World.open(sample_world[0]) as world:
        pages = list(world.store.index_pages())
    groups = list(bm25.analysed(iter(pages), LocalExecutor(2)))
    assert [page[0] for group in groups for page in group.pages] == [d for d, _, _ in pages]
    texts = {doc_id: (text, lang) for doc_id, text, lang in pages}
    for group in groups:  # each page's own term counts, through the group's numbering
        for doc_id, analyzer, local, counts in group.pages:
            text, lang = texts[doc_id]
            assert analyzer == analyzer_name(lang)
            assert dict(zip([group.terms[i] for i in local], counts.tolist())) == index_term_counts(text, analyzer)
    alone = bm25.build_index(iter(pages), str(tmp_path / "alone"))
    assert bm25.build_index(iter(pages), str(tmp_path / "shared"), LocalExecutor(2)) == alone
    for name in ("doc_ids.npy", "doc_lengths.npy", "vocab.index.json"):
        assert (tmp_path / "alone" / name).read_bytes() == (tmp_path / "shared" / name).read_bytes(), name
    broken = [*pages[:40], (pages[40][0], None, "en"), *pages[41:]]  # no text: its task raises
    with pytest.raises(TypeError):
        list(bm25.analysed(iter(broken), LocalExecutor(2)))


@pytest.mark.parametrize("markdown", [
    "plain words\nover two lines", "a *word* in emphasis", "a [link](https://x.example) here",
    "para\n\n---\n\nafter a rule", "Title\n===\nbody", "- one\n- two", "1. first\n2) second",
    "# a heading", "> quoted", "a | b\n--|--\nc | d", "x &amp; y", "a <b>tag</b>", "nul\x00here",
    "    indented code", "under_score", "~~struck~~", "a \\* escape", "`code`", "words\n  * a list after",
    "words\n2. a list after", "- a list first", "words\n\n===", "words\r- a list after",
])
def test_snippet_text_reads_markup_as_pulldown_cmark_does(markdown):
    from worldbuild.index.plaintext import one_line, rendered_line

    assert one_line(markdown) == rendered_line(markdown)


def test_fragments_without_markup_are_their_own_words(world):
    """A fragment that holds no markup skips the Markdown renderer: on fragments of the sample
    world's real pages, cut where snippets cut them, both give the same words."""
    from worldbuild.index.plaintext import has_markup, one_line, rendered_line

    fragments = [text[start:start + size] for _, text in world.store.index_texts()
                 for start in range(0, len(text), 700) for size in (240, 900)]
    plain = [fragment for fragment in fragments if not has_markup(fragment)]
    assert len(plain) > 200 and len(plain) < len(fragments)
    assert [one_line(fragment) for fragment in fragments] == [rendered_line(fragment) for fragment in fragments]


@pytest.mark.parametrize("text", [
    "", " ", "\n\n", "one", "  two  words  ", "line\nand\n\nparagraph\n", "tab\there", "no\u00a0break space",
    "em\u2003space and\u3000ideographic", "line\u2028separator", "cr\r\nlf", "\x1cfile sep\x1f", "next\x85line",
    "zero\u200bwidth stays", "Ünïcödé  wörds\n  over   lines", "中文 字\n\n日本語", "trailing \n \n ",
])
def test_whitespace_is_squeezed_as_split_and_join_squeeze_it(text):
    """`squeeze` gives `" ".join(text.split())` for every kind of whitespace `split` knows."""
    from worldbuild.whitespace import squeeze

    assert squeeze(text) == " ".join(text.split())


def test_squeezed_fragments_of_real_pages_are_their_split_words(world):
    """On fragments of the sample world's real pages, cut where snippets cut them, the two agree."""
    from worldbuild.whitespace import squeeze

    fragments = [text[start:start + 900] for _, text in world.store.index_texts() for start in range(0, len(text), 300)]
    assert len(fragments) > 200
    assert [squeeze(fragment) for fragment in fragments] == [" ".join(fragment.split()) for fragment in fragments]
