"""Near-duplicate ("mirror") detection: MinHash signatures of a page's word shingles, and LSH
band keys to find candidate mirrors without comparing every pair.

A signature is computed once per page, in the map step's workers; the merge looks each new
page's band keys up in the store (old pages included, so an extension clusters new pages
against the world it extends) and joins it to the cluster of every candidate whose estimated
Jaccard similarity reaches the threshold. Clusters are the connected components of that
relation, so they do not depend on the order pages arrive in. The defaults were chosen by
measurement on real pages (bench/mirrors.py, docs/masking.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import zlib
from dataclasses import asdict, dataclass

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

_WORD = re.compile(r"\w+", re.UNICODE)
SCHEME = "affine32"  # datasketch's permutation scheme, pinned so signatures stay comparable


SHINGLE_HASHES = ("words", "sha1")  # how a shingle becomes the 32-bit value MinHash permutes


class UnknownShingleHash(ValueError):
    """A world names a shingle hash this version does not have (made by a newer one)."""


@dataclass(frozen=True)
class MirrorSettings:
    """What decides which pages are mirrors; recorded in the manifest and fixed for a world's life."""

    shingle_words: int = 5
    num_perm: int = 128
    threshold: float = 0.4
    seed: int = 1
    shingle_hash: str = "words"

    def __post_init__(self):
        if self.shingle_hash not in SHINGLE_HASHES:
            raise UnknownShingleHash(f"the world's mirror signatures hash shingles by {self.shingle_hash!r}, which "
                                     f"this version does not have (it has: {', '.join(SHINGLE_HASHES)})")

    def to_dict(self) -> dict:
        return {**asdict(self), "scheme": SCHEME, "library": "datasketch"}

    @classmethod
    def of_manifest(cls, manifest: dict | None) -> "MirrorSettings":
        """The settings a world was built with; the defaults for a new world (or one built before
        mirror clusters existed). A world recorded without a shingle hash hashed each shingle's
        text with SHA-1 (datasketch's default), and keeps doing so."""
        recorded = (manifest or {}).get("mirrors", {}).get("settings")
        if not recorded:
            return cls()
        return cls(**{k: recorded[k] for k in ("shingle_words", "num_perm", "threshold", "seed")},
                   shingle_hash=recorded.get("shingle_hash", "sha1"))

    def fingerprint(self) -> str:
        return hashlib.blake2b(json.dumps(self.to_dict(), sort_keys=True).encode(), digest_size=4).hexdigest()


def shingles(text: str, size: int) -> list[bytes]:
    """Word `size`-grams of the case-folded text (punctuation and spacing ignored); a text
    shorter than one shingle is a single shingle."""
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return [" ".join(words).encode()]
    return [" ".join(words[i:i + size]).encode() for i in range(len(words) - size + 1)]


@functools.lru_cache(maxsize=8)
def _position_weights(size: int) -> np.ndarray:
    """One fixed odd 64-bit multiplier per position in a shingle (so word order counts)."""
    return np.random.RandomState(20241128).randint(0, 1 << 62, size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def shingle_values(text: str, size: int) -> np.ndarray:
    """The 32-bit values of the word `size`-grams of `shingles(text, size)`, made without building
    or hashing each shingle's text: each distinct word is hashed once (CRC-32), a shingle is the
    weighted sum of its words' hashes (mod 2^64, one odd weight per position) folded to 32 bits.
    Shingles that differ in one word never collide before the fold; any two different shingles
    collide after it with a chance of about 2^-32. A repeated shingle repeats its value (MinHash
    takes minima, so no set is needed)."""
    words = _WORD.findall(text.lower())
    distinct = dict.fromkeys(words)
    index = dict(zip(distinct, range(len(distinct))))
    positions = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
    hashes = np.fromiter(map(zlib.crc32, map(str.encode, distinct)), np.uint64, len(distinct))
    weights = _position_weights(size)
    count = max(1, len(words) - size + 1)
    summed = np.zeros(count, dtype=np.uint64)
    for offset in range(min(size, len(words))):  # arrays wrap around on overflow: the sum is mod 2^64
        summed += hashes[positions[offset:offset + count]] * weights[offset]
    return (summed ^ (summed >> np.uint64(32))).astype(np.uint32)


@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int):
    return MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations


def signature(text: str, settings: MirrorSettings) -> bytes:
    """The page's MinHash signature as bytes (num_perm little-endian uint32)."""
    permutations = _permutations(settings.num_perm, settings.seed)
    if settings.shingle_hash == "sha1":  # datasketch hashes each shingle's text
        minhash = MinHash(num_perm=settings.num_perm, seed=settings.seed, scheme=SCHEME, permutations=permutations)
        minhash.update_batch(set(shingles(text, settings.shingle_words)))
    else:  # the values are hashes already
        minhash = MinHash(num_perm=settings.num_perm, seed=settings.seed, scheme=SCHEME, permutations=permutations,
                          hashfunc=int)
        minhash.update_batch(shingle_values(text, settings.shingle_words).tolist())
    return minhash.hashvalues.astype("<u4").tobytes()


def _lean(blob: bytes, settings: MirrorSettings) -> LeanMinHash:
    return LeanMinHash(seed=settings.seed, hashvalues=np.frombuffer(blob, dtype="<u4"), scheme=SCHEME)


def similarity(a: bytes, b: bytes, settings: MirrorSettings) -> float:
    """Estimated Jaccard similarity of two pages' shingle sets."""
    return _lean(a, settings).jaccard(_lean(b, settings))


@functools.lru_cache(maxsize=8)
def bands(threshold: float, num_perm: int) -> tuple[tuple[int, int], ...]:
    """The (start, end) signature ranges of the LSH bands datasketch picks for this threshold
    (minimising false positives plus false negatives)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return tuple(lsh.hashranges)


def band_keys(blob: bytes, settings: MirrorSettings) -> list[int]:
    """One 64-bit key per band: pages that agree on a whole band share its key (candidates)."""
    keys = []
    for number, (start, end) in enumerate(bands(settings.threshold, settings.num_perm)):
        digest = hashlib.blake2b(blob[start * 4:end * 4], digest_size=8, person=b"band%04d" % number).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys
