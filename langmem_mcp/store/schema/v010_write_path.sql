-- 10: a write commits its row with its own text's vector and leaves the context (and the vector
-- mixing it in) to the index worker: `indexed` has states besides 0 (no vector) and 1 (done)
-- (store/memories.py, Indexed), and `context_stale` marks rows whose neighbours changed, so their
-- context is worked out again. Two partial indexes find that work and stay as small as it is.
-- Contexts were made by an earlier rule (any memory close in time); every row is re-examined.
ALTER TABLE memories ADD COLUMN context_stale INTEGER NOT NULL DEFAULT 0;
DROP INDEX memories_unindexed;
CREATE INDEX memories_pending ON memories(indexed, namespace) WHERE indexed != 1;
CREATE INDEX memories_context_stale ON memories(namespace) WHERE context_stale = 1;
UPDATE memories SET context_stale = 1;
