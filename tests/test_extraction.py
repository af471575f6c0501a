"""The memory manager and the formation procedures, over the real Anthropic SDK and a scripted server."""

from __future__ import annotations

import pytest

from langmem_mcp.engine.extraction import extract_memories, normalize_schemas
from langmem_mcp.engine.memory_functions import semantic_memories, user_append_state, user_state
from langmem_mcp.llm.anthropic_llm import AnthropicLLM
from langmem_mcp.llm.base import LLMError
from tests.fake_anthropic import FakeAnthropic, text, tools

CONVO = [
    {"role": "user", "content": "Alice manages the ML team and mentors Bob.", "name": "Will"},
    {"role": "assistant", "content": "Noted!"},
    {"role": "user", "content": "Bob now leads the ML team."},
]
EXISTING = [{"id": "m1", "content": "Alice manages the ML team."}, {"id": "m2", "content": "Will likes tea."}]
PREFERENCE = {
    "title": "UserPreference",
    "type": "object",
    "properties": {"preference": {"type": "string"}, "category": {"type": "string"}},
    "required": ["preference", "category"],
}


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def llm(fake):
    return AnthropicLLM("sk", base_url=fake.url, model="claude-test", max_retries=0, timeout=5)


def tool_results(body: dict) -> list[dict]:
    """The tool_result blocks of the last user turn of a request."""
    return [b for b in body["messages"][-1]["content"] if b.get("type") == "tool_result"]


async def test_insert_update_and_refusals_are_fed_back(fake, llm):
    fake.add(
        tools(
            ("insert_memory", {"content": "Bob leads the ML team."}),
            ("update_memory", {"id": "m1", "content": "Alice managed the ML team until Bob took over."}),
            ("update_memory", {"id": "m99", "content": "made up"}),
            ("delete_memory", {"id": "m2"}),
        ),
        tools(("insert_memory", {"content": "Alice mentors Bob."}), ("done", {})),
    )
    result = await extract_memories(llm, CONVO, EXISTING)
    assert result.finished and result.steps == 2
    assert [(o.op, o.id, o.content) for o in result.ops] == [
        ("insert", "new-1", "Bob leads the ML team."),
        ("insert", "new-2", "Alice mentors Bob."),
        ("update", "m1", "Alice managed the ML team until Bob took over."),
    ]
    assert result.deleted == []  # deletes are off by default
    first, second = fake.bodies
    assert {t["name"] for t in first["tools"]} == {
        "insert_memory",
        "update_memory",
        "supersede_memory",
        "done",
    }
    assert first["tool_choice"] == {"type": "any"}
    prompt = first["messages"][0]["content"][0]["text"]
    assert "m1" in prompt and "Bob now leads the ML team." in prompt and "user (Will):" in prompt
    assert "Deleting is not allowed" in first["system"]
    results = tool_results(second)
    assert [r["content"] for r in results[:2]] == ["inserted as new-1", "updated m1"]
    assert results[2]["is_error"] and "no memory with id 'm99'" in results[2]["content"]
    assert results[3]["is_error"] and "deletes are not allowed" in results[3]["content"]


async def test_deletes_when_enabled_and_changes_to_new_memories(fake, llm):
    fake.add(
        tools(
            ("insert_memory", {"content": "Draft"}),
            ("update_memory", {"id": "new-1", "content": "Bob leads ML."}),
            ("insert_memory", {"content": "Temporary"}),
            ("delete_memory", {"id": "new-2"}),
            ("delete_memory", {"id": "m2"}),
            ("update_memory", {"id": "m2", "content": "too late"}),
            ("done", {}),
        )
    )
    result = await extract_memories(llm, CONVO, EXISTING, enable_deletes=True)
    assert [(o.op, o.id, o.content) for o in result.ops] == [
        ("insert", "new-1", "Bob leads ML."),
        ("delete", "m2", None),
    ]
    assert any("was deleted" in r for r in result.rejected)


