-- Duplicate clusters: representative, how many were dropped into it, and why.
SELECT dup_of AS representative, reason, count(*) AS dropped
FROM decisions
WHERE stage = 'dedup'
GROUP BY ALL
ORDER BY dropped DESC
LIMIT 100;
