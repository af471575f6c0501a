"""The memory browser without a real browser: the server's app in process, driven over HTTP as a
browser on this machine would (cookies, forms, Origin), plus the service additions it relies on.
The same pages in headless Chromium: tests/test_ui_browser.py."""

from __future__ import annotations

import re
import uuid
from html import escape as html_escape
from html import unescape as html_unescape
from pathlib import Path

import pytest

from langmem_mcp.config import Settings
from langmem_mcp.engine import ranking
from langmem_mcp.server.ui import tree
from langmem_mcp.service.container import Services, open_services
from langmem_mcp.service.models.memories import ExplainedHit
from tests.capture_support import Transcript
from tests.ui_client import BASE, csrf_of, post_form, ui_client

NS = "memories/project-x"


async def _create(client, content: str, ns: str = NS, **extra) -> str:
    res = await client.post("/memories", json={"content": content, "namespace": ns, **extra})
    assert res.status_code == 200, res.text
    return res.json()["id"]


# -- the service additions ------------------------------------------------------------------------
async def test_search_explains_ranks_only_when_asked(services: Services) -> None:
    from langmem_mcp.service.memories import NewItem

    mem = services.memories
    texts = ("Alice deploys with Kubernetes on Fridays", "Bob likes green tea", "Carol writes Rust")
    # Days apart, so no memory is another's conversational context (context words match too).
    await mem.create_many(
        [NewItem(t, ["t"], created_at=f"2025-0{i + 1}-01T10:00:00+00:00") for i, t in enumerate(texts)]
    )
    plain = await mem.search("Kubernetes deploys", ["t"])
    assert not isinstance(plain[0], ExplainedHit) and "why" not in plain[0].model_dump()
    hits = await mem.search("Kubernetes deploys", ["t"], explain=True)
    assert [h.id for h in hits] == [h.id for h in plain]
    top = hits[0]
    assert isinstance(top, ExplainedHit) and top.content.startswith("Alice")
    assert top.why.keyword_rank == 1 and top.why.meaning_rank is not None
    # The fused score is reciprocal-rank fusion of exactly the two ranks shown (k = 5).
    expected = 1 / (5 + top.why.keyword_rank) + 1 / (5 + top.why.meaning_rank)
    assert top.why.fused == pytest.approx(expected, abs=1e-6) and top.score == top.why.fused
    others = [h for h in hits if h.id != top.id]
    assert all(h.why.keyword_rank is None for h in others)  # no keyword match: meaning alone
    assert top.why.recency is None  # nothing weighted: no parts
    weighted = await mem.search(
        "Kubernetes deploys", ["t"], weights=ranking.Weights(1.0, 1.0, 0.5), explain=True
    )
    for h in weighted:
        assert isinstance(h, ExplainedHit)
        parts = h.why.relevance + h.why.recency + h.why.importance
        assert parts == pytest.approx(h.score, abs=1e-5)
        assert h.why.importance == pytest.approx(0.5 * h.importance, abs=1e-6)


async def test_listing_newest_first_with_filters(services: Services) -> None:
    mem = services.memories
    from langmem_mcp.service.memories import NewItem

    items = [
        NewItem(
            f"note {i}",
            ["n"],
            {"kind": "odd" if i % 2 else "even"},
            None,
            f"2025-03-{i + 1:02d}T10:00:00+00:00",
        )
        for i in range(9)
    ]
    await mem.create_many(items)
    seen, cursor = [], None
    while True:
        page = await mem.list(["n"], 4, cursor, newest_first=True)
        seen += [m.content for m in page.memories]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == [f"note {i}" for i in range(8, -1, -1)]
    odd = await mem.list(["n"], 50, newest_first=True, filter={"kind": "odd"})
    assert [m.content for m in odd.memories] == ["note 7", "note 5", "note 3", "note 1"]
    window = await mem.list(["n"], 50, created_from="2025-03-03", created_to="2025-03-05")
    assert [m.content for m in window.memories] == ["note 2", "note 3", "note 4"]  # the 'to' day included
    assert await mem.count(["n"], created_from="2025-03-03", created_to="2025-03-05") == 3
    assert await mem.count(["n"], filter={"kind": "even"}) == 5
    from langmem_mcp.errors import InvalidInput

    with pytest.raises(InvalidInput, match="is not a date"):
        await mem.list(["n"], created_from="March")
    with pytest.raises(InvalidInput, match="not one this server issued"):
        await mem.list(["n"], cursor="-3", newest_first=True)


