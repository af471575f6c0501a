"""The memory browser in a real browser: headless Chromium (Debian's), driven by Playwright, against
`langmem-mcp serve --transport http` spawned on a temporary data dir, while an MCP client talks to
the same server as an assistant would. Screenshots go to LANGMEM_UI_SCREENSHOTS (or the test's
temporary directory); two of them are in the README."""

from __future__ import annotations

import asyncio
import http.server
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
import pytest_asyncio

from tests.browser import chromium, screenshot_dir, why_no_browser
from tests.capture_support import Transcript
from tests.http_server import Server, create_token, http_server, mcp_session
from tests.mcp_client import call, server_env, stdio_session
from tests.test_capture_hooks import context, hook, stored

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(why_no_browser() is not None, reason=why_no_browser() or ""),
    pytest.mark.asyncio(loop_scope="module"),
]

#: How long a page may take to show a change made elsewhere (it polls every second).
LIVE_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui") / "data"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(data_dir: Path) -> AsyncIterator[Server]:
    async with http_server(data_dir, LANGMEM_MCP_LLM="none") as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("screenshots"))


@asynccontextmanager
async def tab(browser: Browser, server: Server) -> AsyncIterator[tuple[BrowserContext, Page, list[str]]]:
    """A fresh browser profile (no cookies) with one page; also the page's script errors."""
    context = await browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text) if msg.type == "error" and "status of 4" not in msg.text else None
        ),
    )
    try:
        yield context, page, problems
    finally:
        await context.close()


async def remember(
    server: Server, namespace: list[str], *contents: str, token: str | None = None
) -> list[str]:
    """Save memories as an assistant does: manage_memory over MCP (streamable HTTP)."""
    ids = []
    async with mcp_session(server, token=token) as s:
        for content in contents:
            ids.append((await call(s, "manage_memory", content=content, namespace=namespace))["id"])
    return ids


async def search(server: Server, query: str, namespace: list[str]) -> list[dict[str, Any]]:
    async with mcp_session(server) as s:
        return (await call(s, "search_memory", query=query, namespace=namespace))["memories"]


# -- the namespace tree -------------------------------------------------------------------------------
async def test_namespace_tree_shows_counts_and_lookalike_names(
    browser: Browser, server: Server, shots: Path
) -> None:
    await remember(
        server,
        ["team", "project-x"],
        "Deploys go out on Tuesdays",
        "The API is versioned by date",
        "Staging is on ARM",
    )
    await remember(server, ["team", "project_x"], "Someone saved this under an underscore")
    await remember(server, ["team", "project-y"], "Project Y uses Postgres 17", "Project Y's owner is Dana")
    await remember(server, ["users", "alice"], "Alice prefers tabs over spaces")
    async with tab(browser, server) as (_, page, problems):
        await page.goto("/ui/")
        assert await page.inner_text("h1") == "Namespaces"
        row = page.locator('tr[data-ns="team/project-x"]')
        assert await row.locator("td.own").inner_text() == "3"
        assert "looks like project_x" in await row.inner_text()
        odd = page.locator('tr[data-ns="team/project_x"]')
        assert (
            "lookalike" in (await odd.get_attribute("class") or "")
            and "looks like project-x" in await odd.inner_text()
        )
        assert "looks like" not in await page.locator('tr[data-ns="team/project-y"]').inner_text()
        parent = await page.locator('tr[data-ns="team"]').inner_text()
        assert re.search(r"\b0\s+6\b", parent) and "no memories of its own" in parent
        # The default namespace is listed (and marked empty) although nothing is stored there.
        default = await page.locator('tr[data-ns="memories"]').inner_text()
        assert "empty" in default and "default namespace" in default
        await page.screenshot(path=shots / "tree.png", full_page=True)
        await page.click('tr[data-ns="team/project-x"] a')
        await page.wait_for_url(re.compile(r"/ui/memories\?ns=team/project-x$"))
        texts = await page.locator("tr.memory .content").all_inner_texts()
        assert texts == ["Staging is on ARM", "The API is versioned by date", "Deploys go out on Tuesdays"]
        assert problems == []


