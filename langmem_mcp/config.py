"""Settings, from flags, environment (LANGMEM_MCP_*) and defaults.

Hosts pass few environment variables to stdio servers, so everything that matters
can be given in the host entry's `env` as well as on the command line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

ENV_PREFIX = "LANGMEM_MCP_"
LLMBackend = Literal["auto", "anthropic", "sampling", "none"]


def default_data_dir() -> Path:
    """Per-user data directory: never inside the installed package, so upgrades keep it."""
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "langmem-mcp"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    namespace: str = "memories"  # default namespace, segments joined by "/"
    embedder: str = "minilm-int8"  # see index.embeddings.make_embedder
    embed_threads: int = 0  # 0: all cores
    chroma_url: str | None = None  # a Chroma server instead of the embedded store
    # ranking: weights of the fused relevance, recency and importance in search_memory
    weight_relevance: float = 1.0
    weight_recency: float = 0.0
    weight_importance: float = 0.0
    recency_half_life_days: float = 30.0
    # how a memory's vector mixes in its conversational context: window | neighbours | off
    context_vectors: Literal["window", "neighbours", "off"] = "window"
    # namespaces up to this many memories are searched exactly from the vectors kept in SQLite;
    # larger ones also get an approximate (HNSW) index in Chroma
    exact_search_max: int = 5000
    # in a namespace larger than this, a question whose words match more memories than this scores
    # only the memories holding its rarest words (the common words add to their scores); 0: all
    keyword_rows_max: int = 8_000
    max_content_chars: int = 100_000
    # secrets are redacted before anything is stored, except in memories of namespaces under these
    # prefixes (comma-separated, segments joined by "/"): for users who want a secret remembered
    keep_secrets_in: str = ""
    # a create reports existing memories at least this similar (cosine to their index vectors); 0: off
    similar_threshold: float = 0.6
    # LLM
    llm: LLMBackend = "auto"
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-4-6"
    llm_max_tokens: int = 4096
    llm_timeout: float = 120.0
    llm_max_retries: int = 4
    prompts_dir: Path | None = None  # the user's own prompt templates, overriding the shipped ones
    # service model
    formation_delay_seconds: float = 60.0
    # transports
    transport: Literal["stdio", "sse", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = 8765
    log_level: str = "WARNING"
    # MCP feature groups to serve (comma-separated): memory, service, llm. The default keeps the
    # host model's context small: the agent-memory tools (and prompts) only.
    tools: str = "memory"
    # capture (Claude Code hooks, transcript import): whose prompts they are ("" → the login name),
    # and how much the session-start context may hold
    user_id: str = ""
    session_context_chars: int = 2000

    @property
    def default_namespace(self) -> list[str]:
        return [s for s in self.namespace.split("/") if s]

    @property
    def tool_groups(self) -> list[str]:
        return [g.strip() for g in self.tools.split(",") if g.strip()]

    @property
    def local_llm_endpoint(self) -> bool:
        """The base URL names a server other than Anthropic's (Ollama, LM Studio, vLLM...): it
        needs no Anthropic key."""
        if not self.anthropic_base_url:
            return False
        host = (urlsplit(self.anthropic_base_url).hostname or "").lower()
        return bool(host) and host != "anthropic.com" and not host.endswith(".anthropic.com")

    @property
    def llm_endpoint_configured(self) -> bool:
        """An Anthropic-compatible endpoint is configured: a key, or a base URL that needs none."""
        return bool(self.anthropic_api_key) or self.local_llm_endpoint

    @property
    def keep_secrets_prefixes(self) -> list[str]:
        """The namespace prefixes of ``keep_secrets_in``, each as its stored key ("a/b")."""
        prefixes = (
            "/".join(s.strip() for s in p.split("/") if s.strip()) for p in self.keep_secrets_in.split(",")
        )
        return [p for p in prefixes if p]

    @property
    def capture_user(self) -> str:
        """The local user captured prompts are from (LANGMEM_MCP_USER_ID, else the login name)."""
        if self.user_id:
            return self.user_id
        import getpass

        try:
            name = getpass.getuser().replace("/", "-").strip()
        except (OSError, KeyError):
            name = ""
        return name or "user"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "memory.sqlite3"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def _coerce(raw: str, current: Any, name: str) -> Any:
    kind: type = type(current) if current is not None else str
    if name in ("data_dir", "prompts_dir"):
        return Path(raw).expanduser()
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
    return raw


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then LANGMEM_MCP_* variables (and ANTHROPIC_*), then explicit overrides (flags)."""
    env = os.environ if environ is None else environ
    base = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _coerce(raw, getattr(base, f.name), f.name)
    if "anthropic_api_key" not in values and env.get("ANTHROPIC_API_KEY"):
        values["anthropic_api_key"] = env["ANTHROPIC_API_KEY"]
    if "anthropic_base_url" not in values and env.get("ANTHROPIC_BASE_URL"):
        values["anthropic_base_url"] = env["ANTHROPIC_BASE_URL"]
    settings = replace(base, **values).with_overrides(**overrides)
    _check_choices(settings)
    return settings


TOOL_GROUPS = ("memory", "service", "llm")


def _check_choices(settings: Settings) -> None:
    """Refuse a value outside a Literal field's choices, naming the variable and the choices."""
    unknown = [g for g in settings.tool_groups if g not in TOOL_GROUPS]
    if unknown or not settings.tool_groups:
        raise ValueError(
            f"{ENV_PREFIX}TOOLS={settings.tools!r}: use a comma-separated list of {', '.join(TOOL_GROUPS)}"
        )
    if not 0 <= settings.similar_threshold <= 1:
        raise ValueError(
            f"{ENV_PREFIX}SIMILAR_THRESHOLD={settings.similar_threshold}: use a number from 0 (off) to 1"
        )
    for name in ("exact_search_max", "keyword_rows_max"):
        if getattr(settings, name) < 0:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}={getattr(settings, name)}: use 0 or more")
    hints = get_type_hints(Settings)
    for f in fields(Settings):
        choices = get_args(hints[f.name]) if get_origin(hints[f.name]) is Literal else ()
        if choices and getattr(settings, f.name) not in choices:
            raise ValueError(
                f"{ENV_PREFIX}{f.name.upper()}={getattr(settings, f.name)!r} is not one of {', '.join(choices)}"
            )
