"""langmem_mcp.engine.transcripts on real Claude Code sessions (recorded with the pinned CLI by
tests/make_transcript_fixtures.py) and on Codex / OpenAI samples written to their documented
formats (tests/data/transcripts/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langmem_mcp.engine.transcripts import (
    Problem,
    Turn,
    Watermark,
    clean_user_text,
    parse,
    parse_file,
    parse_lines,
    turn_id,
)

DATA = Path(__file__).with_name("data") / "transcripts"
MCP = DATA / "claude-code-mcp.jsonl"
RESUMED = DATA / "claude-code-resumed-compacted.jsonl"
SUBAGENT = DATA / "claude-code-subagent.jsonl"
CODEX_SESSION = "019a2d7a-41c4-78b1-b7cc-a45d62a89cd5"
CODEX = DATA / "codex" / f"rollout-2025-10-29T00-59-38-{CODEX_SESSION}.jsonl"
OPENAI = DATA / "openai-messages.json"


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def conversation(turns: list[Turn]) -> list[tuple[str, str]]:
    return [(t.role, t.text) for t in turns]


def jsonl(*objs: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


# -- Claude Code ---------------------------------------------------------------------------------


def test_claude_code_session_with_mcp_tool_calls() -> None:
    got = parse_file(MCP)
    assert got.format == "claude-code" and not got.problems and not got.pending
    # The tool search, the two memory tool calls and their results are left out; the text the
    # model wrote before a tool call (its own line) is kept.
    assert conversation(got.turns) == [
        ("user", "Remember that my cat is called Tomasz."),
        ("assistant", "I'll save that."),
        ("assistant", "Saved: your cat is called **Tomasz**."),
    ]
    rows = lines_of(MCP)
    session = rows[-1]["sessionId"]
    for turn in got.turns:
        row = rows[turn.line - 1]
        assert turn.id == row["uuid"]  # the line's own uuid
        assert turn.timestamp == row["timestamp"] and turn.session_id == session
        assert turn.cwd == "/home/user/project"
    assert got.watermark == Watermark(
        MCP.stat().st_size, len(rows), "claude-code", session, "/home/user/project"
    )
    skipped = {r["type"] for r in rows} - {"user", "assistant"}
    assert {"attachment", "queue-operation", "last-prompt"} <= skipped  # bookkeeping was there


def test_claude_code_resumed_and_compacted_session() -> None:
    got = parse_file(RESUMED)
    assert not got.problems
    # Hook output, the /compact command's wrappers, caveat and output, the compaction summary,
    # Bash calls and results, the subagent's hand-back: all left out.
    assert conversation(got.turns) == [
        ("user", "Which indentation does my editor use?"),
        ("assistant", "Let me check the editor settings."),
        ("assistant", "Your editor uses tabs, 4 wide."),
        ("user", "And for Python?"),
        ("assistant", "Yes: Python files use 4 spaces instead."),
        ("user", "Check the style guide too."),
        ("assistant", "The style guide agrees: 4 spaces for Python."),
    ]
    rows = lines_of(RESUMED)
    summary = next(r for r in rows if r.get("isCompactSummary"))
    assert "continued from a previous conversation" in json.dumps(summary["message"])
    assert any("<command-name>/compact</command-name>" in json.dumps(r.get("message")) for r in rows)
    assert any(r.get("attachment", {}).get("type") == "hook_additional_context" for r in rows)
    assert all(t.id == rows[t.line - 1]["uuid"] for t in got.turns)


def test_sidechain_subagent_messages_are_left_out() -> None:
    rows = lines_of(SUBAGENT)
    assert all(r.get("isSidechain") for r in rows if r["type"] in ("user", "assistant"))
    got = parse_file(SUBAGENT)
    assert got.turns == [] and not got.problems
    assert got.session_id == rows[0]["sessionId"]  # the parent session's id


@pytest.mark.parametrize("path", [MCP, RESUMED, CODEX, OPENAI], ids=lambda p: p.name[:24])
def test_parsing_is_idempotent(path: Path) -> None:
    first, second = parse_file(path), parse_file(path)
    assert first == second
    assert len({t.id for t in first.turns}) == len(first.turns)


@pytest.mark.parametrize("path", [RESUMED, CODEX], ids=["claude-code", "codex"])
def test_incremental_parse_of_a_growing_file_matches_one_parse(path: Path) -> None:
    data = path.read_bytes()
    whole = parse(data, path=str(path))
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    cuts = sorted(set(ends) | {(a + b) // 2 for a, b in zip([0, *ends], ends, strict=False)})
    for cut in cuts:  # the writer has written data[:cut]; a parse, then another after the rest
        first = parse(data[:cut], path=str(path))
        assert first.watermark.offset == max((e for e in ends if e <= cut), default=0)
        assert first.pending == (first.watermark.offset < cut)
        assert not first.problems
        rest = parse(data[first.watermark.offset :], path=str(path), start=first.watermark)
        assert first.turns + rest.turns == whole.turns, cut
        assert rest.watermark == whole.watermark


def test_truncated_last_line_waits_for_the_next_parse(tmp_path: Path) -> None:
    data = RESUMED.read_bytes()
    last_answer = data.rindex(b'"type":"assistant"')
    cut = data.index(b"\n", last_answer) - 25  # mid-way through the last answer's line
    path = tmp_path / "live.jsonl"
    path.write_bytes(data[:cut])
    got = parse_file(path)
    assert got.pending and not got.problems
    assert got.turns[-1].text == "Check the style guide too."
    assert data[got.watermark.offset - 1 : got.watermark.offset] == b"\n"
    with path.open("ab") as f:  # the writer finishes the line and the file
        f.write(data[cut:])
    rest = parse_file(path, got.watermark)
    assert conversation(rest.turns) == [("assistant", "The style guide agrees: 4 spaces for Python.")]
    assert rest.watermark == parse_file(RESUMED).watermark and not rest.pending


def test_final_parse_reports_an_unfinished_last_line() -> None:
    data = MCP.read_bytes()[:-40]
    got = parse(data, path="s.jsonl", final=True)
    assert not got.pending
    assert got.problems == [Problem("s.jsonl", len(lines_of(MCP)), got.problems[0].reason)]
    assert got.problems[0].reason.startswith("invalid JSON")
    complete = parse(MCP.read_bytes().rstrip(b"\n"), final=True)  # complete, just no newline
    assert complete.turns == parse_file(MCP).turns and not complete.problems


def test_malformed_lines_are_reported_and_skipped() -> None:
    good = MCP.read_bytes().splitlines(keepends=True)
    bad = [
        b"{not json\n",
        b"[1, 2]\n",
        jsonl({"type": "user", "uuid": "u-1", "sessionId": "s"}),  # no message
        jsonl({"type": "user", "message": {"role": "user", "content": 42}}),
        jsonl({"type": "assistant", "message": {"role": "user", "content": "x"}}),
    ]
    lines = good[:10] + bad + good[10:]
    got = parse_lines(lines, path="/x/s.jsonl")
    assert [(p.path, p.line) for p in got.problems] == [("/x/s.jsonl", n) for n in range(11, 16)]
    reasons = [p.reason for p in got.problems]
    assert reasons[0].startswith("invalid JSON") and "not an object" in reasons[1]
    assert "without a message" in reasons[2] and "int" in reasons[3] and "'user' message" in reasons[4]
    assert conversation(got.turns) == conversation(parse_file(MCP).turns)
    assert got.watermark.line == len(lines)


SESSION = "0b7f9a52-2f1e-4c2b-9d55-1d1f3e0c8a11"


def claude_line(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "sessionId": SESSION,
        "cwd": "/p",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": {"role": kind, "content": content},
        **extra,
    }


def test_claude_code_injected_text_and_special_messages_are_left_out() -> None:
    reminder = "<system-reminder>\nAttribution for git commits…\n</system-reminder>\n"
    data = jsonl(
        claude_line(
            "user", [{"type": "text", "text": reminder}, {"type": "text", "text": "Fix the login bug"}]
        ),
        claude_line("user", f"{reminder}Also the logout one"),
        claude_line("user", "<local-command-caveat>Caveat…</local-command-caveat>", isMeta=True),
        claude_line("user", "<command-name>/model</command-name>\n<command-message>model</command-message>"),
        claude_line("user", "<local-command-stdout>Set model to opus</local-command-stdout>"),
        claude_line("user", "<bash-input>ls</bash-input>"),
        claude_line("user", "[Request interrupted by user for tool use]"),
        claude_line("user", [{"type": "image", "source": {}}, {"type": "text", "text": "What is this?"}]),
        claude_line(
            "assistant",
            [{"type": "thinking", "thinking": "hmm", "signature": "x"}, {"type": "text", "text": "A cat."}],
        ),
        claude_line("assistant", [{"type": "tool_use", "id": "t", "name": "Read", "input": {}}]),
        claude_line("user", [{"type": "tool_result", "tool_use_id": "t", "content": "file"}]),
        claude_line("assistant", [{"type": "text", "text": "No response requested."}])
        | {"message": {"role": "assistant", "model": "<synthetic>", "content": "No response requested."}},
        claude_line("assistant", "API Error: 529 overloaded", isApiErrorMessage=True),
        claude_line("user", "Subagent task", isSidechain=True),
        claude_line(
            "user", "Summary of the conversation", isCompactSummary=True, isVisibleInTranscriptOnly=True
        ),
        {"type": "summary", "summary": "Login bug fix", "leafUuid": "x"},
        {"type": "system", "subtype": "compact_boundary", "content": "Conversation compacted"},
        claude_line(
            "assistant", [{"type": "text", "text": "Done."}, {"type": "text", "text": "Anything else?"}]
        ),
    )
    got = parse(data, path="x.jsonl")
    assert not got.problems
    assert conversation(got.turns) == [
        ("user", "Fix the login bug"),
        ("user", "Also the logout one"),
        ("user", "What is this?"),
        ("assistant", "A cat."),
        ("assistant", "Done.\n\nAnything else?"),
    ]
    assert [t.line for t in got.turns] == [1, 2, 8, 9, 18]


def test_lines_without_uuid_get_stable_hash_ids() -> None:
    data = jsonl(claude_line("user", "same words"), claude_line("user", "same words"))
    first, again = parse(data), parse(data)
    ids = [t.id for t in first.turns]
    assert ids == [t.id for t in again.turns]
    assert ids[0] != ids[1]  # same text on another line is another turn
    assert ids[0] == turn_id(SESSION, 1, "user", "same words")
    with_uuid = parse(jsonl(claude_line("user", "same words", uuid="9d1e2f3a-0000-4000-8000-000000000001")))
    assert with_uuid.turns[0].id == "9d1e2f3a-0000-4000-8000-000000000001"


def test_clean_user_text() -> None:
    assert clean_user_text("a <system-reminder>x\ny</system-reminder> b") == "a  b"
    assert clean_user_text("<command-name>/clear</command-name>") == ""
    assert clean_user_text("unclosed <system-reminder> rest of the file") == "unclosed"
    assert (
        clean_user_text("keep <b>html</b> and <code>tags</code>") == "keep <b>html</b> and <code>tags</code>"
    )


# -- Codex ---------------------------------------------------------------------------------------


def test_codex_rollout() -> None:
    got = parse_file(CODEX)
    assert got.format == "codex" and not got.problems
    # AGENTS.md, environment context, developer instructions, user shell commands, aborted
    # turns, reasoning, tool calls and their output, the event_msg copies: left out.
    assert conversation(got.turns) == [
        ("user", "Which test runner does this repo use?"),
        ("assistant", "It uses **pytest**, configured in `pyproject.toml`."),
        ("user", "Remember: I run it as `pytest -q`, and this screenshot shows why."),
        ("assistant", "Noted, and `make test` now runs `pytest -q`."),
    ]
    assert [t.line for t in got.turns] == [6, 12, 17, 20]
    assert {t.session_id for t in got.turns} == {CODEX_SESSION}
    assert [t.cwd for t in got.turns] == ["/home/user/project"] * 2 + ["/home/user/project/api"] * 2
    assert got.turns[0].timestamp == "2025-10-29T00:59:38.321Z"
    assert got.turns[0].id == turn_id(CODEX_SESSION, 6, "user", "Which test runner does this repo use?")


def test_codex_watermark_carries_the_session_meta() -> None:
    data = CODEX.read_bytes()
    head = data[: data.index(b"\n", data.index(b"Which test runner")) + 1]
    first = parse(head, path="rollout-x.jsonl")
    assert first.watermark.session_id == CODEX_SESSION and first.watermark.cwd == "/home/user/project"
    rest = parse(data[first.watermark.offset :], path="rollout-x.jsonl", start=first.watermark)
    assert first.turns + rest.turns == parse_file(CODEX).turns
    restored = Watermark.from_json(json.loads(json.dumps(rest.watermark.to_json())))
    assert restored == rest.watermark


def test_codex_session_id_from_the_file_name_when_meta_is_missing() -> None:
    data = CODEX.read_bytes().split(b"\n", 1)[1]  # without its session_meta line
    got = parse(data, path=str(CODEX), format="codex")
    assert {t.session_id for t in got.turns} == {CODEX_SESSION}


def test_codex_early_rollout_format() -> None:
    data = jsonl(
        {
            "id": "5973b6c0-94b8-487b-a530-2aeb6098ae0e",
            "timestamp": "2025-04-20T10:00:00Z",
            "instructions": None,
        },
        {"record_type": "state"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]},
        {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": "c"},
    )
    got = parse(data, path="rollout-2025-04-20.jsonl")
    assert got.format == "codex" and not got.problems
    assert conversation(got.turns) == [("user", "hello"), ("assistant", "hi")]
    assert got.turns[0].session_id == "5973b6c0-94b8-487b-a530-2aeb6098ae0e"


def test_codex_malformed_payload_is_reported() -> None:
    data = CODEX.read_bytes() + jsonl(
        {"timestamp": "t", "type": "response_item", "payload": "oops"},
        {
            "timestamp": "t",
            "type": "response_item",
            "payload": {"type": "message", "role": "user", "content": 7},
        },
    )
    got = parse(data, path="r.jsonl")
    n = len(CODEX.read_text().splitlines())
    assert [(p.line, p.reason) for p in got.problems] == [
        (n + 1, "a response_item line whose payload is not an object"),
        (n + 2, "message content is a int, not a string or a list"),
    ]
    assert len(got.turns) == 4


# -- OpenAI-style message lists ------------------------------------------------------------------


def test_openai_message_list() -> None:
    got = parse_file(OPENAI)
    assert got.format == "openai" and not got.problems
    assert conversation(got.turns) == [
        ("user", "My deploys go out on Tuesdays."),
        ("assistant", "Got it: deploys on Tuesdays."),
        ("user", "What's the weather in Lisbon?"),
        ("assistant", "It's 21 °C in Lisbon."),
        ("user", "Thanks!"),
    ]
    assert [t.line for t in got.turns] == [2, 3, 4, 7, 9]  # 1-based message index
    assert {t.session_id for t in got.turns} == {"openai-messages"}  # the file's name
    assert got.turns[-1].timestamp == "2025-06-01T10:00:00Z"
    assert got.watermark.line == 9 and got.watermark.offset == OPENAI.stat().st_size


def test_openai_incremental_and_named_session(tmp_path: Path) -> None:
    messages = json.loads(OPENAI.read_text())
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(messages[:4]))
    first = parse_file(path, session_id="chat-7")
    path.write_text(json.dumps({"messages": messages}, indent=2))  # grown (and re-wrapped)
    rest = parse_file(path, first.watermark)
    assert first.turns + rest.turns == parse_file(path, session_id="chat-7").turns
    assert {t.session_id for t in rest.turns} == {"chat-7"}  # kept in the watermark


def test_openai_problems() -> None:
    got = parse(b'[{"role": "user", "content": "ok"}, 5, {"content": "no role"}]', path="m.json")
    assert [(p.line, p.reason) for p in got.problems] == [
        (2, "a message must be an object with a role"),
        (3, "a message must be an object with a role"),
    ]
    assert conversation(got.turns) == [("user", "ok")]
    broken = parse(b'[{"role": "user", "content": "ok"}', path="m.json")
    assert broken.turns == [] and broken.problems[0].reason.startswith("invalid JSON")
    assert broken.watermark.line == 0


def test_a_rewritten_shorter_file_is_read_from_the_top(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(RESUMED.read_bytes())
    before = parse_file(path)
    path.write_bytes(MCP.read_bytes())  # replaced by a smaller session
    after = parse_file(path, before.watermark)
    assert after.turns == parse_file(MCP).turns