# -- search and its reasons ---------------------------------------------------------------------------
SEARCH_NS = ["search", "demo"]
FACTS = (
    "Alice deploys the billing service with Kubernetes every Friday afternoon",
    "Bob's favourite tea is a smoky lapsang souchong",
    "The staging cluster runs on three small ARM nodes",
    "Carol is learning Rust to rewrite the log shipper",
    "On-call rotation changes on Mondays at 9:00",
)


async def test_search_shows_why_each_result_ranked_there(
    browser: Browser, server: Server, shots: Path
) -> None:
    await remember(server, SEARCH_NS, *FACTS)
    async with tab(browser, server) as (_, page, problems):
        await page.goto("/ui/memories?ns=search/demo")
        await page.fill('input[name="q"]', "who deploys to kubernetes?")
        await page.click('form.search button[type="submit"]')
        await page.wait_for_selector("table.results")
        headers = await page.locator("table.results th").all_inner_texts()
        assert headers[2:5] == ["Keyword rank", "Meaning rank", "Fused"]
        first = page.locator("tr.hit").first
        assert (await first.locator(".content").inner_text()).startswith("Alice deploys")
        keyword = int(await first.locator("td.why-keyword").inner_text())
        meaning = int(await first.locator("td.why-meaning").inner_text())
        assert keyword == 1
        assert (
            await first.locator("td.why-fused").inner_text() == f"{1 / (5 + keyword) + 1 / (5 + meaning):.4f}"
        )
        # Results without the words rank by meaning alone: no keyword rank.
        assert "—" in await page.locator("td.why-keyword").all_inner_texts()
        # Weighted by recency and importance: each part of the score is shown, and they add up.
        await page.click("details.weights summary")
        await page.fill('input[name="w_rec"]', "0.5")
        await page.fill('input[name="w_imp"]', "0.25")
        await page.click('form.search button[type="submit"]')
        await page.wait_for_selector("td.why-recency")
        for row in await page.locator("tr.hit").all():
            parts = [
                float(await row.locator(f"td.why-{p}").inner_text())
                for p in ("relevance", "recency", "importance")
            ]
            assert sum(parts) == pytest.approx(float(await row.locator("td.score").inner_text()), abs=0.003)
            assert parts[2] == pytest.approx(0.125, abs=0.001)  # importance 0.5 × weight 0.25
        await page.screenshot(path=shots / "search.png", full_page=True)
        assert problems == []


# -- a correction, seen by the assistant -------------------------------------------------------------
async def test_edit_is_what_search_memory_finds_next(browser: Browser, server: Server) -> None:
    [mid] = await remember(server, ["edit", "alice"], "Alice's editor is Vim")
    async with tab(browser, server) as (_, page, problems):
        await page.goto("/ui/memories?ns=edit/alice")
        await page.click("tr.memory a.content-link")
        await page.wait_for_selector("#edit-form")
        await page.fill('textarea[name="content"]', "Alice's editor is Helix since March")
        await page.fill('textarea[name="metadata"]', '{"kind": "tool"}')
        await page.click('#edit-form button[type="submit"]')
        await page.wait_for_selector("#saved")
        assert await page.inner_text("#memory-content") == "Alice's editor is Helix since March"
        assert problems == []
    hits = await search(server, "which editor does Alice use? Helix", ["edit", "alice"])
    assert hits[0]["id"] == mid and hits[0]["content"] == "Alice's editor is Helix since March"
    assert hits[0]["metadata"] == {"kind": "tool"}
    assert all("Vim" not in h["content"] for h in hits)


