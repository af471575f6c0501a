"""The ``{name}`` placeholders of the prompts users optimize: which a prompt has, and filling them.

Kept apart from the optimizer so the MCP surface can list a prompt's arguments before the LLM
procedures load. ``{{`` and ``}}`` are literal braces, not placeholders.
"""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def placeholders(prompt: str) -> set[str]:
    return set(PLACEHOLDER.findall(prompt))


def fill(prompt: str, values: dict[str, Any]) -> str:
    """Fill the placeholders given; leave the others as they are."""
    return PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if values.get(m.group(1)) else m.group(0), prompt
    )