async def test_listing_and_search_by_validity(services: Services) -> None:
    from langmem_mcp.errors import InvalidInput

    mem = services.memories
    boston = (await mem.create("The user lives in Boston", ["v"])).id
    await mem.create("The user's sister lives in Lisbon", ["v"])
    denver = (await mem.supersede(boston, ["v"], "The user lives in Denver")).id

    async def listed(validity: str) -> list[str]:
        page = await mem.list(["v"], 50, newest_first=True, validity=validity)  # type: ignore[arg-type]
        return [m.content.split()[-1] for m in page.memories]

    assert await listed("current") == ["Denver", "Lisbon"]
    assert await listed("superseded") == ["Boston"]
    assert await listed("all") == ["Denver", "Lisbon", "Boston"]
    assert [await mem.count(["v"], validity=v) for v in ("current", "superseded", "all")] == [2, 1, 3]
    assert await mem.count(["v"], filter={"x": 1}, validity="superseded") == 0
    q = "where does the user live"
    assert boston not in [h.id for h in await mem.search(q, ["v"])]
    assert [h.id for h in await mem.search(q, ["v"], superseded_only=True)] == [boston]
    assert {denver, boston} <= {h.id for h in await mem.search(q, ["v"], include_superseded=True)}
    with pytest.raises(InvalidInput, match="validity must be one of current, superseded, all"):
        await mem.list(["v"], validity="old")  # type: ignore[arg-type]


def test_tree_counts_and_lookalikes() -> None:
    forest = tree.build(
        {
            "memories/project-x": 3,
            "memories/project_x": 1,
            "memories/projcet-y": 2,
            "memories/project-y": 5,
            "users/alice": 4,
            "users/bob/notes": 2,
        },
        extra=["memories"],
    )
    rows = {n.key: n for _, n in tree.flatten(forest)}
    assert rows["memories"].total == 11 and rows["memories"].own == 0 and rows["memories"].placeholder
    assert rows["users/bob"].empty and rows["users/bob"].total == 2
    assert rows["memories/project-x"].looks_like == ["project_x"]
    assert rows["memories/projcet-y"].looks_like == ["project-y"]  # one swapped pair of letters
    assert not rows["users/alice"].looks_like and not rows["users/bob"].looks_like
    assert tree.within_one_edit("greyhound", "greyhounds") and not tree.within_one_edit("alice", "alex")


# -- pages ----------------------------------------------------------------------------------------
async def test_pages_show_memories_newest_first_and_escape_content(data_dir: Path) -> None:
    async with ui_client(data_dir) as client:
        await _create(client, "Alice prefers tabs over spaces", metadata={"kind": "preference"})
        evil = await _create(client, '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"')
        res = await client.get("/ui/memories", params={"ns": NS})
        assert res.status_code == 200
        html = res.text
        assert html.index("&lt;script&gt;") < html.index("Alice prefers tabs")  # newest first
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "script-src 'self'" in res.headers["content-security-policy"]
        assert float(res.headers["server-timing"].split("dur=")[1]) > 0
        page = await client.get(f"/ui/memory/{evil}", params={"ns": NS})
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
        home = await client.get("/ui/")
        assert 'href="/ui/memories?ns=memories/project-x"' in home.text and ">2<" in home.text


