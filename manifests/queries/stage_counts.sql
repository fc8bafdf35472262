-- Records in and out of each stage, as the manifest recorded them (derived from decisions rows).
SELECT j.key AS stage,
       CAST(j.value->>'in' AS BIGINT) AS records_in,
       CAST(j.value->>'out' AS BIGINT) AS records_out,
       j.value->'dropped' AS dropped,
       j.value->'quarantined' AS quarantined
FROM manifest, json_each(to_json(manifest.stage_counts)) AS j
ORDER BY coalesce(list_position(['ingest', 'license', 'langid', 'quality', 'pii', 'dedup', 'output'], j.key), 99), j.key;
