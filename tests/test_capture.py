"""Capture in process, on a real data dir: what a transcript's lines become (thread messages with the
transcript's ids, conversation memories of the project, a summary), what is left out and redacted,
that reading again stores nothing twice, bad and unfinished lines, a failing job kept and retried,
the session-start context and its budget, and the relevance floor of prompt recall."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from langmem_mcp.config import Settings
from langmem_mcp.service import recall
from langmem_mcp.service.capture_accept import accept
from langmem_mcp.service.container import Services, open_services
from langmem_mcp.store import capture as store
from tests.capture_support import Transcript

CONVERSATIONS = ["projects", "shop", "conversations"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "shop"
    (path / ".git").mkdir(parents=True)  # a repository: its root names the project
    (path / "src").mkdir()
    return path


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(data_dir=tmp_path / "data", llm="none", user_id="ada")
    async with open_services(settings) as opened:
        yield opened


def connect(services: Services) -> sqlite3.Connection:
    return store.connect(services.settings.db_path)


def queue(services: Services, t: Transcript, event: str = "Stop", **options: Any) -> Any:
    conn = connect(services)
    try:
        return accept(conn, t.path, event=event, session_id=t.session_id, cwd=t.cwd, **options)
    finally:
        conn.close()


async def stored_messages(services: Services, thread: str) -> list[dict[str, Any]]:
    page = await services.threads.list_messages(thread, page_size=1000)
    return page.messages


async def conversation(services: Services) -> list[str]:
    page = await services.memories.list(CONVERSATIONS, limit=100)
    return [m.content for m in page.memories]


async def test_turns_become_thread_messages_and_conversation_memories(
    services: Services, project: Path
) -> None:
    t = Transcript(services.settings.data_dir.parent / "s1.jsonl", project / "src")
    t.write(
        t.user("Our staging database is called shopdb-staging."),
        t.thinking("The user states a fact."),
        t.tool_call("Bash", {"command": "psql -l"}),
        t.tool_result("shopdb-staging | owner=app"),
        t.reminder("Remember the todo list."),
        t.command_output("compacted"),
        t.assistant("Noted: shopdb-staging is the staging database."),
    )
    got = queue(services, t)
    assert (got.turns, got.project, got.thread_id) == (2, "shop", t.session_id)
    assert await services.capture.drain() == 1

    messages = await stored_messages(services, t.session_id)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Our staging database is called shopdb-staging."),
        ("assistant", "Noted: shopdb-staging is the staging database."),
    ]
    assert [m["metadata"]["id"] for m in messages] == t.ids  # the transcript's line ids
    assert messages[0]["metadata"]["user_id"] == "ada" and "user_id" not in messages[1]["metadata"]
    assert await conversation(services) == [
        "User: Our staging database is called shopdb-staging.",
        "Assistant: Noted: shopdb-staging is the staging database.",
    ]
    thread = await services.threads.get(t.session_id)
    assert thread.pending_formation  # formation is queued, as for any thread
    hits = await services.memories.search("staging database name", CONVERSATIONS)
    assert hits[0].content.startswith("User: Our staging database")


async def test_reading_again_stores_nothing_twice_and_continues_from_the_watermark(
    services: Services, project: Path
) -> None:
    t = Transcript(services.settings.data_dir.parent / "s1.jsonl", project)
    t.exchange("The invoice service is written in Go.", "Understood.")
    assert queue(services, t).turns == 2
    assert queue(services, t).turns == 0  # nothing new: no job
    assert queue(services, t, "PreCompact", summarize=True).job is not None  # a summary is asked for
    t.exchange("It listens on port 8081.", "Port 8081, noted.")
    assert queue(services, t).turns == 2  # only what was appended
    await services.capture.drain()

    # The watermark lost (a fresh data dir reading the same file, or an import of it): the ids
    # and the verbatim-duplicate rule keep every line stored once.
    conn = connect(services)
    conn.execute("UPDATE capture_sessions SET watermark = '{}'")
    conn.close()
    assert queue(services, t).turns == 4
    await services.capture.drain()
    assert len(await stored_messages(services, t.session_id)) == 4
    assert len(await conversation(services)) == 4


async def test_a_repeated_turn_is_one_conversation_memory(services: Services, project: Path) -> None:
    """The duplicate rule of memories (the same normalised text among current memories of the
    namespace) applies to captured turns: a turn said again, in any case or spacing, in this
    session or a later one, is not a second conversation memory; the thread keeps every message."""
    first = Transcript(services.settings.data_dir.parent / "s1.jsonl", project)
    first.exchange("Yes, go ahead.", "Running the migration.")
    first.exchange("yes,  go ahead", "Running the seed script.")
    later = Transcript(services.settings.data_dir.parent / "s2.jsonl", project)
    later.exchange("YES, go ahead!", "Deploying.")
    queue(services, first)
    queue(services, later)
    assert await services.capture.drain() == 2  # both jobs done, none failing
    assert store.queue_state(connect(services)).waiting == 0
    said = [m["content"] for m in await stored_messages(services, first.session_id)]
    assert said[::2] == ["Yes, go ahead.", "yes,  go ahead"]
    assert len(await stored_messages(services, later.session_id)) == 2
    assert sorted(await conversation(services)) == [
        "Assistant: Deploying.",
        "Assistant: Running the migration.",
        "Assistant: Running the seed script.",
        "User: Yes, go ahead.",
    ]


async def test_secrets_and_private_spans_never_reach_the_store(services: Services, project: Path) -> None:
    key = "sk-ant-api03-" + "Q7x" * 30
    t = Transcript(services.settings.data_dir.parent / "s1.jsonl", project)
    t.write(
        t.user(f"Deploy with ANTHROPIC_API_KEY={key} please"),
        t.user("<private>my home address is 1 Elm Street</private>"),
        t.assistant("Deploying <private>to the secret box</private> now."),
    )
    queue(services, t)
    raw = services.settings.db_path.read_bytes()
    await services.capture.drain()
    texts = [m["content"] for m in await stored_messages(services, t.session_id)]
    assert texts == [
        "Deploy with ANTHROPIC_API_KEY=[redacted: anthropic-api-key] please",
        "Deploying [private] now.",
    ]
    assert all(key not in c and "Elm Street" not in c for c in await conversation(services))
    for path in services.settings.data_dir.iterdir():  # nor any file of the data dir, queue included
        if path.is_file():
            assert key.encode() not in path.read_bytes() and b"Elm Street" not in path.read_bytes(), path
    assert key.encode() not in raw


async def test_bad_and_unfinished_lines(services: Services, project: Path) -> None:
    t = Transcript(services.settings.data_dir.parent / "s1.jsonl", project)
    t.exchange("First prompt about the cache layer.", "First answer.")
    with open(t.path, "a") as f:
        f.write('{"type": "user", "message": {"role": "user", "content": "cut off\n')  # corrupt line 3
        f.write("[1, 2]\n")  # a JSON list, not an object: line 4
    t.exchange("Second prompt about the cache layer.", "Second answer.")
    last = t.user("A prompt still being written")
    t.write(last, newline_at_end=False)  # a truncated last line: the writer is not done

    got = queue(services, t)
    assert got.turns == 4
    assert [(p.line, p.reason.split(":")[0]) for p in got.problems] == [
        (3, "invalid JSON"),
        (4, "a JSON list, not an object"),
    ]
    with open(t.path, "a") as f:
        f.write("\n")  # the line is finished
    assert queue(services, t).turns == 1
    await services.capture.drain()
    assert [m["content"] for m in await stored_messages(services, t.session_id)][-1] == (
        "A prompt still being written"
    )


async def test_a_failing_job_is_kept_reported_and_retried(services: Services, project: Path) -> None:
    t = Transcript(services.settings.data_dir.parent / "s1.jsonl", project)
    t.exchange("The cron job runs at 02:00 UTC.", "OK.")
    queue(services, t)
    conn = connect(services)
    # A real fault: the session the job belongs to is gone (an export restored without it).
    saved = conn.execute("SELECT * FROM capture_sessions").fetchall()
    conn.execute("DELETE FROM capture_sessions")
    assert await services.capture.drain() == 0
    [(attempts, error, retry_at)] = conn.execute(
        "SELECT attempts, last_error, retry_at FROM capture_jobs"
    ).fetchall()
    assert attempts == 1 and "no capture session" in error and retry_at
    state = store.queue_state(conn)
    assert (state.waiting, state.failing) == (1, 1)
    log = (services.settings.data_dir / "hook-errors.jsonl").read_text()
    assert "kept and retried" in log and str(t.path) in log
    assert await services.capture.drain() == 0  # backing off: not retried at once

    waits = datetime.fromisoformat(retry_at) - datetime.now(UTC)
    assert timedelta(0) < waits <= timedelta(seconds=store.RETRY_BASE_SECONDS * 2)

    marks = ", ".join("?" * len(saved[0]))
    conn.execute(f"INSERT INTO capture_sessions VALUES ({marks})", saved[0])
    assert await services.capture.drain() == 0  # still backing off
    # Its back-off is over (the clock moved on): it is stored at the next drain.
    conn.execute("UPDATE capture_jobs SET retry_at = ?", (datetime.now(UTC).isoformat(),))
    conn.close()
    assert await services.capture.drain() == 1
    assert len(await stored_messages(services, t.session_id)) == 2
    assert store.queue_state(connect(services)).waiting == 0


async def test_session_summary_and_the_session_start_context(services: Services, project: Path) -> None:
    settings = services.settings
    scope = recall.Scope("ada", settings.namespace, "shop")
    conn = connect(services)
    assert recall.session_context(conn, scope, "new", 2000) == ""  # nothing known: nothing injected

    await services.memories.create("Ada prefers short answers without preamble.", importance=0.9)
    await services.memories.create(
        "Ada's first prompt today", ["users", "ada"], metadata={"source": "message"}
    )
    await services.memories.create("The shop uses Stripe for payments.", ["projects", "shop"], importance=0.8)
    for i in range(40):
        await services.memories.create(f"Minor detail number {i} about the shop's CSS.", ["projects", "shop"])
    t = Transcript(settings.data_dir.parent / "s1.jsonl", project)
    t.exchange(
        "We moved the checkout to a separate service called till.", "Till is now the checkout service."
    )
    queue(services, t, "SessionEnd", summarize=True)
    await services.capture.drain()

    text = recall.session_context(conn, scope, "new", 2000)
    assert len(text) <= 2000
    assert text.startswith("Long-term memory (langmem-mcp)")
    assert "About the user:\n- Ada prefers short answers" in text
    assert "first prompt today" not in text  # raw messages kept by formation are not knowledge
    assert "Project shop:\n- The shop uses Stripe for payments." in text  # most important first
    assert "Last session, 2026" in text and "till" in text
    assert '["projects", "shop", "conversations"]' in text  # where to search for more
    small = recall.session_context(conn, scope, "new", 600)
    assert len(small) <= 600 and "Stripe" in small and "short answers" in small
    # the session itself is not its own "last session"
    assert "Last session" not in recall.session_context(conn, scope, t.session_id, 2000)
    conn.close()


async def test_the_session_start_context_says_what_waits_for_a_model(
    services: Services, project: Path
) -> None:
    """No model: a captured session waits to be distilled. The context says so in one whole line
    above its footer, when that leaves what is known at least half the budget."""
    await services.memories.create("The shop uses Stripe for payments.", ["projects", "shop"], importance=0.8)
    t = Transcript(services.settings.data_dir.parent / "s1.jsonl", project)
    t.exchange("We moved the checkout to a service called till.", "Till is the checkout now.")
    queue(services, t, "SessionEnd", summarize=True)
    await services.capture.drain()
    conn = connect(services)
    shop = recall.Scope("ada", "memories", "shop")
    line = (
        "Waiting for a model: 1 conversation waits to be distilled into memories; the MCP prompt `distill` "
        "walks you through it (no model is needed on the server). In Claude Code the user runs it as "
        "/mcp__<server name>__distill (installed with --hooks, the server offers it; otherwise it "
        "needs LANGMEM_MCP_TOOLS=memory,llm).\nMore with search_memory"
    )
    text = recall.session_context(conn, shop, "next", 2000)
    assert len(text) <= 2000 and line in text and "Stripe" in text and "Last session" in text
    small = recall.session_context(conn, shop, "next", 600)  # the line would leave too little
    assert len(small) <= 600 and "Stripe" in small and "Waiting for a model" not in small
    # Another project, nothing known about the user: the line alone.
    other = recall.session_context(conn, recall.Scope("ada", "memories", "garden"), "next", 2000)
    assert other.split("\n")[0] == recall.SESSION_HEADER and other.split("\n")[1] == line.split("\n")[0]
    assert recall.session_context(conn, recall.Scope("ada", "memories", "garden"), "next", 300) == ""

    # The agent completes the distill task: nothing waits, and what it kept is known.
    work, [task] = await services.llm.distill_tasks()
    assert work.threads == 1
    arguments = task.complete_with[0].arguments
    await services.llm.distill(None, arguments["task_id"], ["The checkout service is called till."])
    text = recall.session_context(conn, shop, "next", 2000)
    assert "Waiting for a model" not in text
    assert "About the user:\n- The checkout service is called till." in text
    conn.close()


async def test_recall_uses_only_current_memories(services: Services) -> None:
    """A superseded memory is history: neither the session-start context nor prompt recall (by
    keywords, or with the served model) offers it; its successor takes its place."""
    shop = ["projects", "shop"]
    old = await services.memories.create("The shop deploys to Heroku with git push.", shop, importance=0.9)
    await services.memories.supersede(old.id, shop, "The shop deploys to Fly.io in region ams.")
    scope = recall.Scope("ada", "memories", "shop")
    conn = connect(services)
    text = recall.session_context(conn, scope, None, 2000)
    assert "Project shop:\n- The shop deploys to Fly.io in region ams." in text and "Heroku" not in text
    prompt = "does the shop deploy to heroku with git push?"
    assert recall.prompt_recall(conn, scope, prompt, None) == []  # the old text matches; it is not current
    await services.capture.start()
    try:
        served = await asyncio.to_thread(
            services.capture.recall_for_hook, "ada", "memories", "shop", "where does the shop deploy?", None
        )
        assert served and all("Heroku" not in h["content"] for h in served), served
        assert served[0]["content"] == "The shop deploys to Fly.io in region ams."
    finally:
        await services.capture.stop()
    conn.close()


#: Facts (and where they live), a prompt about each, and everyday prompts about none of them.
FACTS = {
    "The user's cat is called Tomasz and sleeps on the radiator": ("memories", "what is my pet's name?"),
    "The project deploys to Fly.io in region ams": ("projects/shop", "where do we deploy this?"),
    "Use 4 spaces for Python files, tabs elsewhere": ("memories", "how should I indent python code?"),
    "The user prefers Helix as their editor": ("users/ada", "which editor do I use"),
    "Integration tests need the Postgres container running (docker compose up db)": (
        "projects/shop",
        "why are the integration tests failing with connection refused?",
    ),
}
EVERYDAY = [
    "fix the failing test in parser.py",
    "run the tests again",
    "add a docstring to this function",
    "refactor the CLI argument parsing",
    "commit and push",
    "what does this error mean: KeyError 'id'",
    "write a README section about installation",
    "rename the variable x to count",
    "yes",
    "continue",
    "explain how the cache works",
    "make the button blue",
    "bump the version to 1.2",
]


async def test_prompt_recall_has_a_relevance_floor(services: Services) -> None:
    for fact, (ns, _) in FACTS.items():
        await services.memories.create(fact, ns.split("/"))
    scope = recall.Scope("ada", "memories", "shop")
    conn = connect(services)
    await services.capture.start()  # as a serving process: the model loaded, recall for hooks served
    served = services.capture.recall_for_hook
    try:
        for prompt in EVERYDAY:  # most prompts get nothing, with or without the model
            assert recall.prompt_recall(conn, scope, prompt, None) == [], prompt
            assert await asyncio.to_thread(served, "ada", "memories", "shop", prompt, None) == [], prompt
        for fact, (_, prompt) in FACTS.items():  # with the model, a prompt about a fact gets it first
            hits = await asyncio.to_thread(served, "ada", "memories", "shop", prompt, None)
            assert hits and hits[0]["content"] == fact, (prompt, hits)
    finally:
        await services.capture.stop()
    # by keywords alone (no server), a prompt sharing the fact's rare words gets it
    hits = recall.prompt_recall(conn, scope, "the postgres container for integration tests", None)
    assert [h.content for h in hits] == [next(f for f in FACTS if "Postgres" in f)]
    assert "Postgres" in recall.render_hits(hits) and recall.render_hits([]) == ""
    conn.close()


async def test_recall_leaves_out_the_current_session(services: Services, project: Path) -> None:
    t = Transcript(services.settings.data_dir.parent / "s1.jsonl", project)
    t.exchange("The Postgres container must run before integration tests.", "OK.")
    queue(services, t)
    await services.capture.drain()
    conn = connect(services)
    scope = recall.Scope("ada", "memories", "shop")
    prompt = "postgres container integration tests"
    assert recall.prompt_recall(conn, scope, prompt, t.session_id) == []  # already in the context
    assert recall.prompt_recall(conn, scope, prompt, "another-session")  # a later session gets it
    conn.close()


async def test_openai_and_codex_transcripts(services: Services) -> None:
    data = Path(__file__).parent / "data" / "transcripts"
    conn = connect(services)
    openai = accept(conn, data / "openai-messages.json", event="import", final=True, max_bytes=None)
    codex = next((data / "codex").glob("*.jsonl"))
    rollout = accept(conn, codex, event="import", final=True, max_bytes=None)
    conn.close()
    assert (openai.format, openai.turns) == ("openai", 5)
    assert (rollout.format, rollout.project) == ("codex", "api")
    await services.capture.drain()
    thread = json.loads(json.dumps((await services.threads.get(rollout.thread_id)).model_dump(mode="json")))
    assert thread["message_count"] == rollout.turns


async def test_with_a_model_summaries_and_project_memories(tmp_path: Path, project: Path) -> None:
    """With an LLM (a scripted Messages API here) a session's end brings the model's summary, and the
    memory manager distils the session, once per new part, into memories of the project."""
    from tests.fake_anthropic import FakeAnthropic, tools

    asked: list[dict[str, Any]] = []

    def respond(body: dict[str, Any]) -> Any:
        asked.append(body)
        names = {t["name"] for t in body.get("tools", [])}
        if (body.get("tool_choice") or {}).get("name") == "write_summary":
            summary = {
                "title": "Checkout moved",
                "summary": "The checkout is now the till service.",
                "topics": ["till"],
            }
            return tools(("write_summary", summary))
        if "insert_memory" in names:
            assert 'software project "shop"' in body["system"]
            return tools(
                (
                    "insert_memory",
                    {"content": "The shop's checkout service is called till.", "importance": 0.8},
                ),
                ("done", {}),
            )
        raise AssertionError(f"unexpected request: {body}")

    with FakeAnthropic([respond] * 10) as fake:
        settings = Settings(
            data_dir=tmp_path / "data",
            llm="auto",
            anthropic_api_key="sk-test",
            anthropic_base_url=fake.url,
            user_id="ada",
        )
        async with open_services(settings) as services:
            t = Transcript(tmp_path / "s1.jsonl", project)
            t.exchange("We moved the checkout into a service called till.", "Till it is.")
            queue(services, t, "SessionEnd", summarize=True)
            assert await services.capture.drain() == 1
            assert len(asked) == 2
            summary = await services.memories.list(["threads", t.session_id, "summary"])
            assert summary.memories[0].metadata["method"] == "llm"
            assert summary.memories[0].content.startswith("Checkout moved")
            facts = await services.memories.list(["projects", "shop"])
            assert [(m.content, m.importance) for m in facts.memories] == [
                ("The shop's checkout service is called till.", 0.8)
            ]

            assert queue(services, t, "SessionEnd", summarize=True).job is None  # nothing new: no model call
            t.exchange("Till runs on port 7070.", "Noted.")
            queue(services, t, "SessionEnd", summarize=True)
            await services.capture.drain()
            extraction = [b for b in asked if "insert_memory" in {x["name"] for x in b["tools"]}]
            assert len(extraction) == 2
            assert "7070" in json.dumps(extraction[1]["messages"])
            assert "We moved the checkout" not in json.dumps(extraction[1]["messages"])  # only the new part

            conn = connect(services)
            text = recall.session_context(conn, recall.Scope("ada", "memories", "shop"), "next", 2000)
            conn.close()
            assert "Project shop:\n- The shop's checkout service is called till." in text
            assert "Last session, " in text and "(extractive summary)" not in text
            assert "Waiting for a model" not in text  # the model has read the session: nothing waits