async def test_bad_input_gets_a_page_that_says_what_was_wrong(data_dir: Path) -> None:
    async with ui_client(data_dir) as client:
        mid = await _create(client, "a memory")
        cases = [
            ("/ui/memories", {"ns": NS, "limit": "abc"}, 422, "limit must be a whole number"),
            ("/ui/memories", {"ns": NS, "limit": "0"}, 422, "limit must be from 1 to 100"),
            ("/ui/memories", {"ns": NS, "before": "page-two"}, 422, "is not one this server issued"),
            ("/ui/memories", {"ns": NS, "filter": "kind"}, 422, "is not key=value"),
            ("/ui/memories", {"ns": NS, "from": "yesterday"}, 422, "is not a date"),
            ("/ui/memories", {"ns": NS, "q": "x", "w_rec": "lots"}, 422, "recency weight must be a number"),
            ("/ui/memories", {}, 422, "which namespace?"),
            ("/ui/memories", {"ns": "a//\x01"}, 422, "control characters"),
            (f"/ui/memory/{uuid.uuid4()}", {"ns": NS}, 404, "no memory with id"),
            ("/ui/memory/not-an-id", {"ns": NS}, 404, "no memory with id"),
            (f"/ui/memory/{mid}", {"ns": "memories/other"}, 404, "no memory with id"),
            ("/ui/users/nobody", {}, 404, "no user with id"),
            ("/ui/threads/nothing", {}, 404, "no thread with id"),
            ("/ui/threads", {"cursor": "zz"}, 422, "is not one this server issued"),
            ("/ui/llm/prompts/none", {}, 404, "no optimized prompt"),
            ("/ui/no/such/page", {}, 404, "there is no page at /ui/no/such/page"),
            ("/ui/memories", {"ns": NS, "show": "old"}, 422, "show must be one of current, superseded, all"),
            ("/ui/memories", {"ns": NS, "q": "x", "to": "soon"}, 422, "is not a date (YYYY-MM-DD)"),
            ("/ui/captures", {"jobs": "next"}, 422, "jobs must be a whole number"),
            ("/ui/captures", {"sessions": "-1"}, 422, "sessions must be from 0 to 10000"),
        ]
        for path, params, status, message in cases:
            res = await client.get(path, params=params)
            assert res.status_code == status, (path, params, res.text[-400:])
            assert message in res.text, (path, params)
            assert "Traceback" not in res.text and 'id="error-message"' in res.text
        # The filter form keeps what was typed next to the message.
        res = await client.get("/ui/memories", params={"ns": NS, "filter": "kind", "from": "2025-01-01"})
        assert 'value="kind"' in res.text and 'value="2025-01-01"' in res.text


async def test_edit_with_bad_input_keeps_what_was_typed(data_dir: Path) -> None:
    async with ui_client(data_dir) as client:
        mid = await _create(client, "Alice's editor is Vim")
        other = await _create(client, "Bob's editor is Emacs")
        csrf = csrf_of((await client.get(f"/ui/memory/{mid}", params={"ns": NS})).text)
        typed = {
            "csrf": csrf,
            "ns": NS,
            "content": "Alice's editor is Helix now",
            "metadata": "{kind: x}",
            "importance": "0.9",
        }
        res = await post_form(client, f"/ui/memory/{mid}/edit", typed)
        assert res.status_code == 422 and "metadata is not valid JSON" in res.text
        assert "Alice&#39;s editor is Helix now</textarea>" in res.text and "{kind: x}</textarea>" in res.text
        res = await post_form(client, f"/ui/memory/{mid}/edit", {**typed, "metadata": "", "importance": "7"})
        assert res.status_code == 422 and "importance must be between 0 and 1" in res.text
        res = await post_form(
            client, f"/ui/memory/{mid}/edit", {**typed, "metadata": "", "content": "Bob's editor is Emacs"}
        )
        assert res.status_code == 409 and other in res.text
        assert (await client.get(f"/memories/{mid}", params={"namespace": NS})).json()[
            "content"
        ] == "Alice's editor is Vim"
        res = await post_form(client, f"/ui/memory/{mid}/edit", {**typed, "metadata": '{"kind": "tool"}'})
        assert res.status_code == 303 and "saved=correction" in res.headers["location"]
        stored = (await client.get(f"/memories/{mid}", params={"namespace": NS})).json()
        assert (stored["content"], stored["metadata"], stored["importance"]) == (
            "Alice's editor is Helix now",
            {"kind": "tool"},
            0.9,
        )


