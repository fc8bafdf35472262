-- Records removed, by stage and reason (quarantine included), largest first.
SELECT stage, action, reason, count(*) AS records
FROM decisions
WHERE action <> 'keep'
GROUP BY ALL
ORDER BY records DESC, stage, reason;
