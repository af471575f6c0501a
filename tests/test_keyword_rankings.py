"""Keyword rankings ranked in one pass and filtered afterwards give what filtering first gives:
for a namespace that is a small part of the store (its token in the MATCH), one that is most of
it (no token: other namespaces' rows are ranked and dropped), the memories of a conversation
only, and a `where` filter, including when the filters drop so many ranked rows that the ranking
is redone with them applied first."""

from __future__ import annotations

from pathlib import Path

from langmem_mcp.engine import lexical
from langmem_mcp.service.container import Services
from langmem_mcp.store import keywords
from langmem_mcp.store.keywords import KeywordHit, KeywordIndex, Ranking
from tests.indexing import wait_indexed

RANKINGS = [Ranking(0.4), Ranking(1.0, in_conversation=True)]


async def reference(
    index: KeywordIndex,
    query: list[str],
    ns: str,
    limit: int,
    where: str = "",
    only: str = "",
    params: tuple[str, ...] = (),
) -> list[list[KeywordHit]]:
    """Each ranking with every filter applied before ranking (the plan the store used before)."""
    match = keywords.within(ns, f"{{content context}} : ({' OR '.join(query)})")
    return [await index._filtered(match, r, ns, limit, where, params, only) for r in RANKINGS]


def ids(lists: list[list[KeywordHit]]) -> list[list[tuple[str, float]]]:
    return [[(h.id, round(h.score, 9)) for h in hits] for hits in lists]


async def fill(services: Services) -> None:
    """Namespace "big": 40 notes about kayaks, every fourth with a context; "small": 4 notes that
    match better than any of big's (the word repeated)."""
    svc = services.memories
    for i in range(40):
        words = "kayak " * (1 + i % 3)
        await svc.create(f"Note {i}: {words}trip to the lake, paddle number {i}", ["big"])
    for i in range(4):
        await svc.create(f"Kayak kayak kayak kayak paddle paddle {i}", ["small"])
    await wait_indexed(services.runtime)  # the worker is done with them: the contexts set here stay
    rows = await services.runtime.db.fetchall(
        "SELECT rowid FROM memories WHERE namespace = 'big' ORDER BY rowid"
    )
    async with services.runtime.db.transaction() as conn:
        for n, (rowid,) in enumerate(rows):
            if n % 4 == 0:
                await conn.execute(
                    "UPDATE memories SET context = ? WHERE rowid = ?",
                    ("Ann: the kayak\x1eBob: paddle on", rowid),
                )


async def test_every_plan_ranks_as_filtering_first(services: Services) -> None:
    await fill(services)
    index = services.runtime.memories.keywords
    query = lexical.phrases("kayak paddle lake")
    for ns, with_token in (("small", True), ("big", False)):
        size, total = await index._size(ns)
        assert (size <= keywords.NAMESPACE_TOKEN_MAX_SHARE * total) is with_token
        for where in ("", "m.content NOT LIKE 'Note 1%'"):
            for limit in (3, 10, 50):
                got = await index.rank(query, ns, RANKINGS, limit, where)
                assert ids(got) == ids(await reference(index, query, ns, limit, where)), (ns, where, limit)
                assert all(len(hits) <= limit for hits in got)
    # the conversation ranking only holds memories with a context, and is not empty
    conversation = (await index.rank(query, "big", RANKINGS, 50))[1]
    rows = await services.runtime.memories.get_many([h.id for h in conversation])
    assert len(conversation) == 10 and all(len(r.context or "") > 1 for r in rows.values())


