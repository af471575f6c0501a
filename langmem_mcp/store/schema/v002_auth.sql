-- 2: reserved for access tokens (issue 5). Replace this no-op with the real tables.
SELECT 1;
