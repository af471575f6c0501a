"""Prompt optimisers (gradient, metaprompt, prompt_memory, multi-prompt) over the real SDK."""

from __future__ import annotations

import json

import pytest

from langmem_mcp.engine.optimizer import check_rewrite, optimize_prompt, optimize_prompts, render_trajectories
from langmem_mcp.errors import InvalidInput
from langmem_mcp.llm.anthropic_llm import AnthropicLLM
from tests.fake_anthropic import FakeAnthropic, error, text, tools

TRAJECTORIES = [
    [
        [
            {"role": "user", "content": "Tell me about Mars"},
            {"role": "assistant", "content": "Mars is the fourth planet..."},
            {"role": "user", "content": "I wanted more about its moons"},
        ],
        {"score": 0.5, "comment": "Missed key information about moons"},
    ]
]
PROMPT = "You are a planetary science expert helping {user_name}."
BETTER = "You are a planetary science expert helping {user_name}. Cover moons when asked about a planet."


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def llm(fake):
    return AnthropicLLM("sk", base_url=fake.url, model="claude-test", max_retries=0, timeout=5)


def tool_names(body: dict) -> set[str]:
    return {t["name"] for t in body.get("tools", [])}


def update(prompt: str | None, should: bool = True) -> object:
    args = {"analysis": "moons were missed", "should_update": should}
    if prompt is not None:
        args["improved_prompt"] = prompt
    return tools(("update_prompt", args))


async def test_gradient_reflects_recommends_then_rewrites(fake, llm):
    fake.add(
        tools(("think", {"thought": "The user wanted moons."})),
        tools(("critique", {"critique": "Nothing says to cover moons."})),
        tools(
            (
                "recommend",
                {"warrants_adjustment": True, "hypotheses": "h", "full_recommendations": "Add moons."},
            )
        ),
        update(BETTER),
    )
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="gradient", max_reflection_steps=3)
    assert result.updated and result.prompt == BETTER and result.recommendation == "Add moons."
    bodies = fake.bodies
    assert tool_names(bodies[0]) == {"think", "critique"}  # no conclusion before min_reflection_steps
    assert tool_names(bodies[1]) == {"think", "critique", "recommend"}
    assert bodies[1]["messages"][-1]["content"][0]["type"] == "tool_result"
    assert "Missed key information about moons" in bodies[0]["messages"][0]["content"][0]["text"]
    assert "Add moons." in bodies[3]["system"] and bodies[3]["tool_choice"] == {
        "type": "tool",
        "name": "update_prompt",
    }
    assert {u.procedure for u in llm.usage_log} == {"optimize_gradient"}


async def test_gradient_keeps_prompt_when_no_adjustment_is_warranted(fake, llm):
    fake.add(
        tools(("think", {"thought": "Fine."})),
        tools(("recommend", {"warrants_adjustment": False, "hypotheses": "user error"})),
    )
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="gradient")
    assert not result.updated and result.prompt == PROMPT and result.reason == "no adjustment warranted"
    assert len(fake.requests) == 2  # no rewrite call


async def test_gradient_forces_a_recommendation_at_max_steps(fake, llm):
    fake.add(
        tools(("think", {"thought": "1"})),
        tools(("think", {"thought": "2"})),
        tools(("recommend", {"warrants_adjustment": True, "full_recommendations": "Add moons."})),
        update(BETTER),
    )
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, max_reflection_steps=2, min_reflection_steps=2)
    assert result.updated
    assert fake.bodies[1]["tool_choice"] == {"type": "any"} and "recommend" not in tool_names(fake.bodies[1])
    assert fake.bodies[2]["tool_choice"] == {"type": "tool", "name": "recommend"}
    assert tool_names(fake.bodies[2]) == {"recommend"}


async def test_metaprompt_reflects_then_rewrites_through_the_metaprompt(fake, llm):
    fake.add(
        tools(("think", {"thought": "Moons matter to this user."})),
        tools(("finish_reflection", {"insights": "Always cover moons."})),
        update(BETTER),
    )
    result = await optimize_prompt(llm, TRAJECTORIES, {"name": "main", "prompt": PROMPT}, kind="metaprompt")
    assert result.updated and result.prompt == BETTER
    system = fake.bodies[2]["system"]
    assert "Moons matter to this user." in system and "Always cover moons." in system


async def test_prompt_memory_never_loses_the_prompt(fake, llm):
    fake.add(update(BETTER))
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert result.updated and result.prompt == BETTER and len(fake.requests) == 1

    fake.add(update(None, should=False))
    declined = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert declined.prompt == PROMPT and not declined.updated and "declined" in declined.reason

    fake.add(update(""), update("   "))  # LangMem would return "" here
    empty = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert empty.prompt == PROMPT and not empty.updated and "empty" in empty.reason

    fake.add(text("I think it is fine."), text("It is fine."))  # prose is a candidate prompt: refused twice
    silent = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert silent.prompt == PROMPT and not silent.updated