def _rows(html: str, cls: str) -> list[str]:
    """The text of each table row of a class, tags stripped and spaces collapsed."""
    found = re.findall(rf'<tr class="{cls}[^"]*"[^>]*>(.*?)</tr>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in found]


async def test_memory_page_shows_history_and_the_supersede_chain(data_dir: Path) -> None:
    async with ui_client(data_dir) as client:
        mid = await _create(client, "The user lives in Bostn")
        for text in ("The user lives in Boston", "The user lives in Boston, MA"):
            res = await client.patch(f"/memories/{mid}", json={"content": text, "namespace": NS})
            assert res.status_code == 200, res.text
        page = await client.get(f"/ui/memory/{mid}", params={"ns": NS})
        history = _rows(page.text, "version")
        assert [r.split()[1] for r in history] == ["created", "corrected", "corrected"]
        assert "Bostn" in history[0] and "Boston, MA" in history[2] and "now" in history[2]
        assert all(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r) for r in history)  # when each came about
        assert 'id="chain"' not in page.text  # nothing superseded yet
        assert "true now" in page.text and 'id="supersede-form"' in page.text
        csrf = csrf_of(page.text)

        def fields(content: str, **more: str) -> dict[str, str]:
            return {"csrf": csrf, "ns": NS, "content": content, "metadata": "", "importance": "", **more}

        # Bad input comes back with what was typed, and nothing changes.
        for sent, status, message in (
            (fields(""), 422, "content"),
            (fields("the user lives in boston, ma."), 422, "says the same as memory"),
            (fields("The user lives in Denver", metadata="{x}"), 422, "metadata is not valid JSON"),
            (fields("The user lives in Denver", importance="high"), 422, "importance must be a number"),
        ):
            res = await post_form(client, f"/ui/memory/{mid}/supersede", sent)
            assert res.status_code == status and message in res.text, (sent, res.text[-500:])
            assert f">{html_escape(sent['content'])}</textarea>" in res.text and 'id="history"' in res.text
        assert (await client.get(f"/memories/{mid}", params={"namespace": NS})).json().get("valid_to") is None

        res = await post_form(
            client, f"/ui/memory/{mid}/supersede", fields("The user lives in Denver", importance="0.8")
        )
        assert res.status_code == 303, res.text[-500:]
        target = res.headers["location"]
        assert f"replaced={mid}" in target and "saved=supersede" in target
        denver = target.split("/ui/memory/")[1].split("?")[0]
        new = (await client.get(target)).text
        assert "Saved as a new memory" in new and f'href="/ui/memory/{mid}?ns={NS}"' in new
        chain = _rows(new, "link")
        assert len(chain) == 2 and "Boston, MA" in chain[0] and "replaced by this one" in chain[0]
        assert "Denver" in chain[1] and "this memory" in chain[1] and "current" in chain[1]
        # The old memory: superseded, linked to the new one, its history ending in the supersede.
        old = (await client.get(f"/ui/memory/{mid}", params={"ns": NS})).text
        assert 'id="validity-note"' in old and f'href="/ui/memory/{denver}?ns={NS}" id="superseded-by"' in old
        assert [r.split()[1] for r in _rows(old, "version")] == [
            "created",
            "corrected",
            "corrected",
            "superseded",
        ]
        assert 'id="supersede-form"' not in old and "already superseded" in old
        # The same service function as the REST route and the MCP tool: search finds only the new fact.
        found = await client.post(
            "/memories/search", json={"query": "where does the user live", "namespace": NS}
        )
        assert [m["id"] for m in found.json()["memories"]] == [denver]
        assert (await client.get(f"/memories/{denver}", params={"namespace": NS})).json()["importance"] == 0.8
        # Superseding the old one again is refused, saying which one to supersede instead.
        res = await post_form(client, f"/ui/memory/{mid}/supersede", fields("The user lives in Oslo"))
        assert res.status_code == 409 and f"by {denver!r}; supersede that one instead" in html_unescape(
            res.text
        )
        # A third fact: the chain runs through all three, oldest first, from any of them.
        res = await post_form(client, f"/ui/memory/{denver}/supersede", fields("The user lives in Oslo"))
        oslo = res.headers["location"].split("/ui/memory/")[1].split("?")[0]
        for any_id in (mid, denver, oslo):
            page = (await client.get(f"/ui/memory/{any_id}", params={"ns": NS})).text
            assert [r.split(" lives in ")[1].split()[0] for r in _rows(page, "link")] == [
                "Boston,",
                "Denver",
                "Oslo",
            ]
        # A secret typed into the form is taken out before storing, and the page says so.
        res = await post_form(
            client,
            f"/ui/memory/{oslo}/supersede",
            fields("The user lives in Oslo; DB_PASSWORD=Tr0ub4dor&3-fake"),
        )
        assert "redacted=password" in res.headers["location"]
        page = (await client.get(res.headers["location"])).text
        assert 'id="redacted"' in page and "[redacted: password]" in page and "Tr0ub4dor" not in page
        # Deleting says how many versions go, and that the memories it replaced stay.
        confirm = (await client.get(f"/ui/memory/{denver}/delete", params={"ns": NS})).text
        assert "its 1 earlier version goes too" in " ".join(confirm.split())
        assert "The 1 memory it replaced stays, still superseded" in " ".join(confirm.split())
        res = await post_form(client, f"/ui/memory/{denver}/delete", {"csrf": csrf, "ns": NS})
        assert res.status_code == 303
        old = (await client.get(f"/ui/memory/{mid}", params={"ns": NS})).text
        assert "Superseded on" in old and 'id="superseded-by"' not in old and 'id="chain"' not in old


