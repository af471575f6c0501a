"""The LoCoMo baselines of DESIGN.md, recomputed in the same run as our figures.

Every turn "Speaker: text" is one document; each question of categories 1-4 is searched
within its conversation:
- BM25: SQLite FTS5 (unicode61), the question's words OR-ed;
- MiniLM: cosine of all-MiniLM-L6-v2 embeddings (the same model the server uses);
- RRF: reciprocal-rank fusion (k=60) of the top 20 of each.

    python -m tests.bench.locomo_baselines
"""

from __future__ import annotations

import json
import re
import sqlite3
from statistics import mean

import numpy as np

from langmem_mcp.index.embeddings import make_embedder
from tests.bench.locomo_data import load, recall

KS = (1, 5, 10, 20)
_WORD = re.compile(r"\w+")


def bm25_ranking(db: sqlite3.Connection, question: str, depth: int) -> list[int]:
    words = _WORD.findall(question.lower())
    if not words:
        return []
    match = " OR ".join('"' + w + '"' for w in dict.fromkeys(words))
    return [
        r[0] for r in db.execute("SELECT rowid FROM d WHERE d MATCH ? ORDER BY rank LIMIT ?", (match, depth))
    ]


def rrf(rankings: list[list[int]], k: int = 60) -> list[int]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for r, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + r)
    return sorted(scores, key=lambda d: -scores[d])


def run() -> dict:
    embedder = make_embedder("minilm-int8")
    per: dict[str, dict[int, list[float]]] = {m: {k: [] for k in KS} for m in ("bm25", "minilm", "rrf")}
    for conv in load():
        docs = [t.memory for t in conv.turns]
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE d USING fts5(t)")
        db.executemany("INSERT INTO d(rowid, t) VALUES (?, ?)", list(enumerate(docs)))
        emb = embedder.embed(docs)
        qv = embedder.embed([q.question for q in conv.questions])
        for q, v in zip(conv.questions, qv, strict=True):
            lex = bm25_ranking(db, q.question, 20)
            sem = [int(i) for i in np.argsort(-(emb @ v), kind="stable")[:20]]
            fused = rrf([lex, sem])
            for name, ranking in (("bm25", lex), ("minilm", sem), ("rrf", fused)):
                ids = [conv.turns[i].dia_id for i in ranking]
                for k in KS:
                    per[name][k].append(recall(ids, q.evidence, k))
    return {name: {f"@{k}": round(100 * mean(v), 1) for k, v in ks.items()} for name, ks in per.items()} | {
        "questions": len(per["rrf"][10])
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