async def test_dropped_placeholder_is_fed_back_and_fixed(fake, llm):
    fake.add(update("Cover moons."), update(BETTER))
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert result.prompt == BETTER
    feedback = fake.bodies[1]["messages"][-1]["content"][0]
    assert feedback["is_error"] and "{user_name}" in feedback["content"]


async def test_a_failed_call_returns_the_original(fake, llm):
    fake.add(error(500, headers={"x-should-retry": "false"}))
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="metaprompt")
    assert result.prompt == PROMPT and not result.updated and "model call failed" in result.reason


async def test_multi_prompt_optimizes_only_the_prompts_the_feedback_concerns(fake, llm):
    prompts = [
        {"name": "planner", "prompt": "Plan the answer.", "when_to_update": "", "update_instructions": ""},
        {
            "name": "writer",
            "prompt": PROMPT,
            "when_to_update": "when content is missing",
            "update_instructions": "x",
        },
    ]
    fake.add(
        tools(("select_prompts", {"reasoning": "content", "which": ["writer", "ghost"]})), update(BETTER)
    )
    out = await optimize_prompts(llm, TRAJECTORIES, prompts, kind="prompt_memory")
    assert out.selected == ["writer"] and out.updated == ["writer"]
    assert [p["prompt"] for p in out.prompts] == ["Plan the answer.", BETTER]
    assert prompts[1]["prompt"] == PROMPT  # the input is not mutated
    classify = fake.bodies[0]
    assert classify["tools"][0]["input_schema"]["properties"]["which"]["items"]["enum"] == [
        "planner",
        "writer",
    ]
    assert "when content is missing" in classify["messages"][0]["content"][0]["text"]
    assert "when content is missing" in fake.bodies[1]["messages"][0]["content"][0]["text"]

    fake.add(update(BETTER))  # a single prompt needs no classification
    single = await optimize_prompts(llm, TRAJECTORIES, prompts[1:], kind="prompt_memory")
    assert single.updated == ["writer"] and len(fake.requests) == 3

    fake.add(error(500, headers={"x-should-retry": "false"}))
    failed = await optimize_prompts(llm, TRAJECTORIES, prompts, kind="prompt_memory")
    assert failed.prompts == prompts and failed.updated == [] and "failed" in failed.reason


async def test_input_checks(llm):
    with pytest.raises(InvalidInput):
        await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="sgd")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await optimize_prompts(
            llm, TRAJECTORIES, [{"name": "a", "prompt": "x"}, {"name": "a", "prompt": "y"}]
        )
    assert check_rewrite("Hi {a} {{literal}}", "Hello {a}") is None
    assert "{a}" in check_rewrite("Hi {a}", "Hello")
    assert "Feedback: no comment" in render_trajectories([[[], "no comment"]])
    assert "<trajectory 1>" in render_trajectories([{"messages": [], "feedback": None}])


# ---- answers in text instead of tool calls ----

UPDATE = {"analysis": "moons were missed", "should_update": True, "improved_prompt": BETTER}


def last_user_text(body: dict) -> str:
    return " ".join(b.get("text", "") for b in body["messages"][-1]["content"] if b.get("type") == "text")


@pytest.mark.parametrize(
    "answer",
    [
        f"```json\n{json.dumps(UPDATE)}\n```",
        f"Here is my answer: {json.dumps(UPDATE)}",
        json.dumps({"tool_calls": [{"name": "update_prompt", "input": UPDATE}]}),
    ],
    ids=["fenced", "bare", "tool-calls-json"],
)
async def test_rewrite_from_json_text(fake, llm, answer):
    fake.add(text(answer))
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert result.updated and result.prompt == BETTER and result.analysis == "moons were missed"
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [BETTER, f"Here is the improved prompt:\n```\n{BETTER}\n```\nIt now covers moons."],
    ids=["plain", "fenced-with-lead-in"],
)
async def test_rewrite_from_prose_keeps_the_placeholders(fake, llm, answer):
    fake.add(text(answer))
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert result.updated and result.prompt == BETTER and result.reason == ""


async def test_prose_that_drops_a_placeholder_is_fed_back_and_never_replaces_the_prompt(fake, llm):
    fake.add(text("You are a planetary science expert. Cover moons."), text(BETTER))
    fixed = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert fixed.updated and fixed.prompt == BETTER
    feedback = last_user_text(fake.bodies[1])
    assert "drops the placeholder(s) {user_name}" in feedback
    assert fake.bodies[1]["messages"][-2]["role"] == "assistant"

    fake.add(text("You are an expert. Cover moons."), text("Cover moons."))
    kept = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert kept.prompt == PROMPT and not kept.updated
    assert kept.reason == "the improved prompt drops the placeholder(s) {user_name}"
    assert len(fake.requests) == 4