# -- history and supersede -------------------------------------------------------------------------------
async def test_history_shows_a_correction_made_over_mcp(browser: Browser, server: Server) -> None:
    ns = ["history", "carol"]
    [mid] = await remember(server, ns, "Carol's laptop runs Fedora 40")
    async with mcp_session(server) as s:
        await call(
            s, "manage_memory", action="update", id=mid, content="Carol's laptop runs Fedora 41", namespace=ns
        )
    async with tab(browser, server) as (_, page, problems):
        await page.goto(f"/ui/memory/{mid}?ns=history/carol")
        rows = page.locator("table.history tr.version")
        assert await rows.count() == 2
        first, now = [await r.inner_text() for r in await rows.all()]
        assert "created" in first and "Fedora 40" in first
        assert "corrected" in now and "now" in now and "Fedora 41" in now
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first)  # when it came about
        # A further correction over MCP shows up in the open page's history, without a reload.
        await page.wait_for_selector("#live-status[data-state=live]")
        await page.evaluate("window.__sameDocument = 'yes'")
        async with mcp_session(server) as s:
            await call(
                s,
                "manage_memory",
                action="update",
                id=mid,
                content="Carol's laptop runs Fedora 42",
                namespace=ns,
            )
        await page.wait_for_selector("table.history tr.version >> nth=2", timeout=LIVE_TIMEOUT_MS)
        assert await page.evaluate("window.__sameDocument") == "yes"
        assert await page.inner_text("#memory-content") == "Carol's laptop runs Fedora 42"
        assert problems == []


async def test_supersede_from_the_page_is_what_search_memory_finds(
    browser: Browser, server: Server, shots: Path
) -> None:
    ns = ["history", "dana"]
    [boston, _] = await remember(server, ns, "Dana lives in Bostn", "Dana's bike is a green Brompton")
    async with mcp_session(server) as s:  # a correction first: the history shows every kind of change
        await call(
            s, "manage_memory", action="update", id=boston, content="Dana lives in Boston", namespace=ns
        )
    async with tab(browser, server) as (_, page, problems):
        await page.goto(f"/ui/memory/{boston}?ns=history/dana")
        await page.fill('#supersede-form textarea[name="content"]', "Dana lives in Denver since May")
        await page.click('#supersede-form button[type="submit"]')
        await page.wait_for_selector("#saved")
        assert "Saved as a new memory" in await page.inner_text("#saved")
        denver = page.url.split("/ui/memory/")[1].split("?")[0]
        assert await page.inner_text("#memory-content") == "Dana lives in Denver since May"
        chain = await page.locator("table.chain tr.link").all_inner_texts()
        assert len(chain) == 2 and "Dana lives in Boston" in chain[0] and "superseded" in chain[0]
        assert "Denver" in chain[1] and "this memory" in chain[1]
        # The old memory, from the chain: superseded, with its validity, and no supersede form.
        await page.click("table.chain tr.link >> nth=0 >> a")
        await page.wait_for_selector("#validity-note")
        assert "Superseded on" in await page.inner_text("#validity-note")
        assert await page.inner_text("#status") == "superseded"
        assert await page.locator("#supersede-form").count() == 0
        assert "until" in await page.inner_text("#validity")
        changes = await page.locator("table.history tr.version td:nth-child(2)").all_inner_texts()
        assert [c.split()[0] for c in changes] == ["created", "corrected", "superseded"]
        await page.screenshot(path=shots / "history.png", full_page=True)
        await page.click("#superseded-by")
        await page.wait_for_url(re.compile(rf"/ui/memory/{denver}\?"))
        assert problems == []
    hits = await search(server, "where does Dana live?", ns)
    assert hits[0]["id"] == denver and hits[0]["content"] == "Dana lives in Denver since May"
    assert boston not in [h["id"] for h in hits]
    async with mcp_session(server) as s:
        everything = await call(
            s, "search_memory", query="where does Dana live?", namespace=ns, include_superseded=True
        )
    old = next(m for m in everything["memories"] if m["id"] == boston)
    assert old["superseded_by"] == denver and old["valid_to"]


