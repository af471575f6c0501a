"""Issue #20: secrets and <private> spans are never kept, through every door that stores text.

manage_memory (and its update), thread messages (the add_messages tool and the REST route), what
formation and the LLM procedures store from them, and import: afterwards no fake secret is in any
file of the data dir (SQLite, its WAL, Chroma), in the rows, in the FTS index, in the text the
vectors were computed from or in the export, and the typed placeholders are. Then the opt-out per
namespace prefix, and `scan-secrets` on a data dir that already holds secrets.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest

from langmem_mcp.config import Settings
from langmem_mcp.engine.redaction import added_kinds, placeholder, redact_value
from langmem_mcp.service.secrets import message_dedup_key
from tests.fake_anthropic import FakeAnthropic, Reply, tools
from tests.http_server import cli, http_server
from tests.mcp_client import call, memory_session, read_json
from tests.secret_checks import (
    ALL_SECRETS,
    SECRET_CASES,
    assert_kept_nowhere,
    assert_vectors_from_stored_text,
    files_holding,
    rows,
)
from tests.test_redaction import ANTHROPIC, AWS_ID, GH_PAT, JWT, PASSWORD, PEM_RSA, RANDOM_TOKEN, STRIPE_LIVE

NO_LLM = {"ANTHROPIC_API_KEY": "", "LANGMEM_MCP_ANTHROPIC_API_KEY": "", "LANGMEM_MCP_LLM": "none"}
PRIVATE_TEXT = "I am interviewing at Acme on Friday"
VAULT_KEY = "sk" + "_live_" + "FAKEvault" + "0123456789abcdXYZ"  # a secret the user keeps on purpose
GONE_TOKEN = "gh" + "p_" + "FAKEgone" + "x7Kq2Lm9Pz4Rt8Vw3Yb6Nc1Hd5Jf0"  # in a memory deleted before the scan


def as_tool_text(text: str) -> str:
    """The text as an MCP tool argument: the SDK reads a string argument of a ``str | None``
    parameter that parses as a JSON object as that object, so a pasted JSON document gets a line
    before it (the SDK's behaviour is reported separately)."""
    try:
        json.loads(text)
    except ValueError:
        return text
    return "Pasted:\n" + text


def placeholders_of(cases: list[tuple[str, str, list[str], list[str], list[str]]]) -> set[str]:
    return {placeholder(k) for c in cases for k in c[3]}


# -- the structured-value helper --------------------------------------------------------------------


def test_redact_value_reads_strings_with_their_keys_and_reports_only_what_it_took_out() -> None:
    value = {
        "password": PASSWORD,  # a secret only by its key
        "nested": [{"type": "text", "text": f"export ANTHROPIC_API_KEY={ANTHROPIC}"}],
        "api_key": [RANDOM_TOKEN],
        "note": "copied from a search: [redacted: jwt]",  # already a placeholder: not reported
        "count": 3,
        "thread_id": str(uuid.UUID(int=7)),
    }
    clean, kinds = redact_value(value)
    assert clean == {
        "password": "[redacted: password]",
        "nested": [{"type": "text", "text": "export ANTHROPIC_API_KEY=[redacted: anthropic-api-key]"}],
        "api_key": ["[redacted: api-key]"],
        "note": "copied from a search: [redacted: jwt]",
        "count": 3,
        "thread_id": str(uuid.UUID(int=7)),
    }
    assert kinds == ("anthropic-api-key", "api-key", "password")
    assert redact_value({"password": "changeme", "tokens": 12}) == (
        {"password": "changeme", "tokens": 12},
        (),
    )
    assert added_kinds("a [redacted: jwt] b", "a [redacted: jwt] b [redacted: jwt]") == ("jwt",)
    assert added_kinds("same", "same") == ()


def test_keep_secrets_in_is_a_list_of_namespace_prefixes() -> None:
    s = Settings(keep_secrets_in=" vault/ , /users/alice/keys,, ")
    assert s.keep_secrets_prefixes == ["vault", "users/alice/keys"]
    assert Settings().keep_secrets_prefixes == []


# -- manage_memory --------------------------------------------------------------------------------------


async def test_manage_memory_stores_placeholders_and_says_what_it_took_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ns = ["memories", "dev"]
    async with memory_session(data, **NO_LLM) as s:
        ids = {}
        for case, text, _secrets, kinds, _keep in SECRET_CASES:
            out = await call(
                s, "manage_memory", content=as_tool_text(text), namespace=ns, metadata={"case": case}
            )
            assert out["action"] == "created", (case, out)
            assert set(kinds) <= set(out["redacted"]), (case, out)
            ids[case] = out["id"]
        plain = await call(s, "manage_memory", content="The deploy host is db.internal.", namespace=ns)
        assert "redacted" not in plain  # nothing taken out: the result says nothing about it
        up = await call(
            s,
            "manage_memory",
            action="update",
            id=plain["id"],
            namespace=ns,
            content=f"Deploy with ANTHROPIC_API_KEY={ANTHROPIC} from db.internal.",
            metadata={"db_password": PASSWORD},
        )
        assert up == {"action": "updated", "id": plain["id"], "redacted": ["anthropic-api-key", "password"]}
        # the same content again: the existing memory, and what was taken out of this write
        again = await call(s, "manage_memory", content=as_tool_text(SECRET_CASES[0][1]), namespace=ns)
        assert again["action"] == "exists" and again["redacted"] == ["anthropic-api-key"]

        listed = await read_json(s, "memory://list/memories%2Fdev?limit=100")
        hits = (await call(s, "search_memory", query="key token password secret", namespace=ns, limit=100))[
            "memories"
        ]
    shown = json.dumps([listed, hits])
    assert not [x[:12] for x in ALL_SECRETS if x in shown]
    by_case = {
        json.loads(m)["case"]: c
        for c, m in rows(data, "SELECT content, metadata FROM memories")
        if '"case"' in m
    }
    for case, _text, _secrets, kinds, keep in SECRET_CASES:
        stored = by_case[case]
        assert all(placeholder(k) in stored for k in kinds), (case, stored)
        assert all(part in stored for part in keep), (case, stored)  # the text around a secret stays
    [(content, metadata)] = rows(data, "SELECT content, metadata FROM memories WHERE id = ?", (plain["id"],))
    assert content == "Deploy with ANTHROPIC_API_KEY=[redacted: anthropic-api-key] from db.internal."
    assert json.loads(metadata) == {"db_password": "[redacted: password]"}
    assert_kept_nowhere(data, ALL_SECRETS, placeholders_of(SECRET_CASES))
    assert assert_vectors_from_stored_text(data) == len(SECRET_CASES) + 1


async def test_private_spans_are_never_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    note = f"Standup notes. <private>{PRIVATE_TEXT}</private> Ship the importer today."
    async with memory_session(data, **NO_LLM) as s:
        out = await call(s, "manage_memory", content=note)
        assert out["redacted"] == ["private"]
        added = await call(
            s,
            "add_messages",
            messages=[
                {"role": "user", "content": note},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Plan for the week."},
                        {
                            "type": "text",
                            "text": f"<private>\n{PRIVATE_TEXT}\nand my key {GH_PAT}\n</private>",
                        },
                    ],
                },
                {"role": "user", "content": f"unclosed <private>{PRIVATE_TEXT}, to the end"},
            ],
        )
        assert added["redacted"] == ["private"] and added["added"] == 3
        page = await read_json(s, f"langmem://threads/{added['thread_id']}/messages")
    assert [m["content"] for m in page["messages"]] == [
        "Standup notes. [private] Ship the importer today.",
        [{"type": "text", "text": "Plan for the week."}, {"type": "text", "text": "[private]"}],
        "unclosed [private]",
    ]
    assert rows(data, "SELECT content FROM memories") == [
        ("Standup notes. [private] Ship the importer today.",)
    ]
    assert_kept_nowhere(data, [PRIVATE_TEXT, "interviewing", GH_PAT], ["[private]"])


