-- 3: reserved for the LangMem service model: users, threads, messages, memory functions (issue 3).
SELECT 1;
