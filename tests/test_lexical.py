"""engine.lexical: query terms, the FTS5 expression, and the speaker of transcript-style memories."""

import pytest

from langmem_mcp.engine import lexical


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Caroline: I went to the support group.", "Caroline"),
        ("  Melanie Lee: hi", "Melanie Lee"),
        ("Dr. Who: hello", "Dr. Who"),
        ("Ana O'Neil: hey", "Ana O'Neil"),
        ("Ana:hi", None),  # no space after the colon: not a transcript line
        ("Ana:", None),
        ("note - todo: buy milk", None),  # lower-case words are not a name
        ("Ana Bea Cleo Dee: x", None),  # more than three words
        ("12: x", None),
        ("I think so: yes", None),
        ("No colon here", None),
        ("A" * 41 + ": x", "A" * 41),  # the longest name
        ("A" * 42 + ": x", None),
        (" " * 100 + "Ana: x", "Ana"),
        ("x" * 5000 + ": y", None),
    ],
)
def test_speaker(content: str, expected: str | None) -> None:
    assert lexical.speaker(content) == expected
    assert lexical.speaker(content) == expected  # the second answer comes from the cache


def test_speakers_named_in_query() -> None:
    speakers = {"Caroline", "Melanie"}
    assert lexical.mentioned_speakers("When did Caroline go to the group?", speakers) == {"Caroline"}
    # naming everyone, or no one, singles no one out
    assert lexical.mentioned_speakers("Did Caroline and Melanie meet?", speakers) == set()
    assert lexical.mentioned_speakers("Who went to the group?", speakers) == set()


def test_match_expression_quotes_user_text() -> None:
    # "the", "a", "or" are stopwords; the rest are searched as words, never as FTS5 syntax
    assert lexical.match_expression('the "a" OR ( NEAR( col:x *') == '"near" OR "col" OR "x"'
    assert lexical.match_expression("the of and") == '"the" OR "of" OR "and"'  # only stopwords: kept
    assert lexical.match_expression("?!") is None