async def test_schema_payloads_are_validated_and_corrected(fake, llm):
    fake.add(
        tools(("insert_memory", {"content": {"preference": "dark mode"}})),
        tools(("insert_memory", {"content": {"preference": "dark mode", "category": "ui"}}), ("done", {})),
    )
    result = await extract_memories(llm, CONVO, schemas=[PREFERENCE])
    assert [(o.kind, o.content) for o in result.inserted] == [
        ("UserPreference", {"preference": "dark mode", "category": "ui"})
    ]
    refused = tool_results(fake.bodies[1])[0]
    assert refused["is_error"] and "'category' is a required property" in refused["content"]
    assert fake.bodies[0]["tools"][0]["input_schema"]["properties"]["content"] == PREFERENCE


async def test_several_schemas_need_a_kind(fake, llm):
    event = {
        "title": "Event",
        "type": "object",
        "properties": {"what": {"type": "string"}},
        "required": ["what"],
    }
    fake.add(
        tools(
            ("insert_memory", {"kind": "Event", "content": '{"what": "moved to Lisbon"}'}),
            ("insert_memory", {"kind": "Nope", "content": {}}),
            ("done", {}),
        )
    )
    result = await extract_memories(llm, CONVO, schemas=[PREFERENCE, event])
    assert [(o.kind, o.content) for o in result.inserted] == [("Event", {"what": "moved to Lisbon"})]
    assert "unknown kind 'Nope'" in result.rejected[0]
    assert fake.bodies[0]["tools"][0]["input_schema"]["properties"]["kind"]["enum"] == [
        "UserPreference",
        "Event",
    ]
    assert list(normalize_schemas({"name": "F", "parameters": {"type": "object"}})) == ["F"]


async def test_steps_end_without_done_and_text_only_reply(fake, llm):
    fake.add(tools(("insert_memory", {"content": "A"})), tools(("insert_memory", {"content": "A"})))
    result = await extract_memories(llm, CONVO, max_steps=2)
    assert not result.finished and result.steps == 2 and len(result.inserted) == 1
    assert "already inserted as new-1" in result.rejected[0]
    fake.add(text("Nothing worth remembering."))
    result = await extract_memories(llm, CONVO)
    assert result.finished and result.ops == []


async def test_semantic_memories_carry_importance(fake, llm):
    fake.add(
        tools(
            ("insert_memory", {"content": "Bob leads the ML team.", "importance": 1.7}),
            ("insert_memory", {"content": "Will said hi."}),
            ("done", {}),
        )
    )
    result = await semantic_memories(llm, CONVO)
    assert [o.importance for o in result.inserted] == [1.0, 0.5]
    schema = fake.bodies[0]["tools"][0]["input_schema"]
    assert "importance" in schema["required"]
    assert "importance between 0 and 1" in fake.bodies[0]["system"]
    assert llm.usage_log[0].procedure == "semantic_memory"


PROFILE = {
    "title": "UserProfile",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "interests": {"type": "array"}},
    "required": ["name", "age"],
}


async def test_user_state_patch_is_validated_and_merged(fake, llm):
    fake.add(
        tools(("update_profile", {"age": "thirty"})),
        tools(("update_profile", {"age": 30, "interests": ["pikas"]})),
    )
    out = await user_state(llm, CONVO, PROFILE, {"name": "Will", "interests": []})
    assert out.patch == {"age": 30, "interests": ["pikas"]}
    assert out.state == {"name": "Will", "age": 30, "interests": ["pikas"]} and out.changed
    assert fake.bodies[0]["tool_choice"] == {"type": "tool", "name": "update_profile"}
    assert "required" not in fake.bodies[0]["tools"][0]["input_schema"]  # a patch may set only some fields
    assert "is not of type 'integer'" in tool_results(fake.bodies[1])[0]["content"]

    fake.add(tools(("update_profile", {})))
    same = await user_state(llm, CONVO, {"name": "P", "parameters": PROFILE}, {"name": "Will"})
    assert same.patch == {} and not same.changed

    fake.add(tools(("update_profile", {"age": "x"})), tools(("update_profile", {"age": "y"})))
    with pytest.raises(LLMError, match="valid profile patch"):
        await user_state(llm, CONVO, PROFILE)


