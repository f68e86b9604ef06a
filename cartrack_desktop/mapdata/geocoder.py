"""Search and reverse geocoding over search.sqlite (built by search_index.py).

Text search is SQLite FTS5 (prefix queries for as-you-type) with RapidFuzz for what FTS cannot do:
correcting a mistyped word against the index's own vocabulary, and ranking candidates by similarity.
Thread-safe: one read-only connection per thread (the UI calls it off the Qt thread, from any worker).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rapidfuzz import fuzz, process

from ..domain.geo import haversine_km
from . import interpolation
from .names import normalize, parse_query, tokens
from .search_index import INDEX_SCHEMA_VERSION, cells_around

log = logging.getLogger(__name__)

Kind = Literal["street", "intersection", "address", "place"]
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
CANDIDATES = 40                  # FTS rows ranked per reading of the query
TYPO_SCORE_CUTOFF = 75.0         # RapidFuzz ratio for a vocabulary word to stand in for a typed one
TYPO_ALTERNATIVES = 3
MIN_TYPO_TOKEN_CHARS = 3
NEAR_BONUS = 15.0                # score added for a result at the `near` point, halving every NEAR_HALF_KM
NEAR_HALF_KM = 3.0
IMPORTANCE_BONUS = 4.0           # at most, for a motorway; nothing for a footpath-class street
IMPORTANCE_RANKS = 15
REVERSE_MAX_DISTANCE_M = 300.0
MAX_REVERSE_DISTANCE_M = 5_000.0  # bounds the cells a reverse lookup reads
INTERSECTION_PREFERENCE_M = 25.0  # at a corner, say the corner even if a house number is a little nearer
# readings of the query rank above plain name matches: "12 Main St" is an address before it is a street
KIND_BONUS: dict[str, float] = {"address": 20.0, "intersection": 20.0, "street": 0.0, "place": 0.0}


class GeocoderError(RuntimeError):
    """The index is missing, unreadable or from another version."""


@dataclass(frozen=True, slots=True)
class GeocodeResult:
    kind: Kind
    label: str                   # "1180 Peachtree St NE", "10th St NE & Peachtree St NE", "Fire Station 3"
    lat: float
    lng: float
    approximate: bool            # interpolated house number: show it as approximate
    score: float                 # higher is better; comparable within one answer only
    distance_m: float | None = None   # from `near` (search) or from the asked point (reverse)
    detail: str = ""             # place kind ("police", "hospital"...) or the street of an address


class Geocoder:
    """Opens one search index read-only. search() and reverse() may be called from any thread."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise GeocoderError(f"no search index at {path}")
        self.path = path
        self._resolved = path.resolve()     # one version, even if `current` is swapped meanwhile
        self._local = threading.local()
        db = self._db()
        try:
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            self._vocab: list[str] = [r[0] for r in db.execute("SELECT term FROM names_vocab")]
        except sqlite3.DatabaseError as exc:
            raise GeocoderError(f"search index {path} is unreadable: {exc}") from None
        if version is None or int(version[0]) != INDEX_SCHEMA_VERSION:
            raise GeocoderError(f"search index {path} has another format (re-import the map)")
        self._vocab_set = frozenset(self._vocab)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            uri = f"{self._resolved.as_uri()}?mode=ro&immutable=1"   # never written after the swap
            try:
                db = sqlite3.connect(uri, uri=True, check_same_thread=True)
            except sqlite3.Error as exc:   # e.g. a newer import replaced this map: open a new Geocoder
                raise GeocoderError(f"search index {self.path} cannot be opened: {exc}") from None
            self._local.db = db
        return db

    # --- search ------------------------------------------------------------------------------
    def search(self, text: str, near: tuple[float, float] | None = None,
               limit: int = DEFAULT_LIMIT) -> list[GeocodeResult]:
        """Ranked results for what was typed so far (best first)."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        q = parse_query(text)
        if not tokens(q.text):
            return []
        results: list[GeocodeResult] = []
        if q.intersection is not None:
            results += self._intersections(*q.intersection)
        if q.housenumber is not None and q.street is not None:
            results += self._addresses(q.housenumber, q.street)
        results += self._names(q.text)
        return _rank(results, near, limit)

    def _match(self, text: str, kinds: str = "sp") -> list[tuple[str, int, float]]:
        """(kind 's'|'p', ref, similarity 0-100) of streets/places whose names match text."""
        toks = tokens(text)
        if not toks:
            return []
        rows = self._fts(_fts_query([[t] for t in toks]), kinds)
        if len(rows) < CANDIDATES // 2:
            alternatives = [self._alternatives(t) for t in toks]
            if any(len(a) > 1 for a in alternatives):
                rows |= self._fts(_fts_query(alternatives), kinds)
        qnorm = " ".join(toks)
        scored = [(kind, ref, _similarity(qnorm, norm)) for kind, ref, norm in rows]
        scored.sort(key=lambda r: -r[2])
        return scored[:CANDIDATES]

    def _fts(self, match: str, kinds: str) -> set[tuple[str, int, str]]:
        sql = "SELECT kind, ref, norm FROM names WHERE names MATCH ? ORDER BY rank LIMIT ?"
        try:
            rows = self._db().execute(sql, (match, CANDIDATES * 4)).fetchall()
        except sqlite3.OperationalError:
            return set()   # a query FTS cannot parse: nothing matches
        return {(k, int(r), n) for k, r, n in rows if k in kinds}

    def _alternatives(self, token: str) -> list[str]:
        """The token and, if it is not a known word, the closest known words (typo correction)."""
        if token in self._vocab_set or len(token) < MIN_TYPO_TOKEN_CHARS or token.isdigit():
            return [token]
        found = process.extract(token, self._vocab, scorer=fuzz.ratio, limit=TYPO_ALTERNATIVES,
                                score_cutoff=TYPO_SCORE_CUTOFF)
        return [token, *(str(word) for word, _score, _i in found)]

    def _names(self, text: str) -> list[GeocodeResult]:
        db = self._db()
        out: list[GeocodeResult] = []
        for kind, ref, sim in self._match(text):
            if kind == "s":
                row = db.execute("SELECT name, lat, lng, rank FROM streets WHERE id = ?", (ref,)).fetchone()
                if row:
                    out.append(GeocodeResult("street", row[0], row[1], row[2], False, sim + _importance(row[3])))
            else:
                row = db.execute("SELECT name, lat, lng, kind FROM places WHERE id = ?", (ref,)).fetchone()
                if row:
                    out.append(GeocodeResult("place", row[0], row[1], row[2], False, sim, detail=row[3]))
        return out

    def _streets(self, text: str) -> list[tuple[int, float]]:
        return [(ref, sim) for kind, ref, sim in self._match(text, "s")][:CANDIDATES // 4]

    def _intersections(self, part_a: str, part_b: str) -> list[GeocodeResult]:
        a, b = self._streets(part_a), self._streets(part_b)
        if not a or not b:
            return []
        sim_a, sim_b = dict(a), dict(b)
        ids = sorted(set(sim_a) | set(sim_b))
        marks = ",".join("?" * len(ids))
        rows = self._db().execute(
            f"SELECT a, b, label, lat, lng FROM intersections WHERE a IN ({marks}) AND b IN ({marks})",  # noqa: S608
            (*ids, *ids)).fetchall()
        out = []
        for sa, sb, label, lat, lng in rows:
            sim = max(_pair(sim_a, sim_b, sa, sb), _pair(sim_a, sim_b, sb, sa))
            if sim > 0:
                out.append(GeocodeResult("intersection", label, lat, lng, False, sim))
        return out

    def _addresses(self, number: str, street_text: str) -> list[GeocodeResult]:
        db = self._db()
        out: list[GeocodeResult] = []
        for sid, sim in self._streets(street_text):
            name = db.execute("SELECT name FROM streets WHERE id = ?", (sid,)).fetchone()[0]
            row = db.execute("SELECT number, lat, lng, approximate FROM addresses WHERE street_id = ? AND "
                             "number_key = ?", (sid, number)).fetchone()
            if row is not None:
                out.append(GeocodeResult("address", f"{row[0]} {name}", row[1], row[2], bool(row[3]), sim,
                                         detail=name))
                continue
            guess = self._interpolate(sid, number)
            if guess is not None:
                out.append(GeocodeResult("address", f"{number} {name}", guess[0], guess[1], True, sim - 5.0,
                                         detail=name))
        return out

    def _interpolate(self, street_id: int, number: str) -> tuple[float, float] | None:
        """A number not in the map, placed between its mapped neighbours on the street."""
        digits = "".join(ch for ch in number if ch.isdigit())
        if not digits or len(digits) > 7:
            return None
        target = int(digits)
        rows = self._db().execute(
            "SELECT number_value, lat, lng FROM addresses WHERE street_id = ? AND number_value BETWEEN ? AND ? "
            "AND approximate = 0", (street_id, target - interpolation.MAX_GAP_FOR_QUERY_INTERPOLATION,
                                    target + interpolation.MAX_GAP_FOR_QUERY_INTERPOLATION)).fetchall()
        known = [interpolation.NumberedPoint(n, lat, lng) for n, lat, lng in rows if n is not None]
        p = interpolation.between(target, known)
        return None if p is None else (p.lat, p.lng)

    # --- reverse -----------------------------------------------------------------------------
    def reverse(self, lat: float, lng: float, max_distance_m: float = REVERSE_MAX_DISTANCE_M) -> GeocodeResult | None:
        """The nearest address or intersection to a point (a corner wins when about as near), or None."""
        if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
            return None
        max_distance_m = min(max(max_distance_m, 0.0), MAX_REVERSE_DISTANCE_M)
        address = self._nearest("addresses", lat, lng, max_distance_m)
        corner = self._nearest("intersections", lat, lng, max_distance_m)
        db = self._db()
        if corner is not None and (address is None or corner[1] <= address[1] + INTERSECTION_PREFERENCE_M):
            label, clat, clng = db.execute("SELECT label, lat, lng FROM intersections WHERE id = ?",
                                           (corner[0],)).fetchone()
            return GeocodeResult("intersection", label, clat, clng, False, 100.0, corner[1])
        if address is None:
            return None
        number, name, alat, alng, approx = db.execute(
            "SELECT a.number, s.name, a.lat, a.lng, a.approximate FROM addresses a JOIN streets s "
            "ON s.id = a.street_id WHERE a.id = ?", (address[0],)).fetchone()
        return GeocodeResult("address", f"{number} {name}", alat, alng, bool(approx), 100.0, address[1], name)

    def _nearest(self, table: str, lat: float, lng: float, max_m: float) -> tuple[int, float] | None:
        cells = cells_around(lat, lng, max_m)
        marks = ",".join("?" * len(cells))
        rows = self._db().execute(f"SELECT id, lat, lng FROM {table} WHERE cell IN ({marks})",  # noqa: S608 (constants)
                                  cells).fetchall()
        best: tuple[int, float] | None = None
        for rid, plat, plng in rows:
            d = haversine_km(lat, lng, plat, plng) * 1000.0
            if d <= max_m and (best is None or d < best[1]):
                best = (int(rid), d)
        return best

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _fts_query(groups: Sequence[Sequence[str]]) -> str:
    """FTS5 query: every group must match (AND), any word of a group (OR); the last word as a prefix."""
    parts = []
    for i, group in enumerate(groups):
        last = i == len(groups) - 1
        words = [f'"{w}"*' if last else f'"{w}"' for w in group]   # tokens are [0-9a-z]+: quoting is safe
        parts.append(words[0] if len(words) == 1 else "(" + " OR ".join(words) + ")")
    return " AND ".join(parts)


def _similarity(query_norm: str, name_norm: str) -> float:
    """0-100: whole-name similarity, with credit for a typed prefix of a longer name (as-you-type)."""
    whole = fuzz.ratio(query_norm, name_norm)
    prefix = fuzz.ratio(query_norm, name_norm[: len(query_norm)]) * 0.9 if len(name_norm) > len(query_norm) else 0.0
    return float(max(whole, prefix, fuzz.token_set_ratio(query_norm, name_norm) * 0.95))


def _importance(rank: int) -> float:
    """A few points for major roads: "Mannerh" means Mannerheimintie (primary) before Mannerheiminaukio."""
    return IMPORTANCE_BONUS * (1.0 - min(rank, IMPORTANCE_RANKS) / IMPORTANCE_RANKS)


def _pair(sim_a: dict[int, float], sim_b: dict[int, float], a: int, b: int) -> float:
    if a in sim_a and b in sim_b:
        return (sim_a[a] + sim_b[b]) / 2.0
    return 0.0


def _rank(results: list[GeocodeResult], near: tuple[float, float] | None, limit: int) -> list[GeocodeResult]:
    best: dict[tuple[str, str, int, int], GeocodeResult] = {}
    for r in results:
        distance = None
        score = r.score + KIND_BONUS[r.kind]
        if near is not None:
            distance = haversine_km(near[0], near[1], r.lat, r.lng) * 1000.0
            score += NEAR_BONUS * 0.5 ** (distance / 1000.0 / NEAR_HALF_KM)
        ranked = GeocodeResult(r.kind, r.label, r.lat, r.lng, r.approximate, round(score, 2), distance, r.detail)
        key = (r.kind, r.label, round(r.lat * 1000), round(r.lng * 1000))
        if key not in best or best[key].score < ranked.score:
            best[key] = ranked
    return sorted(best.values(), key=lambda r: (-r.score, r.label))[:limit]


__all__ = ["GeocodeResult", "Geocoder", "GeocoderError", "normalize"]
