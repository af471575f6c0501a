"""BM25 keyword lists of one namespace from the FTS5 index, several rankings in one pass.

FTS5 scores every row that matches before it can sort, so in a large namespace the cost of a
search is the number of matching rows (a question matching 30k of 100k memories costs 20 ms per
ranking). Two things keep that to one pass over the fewest rows:

- Every ranking of a search (the memory alone; the memory in its stretch of talk) comes from the
  same statement: the matches are enumerated and their IDF statistics gathered once, and each
  ranking's top rows are sorted out of it.
- Filters (the namespace, `where`, "has a context") are applied to the top rows after ranking,
  over-fetching; a ranking whose filtered rows come up short is ranked again with the filter
  applied first. When a namespace is most of the store, its token is left out of the MATCH
  (ANDing a 100k-row posting list into every question cost more than the rows it excluded).

The answer is the same as filtering before ranking: a ranking's first `limit` passing rows in
BM25 order are its top `limit` passing rows.

In a namespace of more than `rows_max` memories, a question whose words match more rows than that
scores only the rows holding its rarest words: words are taken rarest first while their rows add
up to at most `rows_max` (at least one word). The commoner words still count in those rows' scores
(each is the whole question's BM25) but bring in no rows of their own, as Lucene's common-terms
query does. A row holding only common words scores low (a word in a fifth of the store weighs
about a third of one in a hundredth: ln 4 against ln 99), so the lists differ from scoring every
match mostly in their tail;
`tests/bench/one_namespace.py` measures how often the search's answers differ.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # light to import: the hooks' keyword recall scopes its MATCH with `within`
    from langmem_mcp.store.sqlite import Database

#: Above this share of the store, a namespace's token is not ANDed into the MATCH.
NAMESPACE_TOKEN_MAX_SHARE = 0.5
#: How long a namespace's size and a word's row count are trusted: they only pick the plan and
#: the words whose rows are scored, never a score.
STATS_TTL_S = 30.0
#: Words whose row counts are remembered (the cache is emptied when it has more).
WORD_COUNTS_MAX = 4096
#: Rows ranked per requested row when filters apply after ranking.
OVERFETCH = 2
OVERFETCH_MIN = 20


def namespace_token(namespace: str) -> str:
    """The single FTS5 token a namespace is indexed under (schema v007's `ns_key` column:
    'ns' || hex(namespace) || 'x'), so a MATCH can be confined to one namespace."""
    return "ns" + namespace.encode("utf-8", "surrogatepass").hex() + "x"


def within(namespace: str, expression: str) -> str:
    """The FTS5 `expression` confined to `namespace`: BM25 then scores only its matches."""
    return f'ns_key : "{namespace_token(namespace)}" AND {expression}'


@dataclass(frozen=True)
class Ranking:
    """One BM25 ranking: the weight of the context column against the memory's own text, and
    whether only memories with a context (memories of a conversation) take part."""

    context_weight: float
    in_conversation: bool = False


@dataclass(frozen=True)
class KeywordHit:
    id: str
    score: float  # BM25, higher is better
    content: str


class KeywordIndex:
    """Keyword rankings of a namespace's memories (table `memories`, FTS5 `memories_fts`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sizes: dict[str, tuple[float, int, int]] = {}
        self._word_rows: dict[tuple[str | None, str], tuple[float, int]] = {}

    async def rank(
        self,
        phrases: Sequence[str],
        namespace: str,
        rankings: Sequence[Ranking],
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
        rows_max: int = 0,
    ) -> list[list[KeywordHit]]:
        """Each ranking's best `limit` memories of `namespace` matching any of the quoted FTS5
        `phrases` and passing `where` (alias `m`), best first. `rows_max` > 0 bounds the rows
        scored in a namespace larger than that (the module's docstring says how)."""
        if not rankings or not phrases:
            return [[] for _ in rankings]
        size, total = await self._size(namespace)
        with_token = size <= NAMESPACE_TOKEN_MAX_SHARE * total
        anywhere = f"{{content context}} : ({' OR '.join(phrases)})"
        confined = within(namespace, anywhere)
        match = confined if with_token else anywhere
        scored = await self._scored_words(phrases, size, rows_max, namespace if with_token else None)
        # The rows to score need no column filter (the MATCH above has it): ≈2× faster to find.
        only = "" if scored is None else " OR ".join(scored)
        exact = with_token and not where
        fetch = [
            limit if exact and not r.in_conversation else max(OVERFETCH * limit, limit + OVERFETCH_MIN)
            for r in rankings
        ]
        scores = ", ".join(f"{_bm25(r)} AS s{i}" for i, r in enumerate(rankings))
        tops = " UNION ALL ".join(
            f"SELECT * FROM (SELECT {i} AS list, rowid, s{i} AS score FROM hits ORDER BY s{i} LIMIT {n})"
            for i, n in enumerate(fetch)
        )
        among = "scored AS MATERIALIZED (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?), "
        passes = f"m.namespace = ?{' AND (' + where + ')' if where else ''}"
        # One statement on the second connection: ranked, then each top row read with its filters.
        ranked = await self.db.fetchall_aside(
            f"WITH {among if only else ''}hits AS MATERIALIZED (SELECT rowid, {scores} FROM memories_fts "
            f"WHERE memories_fts MATCH ?{' AND +rowid IN scored' if only else ''}), tops AS ({tops}) "
            f"SELECT tops.list, tops.score, m.id, m.content, length(m.context) > 1, {passes} "
            "FROM tops JOIN memories m ON m.rowid = tops.rowid ORDER BY tops.list, tops.score",
            (*([only] if only else []), match, namespace, *params),
        )
        out: list[list[KeywordHit]] = []
        for i, ranking in enumerate(rankings):
            order = [r for r in ranked if r[0] == i]
            hits = [
                KeywordHit(memory_id, -score, content)
                for _, score, memory_id, content, in_conversation, passed in order
                if passed and (in_conversation or not ranking.in_conversation)
            ]
            if len(hits) < limit and len(order) == fetch[i]:
                # Filtered out too many: more matches may pass than were ranked.
                hits = await self._filtered(confined, ranking, namespace, limit, where, params, only)
            out.append(hits[:limit])
        return out

    async def _filtered(
        self,
        match: str,
        ranking: Ranking,
        namespace: str,
        limit: int,
        where: str,
        params: Sequence[Any],
        only: str = "",
    ) -> list[KeywordHit]:
        """One ranking with every filter applied before ranking (each match joined to its row);
        `only`: the MATCH of the rows to score, when not all are."""
        rank = _bm25(ranking)
        conditions = [c for c in (where, "length(m.context) > 1" if ranking.in_conversation else "") if c]
        scored = " AND +memories_fts.rowid IN (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?)"
        rows = await self.db.fetchall(
            f"SELECT m.id, -{rank}, m.content FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND m.namespace = ?{scored if only else ''}"
            f"{''.join(' AND ' + c for c in conditions)} ORDER BY {rank} LIMIT ?",
            (match, namespace, *([only] if only else []), *params, limit),
        )
        return [KeywordHit(r[0], r[1], r[2]) for r in rows]

    async def _scored_words(
        self, phrases: Sequence[str], size: int, rows_max: int, namespace: str | None = None
    ) -> list[str] | None:
        """The rarest `phrases` whose rows add up to at most `rows_max` (at least one), or None
        when every match is scored: no bound, a namespace of at most `rows_max` memories, or
        words matching no more rows than that. Rows are counted where the MATCH looks: in
        `namespace` when it is given (its token is in the MATCH), else over the store."""
        if rows_max <= 0 or size <= rows_max:
            return None
        counts = await self._rows_of_words(phrases, namespace)
        present = sorted((n, p) for p, n in zip(phrases, counts, strict=True) if n)
        if sum(n for n, _ in present) <= rows_max:
            return None
        chosen: list[str] = []
        rows = 0
        for n, phrase in present:
            if chosen and rows + n > rows_max:
                break
            chosen.append(phrase)
            rows += n
        return chosen

    async def _rows_of_words(self, phrases: Sequence[str], namespace: str | None = None) -> list[int]:
        """How many rows hold each phrase, in `namespace` or (none given) in the store, counted
        at most every STATS_TTL_S; a phrase no row holds is counted again
        each time (a memory written meanwhile may hold it). In any column: a column filter makes
        FTS5 read every position list, and the counts only pick words."""
        now = time.monotonic()
        keys = {p: (namespace, p) for p in phrases}
        fresh = {
            p: c[1] for p, k in keys.items() if (c := self._word_rows.get(k)) and now - c[0] < STATS_TTL_S
        }
        missing = [p for p in phrases if p not in fresh]
        if missing:
            if len(self._word_rows) > WORD_COUNTS_MAX:
                self._word_rows.clear()
            counted = ", ".join(
                "(SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?)" for _ in missing
            )
            matches = [p if namespace is None else within(namespace, p) for p in missing]
            row = (await self.db.fetchall_aside(f"SELECT {counted}", matches))[0]
            for phrase, n in zip(missing, row, strict=True):
                fresh[phrase] = n
                if n:
                    self._word_rows[keys[phrase]] = (now, n)
        return [fresh[p] for p in phrases]

    async def _size(self, namespace: str) -> tuple[int, int]:
        """(memories in the namespace, memories in the store), counted at most every STATS_TTL_S."""
        now = time.monotonic()
        cached = self._sizes.get(namespace)
        if cached is not None and now - cached[0] < STATS_TTL_S:
            return cached[1], cached[2]
        row = await self.db.fetchone(
            "SELECT (SELECT count(*) FROM memories WHERE namespace = ?), (SELECT count(*) FROM memories)",
            (namespace,),
        )
        size, total = (0, 0) if row is None else (int(row[0]), int(row[1]))
        self._sizes[namespace] = (now, size, total)
        return size, total


def _bm25(ranking: Ranking) -> str:
    return f"bm25(memories_fts, 1.0, {float(ranking.context_weight)!r}, 0.0)"
