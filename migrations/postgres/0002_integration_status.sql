-- Connection-test results shared by the replicas of `serve --follow` on one
-- database: the elected replica writes each result, the others show it.
-- Times are microseconds since the Unix epoch (UTC).

CREATE TABLE qa_reload_integration_status (
    -- A SHA-256 (hex) of the remote followed and its branch: teams sharing
    -- one database keep their results apart. Never the remote's text.
    scope TEXT NOT NULL,
    -- `jira`, `postman` or `testmo`.
    integration TEXT NOT NULL,
    -- SHA-256 (hex) of the configuration file tested (its path and text):
    -- a replica shows a result only for the configuration it serves.
    fingerprint TEXT NOT NULL,
    -- The commit served when the test ran.
    git_commit TEXT,
    -- `ok`, `failed` or `rate_limited`, and what the test reported (the
    -- detail with every secret masked).
    state TEXT NOT NULL,
    step TEXT,
    failure TEXT,
    http_status INTEGER,
    latency_ms BIGINT,
    detail TEXT,
    retry_at BIGINT,
    tested_at BIGINT,
    at BIGINT NOT NULL,
    -- The server run (`instance`) that ran the test.
    tested_by TEXT NOT NULL,
    PRIMARY KEY (scope, integration)
);
