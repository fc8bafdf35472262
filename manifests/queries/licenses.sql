-- Licenses of kept and removed records, with the decisions that followed.
SELECT coalesce(license, '(none)') AS license, action, count(*) AS records
FROM decisions
GROUP BY ALL
ORDER BY records DESC, license;
