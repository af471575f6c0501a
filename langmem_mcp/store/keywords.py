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
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langmem_mcp.store.sqlite import Database

#: Above this share of the store, a namespace's token is not ANDed into the MATCH.
NAMESPACE_TOKEN_MAX_SHARE = 0.5
#: How long a namespace's share of the store is trusted (it only picks the faster plan).
SHARE_TTL_S = 30.0
#: Rows ranked per requested row when filters apply after ranking.
OVERFETCH = 2
OVERFETCH_MIN = 20


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
        self._shares: dict[str, tuple[float, float]] = {}

    async def rank(
        self,
        terms: str,
        namespace: str,
        namespace_token: str,
        rankings: Sequence[Ranking],
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
    ) -> list[list[KeywordHit]]:
        """Each ranking's best `limit` memories of `namespace` matching the FTS5 expression
        `terms` and passing `where` (alias `m`), best first."""
        if not rankings:
            return []
        with_token = await self._share(namespace) <= NAMESPACE_TOKEN_MAX_SHARE
        confined = f'ns_key : "{namespace_token}" AND {{content context}} : ({terms})'
        match = confined if with_token else f"{{content context}} : ({terms})"
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
        ranked = await self.db.fetchall_aside(
            f"WITH hits AS MATERIALIZED (SELECT rowid, {scores} FROM memories_fts WHERE memories_fts MATCH ?) "
            f"{tops}",
            (match,),
        )
        rows = await self._rows({r[1] for r in ranked}, namespace, where, params)
        out: list[list[KeywordHit]] = []
        for i, ranking in enumerate(rankings):
            order = [r for r in ranked if r[0] == i]
            hits = []
            for _, rowid, score in order:
                row = rows.get(rowid)
                if row is not None and (row[2] or not ranking.in_conversation):
                    hits.append(KeywordHit(row[0], -score, row[1]))
            if len(hits) < limit and len(order) == fetch[i]:
                # Filtered out too many: more matches may pass than were ranked.
                hits = await self._filtered(confined, ranking, namespace, limit, where, params)
            out.append(hits[:limit])
        return out

    async def _rows(
        self, rowids: set[int], namespace: str, where: str, params: Sequence[Any]
    ) -> dict[int, tuple[str, str, bool]]:
        """{rowid: (id, content, has a context)} of those ranked rows that are of the namespace
        and pass `where`."""
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = await self.db.fetchall(
            f"SELECT m.rowid, m.id, m.content, length(m.context) > 1 FROM memories m "
            f"WHERE m.rowid IN ({marks}) AND m.namespace = ?{' AND (' + where + ')' if where else ''}",
            (*rowids, namespace, *params),
        )
        return {r[0]: (r[1], r[2], bool(r[3])) for r in rows}

    async def _filtered(
        self, match: str, ranking: Ranking, namespace: str, limit: int, where: str, params: Sequence[Any]
    ) -> list[KeywordHit]:
        """One ranking with every filter applied before ranking (each match joined to its row)."""
        rank = _bm25(ranking)
        conditions = [c for c in (where, "length(m.context) > 1" if ranking.in_conversation else "") if c]
        rows = await self.db.fetchall(
            f"SELECT m.id, -{rank}, m.content FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND m.namespace = ? {''.join(' AND ' + c for c in conditions)} "
            f"ORDER BY {rank} LIMIT ?",
            (match, namespace, *params, limit),
        )
        return [KeywordHit(r[0], r[1], r[2]) for r in rows]

    async def _share(self, namespace: str) -> float:
        """The namespace's share of the store's memories, counted at most every SHARE_TTL_S."""
        now = time.monotonic()
        cached = self._shares.get(namespace)
        if cached is not None and now - cached[0] < SHARE_TTL_S:
            return cached[1]
        row = await self.db.fetchone(
            "SELECT (SELECT count(*) FROM memories WHERE namespace = ?), (SELECT count(*) FROM memories)",
            (namespace,),
        )
        share = 0.0 if row is None or not row[1] else row[0] / row[1]
        self._shares[namespace] = (now, share)
        return share


def _bm25(ranking: Ranking) -> str:
    return f"bm25(memories_fts, 1.0, {float(ranking.context_weight)!r}, 0.0)"
