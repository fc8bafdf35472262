-- PII replacements in kept documents, by entity type.
SELECT entity, sum(n) AS replacements, count(DISTINCT doc_id) AS documents
FROM (SELECT doc_id, unnest(map_keys(pii_counts)) AS entity, unnest(map_values(pii_counts)) AS n FROM documents)
GROUP BY entity
ORDER BY replacements DESC;
