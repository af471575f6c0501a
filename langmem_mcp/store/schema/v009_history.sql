-- 9: memory that stays true. A memory is valid from `valid_from` until `valid_to` (NULL: true
-- now); memories stored before this are valid from their created_at. A memory replaced by a newer
-- fact ("I moved to Denver") ends (`valid_to`) and names the new one (`superseded_by`); `change`
-- says how its current version came about (created, updated, superseded), and every earlier
-- version is a row of memory_history. `content_key` is the SHA-256 of the normalised text (case,
-- whitespace, trailing punctuation) that decides "the same memory"; rows stored before this get
-- theirs at the next start (Unicode case folding needs Python). Only current memories must be
-- unique, so the unique index on the exact text goes.
ALTER TABLE memories ADD COLUMN valid_from TEXT NOT NULL DEFAULT '';
UPDATE memories SET valid_from = created_at;
ALTER TABLE memories ADD COLUMN valid_to TEXT;
ALTER TABLE memories ADD COLUMN superseded_by TEXT;
ALTER TABLE memories ADD COLUMN change TEXT NOT NULL DEFAULT 'created';
UPDATE memories SET change = 'updated' WHERE updated_at != created_at;
ALTER TABLE memories ADD COLUMN content_key TEXT;
DROP INDEX memories_ns_hash;
CREATE INDEX memories_ns_key ON memories(namespace, content_key);
CREATE INDEX memories_unkeyed ON memories(content_key) WHERE content_key IS NULL;
CREATE INDEX memories_ended ON memories(namespace) WHERE valid_to IS NOT NULL;
CREATE INDEX memories_superseded_by ON memories(superseded_by) WHERE superseded_by IS NOT NULL;
CREATE TABLE memory_history (
    seq INTEGER PRIMARY KEY,
    memory_id TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    importance REAL NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    change TEXT NOT NULL,       -- how this version came about: created | updated | superseded
    changed_at TEXT NOT NULL    -- when it did
);
CREATE INDEX memory_history_memory ON memory_history(memory_id, seq);
-- Deleting a memory forgets it: its history goes with it, and a memory it superseded keeps its
-- end of validity but no longer names it.
CREATE TRIGGER memories_forget AFTER DELETE ON memories BEGIN
    DELETE FROM memory_history WHERE memory_id = old.id;
    UPDATE memories SET superseded_by = NULL WHERE superseded_by = old.id;
END;
