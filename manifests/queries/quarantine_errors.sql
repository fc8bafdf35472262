-- Records that could not be read: where and why (raw excerpts stay in the quarantine table).
SELECT source_uri, reason, count(*) AS records, min(record_index) AS first_record, any_value(error) AS example_error
FROM quarantine
GROUP BY source_uri, reason
ORDER BY records DESC, source_uri;
