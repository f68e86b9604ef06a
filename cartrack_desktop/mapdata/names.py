"""Street-name normalisation and search-query parsing; pure Python, no I/O.

The index and the query are normalised the same way (case, accents, punctuation, and every
abbreviation expanded to one canonical word), so "10th St NE", "10th street northeast" and
"10TH ST. N.E." all become "10th street northeast". Symmetry makes ambiguous abbreviations harmless:
"St" in "St Charles Ave" becomes "street charles avenue" on both sides.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .tags import MAX_NAME_CHARS, clean_text

# abbreviation -> canonical word (USPS street suffixes and directionals, plus common European ones)
ABBREVIATIONS: dict[str, str] = {
    "st": "street", "str": "street", "ave": "avenue", "av": "avenue", "avn": "avenue", "rd": "road",
    "blvd": "boulevard", "bd": "boulevard", "dr": "drive", "ln": "lane", "ct": "court", "pl": "place",
    "pkwy": "parkway", "pky": "parkway", "hwy": "highway", "fwy": "freeway", "expy": "expressway",
    "sq": "square", "ter": "terrace", "terr": "terrace", "cir": "circle", "trl": "trail", "tr": "trail",
    "cres": "crescent", "aly": "alley", "xing": "crossing", "brg": "bridge", "mt": "mount", "ft": "fort",
    "hts": "heights", "jct": "junction", "plz": "plaza", "pt": "point", "rte": "route", "tpke": "turnpike",
    "n": "north", "s": "south", "e": "east", "w": "west",
    "ne": "northeast", "nw": "northwest", "se": "southeast", "sw": "southwest",
}
_ORDINAL_WORDS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
    "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth",
    "twentieth",
)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


ORDINALS: dict[str, str] = {word: _ordinal(i + 1) for i, word in enumerate(_ORDINAL_WORDS)}
_TOKEN = re.compile(r"[0-9a-z]+")


def fold(text: str) -> str:
    """Lower case without accents ("Lönnrotinkatu" -> "lonnrotinkatu"); ß -> ss through casefold."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Canonical tokens of a name or query: folded, punctuation dropped, abbreviations expanded."""
    folded = fold(clean_text(text, 4 * MAX_NAME_CHARS)).replace("'", "").replace("’", "").replace(".", "")
    out: list[str] = []
    for raw in _TOKEN.findall(folded):
        tok = ABBREVIATIONS.get(raw, raw)
        out.append(ORDINALS.get(tok, tok))
    return out


def normalize(text: str) -> str:
    """The normalised form stored in the index and compared by the fuzzy scorer."""
    return " ".join(tokens(text))


# "A & B", "A and B", "A at B", "A @ B", "A / B", "A x B" (the last three as whole words)
_INTERSECTION_SPLIT = re.compile(r"\s*(?:&|@|/|\+|\band\b|\bat\b|\bx\b|\bcorner of\b)\s*", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,6}(?:\s?[a-zA-Z](?![a-zA-Z]))?(?:\s*[-/]\s*\d{1,6})?)[\s,]+(.+)$")
_TRAILING_NUMBER = re.compile(r"^(.+?)[\s,]+(\d{1,6}(?:\s?[a-zA-Z])?)\s*$")


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """What a search-box text might mean; the geocoder tries each reading present."""

    text: str                                  # the cleaned query
    intersection: tuple[str, str] | None       # two street parts
    housenumber: str | None                    # "1180", "12a"
    street: str | None                         # the street part next to the house number


def parse_query(raw: str) -> ParsedQuery:
    text = clean_text(raw, 200)
    parts = [p for p in _INTERSECTION_SPLIT.split(text) if p.strip()]
    intersection = (parts[0], parts[1]) if len(parts) == 2 and _INTERSECTION_SPLIT.search(text) else None
    number: str | None = None
    street: str | None = None
    if intersection is None:
        m = _LEADING_NUMBER.match(text)
        if m and not _is_ordinal_street(m.group(1), m.group(2)):
            number, street = m.group(1), m.group(2)
        else:
            t = _TRAILING_NUMBER.match(text)
            if t and not t.group(1).strip().isdigit():
                street, number = t.group(1), t.group(2)
    if number is not None:
        number = number.replace(" ", "").lower()
    return ParsedQuery(text=text, intersection=intersection, housenumber=number, street=street)


def _is_ordinal_street(number: str, rest: str) -> bool:
    """'10 th st' is not house number 10: the ordinal suffix was split off."""
    return rest.lower().split(" ", 1)[0] in ("st", "nd", "rd", "th") and number.isdigit()