# -- thread messages and what forms from them ------------------------------------------------------------


def _messages(uid: str) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": text,
            "metadata": {"user_id": uid, "timestamp": f"2025-06-01T10:{i:02d}:00Z"},
        }
        for i, (_c, text, *_rest) in enumerate(SECRET_CASES)
    ]
    msgs.append(
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"I called the API with {JWT}"},
                {"type": "tool_use", "id": "t1", "name": "http", "input": {"api_key": RANDOM_TOKEN, "n": 2}},
            ],
            "metadata": {"db_password": PASSWORD, "timestamp": "2025-06-01T11:00:00Z"},
        }
    )
    return msgs


async def test_thread_messages_and_formed_memories_keep_no_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    uid = str(uuid.uuid4())
    async with memory_session(data, **NO_LLM) as s:
        added = await call(s, "add_messages", messages=_messages(uid))
        tid = added["thread_id"]
        assert added["added"] == len(SECRET_CASES) + 1
        assert {k for c in SECRET_CASES for k in c[3]} | {"jwt", "api-key", "password"} <= set(
            added["redacted"]
        )
        # posted again: recognised as duplicates by the (redacted) content and timestamp
        again = await call(s, "add_messages", thread_id=tid, messages=_messages(uid))
        assert again["added"] == 0 and again["duplicates"] == len(SECRET_CASES) + 1
        page = await read_json(s, f"langmem://threads/{tid}/messages?page_size=100")
        report = await call(s, "trigger_formation", thread_id=tid)  # no LLM: each user message a memory
        assert report["memories_formed"] == len(SECRET_CASES)
        memories = await call(s, "query_user_memory", user_id=uid, text="password key token", k=100)
    shown = json.dumps([page, memories])
    assert not [x[:12] for x in ALL_SECRETS if x in shown]
    last = page["messages"][-1]
    assert last["content"][1]["input"] == {"api_key": "[redacted: api-key]", "n": 2}
    assert last["metadata"]["db_password"] == "[redacted: password]"
    for ts, content, dedup in rows(data, "SELECT timestamp, content, dedup_key FROM svc_messages"):
        assert dedup == message_dedup_key(ts, json.loads(content))  # a hash of the redacted text only
    assert_kept_nowhere(data, ALL_SECRETS, placeholders_of(SECRET_CASES) | {"[redacted: jwt]"})
    assert_vectors_from_stored_text(data)


