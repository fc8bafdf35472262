-- Input files with their hashes and record counts.
SELECT i.uri, i.bytes, i.records, i.sha256
FROM (SELECT unnest(inputs) AS i FROM manifest);
