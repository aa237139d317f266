"""Small corpora in the exact shapes their publishers ship, written for the tests (no hub).

- LiteResearcher corpus: JSONL (zstd) of {"url", "title", "doc"}.
- BrowseComp-Plus corpus (Tevatron/browsecomp-plus-corpus): {"docid", "text", "url"}, as Parquet
  or a `datasets` folder; its queries file (the decrypted JSONL): {"query_id", "query", "answer",
  "evidence_docs", "gold_docs", "negative_docs"}, docs as {"docid", "text", "url"}; qrels in TREC
  form (`qid 0 docid rel`).
- Search-R1 wiki-18: JSONL of {"id", "contents"} with contents = '"Title"\\ntext'.
- FineWeb: Parquet with text, id, dump, url, date, file_path, language, language_score, token_count.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

TOPICS = [
    ("Valdora harbour", "lighthouse keepers", "The harbour of Valdora was rebuilt in 1874 after the storm."),
    ("Mirren glass works", "glassblowers", "The Mirren works made green bottle glass from local sand."),
    ("Osgrove railway", "signal boxes", "The Osgrove line opened in 1902 with eleven signal boxes."),
    ("Tallis observatory", "comet survey", "Astronomers at Tallis catalogued a comet survey of 1931."),
    ("Brennock mill", "water wheel", "Brennock mill turned a water wheel of forty feet until 1955."),
    ("Quarry of Selby Fen", "limestone blocks", "Limestone blocks from Selby Fen built the town hall."),
]


def prose(index: int, repeat: int = 6) -> tuple[str, str]:
    """(title, text) of document `index`: a few paragraphs about one topic, distinct per index."""
    name, subject, fact = TOPICS[index % len(TOPICS)]
    title = f"{name} record {index}"
    paragraph = (f"{fact} Record {index} describes the {subject} of {name} and the people who kept it. "
                 f"The archive number of this account is A-{index:04d}.")
    return title, "\n\n".join([paragraph] * repeat)


def write_literesearcher(path: str, count: int) -> list[dict]:
    """Documents long enough for the default --min-chars (1000)."""
    import zstandard

    rows = []
    for i in range(count):
        title, text = prose(i, repeat=8)
        rows.append({"url": f"https://lite.example.org/pages/{i}", "title": title, "doc": text})
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    with open(path, "wb") as handle:
        handle.write(zstandard.ZstdCompressor().compress(data))
    return rows


def browsecomp_plus_docs(count: int, start: int = 0) -> list[dict]:
    docs = []
    for i in range(start, start + count):
        title, text = prose(i)
        docs.append({"docid": str(10000 + i), "text": f"---\ntitle: {title}\n---\n\n{text}",
                     "url": f"https://bcp.example.com/doc/{i}"})
    return docs


def write_browsecomp_plus_parquet(path: str, docs: list[dict], row_group_size: int = 4) -> None:
    table = pa.table({"docid": [d["docid"] for d in docs], "text": [d["text"] for d in docs],
                      "url": [d["url"] for d in docs]})
    pq.write_table(table, path, row_group_size=row_group_size)


def write_browsecomp_plus_hf(folder: str, docs: list[dict]) -> None:
    import datasets

    datasets.Dataset.from_list(docs).save_to_disk(folder)


def write_browsecomp_plus_queries(path: str, queries: list[dict]) -> None:
    """Each query: {query_id, query, answer, evidence (docs), gold (docs), negative (docs)}."""
    def docs(items):
        return [{"docid": d["docid"], "text": d["text"], "url": d["url"]} for d in items]

    with open(path, "w") as handle:
        for q in queries:
            handle.write(json.dumps({"query_id": q["query_id"], "query": q["query"], "answer": q["answer"],
                                     "evidence_docs": docs(q["evidence"]), "gold_docs": docs(q["gold"]),
                                     "negative_docs": docs(q.get("negative", []))}) + "\n")


def write_qrels(path: str, judgments: dict[str, dict[str, int]]) -> None:
    with open(path, "w") as handle:
        for qid, docs in judgments.items():
            for docid, rel in docs.items():
                handle.write(f"{qid} 0 {docid} {rel}\n")


def write_wiki18(path: str, count: int, extra_lines: tuple[str, ...] = ()) -> list[dict]:
    rows = []
    for i in range(count):
        title, text = prose(i, repeat=2)
        rows.append({"id": str(i), "contents": f'"{title}"\n{text}'})
    with open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        for line in extra_lines:
            handle.write(line + "\n")
    return rows


def write_fineweb(path: str, count: int) -> list[dict]:
    rows = []
    for i in range(count):
        _, text = prose(i)
        rows.append({"text": text, "id": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>", "dump": "CC-MAIN-2024-10",
                     "url": f"http://www.fineweb.example.net/a/{i}?utm_source=feed", "date": "2024-02-21T10:11:12Z",
                     "file_path": "s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/x.warc.gz",
                     "language": "en", "language_score": 0.93, "token_count": len(text.split())})
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)
    return rows