@pytest.mark.process
async def test_rest_routes_store_no_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    uid = str(uuid.uuid4())
    async with http_server(data, "http", **NO_LLM) as server:
        async with httpx2.AsyncClient(base_url=server.url, timeout=60) as http:
            r = await http.post("/threads/t-rest/add_messages", json={"messages": _messages(uid)})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["added"] == len(SECRET_CASES) + 1 and "password" in body["redacted"]
            r = await http.post(
                "/memories", json={"content": f"Stripe live key {STRIPE_LIVE}", "namespace": ["memories"]}
            )
            assert r.status_code == 200 and r.json()["redacted"] == ["stripe-key"], r.text
            r = await http.get("/threads/t-rest/messages", params={"page_size": 100})
            assert r.status_code == 200
            assert not [x[:12] for x in ALL_SECRETS if x in r.text]
        server.stop()
    assert_kept_nowhere(
        data, [*ALL_SECRETS, STRIPE_LIVE], placeholders_of(SECRET_CASES) | {"[redacted: stripe-key]"}
    )


# -- model output derived from messages ----------------------------------------------------------------

PROFILE = {
    "title": "UserProfile",
    "type": "object",
    "properties": {"name": {"type": "string"}, "notes": {"type": "string"}},
}
EVENT = {"title": "Event", "type": "object", "properties": {"event": {"type": "string"}}}
SUMMARY = {
    "title": "Summary",
    "type": "object",
    "properties": {"title": {"type": "string"}, "summary": {"type": "string"}},
}
#: What a model might echo back: the secret in its own words (not the user's text).
ECHO = f"The user's AWS access key is {AWS_ID} and the staging password is {PASSWORD}."


def echoing_model(body: dict[str, Any]) -> Reply:
    choice = (body.get("tool_choice") or {}).get("name")
    names = {t["name"] for t in body.get("tools", [])}
    if choice == "update_profile":
        return tools(("update_profile", {"name": "Will", "notes": ECHO}))
    if choice == "append_entries":
        return tools(("append_entries", {"entries": [{"event": ECHO}]}))
    if choice == "write_summary":
        return tools(("write_summary", {"title": "Deploy", "summary": ECHO}))
    if "insert_memory" in names:
        return tools(("insert_memory", {"content": ECHO, "importance": 0.7}), ("done", {}))
    if choice == "update_prompt" or "update_prompt" in names:
        return tools(
            (
                "update_prompt",
                {"analysis": ECHO, "should_update": True, "improved_prompt": f"Be brief. {ECHO}"},
            )
        )
    raise AssertionError(f"unexpected request: {json.dumps(body)[:300]}")


