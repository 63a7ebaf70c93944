-- Connection-test results are shared between replicas only on PostgreSQL
-- (see migrations/postgres/0002_integration_status.sql); a SQLite store
-- serves one process. This version keeps both backends' numbers in step.
SELECT 1;