async def test_namespace_page_filters_current_superseded_and_all(data_dir: Path) -> None:
    async with ui_client(data_dir) as client:
        old = await _create(client, "Alice's editor is Vim")
        await _create(client, "Bob's editor is Emacs")
        res = await client.post(
            f"/memories/{old}/supersede", json={"content": "Alice's editor is Helix", "namespace": NS}
        )
        new = res.json()["id"]

        async def shown(**params: str) -> tuple[str, list[str]]:
            res = await client.get("/ui/memories", params={"ns": NS, **params})
            assert res.status_code == 200, res.text[-300:]
            ids = re.findall(r'<tr class="(?:memory|hit)[^"]*" data-id="([^"]+)"', res.text)
            return res.text, ids

        page, ids = await shown()
        assert new in ids and old not in ids and len(ids) == 2
        assert "2 current memories · 1 superseded" in page and '<option value="current" selected>' in page
        page, ids = await shown(show="superseded")
        assert ids == [old] and "superseded-badge" in page and f'href="/ui/memory/{new}?ns={NS}"' in page
        page, ids = await shown(show="all")
        assert {old, new} <= set(ids) and len(ids) == 3
        assert re.search(rf'<tr class="memory superseded" data-id="{old}"', page)
        for show, expected in (("", {new}), ("superseded", {old}), ("all", {old, new})):
            _, ids = await shown(q="which editor does Alice use", show=show)
            assert expected <= set(ids) and not ({old, new} - expected) & set(ids), (show, ids)
        # Search takes the time range too (it used to apply to the list only).
        _, ids = await shown(q="editor", show="all", to="2000-01-01")
        assert ids == []
        # A namespace where everything is superseded says so instead of looking empty.
        other = await _create(client, "Carol uses nano", ns="memories/solo")
        await client.post(
            f"/memories/{other}/supersede", json={"content": "Carol uses Zed", "namespace": "memories/solo"}
        )
        await client.delete(
            f"/memories/{(await client.post('/memories/search', json={'query': 'Zed', 'namespace': 'memories/solo'})).json()['memories'][0]['id']}",
            params={"namespace": "memories/solo"},
        )
        page = (await client.get("/ui/memories", params={"ns": "memories/solo"})).text
        assert "All 1 are superseded: show superseded or all to see them." in page
        # The tree notes how many of each namespace's memories are superseded.
        home = (await client.get("/ui/")).text
        row = re.search(r'data-ns="memories/project-x">(.*?)</tr>', home, re.S).group(1)
        assert ">3<" in row and "1 superseded" in row