async def test_formation_and_llm_procedures_store_no_secret_from_the_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    uid = str(uuid.uuid4())
    with FakeAnthropic([echoing_model] * 20) as fake:
        env = {
            "ANTHROPIC_API_KEY": "sk-test",
            "LANGMEM_MCP_ANTHROPIC_BASE_URL": fake.url,
            "LANGMEM_MCP_LLM": "auto",
        }
        async with memory_session(data, **env) as s:
            for kind, schema in (
                ("user_state", PROFILE),
                ("user_append_state", EVENT),
                ("thread_summary", SUMMARY),
            ):
                await call(s, "manage_memory_function", type=kind, schema=schema)
            tid = (await call(s, "add_messages", messages=_messages(uid)))["thread_id"]
            report = await call(s, "trigger_formation", thread_id=tid)
            assert {r["status"] for r in report["runs"]} == {"formed"}, report
            # the model read the stored messages: it never saw a secret from them
            asked = json.dumps(fake.bodies)
            assert not [x[:12] for x in ALL_SECRETS if x in asked]
            # messages given straight to a procedure do reach the model; what it returns is redacted
            await call(
                s,
                "extract_memories",
                messages=[{"role": "user", "content": f"my aws key is {AWS_ID}, password {PASSWORD}"}],
                namespace=["memories", "extracted"],
            )
            await call(
                s,
                "optimize_prompt",
                prompt={"name": "helper", "prompt": f"Help the user. Admin token: {GH_PAT}"},
                trajectories=[[[{"role": "user", "content": f"use {PEM_RSA}"}], "too long"]],
                kind="prompt_memory",
            )
            history = await read_json(s, "llm://optimized/helper")
    assert [v["prompt"] for v in history["history"]] == [
        "Help the user. Admin token: [redacted: github-token]",
        "Be brief. The user's AWS access key is [redacted: aws-access-key-id] and the staging password "
        "is [redacted: password].",
    ]
    states = [json.loads(r[0]) for r in rows(data, "SELECT state FROM svc_states")]
    assert {
        "name": "Will",
        "notes": ECHO.replace(AWS_ID, "[redacted: aws-access-key-id]").replace(
            PASSWORD, "[redacted: password]"
        ),
    } in states
    entries = [
        json.loads(r[0])["entry"] for r in rows(data, "SELECT metadata FROM memories") if "entry" in r[0]
    ]
    assert entries and all("[redacted: aws-access-key-id]" in e["event"] for e in entries)
    assert rows(data, "SELECT count(*) FROM memories WHERE namespace = 'memories/extracted'")[0][0] == 1
    assert_kept_nowhere(
        data,
        [*ALL_SECRETS, AWS_ID, PASSWORD, GH_PAT, *PEM_RSA.splitlines()[1:-1]],
        {"[redacted: aws-access-key-id]", "[redacted: password]"},
    )
    prompts = json.dumps(rows(data, "SELECT prompt, analysis FROM prompt_versions"))
    assert AWS_ID not in prompts and GH_PAT not in prompts and "[redacted: aws-access-key-id]" in prompts


# -- import --------------------------------------------------------------------------------------------


def _old_export(path: Path, uid: str) -> None:
    """An export written by a version without redaction: memories and thread messages holding secrets."""
    lines: list[dict[str, Any]] = [{"table": "_export", "format": "langmem-mcp-export", "schema_version": 8}]
    for i, (case, text, *_rest) in enumerate(SECRET_CASES):
        lines.append(
            {"table": "memories", "namespace": ["notes"], "content": text, "metadata": {"case": case}}
        )
        if i == 0:
            lines.append({"content": f"plain line {text}", "namespace": "notes/plain"})
    now = "2025-06-01T10:00:00+00:00"
    lines.append(
        {
            "table": "svc_threads",
            "scope": "",
            "id": "t-old",
            "metadata": "{}",
            "created_at": now,
            "updated_at": now,
        }
    )
    for i, (_case, text, *_rest) in enumerate(SECRET_CASES):
        content = json.dumps(text, ensure_ascii=False)
        ts = f"2025-06-01T10:{i:02d}:00.000000+00:00"
        old_key = message_dedup_key(ts, text)  # what the old version stored: a hash of the secret
        lines.append(
            {
                "table": "svc_messages",
                "seq": i + 1,
                "scope": "",
                "thread_id": "t-old",
                "id": f"m{i}",
                "role": "user",
                "content": content,
                "name": None,
                "user_id": uid,
                "timestamp": ts,
                "metadata": json.dumps({"api_token": RANDOM_TOKEN}),
                "dedup_key": old_key,
                "created_at": now,
            }
        )
    path.write_text("".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in lines))


