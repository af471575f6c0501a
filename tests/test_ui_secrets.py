"""Issue #20 where a person reads memory: secrets captured from Claude Code sessions (through the
real hooks, `langmem-mcp hook stop` / `session-end` on transcript files) and imported
(`langmem-mcp import-transcripts`) never show in the memory browser's pages, fetched from the HTTP
server's app (in this process, tests/ui_client.py), nor in the session-start context a hook gives
the next session; the typed placeholders do. And `scan-secrets --redact` on a data dir whose memories have
history: afterwards no secret is in any earlier version either, the history of a namespace whose
secrets are kept stays as it was, and redacting adds no version holding the secret.

The fake secrets are those of tests/test_redaction.py (built at run time).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest

from langmem_mcp.engine.redaction import placeholder
from tests.capture_support import Transcript, workers_of
from tests.http_server import cli
from tests.mcp_client import call, memory_session
from tests.secret_checks import ALL_SECRETS, SECRET_CASES, distinctive, files_holding, rows
from tests.test_capture_hooks import context, errors, hook, stored, wait_for
from tests.test_import_transcripts import cli as user_cli
from tests.test_redaction import ANTHROPIC, GH_PAT, JWT, PASSWORD, RANDOM_TOKEN, STRIPE_LIVE
from tests.test_secrets_stored import as_tool_text
from tests.ui_client import ui_client

pytestmark = pytest.mark.process

PRIVATE = "my home address is 12 Quince Lane"
#: What the assistant says back in the captured sessions: it repeats some secrets too.
ECHOES = (
    f"I exported ANTHROPIC_API_KEY={ANTHROPIC} in your shell.",
    f"The repo now pushes with {GH_PAT}; rotate it later.",
    f"Logged in with the bearer token {JWT}.",
)
SECRETS = [*ALL_SECRETS, PRIVATE]


def leaks(page: str, secrets: list[str]) -> list[str]:
    """The secrets a page shows in any spelling a template could give them: as they are, HTML
    escaped, JSON escaped (a metadata box), or the distinctive run of letters and digits."""
    low = page.lower()
    found = []
    for secret in secrets:
        inner = json.dumps(secret, ensure_ascii=False)[1:-1]
        forms = {secret, html.escape(secret), html.escape(secret, quote=False), inner, html.escape(inner)}
        token = distinctive(secret)
        if any(f in page for f in forms) or (token and token.lower() in low):
            found.append(secret[:12] + "…")
    return found


def placeholders_in(page: str) -> set[str]:
    return set(re.findall(r"\[redacted: [a-z0-9-]+\]|\[private\]", html.unescape(page)))


def capture_session(tmp_path: Path, data: Path) -> Transcript:
    """A Claude Code session of project 'shop' full of secrets, through the real hooks: Stop after
    each half, then SessionEnd (its summary); the detached worker stores it."""
    t = Transcript(tmp_path / "claude" / "s1.jsonl", tmp_path / "shop")
    half = len(SECRET_CASES) // 2
    for part in (SECRET_CASES[:half], SECRET_CASES[half:]):
        for i, (case, text, *_rest) in enumerate(part):
            t.write(t.user(f"Keep this ({case}):\n{text}"), t.assistant(ECHOES[i % len(ECHOES)]))
        assert context(hook(data, "stop", t.hook_input("Stop"))) == ""
        wait_for(lambda: stored(data, t.session_id, len(t.ids)), "the worker to store the turns")
    t.exchange(f"<private>{PRIVATE}</private> and the deploy host is db.internal", "Noted the host.")
    assert context(hook(data, "session-end", t.hook_input("SessionEnd", reason="other"))) == ""
    wait_for(lambda: stored(data, t.session_id, len(t.ids)), "the SessionEnd turns")
    wait_for(
        lambda: rows(data, "SELECT count(*) FROM capture_sessions WHERE summary_id IS NOT NULL")[0][0] == 1,
        "the session's summary",
    )
    wait_for(lambda: not workers_of(data), "the workers to exit")
    return t


def import_session(tmp_path: Path, data: Path) -> Transcript:
    """A past session of project 'api', imported with `import-transcripts` (stored when it returns)."""
    t = Transcript(tmp_path / "old" / "s2.jsonl", tmp_path / "api")
    for case, text, *_rest in SECRET_CASES[::3]:
        t.exchange(
            f"From the old session ({case}): {text}",
            f"Set DB_PASSWORD={PASSWORD} and STRIPE_SECRET_KEY={STRIPE_LIVE} as asked.",
        )
    (tmp_path / "home").mkdir(exist_ok=True)
    res = user_cli(tmp_path / "home", data, "import-transcripts", str(t.path))
    assert res.returncode == 0, res.stderr
    assert f"imported {len(t.ids)} new turns" in res.stderr
    return t


async def pages_of(client: httpx2.AsyncClient, data: Path, threads: list[str]) -> dict[str, str]:
    """Every memory-browser page that shows captured text: the tree, each namespace (every page of
    it, superseded or not), each memory's page (its history too), searches, threads and captures."""
    out: dict[str, str] = {}

    async def get(path: str, **params: str) -> str:
        res = await client.get(path, params=params)
        assert res.status_code == 200, (path, params, res.text[-300:])
        out[str(res.url)] = res.text
        return res.text

    await get("/ui/")
    await get("/ui/threads")
    await get("/ui/captures")
    memories = rows(data, "SELECT id, namespace FROM memories")
    for ns in sorted({n for _, n in memories}):
        text = await get("/ui/memories", ns=ns, show="all", limit="100")
        assert 'id="older"' not in text  # one page holds them all
        for q in (
            "ANTHROPIC_API_KEY",
            "password token secret",
            "redacted",
            "keep this deploy key",
            "db.internal",
        ):
            await get("/ui/memories", ns=ns, q=q, show="all", limit="100")
    for mid, ns in memories:
        await get(f"/ui/memory/{mid}", ns=ns)
        await get(f"/ui/memory/{mid}/delete", ns=ns)
    for thread in threads:
        await get(f"/ui/threads/{thread}", limit="100")
    return out