async def test_captures_page_lists_sessions_the_queue_and_hook_errors(data_dir: Path, tmp_path: Path) -> None:
    from langmem_mcp.service.capture_accept import accept, queue_lock
    from langmem_mcp.store import capture as store

    lock = queue_lock(data_dir)
    assert lock.try_acquire()  # as a server would: the page's own server stores nothing meanwhile
    try:
        async with ui_client(data_dir) as client:
            assert "Nothing waits" in (await client.get("/ui/captures")).text
            (tmp_path / "shop" / ".git").mkdir(parents=True)
            ok = Transcript(tmp_path / "t" / "ok.jsonl", tmp_path / "shop")
            broken = Transcript(tmp_path / "t" / "broken.jsonl", tmp_path / "shop")
            ok.exchange("The staging database is shopdb-staging.", "Noted.")
            broken.exchange("The cron job runs at 02:00 UTC.", "OK.")
            conn = store.connect(data_dir / "memory.sqlite3")
            try:
                for t in (ok, broken):
                    accept(conn, t.path, event="Stop", session_id=t.session_id, cwd=t.cwd)
                # A real fault: the session the second job belongs to is gone (as in test_capture).
                conn.execute("DELETE FROM capture_sessions WHERE thread_id = ?", (broken.session_id,))
                async with open_services(Settings(data_dir=data_dir, llm="none")) as worker:
                    assert await worker.capture.drain() == 1  # the first is stored, the second fails
                ok.exchange("Production is shopdb-prod.", "Noted too.")
                accept(conn, ok.path, event="Stop", session_id=ok.session_id, cwd=ok.cwd)  # waits
            finally:
                conn.close()
            page = (await client.get("/ui/captures")).text
            assert "1 session captured" in page and "2 jobs in the queue, 1 failing" in page
            [session] = _rows(page, "session")
            assert ok.session_id in session and "shop" in session and "claude-code" in session
            assert f'href="/ui/threads/{ok.session_id}"' in page
            assert 'href="/ui/memories?ns=projects/shop/conversations"' in page
            failed, waiting = _rows(page, "job")
            assert (
                "failed 1 time" in failed
                and "no capture session for" in failed
                and str(broken.path) in failed
            )
            assert "waiting" in waiting and str(ok.path) in waiting
            [error] = _rows(page, "hook-error")
            assert "storing captured turns failed (attempt 1; kept and retried)" in error
            # The captured session is a thread, marked as such, whose messages are the turns.
            threads = (await client.get("/ui/threads")).text
            assert "captured: claude-code · shop" in threads
            thread = (await client.get(f"/ui/threads/{ok.session_id}")).text
            assert "Captured from a claude-code session" in thread and "shopdb-staging" in thread
            # Paged: one of each per page.
            page = (await client.get("/ui/captures", params={"limit": "1"})).text
            assert len(_rows(page, "job")) == 1 and 'id="jobs-next"' in page
            following = re.search(r'id="jobs-next" href="([^"]+)"', page).group(1)
            nxt = (await client.get(html_unescape(following))).text
            assert [str(ok.path) in r for r in _rows(nxt, "job")] == [True] and 'id="jobs-next"' not in nxt
    finally:
        lock.release()


async def test_writes_need_our_origin_and_the_session_csrf_token(data_dir: Path) -> None:
    async with ui_client(data_dir) as client:
        mid = await _create(client, "keep me")
        csrf = csrf_of((await client.get(f"/ui/memory/{mid}/delete", params={"ns": NS})).text)
        path, fields = f"/ui/memory/{mid}/delete", {"csrf": csrf, "ns": NS}
        refusals = [
            (await post_form(client, path, fields, origin=None), "carries no Origin"),
            (await post_form(client, path, fields, origin="http://127.0.0.1:9999"), "not from this server"),
            (await post_form(client, path, fields, origin="http://evil.example"), "not from this server"),
            (await post_form(client, path, {**fields, "csrf": "guess"}), "security token does not match"),
            (await post_form(client, path, {"ns": NS}), "security token does not match"),
        ]
        res = await client.post(
            path,
            content="csrf=" + csrf + "&ns=" + NS,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "origin": BASE,
                "sec-fetch-site": "same-site",
            },
        )
        refusals.append((res, "came from another site"))
        for res, why in refusals:
            assert res.status_code == 403 and why in res.text, res.text[-300:]
        assert (await client.get(f"/memories/{mid}", params={"namespace": NS})).status_code == 200
        # A GET never deletes: it only asks.
        assert (await client.get(path, params={"ns": NS})).status_code == 200
        res = await post_form(client, path, fields)
        assert res.status_code == 303 and f"deleted={mid}" in res.headers["location"]
        assert (await client.get(f"/memories/{mid}", params={"namespace": NS})).status_code == 404


