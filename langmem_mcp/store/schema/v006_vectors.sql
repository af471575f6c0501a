-- 6: each memory's index vector, also kept beside it (float16, L2-normalised), clustered by
-- namespace. A search in a namespace of up to a few thousand memories scores these exactly in
-- about a millisecond, where Chroma's metadata-filtered HNSW query grows with the whole
-- collection. Chroma stays the index for large namespaces. Filled by the index owner in the
-- transaction that marks a row indexed; existing rows are copied from Chroma at its next start.
CREATE TABLE memory_vectors (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (namespace, id)
) WITHOUT ROWID;
CREATE TRIGGER memory_vectors_ad AFTER DELETE ON memories BEGIN
    DELETE FROM memory_vectors WHERE namespace = old.namespace AND id = old.id;
END;