async def test_malformed_json_keeps_the_original_with_a_reason(fake, llm):
    fake.add(
        text('```json\n{"analysis": "x", "should_update": true,\n```'), text('{"analysis": "x", "should')
    )
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="prompt_memory")
    assert result.prompt == PROMPT and not result.updated
    assert result.reason.startswith("the reply's JSON does not parse")
    assert "does not parse" in last_user_text(fake.bodies[1]) and len(fake.requests) == 2


async def test_gradient_with_every_answer_in_text(fake, llm):
    fake.add(
        text('{"thought": "The user wanted moons."}'),
        text('```json\n{"warrants_adjustment": true, "full_recommendations": "Add moons."}\n```'),
        text(BETTER),
    )
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="gradient")
    assert result.updated and result.prompt == BETTER and result.recommendation == "Add moons."
    assert last_user_text(fake.bodies[1]).startswith("Noted.")  # a text answer is answered in text
    assert "Add moons." in fake.bodies[2]["system"]


async def test_metaprompt_notes_from_prose_and_a_malformed_reflection(fake, llm):
    fake.add(
        text("Moons matter to this user."),  # prose: a note, not a tool call
        text('{"insights": "Always cover'),  # malformed: fed back, reflection goes on
        text('{"insights": "Always cover moons."}'),
        update(BETTER),
    )
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="metaprompt", max_reflection_steps=3)
    assert result.updated
    assert "does not parse" in last_user_text(fake.bodies[2])
    system = fake.bodies[3]["system"]
    assert "Moons matter to this user." in system and "Always cover moons." in system
    assert '{"insights"' not in system  # the malformed reply is no note


async def test_multi_prompt_choice_from_a_json_list(fake, llm):
    prompts = [{"name": "planner", "prompt": "Plan the answer."}, {"name": "writer", "prompt": PROMPT}]
    fake.add(text('I would change: ["writer"]'), update(BETTER))
    out = await optimize_prompts(llm, TRAJECTORIES, prompts, kind="prompt_memory")
    assert out.selected == ["writer"] and out.updated == ["writer"]

    fake.add(text("None of them needs a change."))
    out = await optimize_prompts(llm, TRAJECTORIES, prompts, kind="prompt_memory")
    assert out.selected == [] and out.updated == [] and len(fake.requests) == 3


# ---- prose guards: a prompt without placeholders, and the gradient's conclusion in prose ----

PLAIN = "Answer questions about astronomy for curious readers."
PLAIN_BETTER = (
    "Answer questions about astronomy for curious readers. Cover a planet's moons when asked about it."
)


@pytest.mark.parametrize(
    "comment",
    [
        "The prompt should also mention moons.",
        "I would add a line about moons.",
        "Could you share more conversations first?",
        "Cover the moons, always.",  # shares no word with the prompt
    ],
)
async def test_prose_cannot_replace_a_prompt_without_placeholders_unless_it_reads_as_one(fake, llm, comment):
    fake.add(text(comment), text(PLAIN_BETTER))
    fixed = await optimize_prompt(llm, TRAJECTORIES, PLAIN, kind="prompt_memory")
    assert fixed.updated and fixed.prompt == PLAIN_BETTER
    assert "Call update_prompt again" in last_user_text(fake.bodies[1])

    fake.add(text(comment), text(comment))
    kept = await optimize_prompt(llm, TRAJECTORIES, PLAIN, kind="prompt_memory")
    assert kept.prompt == PLAIN and not kept.updated and kept.reason
    assert len(fake.requests) == 4


async def test_prose_saying_no_change_is_needed_declines(fake, llm):
    fake.add(text("No changes are needed: the answers were fine."))
    result = await optimize_prompt(llm, TRAJECTORIES, PLAIN, kind="prompt_memory")
    assert result.prompt == PLAIN and not result.updated
    assert result.reason == "the model declined to update" and "No changes" in result.analysis
    assert len(fake.requests) == 1


async def test_gradient_reads_a_prose_recommendation_then_rewrites(fake, llm):
    fake.add(
        text("The user wanted to hear about moons."),  # a note
        # forced: the conclusion
        text("Tell the assistant to cover a planet's moons when asked about the planet."),
        text(BETTER),
    )
    result = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="gradient", max_reflection_steps=1)
    assert result.updated and result.prompt == BETTER
    assert result.recommendation.startswith("Tell the assistant to cover")
    assert fake.bodies[1]["tool_choice"] == {"type": "tool", "name": "recommend"}
    assert "cover a planet's moons" in fake.bodies[2]["system"]

    fake.add(text("Nothing went wrong."), text("The prompt is fine as it is; no change is needed."))
    kept = await optimize_prompt(llm, TRAJECTORIES, PROMPT, kind="gradient", max_reflection_steps=1)
    assert not kept.updated and kept.prompt == PROMPT and kept.reason == "no adjustment warranted"
    assert len(fake.requests) == 5  # no rewrite call
