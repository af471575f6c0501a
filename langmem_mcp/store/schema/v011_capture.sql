-- 11: capture of host sessions (Claude Code hooks, transcript import). A hook reads what its
-- transcript gained since last time, keeps the user's prompts and the assistant's answers
-- (redacted), and commits them here as a job; the server (or a detached worker) stores them as
-- thread messages and memories, then deletes the job. A committed job is never lost.
--
-- capture_sessions: one row per transcript file. `watermark` is the parser's position (JSON of
-- engine.transcripts.Watermark): lines before it were accepted into a job.
CREATE TABLE capture_sessions (
    transcript TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    project TEXT NOT NULL DEFAULT '',
    cwd TEXT,
    source TEXT NOT NULL DEFAULT 'claude-code',
    watermark TEXT NOT NULL DEFAULT '{}',
    accepted INTEGER NOT NULL DEFAULT 0,      -- turns accepted into jobs
    stored INTEGER NOT NULL DEFAULT 0,        -- turns whose job was processed
    summarized INTEGER NOT NULL DEFAULT 0,    -- turns accepted when a summary was last asked for
    summary_id TEXT,                          -- the memory holding the session's summary
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,                 -- last accepted turn or event
    stored_at TEXT                            -- last processed job
);
CREATE INDEX capture_sessions_project ON capture_sessions(project, updated_at);
CREATE INDEX capture_sessions_thread ON capture_sessions(thread_id);
-- capture_jobs: the durable queue, processed in `seq` order per transcript. `turns` is a JSON list
-- of {id, role, text, timestamp, line}; `summarize`: the session ended or is being compacted, so
-- its summary is (re)made. A failed job stays, with its error, and is retried with a back-off.
CREATE TABLE capture_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    transcript TEXT NOT NULL,
    event TEXT NOT NULL,
    turns TEXT NOT NULL DEFAULT '[]',
    summarize INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    retry_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX capture_jobs_transcript ON capture_jobs(transcript, seq);
