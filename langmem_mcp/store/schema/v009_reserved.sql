-- 9: reserved for issue 17's migration (validity and supersession of memories), which another
-- branch adds as v009; when the branches merge, that file replaces this one.
SELECT 1;