@pytest.mark.process
def test_import_redacts_memories_and_messages(tmp_path: Path) -> None:
    data = tmp_path / "data"
    export = tmp_path / "old.jsonl"
    _old_export(export, str(uuid.uuid4()))
    assert ANTHROPIC in export.read_text()
    res = cli(data, "import", str(export), "--quiet")
    assert res.returncode == 0, res.stderr
    assert f"imported {len(SECRET_CASES) + 1} memories" in res.stderr
    assert not [x[:12] for x in ALL_SECRETS if x in res.stdout + res.stderr]
    assert_kept_nowhere(data, [*ALL_SECRETS, RANDOM_TOKEN], placeholders_of(SECRET_CASES))
    assert assert_vectors_from_stored_text(data) == len(SECRET_CASES) + 1
    for ts, content, metadata, dedup in rows(
        data, "SELECT timestamp, content, metadata, dedup_key FROM svc_messages"
    ):
        assert dedup == message_dedup_key(ts, json.loads(content))
        assert json.loads(metadata) == {"api_token": "[redacted: token]"}


# -- the opt-out -----------------------------------------------------------------------------------------


async def test_keep_secrets_in_keeps_them_in_those_namespaces_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kept_text = f"Backup server root password is {PASSWORD}"
    env = {**NO_LLM, "LANGMEM_MCP_KEEP_SECRETS_IN": "vault, users/alice/keys"}
    async with memory_session(data, **env) as s:
        for ns in (["vault"], ["vault", "servers"], ["users", "alice", "keys"]):
            out = await call(s, "manage_memory", content=kept_text, namespace=ns, metadata={"pw": PASSWORD})
            assert "redacted" not in out, (ns, out)
        for ns in (["vaults"], ["memories"], ["users", "alice"], ["users", "bob", "keys"]):
            out = await call(s, "manage_memory", content=kept_text, namespace=ns)
            assert out["redacted"] == ["password"], (ns, out)
        added = await call(
            s, "add_messages", thread_id="vault", messages=[{"role": "user", "content": kept_text}]
        )
        assert added["redacted"] == ["password"]  # conversation text has no opt-out
    stored = dict(rows(data, "SELECT namespace, content FROM memories"))
    assert {ns for ns, c in stored.items() if PASSWORD in c} == {"vault", "vault/servers", "users/alice/keys"}
    assert stored["vaults"] == stored["memories"] == "Backup server root password is [redacted: password]"
    assert PASSWORD not in json.dumps(rows(data, "SELECT content FROM svc_messages"))


# -- scan-secrets ------------------------------------------------------------------------------------------


async def _data_dir_with_old_secrets(data: Path) -> dict[str, Any]:
    """A data dir as a version without redaction (or a user who opted out, then back in) left it."""
    from langmem_mcp.service.container import open_services
    from langmem_mcp.store.functions import FunctionStore
    from langmem_mcp.store.prompt_versions import PromptVersionStore
    from langmem_mcp.store.threads import NewMessage, ThreadStore

    # memories with secrets, written and indexed while their namespaces were opted out
    env = {**NO_LLM, "LANGMEM_MCP_KEEP_SECRETS_IN": "notes,vault"}
    ids = {}
    async with memory_session(data, **env) as s:
        for case, text, *_rest in SECRET_CASES:
            ids[case] = (await call(s, "manage_memory", content=as_tool_text(text), namespace=["notes"]))[
                "id"
            ]
        twins = [
            (await call(s, "manage_memory", content=f"DEPLOY_TOKEN={t}", namespace=["notes"]))["id"]
            for t in (RANDOM_TOKEN, RANDOM_TOKEN[::-1])
        ]
        vault = (await call(s, "manage_memory", content=f"Vault: stripe {VAULT_KEY}", namespace=["vault"]))[
            "id"
        ]
        old_log = ("step ok\n" * 500 + f"GITHUB_TOKEN={GONE_TOKEN}\n") * 20  # a CI log, 80 kB
        gone = (await call(s, "manage_memory", content=old_log, namespace=["notes"]))["id"]
    # deleted by a SQLite that does not zero what it frees (secure_delete is a build option: off in
    # many builds, on in this one): its text stays in the file's free pages
    conn = sqlite3.connect(data / "memory.sqlite3")
    conn.execute("PRAGMA secure_delete = OFF")
    conn.execute("DELETE FROM memories WHERE id = ?", (gone,))
    conn.commit()
    conn.close()
    assert GONE_TOKEN.encode() in (data / "memory.sqlite3").read_bytes()
    # thread messages, a formed state and a prompt version with secrets, as the old code stored them
    async with open_services(Settings(data_dir=data, llm="none")) as services:
        db = services.runtime.db
        threads = ThreadStore(db)
        await threads.insert_thread("", "t-old", {})
        msgs = []
        for i, (_case, text, *_rest) in enumerate(SECRET_CASES):
            ts = f"2025-06-01T10:{i:02d}:00.000000+00:00"
            msgs.append(
                NewMessage(
                    f"m{i}",
                    "user",
                    text,
                    None,
                    None,
                    None,
                    ts,
                    {"token": RANDOM_TOKEN},
                    message_dedup_key(ts, text),
                )
            )
        await threads.add_messages("", "t-old", msgs, create=False)
        await FunctionStore(db).set_state("", "fn-1", "user", "u-1", {"notes": ECHO})
        await PromptVersionStore(db).add("", "helper", f"Use {GH_PAT}", "given")
    return {"ids": ids, "twins": twins, "vault": vault}


