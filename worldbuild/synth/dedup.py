"""Dedup and decontamination of tasks by word n-grams of the normalised question, in time
linear in the number of questions: MinHash LSH (datasketch) proposes candidates, and each
candidate is checked exactly, so a decision is never a sketch's guess.

- near-duplicates: two questions whose word-trigram sets have Jaccard ≥ `threshold`; the first
  one kept wins. The LSH bands are set for a lower threshold than the decision
  (`CANDIDATE_MARGIN`), so pairs just above it are still proposed (recall measured in
  bench/dedup.py).
- contamination: a task shares a word 8-gram with a question of a user-supplied benchmark
  (JSONL: GAIA, xbench, ...), or has a benchmark's answer and a question about the same things
  (Jaccard ≥ 0.5 over words longer than three letters; candidates from a MinHash LSH of the
  benchmark questions). Short questions count whole when shorter than 8 words.
"""

from __future__ import annotations

import json

from datasketch import MinHash, MinHashLSH

from worldbuild.synth.reach import normalise

QUESTION_FIELDS = ("question", "Question", "prompt", "query", "problem")
ANSWER_FIELDS = ("answer", "Final answer", "final_answer", "Answer", "gold", "label")
NUM_PERM = 128
CANDIDATE_MARGIN = 0.2  # LSH threshold = decision threshold - margin: recall over precision
SAME_ANSWER_JACCARD = 0.5


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalise(text).split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def content_words(text: str) -> set[str]:
    return {word for word in normalise(text).split() if len(word) > 3}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class _Sketches:
    """MinHashes of shingle sets. One MinHash is reused (clear, update): the LSH keeps only its
    band hashes, and making a MinHash costs more than filling one."""

    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1):
        self.sketch = MinHash(num_perm=num_perm, seed=seed)

    def of(self, shingles: set) -> MinHash:
        self.sketch.clear()
        self.sketch.update_batch([" ".join(s).encode() if isinstance(s, tuple) else s.encode() for s in shingles])
        return self.sketch


def _lsh(threshold: float, num_perm: int) -> MinHashLSH:
    return MinHashLSH(threshold=max(0.05, threshold), num_perm=num_perm)


class NearDuplicates:
    def __init__(self, threshold: float = 0.7, num_perm: int = NUM_PERM):
        self.threshold = threshold
        self.sketches = _Sketches(num_perm)
        self.lsh = _lsh(threshold - CANDIDATE_MARGIN, num_perm)
        self.kept: list[set] = []
        self.compared = 0  # exact Jaccard checks made (the LSH's candidates)

    def seen(self, question: str) -> bool:
        """True if a kept question is a near-duplicate; otherwise keep this one."""
        grams = ngrams(question, 3)
        if not grams:
            return False
        sketch = self.sketches.of(grams)
        for key in self.lsh.query(sketch):
            self.compared += 1
            if jaccard(grams, self.kept[key]) >= self.threshold:
                return True
        self.lsh.insert(len(self.kept), sketch, check_duplication=False)
        self.kept.append(grams)
        return False


def _field(row: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        if isinstance(row.get(name), str) and row[name].strip():
            return row[name]
    return None


class Benchmarks:
    """Questions and answers of benchmark files, for decontamination."""

    def __init__(self, paths: list[str], num_perm: int = NUM_PERM):
        self.eight: set[tuple] = set()
        self.sketches = _Sketches(num_perm)
        self.lsh = _lsh(SAME_ANSWER_JACCARD - CANDIDATE_MARGIN, num_perm)
        self.questions: list[tuple[str, set[str]]] = []  # (normalised answer, content words)
        self.answers: set[str] = set()
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
                    answer, words = _field(row, ANSWER_FIELDS), content_words(question)
                    if answer and words:
                        self.lsh.insert(len(self.questions), self.sketches.of(words), check_duplication=False)
                        self.questions.append((normalise(answer), words))
                        self.answers.add(normalise(answer))

    def contaminated(self, question: str, answer: str) -> bool:
        if ngrams(question, 8) & self.eight:
            return True
        label = normalise(answer)
        words = content_words(question)
        if not words or label not in self.answers:  # no benchmark question has this answer
            return False
        for key in self.lsh.query(self.sketches.of(words)):
            other_answer, other_words = self.questions[key]
            if other_answer == label and jaccard(words, other_words) >= SAME_ANSWER_JACCARD:
                return True
        return False