async def test_the_namespace_filter_shows_current_superseded_or_all(browser: Browser, server: Server) -> None:
    ns = ["history", "erin"]
    [old, _] = await remember(server, ns, "Erin's team is Payments", "Erin drinks oat flat whites")
    async with mcp_session(server) as s:
        new = (
            await call(
                s, "manage_memory", action="supersede", id=old, content="Erin's team is Search", namespace=ns
            )
        )["id"]
    async with tab(browser, server) as (_, page, problems):
        await page.goto("/ui/memories?ns=history/erin")
        ids = await page.locator("tr.memory").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert new in ids and old not in ids and len(ids) == 2
        assert "2 current memories · 1 superseded" in await page.inner_text("#ns-count")
        await page.select_option("#show", "superseded")
        await page.click('form.search button[type="submit"]')
        await page.wait_for_url(re.compile(r"show=superseded"))
        rows = page.locator("tr.memory")
        assert await rows.count() == 1 and await rows.get_attribute("data-id") == old
        assert "superseded" in await rows.locator(".superseded-badge").inner_text()
        await rows.locator("a.successor").click()
        await page.wait_for_url(re.compile(rf"/ui/memory/{new}\?"))
        await page.go_back()
        await page.select_option("#show", "all")
        await page.fill('input[name="q"]', "which team is Erin on?")
        await page.click('form.search button[type="submit"]')
        await page.wait_for_selector("table.results")
        hits = await page.locator("tr.hit").evaluate_all("rows => rows.map(r => [r.dataset.id, r.className])")
        assert {old, new} <= {i for i, _ in hits}
        assert [c for i, c in hits if i == old] == ["hit superseded"]
        assert problems == []


# -- captures ------------------------------------------------------------------------------------------
async def test_captures_page_lists_what_the_hooks_stored(
    browser: Browser, server: Server, data_dir: Path, tmp_path: Path
) -> None:
    t = Transcript(tmp_path / "session.jsonl", tmp_path / "garden")
    t.exchange("The tomatoes get watered at 7:00.", "Noted: watering at 7:00.")
    assert context(hook(data_dir, "stop", t.hook_input("Stop"))) == ""
    assert (
        context(hook(data_dir, "stop", {"hook_event_name": "Stop", "session_id": "lost"})) == ""
    )  # recorded
    deadline = asyncio.get_running_loop().time() + 60
    while not stored(data_dir, t.session_id, 2):
        assert asyncio.get_running_loop().time() < deadline, "the hook's turns were not stored"
        await asyncio.sleep(0.1)
    async with tab(browser, server) as (_, page, problems):
        await page.goto("/ui/")
        await page.click("header nav a:text('Captures')")
        await page.wait_for_url(re.compile(r"/ui/captures$"))
        row = page.locator(f'tr.session[data-thread="{t.session_id}"]')
        text = await row.inner_text()
        assert "garden" in text and "claude-code" in text and str(t.path) in text
        assert "The queue is empty" in await page.inner_text("#queue-state")
        error = await page.locator("tr.hook-error").first.inner_text()
        assert "has no transcript_path" in error and "Stop" in error
        await row.locator(f'a[href="/ui/threads/{t.session_id}"]').click()
        await page.wait_for_selector("#captured")
        assert "Captured from a claude-code session of project garden" in await page.inner_text("#captured")
        messages = await page.locator("ol.messages li").all_inner_texts()
        assert "The tomatoes get watered at 7:00." in messages[0] and "Noted" in messages[1]
        await page.click("#captured a:text('garden')")
        await page.wait_for_url(re.compile(r"ns=projects/garden/conversations"))
        texts = await page.locator("tr.memory .content").all_inner_texts()
        assert texts == ["Assistant: Noted: watering at 7:00.", "User: The tomatoes get watered at 7:00."]
        assert problems == []


