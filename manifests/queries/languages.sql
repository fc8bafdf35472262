-- Kept documents and characters by language.
SELECT lang, count(*) AS documents, sum(length(text)) AS characters, round(avg(lang_score), 3) AS mean_score
FROM documents
GROUP BY lang
ORDER BY documents DESC;
