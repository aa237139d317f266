"""A page's language, by the identifier a world is built with.

Part of a world's settings, so of its snapshot id: the same pages identified another way are
another world. Three are offered (measured in docs/benchmarks.md, `bench/language_id.py`):

- `cld2` (the default): Chromium's Compact Language Detector 2 (pycld2, C++): py3langid's
  accuracy on real pages at a tenth of its cost (0.1 against 1 ms a page, 0.4 against 3.6 ms
  inside a whole map step).
- `py3langid`: langid.py's model, pure Python.
- `resiliparse`: resiliparse's linear-time guess (`detect_fast`), the fastest, the least accurate
  (it names some Japanese pages Chinese or Swedish).

One identifier serves HTML pages and corpus records without a language. A world built before
there was a choice (recorded without one) keeps identifying as it did: HTML pages by their
extractor's own choice (`resiliparse` for `resiliparse/text`, else `py3langid`), corpus records
by `py3langid`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

from worldbuild.records import LANGUAGE_IDS

SAMPLE_CHARS = 3000  # every identifier reads a page's opening: enough for its language, bounded cost
UNKNOWN = "und"


class UnknownLanguageId(ValueError):
    """A world names a language identifier this version does not have, or that is not installed."""


def _py3langid(text: str) -> str:
    import py3langid  # loads its model on first use; keep import cost off `worldbuild --help`

    return py3langid.classify(text)[0]


# CLD2's legacy or private codes, as the ISO 639-1 codes the other identifiers give
_CLD2_CODES = {"un": UNKNOWN, "xx": UNKNOWN, "iw": "he", "jw": "jv", "in": "id"}
# characters CLD2 refuses as not interchange-valid UTF-8: C0/C1 controls, surrogates, noncharacters
_CLD2_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def _cld2(text: str) -> str:
    import pycld2

    try:
        code = pycld2.detect(text)[2][0][1]
    except (pycld2.error, UnicodeEncodeError):  # controls, surrogates: identify the text without them
        code = pycld2.detect(_CLD2_INVALID.sub(" ", text))[2][0][1]
    code = code.split("-")[0]  # zh-Hant: zh, as the others say
    return _CLD2_CODES.get(code, code)


def _resiliparse(text: str) -> str:
    from resiliparse.parse.lang import detect_fast

    lang, _rank = detect_fast(unicodedata.normalize("NFC", text))
    return UNKNOWN if lang == "unknown" else lang


_IDENTIFIERS: dict[str, Callable[[str], str]] = {"py3langid": _py3langid, "cld2": _cld2, "resiliparse": _resiliparse}
assert tuple(_IDENTIFIERS) == LANGUAGE_IDS, "every identifier named in records.LANGUAGE_IDS has a function"
_NEEDS = {"cld2": ("pycld2", "pycld2"), "resiliparse": ("resiliparse", "worldbuild[fast]")}


def identify(text: str, identifier: str) -> str:
    """The language of `text` (an ISO 639-1 code, or "und") by `identifier`, from its opening."""
    return _IDENTIFIERS[identifier](text[:SAMPLE_CHARS])


def check_identifier(name: str) -> None:
    """Raise UnknownLanguageId (one line) unless `name` can run here."""
    if name not in _IDENTIFIERS:
        raise UnknownLanguageId(f"unknown language identifier {name!r} (this version has: {', '.join(LANGUAGE_IDS)})")
    if name in _NEEDS:
        module, extra = _NEEDS[name]
        try:
            __import__(module)
        except ImportError:
            raise UnknownLanguageId(f"language identifier {name} needs {module}: pip install '{extra}'") from None


def warm_up(identifier: str) -> None:
    """Load the identifier's model in this process, so that forked workers start with it."""
    identify("warm up the language identifier", identifier)
