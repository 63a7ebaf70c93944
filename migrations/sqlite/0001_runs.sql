-- Runs, their completed steps, and the definitions they are pinned to.
-- Times are microseconds since the Unix epoch (UTC).

CREATE TABLE qa_reload_definitions (
    -- SHA-256 (hex) of `body`: the content address runs refer to.
    hash TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    -- The workflow's entity document (JSON), as GET /api/v1/workflows/{id} shows it.
    body TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE qa_reload_runs (
    -- UUIDv7, lower-case hex: ordered by creation, unique across processes.
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    definition_hash TEXT NOT NULL REFERENCES qa_reload_definitions (hash),
    -- The file the definition was read from, the SHA-256 of its text, and
    -- the HEAD commit when the file did not differ from it.
    file TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    git_commit TEXT,
    -- The server instance and revision that served the definition.
    instance TEXT NOT NULL,
    revision INTEGER NOT NULL,
    -- The step ids of the definition, as a JSON array.
    steps TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER
) WITHOUT ROWID;

CREATE INDEX qa_reload_runs_in_progress ON qa_reload_runs (id) WHERE finished_at IS NULL;
CREATE INDEX qa_reload_runs_finished ON qa_reload_runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX qa_reload_runs_workflow ON qa_reload_runs (workflow_id, id);
CREATE INDEX qa_reload_runs_definition ON qa_reload_runs (definition_hash);

CREATE TABLE qa_reload_completions (
    run_id TEXT NOT NULL REFERENCES qa_reload_runs (id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    -- 1, 2, …: the completion order within the run.
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