async def test_a_ranking_filtered_short_is_ranked_again(services: Services, monkeypatch) -> None:
    """With no over-fetch, the filters leave fewer rows than asked for: the ranking is redone with
    the filters applied first, and the answer is still complete."""
    await fill(services)
    index = services.runtime.memories.keywords
    monkeypatch.setattr(keywords, "OVERFETCH", 1)
    monkeypatch.setattr(keywords, "OVERFETCH_MIN", 0)
    redone: list[Ranking] = []
    filtered = index._filtered

    async def spy(match: str, ranking: Ranking, *args: object) -> list[KeywordHit]:
        redone.append(ranking)
        return await filtered(match, ranking, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(index, "_filtered", spy)
    query = lexical.phrases("kayak")
    got = await index.rank(query, "big", RANKINGS, 8)
    assert redone == RANKINGS  # "small" outranks big's rows; only 1 in 4 has a context
    monkeypatch.setattr(index, "_filtered", filtered)
    assert ids(got) == ids(await reference(index, query, "big", 8))
    assert [len(hits) for hits in got] == [8, 8]


async def test_a_data_dir_whose_name_needs_quoting_in_a_uri(tmp_path: Path) -> None:
    """The keyword lists are read on a second connection opened by URI: a data dir named with
    spaces, '#', '?' and '%' is the same file to it."""
    from langmem_mcp.config import load_settings
    from langmem_mcp.service.container import open_services

    async with open_services(load_settings(data_dir=tmp_path / "my data #1?x%20")) as services:
        made = await services.memories.create("The kayak is kept in the boathouse", ["n"])
        lists = await services.memories._keywords("where is the kayak kept", "n", 10, "", [])
        assert lists[0] == [made.id]


async def fill_words(services: Services) -> None:
    """Namespace "big": 60 notes on the river; every sixth also names a heron, every twelfth an
    otter (and two notes in "elsewhere" name both)."""
    svc = services.memories
    for i in range(60):
        extra = (" A heron waded." if i % 6 == 0 else "") + (" An otter swam by." if i % 12 == 0 else "")
        await svc.create(f"Day {i}: walked the river {'river ' * (i % 4)}bank.{extra}", ["big"])
    for i in range(2):
        await svc.create(f"Heron and otter at the river mouth {i}", ["elsewhere"])


async def test_a_bound_on_rows_scores_the_rarest_words_rows_exactly(services: Services) -> None:
    """Past `rows_max`, only the rows of the rarest words are scored, each with the whole
    question's BM25: the lists are the unbounded lists with the rows of common words only left
    out, in the same order with the same scores. A namespace no larger than the bound, a bound
    above the words' rows, and no bound all score every match."""
    await fill_words(services)
    index = services.runtime.memories.keywords
    query = lexical.phrases("river heron otter")
    exact = await index.rank(query, "big", RANKINGS, 50)
    assert len(exact[0]) == 50  # river alone brings in most of them
    rows = {
        r.id: r.content for r in (await services.runtime.memories.get_many([h.id for h in exact[0]])).values()
    }
    # otter: 5 + 2 rows, heron: 10 + 2, river: 62 → with 20, otter and heron rows are scored
    bounded = await index.rank(query, "big", RANKINGS, 50, rows_max=20)
    assert await index._scored_words(query, 60, 20) == ['"otter"', '"heron"']
    for got, full in zip(bounded, exact, strict=True):
        rare = [(h.id, h.score) for h in full if "heron" in rows[h.id] or "otter" in rows[h.id]]
        assert [(h.id, h.score) for h in got] == rare[: len(got)]
    assert len(bounded[0]) == 10  # the heron notes (the otter notes are among them)
    assert all("heron" in rows[h.id] or "otter" in rows[h.id] for h in bounded[0])
    assert bounded[1] == exact[1] == []  # no memory here has a conversation around it
    # a bound of 8 takes the rarest word only (the first always is taken)
    assert await index._scored_words(query, 60, 8) == ['"otter"']
    assert await index._scored_words(query, 60, 3) == ['"otter"']
    # the cases that score every match
    for size, rows_max in ((60, 0), (60, 60), (60, 100), (20, 20)):
        assert await index._scored_words(query, size, rows_max) is None, (size, rows_max)
    assert ids(await index.rank(query, "big", RANKINGS, 50, rows_max=100)) == ids(exact)


async def test_a_bounded_ranking_filtered_first_scores_the_same_rows(services: Services, monkeypatch) -> None:
    """When the filters leave a bounded ranking short and it is ranked again filter-first, the
    same rows are scored (those of the rarest words)."""
    await fill_words(services)
    index = services.runtime.memories.keywords
    monkeypatch.setattr(keywords, "OVERFETCH", 1)
    monkeypatch.setattr(keywords, "OVERFETCH_MIN", 0)
    query = lexical.phrases("river heron otter")
    only = '"otter" OR "heron"'
    for where, params in (("m.content NOT LIKE 'Day 0:%'", ()), ("m.content NOT LIKE ?", ("Day 0:%",))):
        got = await index.rank(query, "big", RANKINGS, 10, where, params, 20)
        assert ids(got) == ids(await reference(index, query, "big", 10, where, only, params))
        assert len(got[0]) == 9  # heron or otter, less "Day 0"


async def test_the_words_are_counted_in_the_namespace_the_match_is_confined_to(services: Services) -> None:
    """A namespace that is a small part of the store (its token in the MATCH) picks its words by
    its own counts: a word rare in the store but absent from the namespace does not take the
    place of the namespace's own words."""
    svc = services.memories
    for i in range(30):
        await svc.create(f"Meeting notes {i}: the weekly meeting ran long", ["team"])
    for i in range(10):
        await svc.create(f"A zebra crossing {i}", ["zoo"])
    for i in range(30):
        await svc.create(f"Zoo meeting {i}", ["zoo"])
    index = services.runtime.memories.keywords
    query = lexical.phrases("zebra meeting")

    exact = await index.rank(query, "team", RANKINGS, 50)
    assert len(exact[0]) == 30
    assert ids(await index.rank(query, "team", RANKINGS, 50, rows_max=20)) == ids(exact)
    assert await index._rows_of_words(query, "team") == [0, 30]
    assert await index._rows_of_words(query) == [10, 60]


async def test_a_word_no_memory_held_is_counted_again(services: Services) -> None:
    """A word that matched nothing is not remembered as matching nothing: a memory written with
    it right after is scored at the next search (as the rarest word)."""
    await fill_words(services)
    index = services.runtime.memories.keywords
    query = lexical.phrases("zyx heron river")
    assert await index._rows_of_words(query) == [0, 12, 62]
    before = await index.rank(query, "big", RANKINGS, 50, rows_max=20)
    made = await services.memories.create("The zyx river bank", ["big"])
    after = await index.rank(query, "big", RANKINGS, 50, rows_max=20)
    assert made.id not in {h.id for h in before[0]}
    assert after[0][0].id == made.id  # zyx: the rarest word, its row scored first


def test_the_bound_is_a_setting_refused_below_zero() -> None:
    import pytest

    from langmem_mcp.config import load_settings

    assert load_settings({}).keyword_rows_max == 8_000
    assert load_settings({"LANGMEM_MCP_KEYWORD_ROWS_MAX": "0"}).keyword_rows_max == 0
    with pytest.raises(ValueError, match="KEYWORD_ROWS_MAX=-1: use 0 or more"):
        load_settings({"LANGMEM_MCP_KEYWORD_ROWS_MAX": "-1"})
