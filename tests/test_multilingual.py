"""Search in every language, on real pages (`../shared/data`): Chinese, Japanese and Korean words
inside a run of text, Russian and German inflections, the Turkish dotted İ; snippets and goal
passages that match whole words and show clean text."""

import gzip
import json
import os
import re

import pytest

from tests.conftest import SHARED, needs_shared
from worldbuild.executor import LocalExecutor
from worldbuild.index import analysis
from worldbuild.index.analysis import QueryGroup, analyse_queries, analyse_query, terms
from worldbuild.index.bm25 import QueryTerms
from worldbuild.index.snippets import matches, snippet
from worldbuild.ingest.pipeline import ingest
from worldbuild.ingest.wrap import write_html_warc
from worldbuild.records import IngestSettings
from worldbuild.world import World

INTL = ["encbench-wikipedia-mars-zh_cn.html", "encbench-wikipedia-mars-ja.html", "encbench-wikipedia-mars-ko.html",
        "encbench-wikipedia-mars-ru.html", "fundus-cn-People_2024_04_24-c1001-40223222.html.gz",
        "fundus-jp-AsahiShimbun_2025_01_13-AST1F4445T1FUTIL02SM.html.gz",
        "fundus-kr-MBN_2025_05_27-11328184.html.gz", "fundus-ru-Kommersant_2025_05_14-7715044.html.gz"]
LATIN = ["en.wikipedia.org.tsne.html", "bostonherald.com-Brothel-catering.html", "kaieteurnewsonline.com-essequibo.html",
         "d76cf81a74fa4633bd19d7060f5c05ee.html", "finanzmarktwelt.de-Benko-Firma.html"]
MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?>|\\[\[\]()*_#`\\.!-]|\]\(|</?sup\b|\\ ")


def _pages(folder: str, names: list[str]) -> list[tuple[str, bytes]]:
    rows = {row["file"]: row for row in map(json.loads, open(os.path.join(folder, "pages.jsonl")))}
    found = []
    for name in names:
        body = open(os.path.join(folder, name), "rb").read()
        found.append((rows[name]["url"], gzip.decompress(body) if name.endswith(".gz") else body))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not os.path.isdir(os.path.join(SHARED, "html-intl")):
        pytest.skip("../shared/data/html-intl is not beside the repo")
    folder = tmp_path_factory.mktemp("multilingual")
    pages = _pages(os.path.join(SHARED, "html-intl"), INTL) + _pages(os.path.join(SHARED, "html"), LATIN)
    write_html_warc(str(folder / "pages.warc.gz"), pages, "2024-01-01T00:00:00Z")
    ingest([str(folder / "pages.warc.gz")], str(folder / "world"), IngestSettings(), LocalExecutor(1))
    with World.open(str(folder / "world")) as opened:
        yield opened


def _by_lang(world: World, lang: str):
    rows = world.store.db.execute("SELECT doc_id, url, text FROM pages WHERE lang=? ORDER BY doc_id", (lang,))
    return rows.fetchall()


@needs_shared
@pytest.mark.parametrize("lang", ["zh", "ja", "ko"])
def test_a_cjk_word_inside_a_run_finds_its_page(world, lang):
    """Two to four characters from the middle of a sentence (no punctuation around them) find
    the page: the old tokenizer matched only whole runs between punctuation."""
    pages = _by_lang(world, lang)
    assert pages, f"no {lang} page in the test world"
    # Korean puts spaces between words: a piece from inside a long word; else from inside a run
    shortest, start, sizes = (5, 1, (2, 3)) if lang == "ko" else (12, 5, (4, 6))
    cjk = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]{%d,}" % shortest)
    for doc_id, url, text in pages:
        runs = [run for run in cjk.findall(text) if text.count(run) == 1]
        run = runs[len(runs) // 2]
        for size in sizes:
            piece = run[start:start + size]
            hits = [hit.doc_id for hit in world.search(piece, k=10)]
            assert doc_id in hits, (url, piece)
            first = world.search(piece, k=1)[0]
            assert first.doc_id != doc_id or any(ch in first.snippet for ch in piece), first.snippet


@needs_shared
def test_russian_and_german_inflections_find_the_page(world):
    """A word in another grammatical form than on the page is found through the language's stemmer."""
    mars = world.search("марсе", k=3)  # the page says «Марс», «Марса» ...
    assert any("%D0%9C%D0%B0%D1%80%D1%81" in hit.url for hit in mars)
    assert "марс" in terms("Марсом", "ru") and terms("Марсом", "ru") == terms("Марса", "ru")
    hessen = [hit.url for hit in world.search("Buchmessen", k=3)]  # the page has «Buchmesse»
    assert any("hessenschau.de" in url for url in hessen), hessen


@needs_shared
def test_turkish_dotted_capital_i(world):
    """`İstanbul` (Turkish capital İ) finds the page that writes `Istanbul`."""
    for query in ("İstanbul", "istanbul", "ISTANBUL"):
        hits = world.search(query, k=3)
        assert hits and "hessenschau.de" in hits[0].url, query
        assert "Istanbul" in hits[0].snippet


def test_turkish_i_analysis():
    assert terms("İstanbul", "tr") == terms("istanbul", "tr")
    assert terms("İstanbul", "en") == terms("Istanbul", "en") == ["istanbul"]
    assert analyse_query("İSTANBUL", ["turkish", "english"])[0].variants[0].startswith("istanbul")


def test_query_is_analysed_by_every_analyser_the_index_used():
    groups = analyse_query("Häuser running 上海市", ["german", "english", "cjk"])
    by_text = {group.text: group.variants for group in groups}
    assert set(by_text["Häuser"]) == {"haus", "häuser"}
    assert set(by_text["running"]) == {"run", "running"}
    assert by_text["上海"] == ("上海",) and by_text["海市"] == ("海市",)
    assert analyse_query("the and of", ["english", "german", "plain", "cjk"]) == []  # English stopwords, everywhere


def test_words_match_whole_never_inside_another_word():
    terms_ai = QueryTerms(token_ids=[], groups=[QueryGroup("ai", ("ai",))], weights=[1.0])
    text = "She said the rain stopped. " * 30 + "Then AI took over the forecast. " + "Filler words. " * 30
    assert matches(text, terms_ai, "en") == [[text.index("AI")]]
    assert "AI took over" in snippet(text, terms_ai, lang="en")
    art = QueryTerms(token_ids=[], groups=[QueryGroup("art", ("art",))], weights=[1.0])
    assert matches("We start the party. Smart start.", art, "en") == [[]]


@needs_shared
def test_no_match_inside_words_on_real_pages(world):
    """`ai` is inside `said` on these real pages, never a word of its own: no goal passage for it."""
    for url in ("https://www.bostonherald.com/2023/11/08/brothel-catering-to-politicians-doctors-lawyers-busted-in-boston/",
                "https://www.kaieteurnewsonline.com/2022/05/06/essequibo-hunter-found-dead-with-gunshot-wounds/"):
        page = world.page(url)
        assert " said " in page.text
        assert world.browse(url, goal="ai").goal_passages == 0
        assert world.browse(url, goal="said").goal_passages > 0


@needs_shared
def test_snippets_and_goal_passages_are_clean_text(world):
    """Real pages whose stored Markdown holds tags (<sup>), escapes (\\[17\\]) and links: what
    search and browse show of them holds none of it."""
    rows = world.store.db.execute("SELECT url, title, text, lang FROM pages").fetchall()
    debris = [row for row in rows if MARKUP.search(row[2])]
    assert len(debris) >= 5  # the stored text does carry markup: the test can fail
    shown = 0
    for url, title, text, lang in debris:
        for match in list(MARKUP.finditer(text))[:6]:
            near = text[max(0, match.start() - 80):match.start()]
            words = [w for w in re.findall(r"\w{2,}", near)][-2:]
            if not words:
                continue
            query = " ".join(words)
            for hit in world.search(query, k=5):
                assert not MARKUP.search(hit.snippet), (query, hit.snippet)
                shown += 1
            browsed = world.browse(url, goal=query, max_chars=3000)
            lead = browsed.content.split("## Page text")[0]
            assert not MARKUP.search(lead), (query, lead)
    assert shown > 30


@needs_shared
def test_snippet_matching_finds_exactly_the_tokens_the_index_makes():
    """`find_terms` (what snippets and goal passages use, fast) agrees with `tokens` (what the
    index is built from) on real pages in many scripts, for terms drawn from those pages."""
    import random

    from worldbuild.index.analysis import analyzer_name, find_terms, tokens

    rng = random.Random(7)
    folders = [os.path.join(SHARED, "html-intl"), os.path.join(SHARED, "html")]
    names = sorted(os.path.join(f, n) for f in folders if os.path.isdir(f) for n in os.listdir(f) if n.endswith(".html"))
    checked = 0
    for path in rng.sample(names, min(40, len(names))):
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")  # raw HTML: markup, entities, every script
        for lang in ("en", "de", "ru", "zh", "ja", "xx"):
            analyzer = analyzer_name(lang)
            every = tokens(text, analyzer)
            if not every:
                continue
            wanted = {t.term for t in rng.sample(every, min(6, len(every)))} | {"zzzz", "ai"}
            assert find_terms(text, wanted, analyzer) == sorted((t.start, t.term) for t in every if t.term in wanted)
            checked += 1
    assert checked >= 40


@needs_shared
def test_an_index_counts_exactly_the_tokens_the_analysis_makes():
    """`index_term_counts` (what an index build uses: one C scan and a count) gives the terms of
    `tokens`, each as often, in the order they first occur, on real pages in many scripts."""
    from collections import Counter

    import random

    from worldbuild.index.analysis import analyzer_name, index_term_counts, tokens

    folders = [os.path.join(SHARED, "html-intl"), os.path.join(SHARED, "html")]
    names = sorted(os.path.join(f, n) for f in folders if os.path.isdir(f) for n in os.listdir(f) if n.endswith(".html"))
    checked = 0
    for path in random.Random(11).sample(names, min(30, len(names))):
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")  # raw HTML: markup, entities, every script
        for lang in ("en", "el", "ru", "zh", "xx"):
            every = [t.term for t in tokens(text, analyzer_name(lang))]
            counts = index_term_counts(text, analyzer_name(lang))
            assert counts == Counter(every) and list(counts) == list(dict.fromkeys(every))
            checked += 1
    assert checked >= 100


@pytest.mark.parametrize("query", ["Running RUNNING runs", "Häuser HÄUSER häuser haus", "Москва москвы",
                                   "İSTANBUL istanbul", "東京タワー tokyo Tower 東京", "naïve Café café"])
def test_a_query_word_stands_for_its_terms_in_every_language_the_index_used(query):
    """Each word of a query (an ASCII one, another script's, beside CJK runs or not) stands for
    the term a page in each of the index's languages makes of it, and for nothing else; a word
    spelt twice is one group, under its first spelling; the memo of words seen changes nothing."""
    languages = {"english": "en", "german": "de", "russian": "ru", "turkish": "tr", "cjk": "ja"}
    first = analyse_query(query, list(languages))
    for group in first:
        made = {term for lang in languages.values() for term in terms(group.text, lang)}
        assert set(group.variants) == made
    words = [group.text for group in first]
    assert len(words) == len({word.casefold() for word in words})
    assert analyse_query(query, list(languages)) == first  # (now from the memo)


def test_a_batch_of_queries_is_analysed_as_each_query_alone():
    """A server analyses the words new to it for a whole batch of queries at once: each query's
    groups are those it has alone in a fresh process (every word's terms as each language's pages
    make them), with words shared between queries, repeated, in every script, CJK runs and no
    words at all."""
    languages = {"french": "fr", "russian": "ru", "spanish": "es", "cjk": "zh", "plain": "xx"}
    queries = ["Les maisons anciennes", "casas antiguas maisons", "Москва москвы столица", "", "?! …",
               "北京大学 maisons", "les LES Les", "naïve café Café", "столица casas"]

    def fresh() -> None:  # what a new process knows: no word analysed yet
        analysis._query_words.clear()
        analysis._memos.clear()

    fresh()
    alone = [analyse_query(query, list(languages)) for query in queries]
    fresh()
    batch = analyse_queries(queries, list(languages))
    assert batch == alone
    for query, groups in zip(queries, batch):
        for group in groups:
            made = {term for lang in languages.values() for term in terms(group.text, lang)}
            assert set(group.variants) == made, (query, group)
    assert batch[3] == batch[4] == [] and len(batch[6]) == 1 and batch[0][1].text == "maisons"


@needs_shared
@pytest.mark.parametrize("lang", ["zh", "ja", "ko", "ru"])
def test_site_keeps_and_leaves_out_the_hosts_of_real_pages_in_other_scripts(world, lang):
    """`site:` on the real pages of other scripts: a word of a page found on its own host only, and
    gone when its host is left out (the hosts are Wikipedia's language subdomains and news sites)."""
    from worldbuild.urls import domain_of

    for doc_id, url, text in _by_lang(world, lang):
        host = domain_of(url)
        word = max(re.findall(r"\w{3,}", text[:3000]), key=text.count)  # a word the page uses often
        kept = world.search(f"{word} site:{host}", 10)
        assert kept and all(domain_of(h.url) == host or domain_of(h.url).endswith("." + host) for h in kept)
        assert doc_id in [h.doc_id for h in world.search(f"{word} site:{host}", 50)]
        assert doc_id not in [h.doc_id for h in world.search(f"{word} -site:{host}", 50)]