async def test_captured_and_imported_secrets_never_show_in_the_browser_or_the_session_start(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    live = capture_session(tmp_path, data)
    old = import_session(tmp_path, data)
    assert errors(data) == []
    # Stored: nothing secret in any file; the placeholders are there.
    assert not files_holding(data, SECRETS)
    expected = {placeholder(k) for c in SECRET_CASES for k in c[3]} | {"[private]"}

    async with ui_client(data, LANGMEM_MCP_KEEP_SECRETS_IN="vault") as client:
        pages = await pages_of(client, data, [live.session_id, old.session_id])
        # The check sees a secret that is shown: one kept on purpose in the vault namespace.
        res = await client.post(
            "/memories", json={"content": f"DB_PASSWORD={PASSWORD}", "namespace": "vault"}
        )
        kept = await client.get(f"/ui/memory/{res.json()['id']}", params={"ns": "vault"})
        assert leaks(kept.text, SECRETS) == [PASSWORD[:12] + "…"]
    assert len(pages) > 100
    shown: set[str] = set()
    for url, page in pages.items():
        assert not leaks(page, SECRETS), (url, leaks(page, SECRETS))
        shown |= placeholders_in(page)
    assert expected <= shown, expected - shown
    conversation = pages[
        next(u for u in pages if "ns=projects%2Fshop%2Fconversations" in u and "q=" not in u)
    ]
    assert "[redacted: anthropic-api-key]" in conversation and "Assistant: I exported" in conversation
    thread = next(p for u, p in pages.items() if u.endswith(f"/ui/threads/{live.session_id}?limit=100"))
    assert "[private]" in html.unescape(thread) and "Captured from a claude-code session" in thread
    captures = next(p for u, p in pages.items() if u.endswith("/ui/captures"))
    assert live.session_id in captures and old.session_id in captures

    # The next session of the project starts with what is known: secrets are not part of it.
    nxt = Transcript(tmp_path / "claude" / "s3.jsonl", tmp_path / "shop")
    start = context(hook(data, "session-start", nxt.hook_input("SessionStart", source="startup")))
    assert start.startswith("Long-term memory (langmem-mcp)") and "Last session" in start
    assert not leaks(start, SECRETS), leaks(start, SECRETS)
    assert placeholders_in(start), start  # the summary names what was taken out


# -- scan-secrets on memories with history --------------------------------------------------------------
VAULT_OLD = "sk" + "_live_" + "FAKEvaultOLD" + "0123456789abcd"
VAULT_NEW = "sk" + "_live_" + "FAKEvaultNEW" + "0123456789abcd"


async def _history_with_secrets(data: Path) -> dict[str, Any]:
    """Memories written while their namespaces kept secrets, then corrected and superseded: their
    earlier versions (memory_history) hold secrets, as a data dir from before redaction would."""
    env = {"LANGMEM_MCP_LLM": "none", "LANGMEM_MCP_KEEP_SECRETS_IN": "notes,vault"}
    texts = [as_tool_text(text) for _c, text, *_r in SECRET_CASES]
    async with memory_session(data, **env) as s:

        async def manage(**args: Any) -> dict[str, Any]:
            return await call(s, "manage_memory", **args)

        deploy = (await manage(content=f"Deploy key: {texts[0]}", namespace=["notes"]))["id"]
        for text in texts[1:4]:  # three corrections: three earlier versions with secrets
            await manage(action="update", id=deploy, content=f"Deploy key: {text}", namespace=["notes"])
        db = (await manage(content=f"DB password is {PASSWORD}", namespace=["notes"]))["id"]
        await manage(action="update", id=db, content=f"DB password is {PASSWORD}!", namespace=["notes"])
        db_now = (
            await manage(
                action="supersede", id=db, content=f"DB token is now {RANDOM_TOKEN}", namespace=["notes"]
            )
        )["id"]
        vault = (await manage(content=f"Stripe: {VAULT_OLD}", namespace=["vault"]))["id"]
        await manage(action="update", id=vault, content=f"Stripe: {VAULT_NEW}", namespace=["vault"])
        # superseded by a memory that says what its redacted text will say: not merged into it
        wiki = (await manage(content=f"Wiki password is {PASSWORD}", namespace=["notes"]))["id"]
        wiki_now = (
            await manage(
                action="supersede",
                id=wiki,
                content="Wiki password is [redacted: password]",
                namespace=["notes"],
            )
        )["id"]
    return {"deploy": deploy, "db": db, "db_now": db_now, "vault": vault, "wiki": wiki, "wiki_now": wiki_now}


def history(data: Path, memory_id: str) -> list[tuple[str, str]]:
    return rows(
        data, "SELECT content, metadata FROM memory_history WHERE memory_id = ? ORDER BY seq", (memory_id,)
    )


async def test_scan_secrets_redacts_earlier_versions_and_keeps_no_copy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = await _history_with_secrets(data)
    secrets = [*ALL_SECRETS, PASSWORD, RANDOM_TOKEN]
    before = {k: len(history(data, v)) for k, v in made.items()}
    assert before == {"deploy": 3, "db": 2, "db_now": 0, "vault": 1, "wiki": 1, "wiki_now": 0}
    assert any(ANTHROPIC in c for c, _ in history(data, made["deploy"]))
    keep = {"LANGMEM_MCP_KEEP_SECRETS_IN": "vault"}

    report = cli(data, "scan-secrets", **keep)
    assert report.returncode == 1, report.stdout + report.stderr
    out = report.stdout
    assert "earlier versions of memories: 6 of 7 hold secrets" in out, out
    assert f"memory {made['deploy']} in notes, earlier version 1: anthropic-api-key" in out
    assert (
        f"memory {made['vault']} in vault, earlier version 1: stripe-key" in out.split("kept on purpose")[-1]
    )
    assert not [x[:12] for x in [*secrets, VAULT_OLD] if x in out + report.stderr]

    done = cli(data, "scan-secrets", "--redact", **keep)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 earlier versions of memories" in done.stdout and "wiped the old text" in done.stdout

    # No secret in any version, nor anywhere in the files; the placeholders are in the versions.
    versions = {k: history(data, v) for k, v in made.items()}
    notes = json.dumps([versions["deploy"], versions["db"]])
    assert not [x[:12] for x in secrets if x in notes]
    assert "[redacted: anthropic-api-key]" in notes and "[redacted: password]" in notes
    assert not files_holding(data, secrets)
    # Redacting a memory adds no version (the replaced text held the secret): the counts stand.
    assert {k: len(v) for k, v in versions.items()} == before
    # The kept namespace's history is as it was.
    assert versions["vault"] == [(f"Stripe: {VAULT_OLD}", "{}")]
    assert rows(data, "SELECT content FROM memories WHERE id = ?", (made["vault"],)) == [
        (f"Stripe: {VAULT_NEW}",)
    ]
    # The supersede chain, validity and the last change survive the rewrite.
    chain = "SELECT valid_to, superseded_by, change, content FROM memories WHERE id = ?"
    [(valid_to, by, change, _)] = rows(data, chain, (made["db"],))
    assert valid_to and by == made["db_now"] and change == "superseded"
    # A superseded memory whose redacted text is its successor's stays, superseded by it.
    [(valid_to, by, change, text)] = rows(data, chain, (made["wiki"],))
    assert (by, change, text) == (made["wiki_now"], "superseded", "Wiki password is [redacted: password]")

    # And the memory browser shows the redacted history.
    async with ui_client(data, **keep) as client:
        for key in ("deploy", "db", "db_now"):
            page = (await client.get(f"/ui/memory/{made[key]}", params={"ns": "notes"})).text
            assert not leaks(page, secrets), (key, leaks(page, secrets))
            assert "[redacted: " in page
        page = (await client.get(f"/ui/memory/{made['db']}", params={"ns": "notes"})).text
        assert page.count('class="version ') == 3 and 'id="chain"' in page
    clean = cli(data, "scan-secrets", **keep)
    assert clean.returncode == 0 and "earlier versions of memories: 0 of 7 hold secrets" in clean.stdout
