-- 5: each memory is indexed with its conversational context: the text of the memories stored
-- just before and just after it in the same namespace (within a time window), so a search can
-- match a turn by what surrounds it. `context` is "<before>\x1e<after>". FTS5 gets a second column.
ALTER TABLE memories ADD COLUMN context TEXT NOT NULL DEFAULT '';
DROP TRIGGER memories_ai;
DROP TRIGGER memories_ad;
DROP TRIGGER memories_au;
DROP TABLE memories_fts;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, context, content='memories', content_rowid='rowid',
    tokenize='porter unicode61 remove_diacritics 2'
);
INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, content, context) VALUES (new.rowid, new.content, new.context);
END;
CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, content, context) VALUES ('delete', old.rowid, old.content, old.context);
END;
CREATE TRIGGER memories_au AFTER UPDATE OF content, context ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, content, context) VALUES ('delete', old.rowid, old.content, old.context);
    INSERT INTO memories_fts(rowid, content, context) VALUES (new.rowid, new.content, new.context);
END;
UPDATE memories SET indexed = 0;
