-- DuckDB views over one run's OUT folder. `curate audit OUT` runs this file; to use plain DuckDB:
--   duckdb -cmd "SET file_search_path='path/to/OUT'" -cmd ".read manifests/views.sql"
-- Paths are relative to OUT (DuckDB resolves them through file_search_path).
CREATE OR REPLACE VIEW documents    AS SELECT * FROM read_parquet('documents/*.parquet');
CREATE OR REPLACE VIEW decisions    AS SELECT * FROM read_parquet('decisions/*.parquet');
CREATE OR REPLACE VIEW quarantine   AS SELECT * FROM read_parquet('quarantine/*.parquet');
CREATE OR REPLACE VIEW signatures   AS SELECT * FROM read_parquet('signatures/*.parquet');
CREATE OR REPLACE VIEW trajectories AS SELECT * FROM read_parquet('trajectories/*.parquet');
CREATE OR REPLACE VIEW manifest     AS SELECT * FROM read_json_auto('manifest.json', maximum_object_size = 67108864);
