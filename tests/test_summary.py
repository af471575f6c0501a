"""Thread summaries: by the model (over the real SDK) and extractively with no model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from langmem_mcp.engine.memory_functions import thread_summary
from langmem_mcp.engine.summary import extractive_summary, hashing_embed, split_sentences, summarize_thread
from langmem_mcp.llm.anthropic_llm import AnthropicLLM
from langmem_mcp.llm.base import LLMError
from tests.fake_anthropic import FakeAnthropic, text, tools

THREAD = [
    {
        "role": "user",
        "name": "Will",
        "content": "Hi! I love playing basketball on weekends. Basketball keeps me fit.",
    },
    {
        "role": "assistant",
        "content": "That's great! Basketball is a fun sport. Do you have a favorite player?",
    },
    {
        "role": "user",
        "name": "Will",
        "content": "Yeah, Steph Curry is amazing. His three point shooting changed basketball.",
    },
    {
        "role": "assistant",
        "content": "Curry's range is remarkable. Have you tried practising three point shots?",
    },
    {
        "role": "user",
        "name": "Will",
        "content": "I practise three point shots every Saturday morning with my brother Tom.",
    },
    {"role": "assistant", "content": "Ok."},
]


def test_extractive_summary_picks_central_diverse_sentences_in_order():
    out = extractive_summary(THREAD, hashing_embed, max_sentences=3)
    assert out["method"] == "extractive"
    assert set(out) == {"title", "summary", "topics", "method"}
    sentences = split_sentences(THREAD)
    picked = [s for s in sentences if s in out["summary"]]
    assert len(picked) == 3
    assert [sentences.index(s) for s in picked] == sorted(sentences.index(s) for s in picked)  # thread order
    assert "Ok." not in out["summary"]  # too short to be a candidate
    assert "basketball" in out["topics"]
    assert 0 < len(out["title"]) <= 61


def test_extractive_summary_is_deterministic_and_handles_edges():
    assert extractive_summary(THREAD) == extractive_summary(THREAD, hashing_embed)
    assert extractive_summary([])["summary"] == ""
    tiny = extractive_summary([{"role": "user", "content": "Hi."}])
    assert tiny["summary"] == "user: Hi." and tiny["method"] == "extractive"
    vectors = hashing_embed(["a b c basketball", ""])
    assert np.allclose(np.linalg.norm(vectors[0]), 1.0) and not vectors[1].any()


def test_extractive_summary_with_the_minilm_embedder():
    try:
        from langmem_mcp.index.embeddings import MiniLMOnnxEmbedder

        embedder = MiniLMOnnxEmbedder(threads=1)
        embedder.load()
    except Exception as exc:  # the model package may be missing on a dev machine
        pytest.skip(f"MiniLM embedder unavailable: {exc}")
    out = extractive_summary(THREAD, embedder.embed, max_sentences=2)
    assert out["method"] == "extractive" and out["summary"].count(": ") == 2
    assert "asketball" in out["summary"] or "three point" in out["summary"]


async def test_no_llm_means_extractive():
    out = await summarize_thread(THREAD, llm=None, max_sentences=2)
    assert out["method"] == "extractive"


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def llm(fake):
    return AnthropicLLM("sk", base_url=fake.url, model="claude-test", max_retries=0, timeout=5)


async def test_llm_summary_default_schema_with_correction(fake, llm):
    fake.add(
        tools(("write_summary", {"title": "Basketball", "summary": "Will loves basketball."})),
        tools(
            (
                "write_summary",
                {"title": "Basketball", "summary": "Will loves basketball.", "topics": ["sport"]},
            )
        ),
    )
    out = await summarize_thread(THREAD, llm=llm)
    assert out == {
        "title": "Basketball",
        "summary": "Will loves basketball.",
        "topics": ["sport"],
        "method": "llm",
    }
    first, second = fake.bodies
    assert first["tool_choice"] == {"type": "tool", "name": "write_summary"}
    assert set(first["tools"][0]["input_schema"]["required"]) == {"title", "summary", "topics"}
    assert "Steph Curry" in first["messages"][0]["content"][0]["text"]
    feedback = second["messages"][-1]["content"][0]
    assert feedback["is_error"] and "'topics' is a required property" in feedback["content"]
    assert llm.usage_log[0].procedure == "summarize_thread"


async def test_thread_summary_with_an_alpha_function_schema(fake, llm):
    schema = {
        "name": "ConversationSummary",
        "description": "d",
        "parameters": {"type": "object", "properties": {"gist": {"type": "string"}}, "required": ["gist"]},
    }
    fake.add(tools(("write_summary", {"gist": "basketball talk"})))
    out = await thread_summary(THREAD, llm=llm, schema=schema)
    assert out["gist"] == "basketball talk" and out["method"] == "llm"
    assert fake.bodies[0]["tools"][0]["input_schema"]["required"] == ["gist"]
    assert llm.usage_log[0].procedure == "thread_summary"

    fake.add(tools(("write_summary", {})), tools(("write_summary", {})))
    with pytest.raises(LLMError, match="valid summary"):
        await thread_summary(THREAD, llm=llm, schema=schema)


# ---- answers in text instead of a write_summary call ----

SUMMARY = {"title": "Basketball", "summary": "Will loves basketball.", "topics": ["sport"]}
PROSE = (
    "Here is a summary of the conversation:\n\n"
    "Will loves basketball and practises three point shots every Saturday with his brother Tom. "
    "His favourite player is Steph Curry, whose three point shooting changed basketball."
)


def last_user_text(body: dict) -> str:
    return " ".join(b.get("text", "") for b in body["messages"][-1]["content"] if b.get("type") == "text")


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"title": "Basketball", "summary": "Will loves basketball.", "topics": ["sport"]}\n```',
        'Summary: {"title": "Basketball", "summary": "Will loves basketball.", "topics": ["sport"]}',
        '{"name": "write_summary", "input": {"title": "Basketball", "summary": "Will loves basketball.",'
        ' "topics": ["sport"]}}',
    ],
    ids=["fenced", "bare", "named-call"],
)
async def test_llm_summary_from_json_text(fake, llm, answer):
    fake.add(text(answer))
    assert await summarize_thread(THREAD, llm=llm) == {**SUMMARY, "method": "llm"}
    assert len(fake.requests) == 1


async def test_llm_summary_from_prose_derives_title_and_topics(fake, llm):
    fake.add(text(PROSE))
    out = await summarize_thread(THREAD, llm=llm)
    body = PROSE.split("\n\n", 1)[1]  # the lead-in line is not part of the summary
    assert out["summary"] == body and out["method"] == "llm"
    assert out["title"] == "Will loves basketball and practises three point shots…"
    assert len(out["title"]) <= 60
    assert out["topics"][:3] == ["basketball", "three", "point"]  # the most frequent words first
    assert len(fake.requests) == 1


async def test_llm_summary_from_labelled_lines(fake, llm):
    fake.add(
        text(
            "**Title:** Weekend basketball\n**Summary:** Will plays every Saturday.\n**Topics:** basketball, Tom"
        )
    )
    out = await summarize_thread(THREAD, llm=llm)
    assert out == {
        "title": "Weekend basketball",
        "summary": "Will plays every Saturday.",
        "topics": ["basketball", "Tom"],
        "method": "llm",
    }


async def test_prose_cannot_fill_a_schema_that_needs_other_fields(fake, llm):
    schema = {"type": "object", "properties": {"gist": {"type": "string"}}, "required": ["gist"]}
    fake.add(text(PROSE), text('```json\n{"gist": "basketball talk"}\n```'))
    out = await thread_summary(THREAD, llm=llm, schema=schema)
    assert out == {"gist": "basketball talk", "method": "llm"}
    assert "'gist' is a required property" in last_user_text(fake.bodies[1])

    fake.add(text(PROSE), text(PROSE))
    with pytest.raises(LLMError, match="valid summary: .*'gist' is a required property"):
        await thread_summary(THREAD, llm=llm, schema=schema)

    # a schema whose required fields prose can fill takes the prose
    fake.add(text(PROSE))
    only = {"type": "object", "properties": {"summary": {"type": "string"}}, "additionalProperties": False}
    out = await thread_summary(THREAD, llm=llm, schema={**only, "required": ["summary"]})
    assert out == {"summary": PROSE.split("\n\n", 1)[1], "method": "llm"}


async def test_thread_summary_from_prose(fake, llm):
    fake.add(text("# Basketball with Will\nWill plays basketball on weekends with Tom."))
    out = await thread_summary(THREAD, llm=llm)
    assert out["title"] == "Basketball with Will"
    assert out["summary"] == "Will plays basketball on weekends with Tom."
    assert "basketball" in out["topics"] and llm.usage_log[0].procedure == "thread_summary"


async def test_malformed_summary_json_is_fed_back_once_then_an_error(fake, llm):
    fake.add(text('```json\n{"title": "Basketball", "summary": \n```'), text(json.dumps(SUMMARY)))
    assert await summarize_thread(THREAD, llm=llm) == {**SUMMARY, "method": "llm"}
    feedback = last_user_text(fake.bodies[1])
    assert "the reply's JSON does not parse" in feedback and "write_summary" in feedback
    assert fake.bodies[1]["messages"][1]["role"] == "assistant"

    fake.add(text('{"title": "Basketball", "summary": "Will'), text('{"title": "Basketball",'))
    with pytest.raises(LLMError, match="valid summary: the reply's JSON does not parse"):
        await summarize_thread(THREAD, llm=llm)
    assert len(fake.requests) == 4


async def test_an_empty_text_answer_is_asked_again(fake, llm):
    fake.add(text(""), tools(("write_summary", SUMMARY)))
    assert await summarize_thread(THREAD, llm=llm) == {**SUMMARY, "method": "llm"}
    assert last_user_text(fake.bodies[1]) == "Call write_summary."