@pytest.mark.process
async def test_scan_secrets_reports_then_redacts_everything_it_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = await _data_dir_with_old_secrets(data)
    secrets = [*ALL_SECRETS, RANDOM_TOKEN[::-1], JWT, AWS_ID, PASSWORD, GH_PAT, GONE_TOKEN]
    assert files_holding(data, secrets), "the test data should hold secrets before the scan"
    keep = {"LANGMEM_MCP_KEEP_SECRETS_IN": "vault"}

    report = cli(data, "scan-secrets", **keep)
    assert report.returncode == 1, report.stdout + report.stderr
    out = report.stdout
    assert not [x[:12] for x in [*secrets, VAULT_KEY] if x in out + report.stderr]  # places, never secrets
    assert f"memories: {len(SECRET_CASES) + 2} of {len(SECRET_CASES) + 3} hold secrets" in out
    assert f"memory {made['ids']['anthropic-in-shell']} in notes: anthropic-api-key" in out
    assert f"thread messages: {len(SECRET_CASES)} of {len(SECRET_CASES)} hold secrets" in out
    assert "thread t-old, message m0: anthropic-api-key, token" in out
    assert "user and thread state: 1 of 1" in out and "prompt versions: 1 of 1" in out
    assert (
        f"kept on purpose (LANGMEM_MCP_KEEP_SECRETS_IN): 1\n    memory {made['vault']} in vault: stripe-key"
        in out
    )

    done = cli(data, "scan-secrets", "--redact", **keep)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"redacted {len(SECRET_CASES) + 2} memories, {len(SECRET_CASES)} thread messages, 1 user and thread "
        "state, 1 prompt versions (1 merged into a memory that already had the redacted text)"
    ) in done.stdout
    assert "kept 1 on purpose" in done.stdout and "wiped the old text" in done.stdout

    # nothing left anywhere: files (deleted rows, old FTS segments and the WAL included), rows, FTS,
    # vectors and export; the kept memory is untouched
    assert_kept_nowhere(data, secrets, placeholders_of(SECRET_CASES) | {"[redacted: token]"})
    assert assert_vectors_from_stored_text(data) == len(SECRET_CASES) + 2
    assert rows(data, "SELECT content FROM memories WHERE id = ?", (made["vault"],)) == [
        (f"Vault: stripe {VAULT_KEY}",)
    ]
    twins = rows(data, "SELECT content FROM memories WHERE content LIKE 'DEPLOY_TOKEN=%'")
    assert twins == [("DEPLOY_TOKEN=[redacted: token]",)]
    for ts, content, dedup in rows(data, "SELECT timestamp, content, dedup_key FROM svc_messages"):
        assert dedup == message_dedup_key(ts, json.loads(content))

    clean = cli(data, "scan-secrets", **keep)
    assert clean.returncode == 0, clean.stdout
    assert f"memories: 0 of {len(SECRET_CASES) + 2} hold secrets" in clean.stdout
    unkept = cli(data, "scan-secrets")  # without the opt-out the vault memory is reported
    assert unkept.returncode == 1 and f"memory {made['vault']} in vault: stripe-key" in unkept.stdout