async def test_without_tokens_only_this_machine_by_its_own_name(data_dir: Path) -> None:
    async with ui_client(data_dir, client_host="192.0.2.7") as client:
        res = await client.get("/ui/")
        assert res.status_code == 403 and "only this machine" in res.text
    async with ui_client(data_dir) as client:
        res = await client.get("/ui/", headers={"host": "rebound.example:8765"})
        assert res.status_code == 403 and "open the memory browser as http://127.0.0.1" in res.text
        assert (await client.get("/ui/", headers={"host": "localhost:8765"})).status_code == 200


async def test_token_login_limits_everything_to_its_namespaces(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, llm="none")
    async with open_services(settings) as svc:
        alice = (await svc.tokens.create("users/alice")).token
        await svc.memories.create("Alice keeps bees", ["users", "alice", "notes"])
        await svc.memories.create("Bob's PIN is 0000", ["users", "bob", "notes"])
    async with ui_client(data_dir) as client:
        res = await client.get("/ui/memories", params={"ns": "users/alice/notes"})
        assert res.status_code == 303 and res.headers["location"].startswith("/ui/login?next=")
        login = await client.get(res.headers["location"])
        csrf = csrf_of(login.text)
        bad = await post_form(client, "/ui/login", {"csrf": csrf, "token": "lmm_wrong", "next": "/ui/"})
        assert bad.status_code == 401 and "not valid" in bad.text
        before = client.cookies.get("langmem_ui")
        ok = await post_form(
            client, "/ui/login", {"csrf": csrf, "token": alice, "next": "https://evil.example/"}
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/"  # no open redirect
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert client.cookies.get("langmem_ui") != before  # a new session id on login
        home = await client.get("/ui/")
        assert "users/alice/notes" in home.text and "bob" not in home.text
        assert (
            "Alice keeps bees" in (await client.get("/ui/memories", params={"ns": "users/alice/notes"})).text
        )
        res = await client.get("/ui/memories", params={"ns": "users/bob/notes"})
        assert res.status_code == 403 and "PIN" not in res.text
        res = await client.get("/ui/changes", params={"ns": "users/bob/notes"})
        assert res.status_code == 403
        # Captured sessions are this machine's, outside every token's namespaces.
        assert 'href="/ui/captures"' not in home.text
        res = await client.get("/ui/captures")
        assert res.status_code == 403 and "outside any token&#39;s namespaces" in res.text
        # Revoking the token ends the session at once.
        async with open_services(settings) as svc:
            [row] = await svc.tokens.list()
            await svc.tokens.revoke(row.id)
            await svc.tokens.create("users/carol")  # tokens still in use: login stays required
        res = await client.get("/ui/")
        assert res.status_code == 303 and "/ui/login" in res.headers["location"]


async def test_service_pages(data_dir: Path) -> None:
    async with ui_client(data_dir, LANGMEM_MCP_FORMATION_DELAY_SECONDS="3600") as client:
        res = await client.post(
            "/threads",
            json={
                "id": "t-1",
                "messages": [
                    {"role": "user", "content": "I moved to <Lisbon>", "metadata": {"user_id": "ana"}},
                    {"role": "assistant", "content": "Noted."},
                ],
            },
        )
        assert res.status_code == 200, res.text
        res = await client.post(
            "/memory-functions",
            json={
                "type": "user_state",
                "name": "profile",
                "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        )
        assert res.status_code == 200, res.text
        threads = (await client.get("/ui/threads")).text
        assert "t-1" in threads and "pending" in threads
        thread = (await client.get("/ui/threads/t-1")).text
        assert "I moved to &lt;Lisbon&gt;" in thread and "Noted." in thread
        assert "ana" in (await client.get("/ui/users")).text
        user = (await client.get("/ui/users/ana")).text
        assert "profile" in user and "needs_llm" in user and 'href="/ui/memories?ns=users/ana"' in user
        assert "profile" in (await client.get("/ui/functions")).text
        formation = (await client.get("/ui/formation")).text
        assert (
            "LANGMEM_MCP_LLM=none" in formation and "t-1" in formation and "profile (user_state)" in formation
        )
        await client.post("/threads/t-1/trigger-all", json={})
        formation = (await client.get("/ui/formation")).text
        assert "user_semantic_memory" in formation and "formed" in formation and "needs_llm" in formation
        assert "No model calls yet" in (await client.get("/ui/llm")).text


async def test_prompt_versions_with_a_diff(data_dir: Path) -> None:
    async with open_services(Settings(data_dir=data_dir, llm="none")) as svc:
        await svc.llm.versions.add(
            "", "support", "You are helpful.\nAnswer briefly.", "given", "gradient", ""
        )
        await svc.llm.versions.add(
            "",
            "support",
            "You are helpful.\nAnswer briefly, <cite> sources.",
            "optimized",
            "gradient",
            "cite more",
        )
    async with ui_client(data_dir) as client:
        assert 'href="/ui/llm/prompts/support"' in (await client.get("/ui/llm")).text
        html = (await client.get("/ui/llm/prompts/support")).text
        assert '<span class="removed">- Answer briefly.</span>' in html
        assert '<span class="added">+ Answer briefly, &lt;cite&gt; sources.</span>' in html
        assert html.index("Version 2") < html.index("Version 1") and "cite more" in html


async def test_live_version_moves_with_writes_from_any_process(data_dir: Path) -> None:
    async with ui_client(data_dir) as client:

        async def version(**params: str) -> str:
            res = await client.get("/ui/changes", params=params)
            assert res.status_code == 200
            return res.json()["version"]

        mid = await _create(client, "first")
        v1, t1, m1 = await version(ns=NS), await version(), await version(ns=NS, id=mid)
        assert await version(ns=NS) == v1  # nothing changed: same answer
        page = (await client.get("/ui/memories", params={"ns": NS})).text
        assert f'data-version="{v1}"' in page
        await _create(client, "second")
        v2 = await version(ns=NS)
        assert v2 != v1 and await version() != t1 and await version(ns=NS, id=mid) == m1
        # Another process on the same data dir (a host's stdio server) writes: the page sees it.
        async with open_services(Settings(data_dir=data_dir, llm="none")) as other:
            await other.memories.update(mid, ["memories", "project-x"], content="first, corrected")
        assert await version(ns=NS) != v2 and await version(ns=NS, id=mid) != m1
        async with open_services(Settings(data_dir=data_dir, llm="none")) as other:
            await other.memories.delete(mid, ["memories", "project-x"])
        assert await version(ns=NS, id=mid) == "gone"


def test_templates_ship_with_the_package() -> None:
    import langmem_mcp.server.ui as ui

    here = Path(ui.__file__).parent
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"langmem_mcp.server.ui" = ["templates/*.html", "static/*"]' in pyproject
    assert '"langmem_mcp.server.ui"' in re.search(r"packages = \[(.*?)\]", pyproject, re.S).group(1)
    assert {p.name for p in (here / "static").iterdir()} == {"app.js", "app.css"}
    # Every template a page renders is one the package ships.
    rendered = set(
        re.findall(r'"(\w+\.html)"', (here / "pages.py").read_text() + (here / "actions.py").read_text())
    )
    rendered |= {"base.html", "error.html"}
    assert rendered == {p.name for p in (here / "templates").glob("*.html")}


async def test_a_search_from_to_dates_includes_the_whole_last_day(data_dir: Path) -> None:
    """The search form's From and To boxes take dates as the list does: To includes its day."""
    from langmem_mcp.service.memories import NewItem

    async with open_services(Settings(data_dir=data_dir)) as services:
        await services.memories.create_many(
            [
                NewItem(f"harbour note {i}", NS.split("/"), created_at=f"2025-03-{i:02d}T18:00:00+00:00")
                for i in range(1, 7)
            ]
        )
    async with ui_client(data_dir) as client:
        res = await client.get(
            "/ui/memories", params={"ns": NS, "q": "harbour note", "from": "2025-03-03", "to": "2025-03-05"}
        )
        assert res.status_code == 200, res.text[-400:]
        shown = set(re.findall(r"harbour note (\d)", res.text))
        assert shown == {"3", "4", "5"}
        res = await client.get(
            "/ui/memories", params={"ns": NS, "q": "harbour note", "to": "2025-03-02T12:00"}
        )
        assert set(re.findall(r"harbour note (\d)", res.text)) == {"1"}