async def test_user_append_state_keeps_valid_entries_and_retries_bad_ones(fake, llm):
    event = {"type": "object", "properties": {"event": {"type": "string"}}, "required": ["event"]}
    fake.add(
        tools(("append_entries", {"entries": [{"event": "Bob promoted"}, {"what": "?"}, {"event": "old"}]})),
        tools(("append_entries", {"entries": [{"event": "Alice hands over"}]})),
    )
    out = await user_append_state(llm, CONVO, event, existing=[{"event": "old"}])
    assert out.entries == [{"event": "Bob promoted"}, {"event": "Alice hands over"}]
    assert len(out.rejected) == 1 and "entry 1" in out.rejected[0]


# ---- answers in text instead of tool calls (local models, generic sampling hosts) ----


def last_user_text(body: dict) -> str:
    """The text of the last user turn of a request (feedback to a text answer is a user turn)."""
    return " ".join(b.get("text", "") for b in body["messages"][-1]["content"] if b.get("type") == "text")


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n["Bob leads the ML team.", "Alice mentors Bob."]\n```',  # fenced
        'Sure, here they are: [{"content": "Bob leads the ML team."}, {"content": "Alice mentors Bob."}]',  # bare
        '{"tool_calls": [{"name": "insert_memory", "input": {"content": "Bob leads the ML team."}},'
        ' {"name": "insert_memory", "input": {"content": "Alice mentors Bob."}}, {"name": "done", "input": {}}]}',
        "Worth keeping:\n- Bob leads the ML team.\n* Alice mentors Bob.\n\nThat is all.",  # prose, bulleted
        "1. Bob leads the ML team.\n2) Alice mentors Bob.",  # prose, numbered
    ],
    ids=["fenced-list", "bare-list", "tool-calls-json", "bullets", "numbered"],
)
async def test_memories_from_a_text_answer(fake, llm, answer):
    fake.add(text(answer))
    result = await extract_memories(llm, CONVO, EXISTING)
    assert [(o.op, o.content) for o in result.ops] == [
        ("insert", "Bob leads the ML team."),
        ("insert", "Alice mentors Bob."),
    ]
    assert result.finished and result.steps == 1 and result.rejected == []


async def test_one_bare_tool_input_in_text_is_that_tools_call(fake, llm):
    # {"id", "content"} fits update_memory only; a JSON tool call is not a final answer, as with tools
    fake.add(text('{"id": "m1", "content": "Alice managed the ML team."}'), text("{}"))
    result = await extract_memories(llm, CONVO, EXISTING)
    assert [(o.op, o.id, o.content) for o in result.ops] == [("update", "m1", "Alice managed the ML team.")]
    assert result.finished and result.steps == 2  # {} fits only done
    assert last_user_text(fake.bodies[1]) == "updated m1"


async def test_refused_statements_are_fed_back_in_text(fake, llm):
    fake.add(
        text("- Bob leads the ML team.\n- Bob leads the ML team."),
        text('```json\n["Alice mentors Bob."]\n```'),
    )
    result = await extract_memories(llm, CONVO)
    assert [o.content for o in result.inserted] == ["Bob leads the ML team.", "Alice mentors Bob."]
    assert result.finished and result.steps == 2
    feedback = last_user_text(fake.bodies[1])
    assert "1. inserted as new-1" in feedback and "2. Error: already inserted as new-1" in feedback
    assert fake.bodies[1]["messages"][-2]["role"] == "assistant"  # the text answer, then the feedback


async def test_schemad_memories_from_a_json_list(fake, llm):
    fake.add(text('[{"preference": "dark mode", "category": "ui"}]'))
    result = await extract_memories(llm, CONVO, schemas=[PREFERENCE])
    assert [(o.kind, o.content) for o in result.inserted] == [
        ("UserPreference", {"preference": "dark mode", "category": "ui"})
    ]


async def test_malformed_json_is_fed_back_once_then_an_error(fake, llm):
    fake.add(text('```json\n["Bob leads the ML team.",\n```'), text('{"content": "Bob leads'))
    with pytest.raises(LLMError, match="readable memory operations: the reply's JSON does not parse"):
        await extract_memories(llm, CONVO)
    assert len(fake.requests) == 2
    assert "does not parse" in last_user_text(fake.bodies[1])

    fake.add(text('```json\n["Bob leads the ML team.",\n```'), text('["Bob leads the ML team."]'))
    result = await extract_memories(llm, CONVO)
    assert [o.content for o in result.inserted] == ["Bob leads the ML team."] and result.finished
    assert "does not parse" in result.rejected[0]


async def test_semantic_memories_from_text(fake, llm):
    fake.add(text('```json\n[{"content": "Bob leads the ML team.", "importance": 0.8}]\n```'))
    result = await semantic_memories(llm, CONVO)
    assert [(o.content, o.importance) for o in result.inserted] == [("Bob leads the ML team.", 0.8)]

    fake.add(text("Here is what matters:\n- Bob leads the ML team.\n- Alice mentors Bob."))
    result = await semantic_memories(llm, CONVO)
    assert [(o.content, o.importance) for o in result.inserted] == [
        ("Bob leads the ML team.", 0.5),
        ("Alice mentors Bob.", 0.5),
    ]

    fake.add(text("Nothing worth remembering here."))
    result = await semantic_memories(llm, CONVO)
    assert result.finished and result.ops == []


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"age": 30, "interests": ["pikas"]}\n```',
        'The patch is {"age": 30, "interests": ["pikas"]} as asked.',
    ],
    ids=["fenced", "bare"],
)
async def test_user_state_patch_from_json_text(fake, llm, answer):
    fake.add(text(answer))
    out = await user_state(llm, CONVO, PROFILE, {"name": "Will"})
    assert out.patch == {"age": 30, "interests": ["pikas"]} and out.changed
    assert out.state == {"name": "Will", "age": 30, "interests": ["pikas"]}


