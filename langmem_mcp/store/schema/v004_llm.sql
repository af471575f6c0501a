-- 4: LLM usage records (tokens per model call) and optimized prompts with their history.
CREATE TABLE llm_usage (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    procedure TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    estimated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX llm_usage_at ON llm_usage(at);
-- `scope`: the namespace prefix of the caller's token ('' for local callers); each sees its own.
CREATE TABLE prompt_versions (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT '',
    analysis TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (scope, name, version)
);
