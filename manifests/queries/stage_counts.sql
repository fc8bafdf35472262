-- Records in and out of each stage, as the manifest recorded them.
SELECT s.key AS stage, s.value->>'in' AS records_in, s.value->>'out' AS records_out,
       s.value->'dropped' AS dropped, s.value->'quarantined' AS quarantined
FROM (SELECT unnest(json_each(to_json(stage_counts))) AS s FROM manifest);