# -- live updates --------------------------------------------------------------------------------------
async def test_memory_saved_by_an_assistant_appears_without_a_reload(
    browser: Browser, server: Server
) -> None:
    await remember(server, ["live", "bob"], "Bob lives in Porto")
    async with tab(browser, server) as (_, page, problems):
        await page.goto("/ui/memories?ns=live/bob")
        await page.wait_for_selector("#live-status[data-state=live]")
        await page.evaluate("window.__sameDocument = 'yes'")
        await remember(server, ["live", "bob"], "Bob adopted a greyhound named Comet")
        await page.wait_for_selector("text=Bob adopted a greyhound named Comet", timeout=LIVE_TIMEOUT_MS)
        assert await page.evaluate("window.__sameDocument") == "yes"  # the same document: no reload
        assert await page.inner_text("#ns-count") == "2 current memories"
        assert "updated" in await page.inner_text("#live-status")
        # And the tree on another tab follows too.
        home = await page.context.new_page()
        await home.goto("/ui/")
        await home.wait_for_selector("#live-status[data-state=live]")
        await remember(server, ["live", "new-place"], "A namespace that did not exist a second ago")
        await home.wait_for_selector('tr[data-ns="live/new-place"]', timeout=LIVE_TIMEOUT_MS)
        assert problems == []


async def test_memory_saved_by_a_hosts_stdio_server_appears_too(
    browser: Browser, server: Server, data_dir: Path
) -> None:
    """The usual setup: a desktop host spawned its own stdio server on the same data dir."""
    await remember(server, ["live", "desktop"], "Dana uses a standing desk")
    async with tab(browser, server) as (_, page, problems):
        await page.goto("/ui/memories?ns=live/desktop")
        await page.wait_for_selector("#live-status[data-state=live]")
        await page.evaluate("window.__sameDocument = 'yes'")
        async with stdio_session(data_dir, LANGMEM_MCP_LLM="none") as s:
            await call(
                s, "manage_memory", content="Dana switched to a split keyboard", namespace=["live", "desktop"]
            )
        await page.wait_for_selector("text=Dana switched to a split keyboard", timeout=LIVE_TIMEOUT_MS)
        assert await page.evaluate("window.__sameDocument") == "yes"
        assert problems == []


# -- forgetting -----------------------------------------------------------------------------------------
async def test_delete_asks_first_and_forgets(browser: Browser, server: Server, shots: Path) -> None:
    [mid] = await remember(server, ["forget", "me"], "Dana's old phone number is 555-0100")
    async with tab(browser, server) as (_, page, problems):
        await page.goto(f"/ui/memory/{mid}?ns=forget/me")
        await page.click("#delete-link")
        confirm = await page.inner_text("#confirm-text")
        assert "together with its history" in confirm and "no undo" in confirm
        await page.screenshot(path=shots / "delete-confirmation.png")
        # Nothing is gone until the confirmation is given.
        assert [h["id"] for h in await search(server, "Dana phone number", ["forget", "me"])] == [mid]
        await page.click("#confirm-delete")
        await page.wait_for_url(re.compile(r"/ui/memories\?ns=forget/me&deleted="))
        assert mid in await page.inner_text("p.ok")
        assert "No memories here" in await page.inner_text("#memories")
        assert problems == []
    assert await search(server, "Dana phone number", ["forget", "me"]) == []
    async with httpx2.AsyncClient(base_url=server.url) as client:
        assert (await client.get(f"/memories/{mid}", params={"namespace": "forget/me"})).status_code == 404


# -- escaping -------------------------------------------------------------------------------------------
EVIL = "<script>window.__pwned = 'script'</script><img src=\"x\" onerror=\"window.__pwned = 'img'\"><b>not bold</b>"


async def test_a_script_in_a_memory_is_shown_as_text(browser: Browser, server: Server) -> None:
    ns = ["xss", "<i>ns"]
    [mid] = await remember(server, ns, EVIL)
    q = "ns=xss/%3Ci%3Ens"
    async with tab(browser, server) as (_, page, problems):
        for url in (
            "/ui/",
            f"/ui/memories?{q}",
            f"/ui/memories?{q}&q=window+pwned+script",
            f"/ui/memory/{mid}?{q}",
            f"/ui/memory/{mid}/delete?{q}",
        ):
            await page.goto(url)
            assert await page.evaluate("window.__pwned") is None, url
            assert await page.locator("img, b:text('not bold'), i:text('ns')").count() == 0, url
            if "/ui/memor" in url:
                assert "<script>window.__pwned" in await page.inner_text("main"), url
        await page.goto(f"/ui/memory/{mid}?{q}")
        assert await page.inner_text("#memory-content") == EVIL
        assert "xss/<i>ns" in await page.inner_text("dl.facts")
        assert problems == []


