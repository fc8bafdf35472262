-- One line per action: every input record (and trajectory candidate) has exactly one decision.
SELECT action, count(*) AS records, round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct
FROM decisions
GROUP BY action
ORDER BY records DESC;
