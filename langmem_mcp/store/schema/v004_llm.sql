-- 4: reserved for LLM usage records and prompt state (issue 4).
SELECT 1;
