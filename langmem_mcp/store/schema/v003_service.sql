-- 3: the LangMem service model: users, threads and their messages, memory functions, the
-- state they form (profiles, thread summaries), thread state, and formation watermarks.
-- Every row carries `scope`: the namespace prefix of the caller that created it ('' for local,
-- unrestricted callers). Ids are unique within a scope, and a caller only ever sees its own scope.
CREATE TABLE svc_users (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE INDEX svc_users_name ON svc_users(scope, name);
CREATE TABLE svc_threads (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- when messages last arrived while not yet formed (NULL: nothing waits for formation)
    pending_since TEXT,
    PRIMARY KEY (scope, id)
);
CREATE INDEX svc_threads_pending ON svc_threads(pending_since) WHERE pending_since IS NOT NULL;
CREATE TABLE svc_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,           -- JSON: a string or a list of content blocks
    name TEXT,
    user_id TEXT,
    timestamp TEXT NOT NULL,         -- ISO 8601, UTC
    metadata TEXT NOT NULL DEFAULT '{}',
    dedup_key TEXT,                  -- hash of timestamp + content when the caller gave a timestamp
    created_at TEXT NOT NULL,
    FOREIGN KEY (scope, thread_id) REFERENCES svc_threads(scope, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX svc_messages_dedup ON svc_messages(scope, thread_id, dedup_key);
CREATE UNIQUE INDEX svc_messages_id ON svc_messages(scope, thread_id, id);
CREATE INDEX svc_messages_order ON svc_messages(scope, thread_id, timestamp, seq);
CREATE INDEX svc_messages_user ON svc_messages(scope, user_id, thread_id);
CREATE TABLE svc_functions (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    custom_instructions TEXT,
    parameters TEXT NOT NULL DEFAULT '{}',   -- the JSON schema of what the function forms
    status TEXT NOT NULL DEFAULT 'active',
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE TABLE svc_states (
    scope TEXT NOT NULL,
    function_id TEXT NOT NULL,
    target TEXT NOT NULL,            -- 'user' or 'thread'
    target_id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, function_id, target, target_id)
);
CREATE INDEX svc_states_target ON svc_states(scope, target, target_id);
CREATE TABLE svc_thread_state (
    scope TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    key TEXT NOT NULL,               -- '' for the state without a key
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, thread_id, key),
    FOREIGN KEY (scope, thread_id) REFERENCES svc_threads(scope, id) ON DELETE CASCADE
);
-- The last message (seq) each memory function has processed in a thread, per user ('' for
-- thread functions): what makes formation idempotent.
CREATE TABLE svc_watermarks (
    scope TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    function_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, thread_id, function_id, user_id)
);
