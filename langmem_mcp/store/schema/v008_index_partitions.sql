-- 8: Chroma holds a collection per large namespace (store/vectors.py), so a pending delete says
-- which namespace its vector was in. Deletes recorded before this have none (NULL): they are
-- applied to every collection.
ALTER TABLE index_tombstones ADD COLUMN namespace TEXT;
