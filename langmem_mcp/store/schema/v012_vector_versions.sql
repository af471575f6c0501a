-- 12: a version per namespace, bumped by every change to its kept vectors, so a process can keep
-- a namespace's vectors decoded in memory and re-read them only when they changed (one row read
-- instead of every vector of the namespace per search and per similarity check).
CREATE TABLE vector_versions (
    namespace TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO vector_versions (namespace, version) SELECT DISTINCT namespace, 1 FROM memory_vectors;
CREATE TRIGGER vector_versions_ai AFTER INSERT ON memory_vectors BEGIN
    INSERT INTO vector_versions (namespace, version) VALUES (new.namespace, 1)
    ON CONFLICT (namespace) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER vector_versions_au AFTER UPDATE ON memory_vectors BEGIN
    INSERT INTO vector_versions (namespace, version) VALUES (new.namespace, 1)
    ON CONFLICT (namespace) DO UPDATE SET version = version + 1;
    UPDATE vector_versions SET version = version + 1
    WHERE namespace = old.namespace AND old.namespace != new.namespace;
END;
CREATE TRIGGER vector_versions_ad AFTER DELETE ON memory_vectors BEGIN
    UPDATE vector_versions SET version = version + 1 WHERE namespace = old.namespace;
END;
