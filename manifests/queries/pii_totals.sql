-- PII replacements in kept documents, by entity type (pii_counts is a list of {key, value} structs).
SELECT e.key AS entity, sum(e.value) AS replacements, count(DISTINCT doc_id) AS documents
FROM (SELECT doc_id, unnest(pii_counts) AS e FROM documents)
GROUP BY entity
ORDER BY replacements DESC, entity;