async def test_user_state_text_answers_that_are_no_patch(fake, llm):
    fake.add(text("Nothing in this conversation changes the profile."))
    out = await user_state(llm, CONVO, PROFILE, {"name": "Will"})
    assert out.patch == {} and not out.changed and len(fake.requests) == 1

    fake.add(text('{"age": "thirty"}'), text('```json\n{"age": 30}\n```'))  # invalid, fed back, fixed
    out = await user_state(llm, CONVO, PROFILE)
    assert out.patch == {"age": 30}
    assert "is not of type 'integer'" in last_user_text(fake.bodies[2])

    fake.add(text('```json\n{"age": 30,\n```'), text('{"age": 30, "interests": ["pikas"'))
    with pytest.raises(LLMError, match="valid profile patch: the reply's JSON does not parse"):
        await user_state(llm, CONVO, PROFILE)
    assert "does not parse" in last_user_text(fake.bodies[4])


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"entries": [{"event": "Bob promoted"}, {"event": "old"}]}\n```',
        'New entries: [{"event": "Bob promoted"}, {"event": "old"}]',
        '{"event": "Bob promoted"}',  # one entry on its own
    ],
    ids=["fenced", "bare-list", "one-entry"],
)
async def test_user_append_state_from_json_text(fake, llm, answer):
    event = {"type": "object", "properties": {"event": {"type": "string"}}, "required": ["event"]}
    fake.add(text(answer))
    out = await user_append_state(llm, CONVO, event, existing=[{"event": "old"}])
    assert out.entries == [{"event": "Bob promoted"}] and out.rejected == []


async def test_user_append_state_text_without_entries_and_malformed_json(fake, llm):
    event = {"type": "object", "properties": {"event": {"type": "string"}}, "required": ["event"]}
    fake.add(text("There are no new events."))
    out = await user_append_state(llm, CONVO, event)
    assert out.entries == [] and len(fake.requests) == 1

    fake.add(text('[{"what": "?"}, {"event": "Bob promoted"}]'), text("[]"))  # refused entry fed back
    out = await user_append_state(llm, CONVO, event)
    assert out.entries == [{"event": "Bob promoted"}] and "entry 0" in out.rejected[0]
    assert "these entries were refused" in last_user_text(fake.bodies[2])

    fake.add(text('[{"event": "Bob promoted"'), text('```json\n{"entries": [\n```'))
    with pytest.raises(LLMError, match="valid list of entries: the reply's JSON does not parse"):
        await user_append_state(llm, CONVO, event)
    assert len(fake.requests) == 5
