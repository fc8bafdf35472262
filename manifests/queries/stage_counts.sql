-- Records in and out of each stage, in run order: the manifest lists stage_counts in the order
-- records flow through the stages (pipeline.stages.registry), so no stage name is repeated here.
SELECT j.key AS stage,
       CAST(j.value->>'in' AS BIGINT) AS records_in,
       CAST(j.value->>'out' AS BIGINT) AS records_out,
       j.value->'dropped' AS dropped,
       j.value->'quarantined' AS quarantined
FROM manifest, json_each(to_json(manifest.stage_counts)) AS j
ORDER BY j.id;