# -- tokens ---------------------------------------------------------------------------------------------
async def test_token_login_shows_only_the_tokens_namespaces(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, shots: Path
) -> None:
    data_dir = tmp_path_factory.mktemp("tokens") / "data"
    alice, bob = create_token(data_dir, "users/alice"), create_token(data_dir, "users/bob")
    async with http_server(data_dir, LANGMEM_MCP_LLM="none") as server:
        await remember(server, ["users", "alice", "notes"], "Alice keeps bees", token=alice)
        await remember(server, ["users", "bob", "secrets"], "Bob's locker code is 4711", token=bob)
        async with tab(browser, server) as (context, page, _):
            await page.goto("/ui/memories?ns=users/bob/secrets")
            await page.wait_for_url(re.compile(r"/ui/login\?next="))
            await page.fill('input[name="token"]', "lmm_not-a-real-token")
            await page.click('button[type="submit"]')
            assert "not valid" in await page.inner_text("p.error")
            await page.fill('input[name="token"]', alice)
            await page.screenshot(path=shots / "login.png")
            await page.click('button[type="submit"]')
            # Sent back where it was going, which is not alice's to see.
            await page.wait_for_selector("#error-message")
            assert "outside it" in await page.inner_text("#error-message")
            assert "4711" not in await page.content()
            cookie = next(c for c in await context.cookies() if c["name"] == "langmem_ui")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
            await page.goto("/ui/")
            names = await page.locator("tr[data-ns]").evaluate_all("rows => rows.map(r => r.dataset.ns)")
            assert names == ["users", "users/alice", "users/alice/notes"]
            assert "bob" not in (await page.content()).lower()
            assert "token for users/alice" in await page.inner_text("header .who")
            await page.click("header .who button")
            await page.wait_for_url(re.compile(r"/ui/login$"))
            await page.goto("/ui/")
            await page.wait_for_url(re.compile(r"/ui/login\?next="))


# -- cross-site requests --------------------------------------------------------------------------------
@contextmanager
def attacker_site(target: str) -> Iterator[str]:
    """Another site on this machine (another port) whose page posts a form to `target` at once."""
    page = (
        f'<html><body><form id="f" method="post" action="{target}">'
        '<input name="ns" value="csrf/victim"><input name="csrf" value="guessed"></form>'
        "<script>document.getElementById('f').submit()</script></body></html>"
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_cross_site_post_is_refused(browser: Browser, server: Server) -> None:
    [mid] = await remember(server, ["csrf", "victim"], "Erin's bank is Northwind")
    async with tab(browser, server) as (_, page, _problems):
        await page.goto("/ui/")  # the person has the memory browser open: a session cookie exists
        with attacker_site(f"{server.url}/ui/memory/{mid}/delete") as evil:
            async with page.expect_response(f"**/ui/memory/{mid}/delete") as answer:
                await page.goto(evil)
            response = await answer.value
            assert response.status == 403
            await page.wait_for_selector("#error-message")
            assert "another site" in await page.inner_text("#error-message")
    assert [h["id"] for h in await search(server, "Erin bank", ["csrf", "victim"])] == [mid]


# -- the ui command ---------------------------------------------------------------------------------------
async def test_ui_command_serves_and_opens_the_page(browser: Browser, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    fake_browser.chmod(fake_browser.stat().st_mode | stat.S_IXUSR)
    env = {
        **os.environ,
        **server_env(tmp_path / "data", LANGMEM_MCP_LLM="none"),
        "BROWSER": str(fake_browser),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "langmem_mcp", "ui", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not opened.exists() or not opened.read_text():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert asyncio.get_running_loop().time() < deadline, "the ui command opened no browser"
            await asyncio.sleep(0.1)
        url = opened.read_text()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/ui/", url)
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(url)
        assert await page.inner_text("h1") == "Namespaces"
        await context.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and f"memory browser: {url}" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
