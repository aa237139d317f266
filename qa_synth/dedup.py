"""Dedup and decontamination of tasks by word n-grams of the normalised question.

- near-duplicates: two questions whose word-trigram sets have Jaccard ≥ `threshold`; the first
  one kept wins. Candidates come from an inverted index of trigrams, so only questions that
  share a trigram are compared.
- contamination: a task shares a word 8-gram with a question of a user-supplied benchmark
  (JSONL: GAIA, xbench, ...), or has a benchmark's answer and a question about the same things
  (Jaccard ≥ 0.5 over words longer than three letters). Short questions count whole when
  shorter than 8 words.
"""

from __future__ import annotations

import json
from collections import defaultdict

from qa_synth.reach import normalise

QUESTION_FIELDS = ("question", "Question", "prompt", "query", "problem")
ANSWER_FIELDS = ("answer", "Final answer", "final_answer", "Answer", "gold", "label")


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalise(text).split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def content_words(text: str) -> set[str]:
    return {word for word in normalise(text).split() if len(word) > 3}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class NearDuplicates:
    def __init__(self, threshold: float = 0.7):
        self.threshold = threshold
        self.kept: list[set] = []
        self.index: dict[tuple, list[int]] = defaultdict(list)

    def seen(self, question: str) -> bool:
        """True if a kept question is a near-duplicate; otherwise keep this one."""
        grams = ngrams(question, 3)
        candidates = {i for gram in grams for i in self.index.get(gram, ())}
        if any(jaccard(grams, self.kept[i]) >= self.threshold for i in candidates):
            return True
        for gram in grams:
            self.index[gram].append(len(self.kept))
        self.kept.append(grams)
        return False


def _field(row: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        if isinstance(row.get(name), str) and row[name].strip():
            return row[name]
    return None


class Benchmarks:
    """Questions and answers of benchmark files, for decontamination."""

    def __init__(self, paths: list[str]):
        self.eight: set[tuple] = set()
        self.by_answer: dict[str, list[set]] = defaultdict(list)
        self.loaded = 0
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    question = _field(row, QUESTION_FIELDS)
                    if question is None:
                        continue
                    self.loaded += 1
                    self.eight |= ngrams(question, 8)
                    answer = _field(row, ANSWER_FIELDS)
                    if answer:
                        self.by_answer[normalise(answer)].append(content_words(question))

    def contaminated(self, question: str, answer: str) -> bool:
        if ngrams(question, 8) & self.eight:
            return True
        words = content_words(question)
        return any(jaccard(words, other) >= 0.5 for other in self.by_answer.get(normalise(answer), ()))
