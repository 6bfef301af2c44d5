-- agentgate's state, schema version 1. Text keys compare byte by byte
-- (COLLATE "C"), as the embedded store orders them; objects the gateway
-- reads whole are kept as their JSON (json, not jsonb: stored as written,
-- escapes included), beside the columns queries select and order by.

CREATE TABLE agents (
	tenant     text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	revision   bigint NOT NULL,
	created_at timestamptz NOT NULL,
	body       json NOT NULL,
	PRIMARY KEY (tenant, id)
);
-- ListAgents: a tenant's agents by creation time, then id.
CREATE INDEX agents_by_created ON agents (tenant, created_at, id);

CREATE TABLE agent_versions (
	tenant   text COLLATE "C" NOT NULL,
	agent_id text COLLATE "C" NOT NULL,
	version  integer NOT NULL,
	body     json NOT NULL,
	PRIMARY KEY (tenant, agent_id, version)
);

CREATE TABLE api_keys (
	id         text COLLATE "C" PRIMARY KEY,
	hash       bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL,
	body       json NOT NULL
);

CREATE TABLE tiers (
	name text COLLATE "C" PRIMARY KEY,
	body json NOT NULL
);

-- Sessions by tenant + agent + project + id; turns numbered from 1.
CREATE TABLE sessions (
	tenant     text COLLATE "C" NOT NULL,
	agent_id   text COLLATE "C" NOT NULL,
	project    text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	turns      integer NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (tenant, agent_id, project, id)
);
CREATE TABLE turns (
	tenant     text COLLATE "C" NOT NULL,
	agent_id   text COLLATE "C" NOT NULL,
	project    text COLLATE "C" NOT NULL,
	session_id text COLLATE "C" NOT NULL,
	seq        integer NOT NULL,
	messages   json NOT NULL,
	PRIMARY KEY (tenant, agent_id, project, session_id, seq)
);

CREATE TABLE runs (
	tenant     text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	status     text NOT NULL,
	expires_at timestamptz NOT NULL,
	body       json NOT NULL,
	PRIMARY KEY (tenant, id)
);
-- SweepRuns.
CREATE INDEX runs_by_expiry ON runs (expires_at);

CREATE TABLE usage (
	seq              bigserial PRIMARY KEY,
	id               text COLLATE "C" NOT NULL,
	at               timestamptz NOT NULL,
	tenant           text COLLATE "C" NOT NULL,
	key_id           text COLLATE "C" NOT NULL,
	dialect          text NOT NULL,
	agent_id         text NOT NULL,
	model            text NOT NULL,
	provider         text NOT NULL,
	session_id       text NOT NULL,
	parent_id        text NOT NULL,
	input_tokens     integer NOT NULL,
	output_tokens    integer NOT NULL,
	reasoning_tokens integer NOT NULL,
	cached_tokens    integer NOT NULL,
	estimated        boolean NOT NULL,
	latency_ms       bigint NOT NULL,
	status           text NOT NULL
);
-- A retried batch stores each record once.
CREATE UNIQUE INDEX usage_ids ON usage (id) WHERE id <> '';
-- Logs: a tenant's records newest first.
CREATE INDEX usage_by_tenant ON usage (tenant, at DESC, seq DESC);
-- A key's records by month.
CREATE INDEX usage_by_key ON usage (key_id, at);

-- Monthly token counters: scope "key:<id>" or "tenant:<name>", month YYYY-MM.
CREATE TABLE counters (
	scope  text COLLATE "C" NOT NULL,
	month  text COLLATE "C" NOT NULL,
	tokens bigint NOT NULL,
	PRIMARY KEY (scope, month)
);

CREATE TABLE counts (
	tenant text COLLATE "C" NOT NULL,
	name   text COLLATE "C" NOT NULL,
	n      bigint NOT NULL,
	PRIMARY KEY (tenant, name)
);

-- Embeddings are little-endian float32s, 4 bytes each.
CREATE TABLE memories (
	tenant     text COLLATE "C" NOT NULL,
	agent_id   text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	user_id    text COLLATE "C" NOT NULL,
	created_at timestamptz NOT NULL,
	body       json NOT NULL,
	embedding  bytea,
	PRIMARY KEY (tenant, agent_id, id)
);
-- An end user's memories of an agent.
CREATE INDEX memories_by_user ON memories (tenant, agent_id, user_id);

CREATE TABLE agent_stats (
	tenant        text COLLATE "C" NOT NULL,
	agent_id      text COLLATE "C" NOT NULL,
	conversations bigint NOT NULL,
	responses     bigint NOT NULL,
	response_ms   bigint NOT NULL,
	up            bigint NOT NULL,
	down          bigint NOT NULL,
	PRIMARY KEY (tenant, agent_id)
);
CREATE TABLE turn_records (
	tenant   text COLLATE "C" NOT NULL,
	agent_id text COLLATE "C" NOT NULL,
	run_id   text COLLATE "C" NOT NULL,
	body     json NOT NULL,
	PRIMARY KEY (tenant, agent_id, run_id)
);

CREATE TABLE documents (
	tenant     text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	source     text COLLATE "C" NOT NULL,
	created_at timestamptz NOT NULL,
	body       json NOT NULL,
	PRIMARY KEY (tenant, id)
);
-- A source's documents by creation time.
CREATE INDEX documents_by_source ON documents (tenant, source, created_at, id);
-- All of a tenant's documents by creation time.
CREATE INDEX documents_by_created ON documents (tenant, created_at, id);
CREATE TABLE chunks (
	tenant text COLLATE "C" NOT NULL,
	source text COLLATE "C" NOT NULL,
	doc_id text COLLATE "C" NOT NULL,
	seq    integer NOT NULL,
	body   json NOT NULL,
	vector bytea,
	PRIMARY KEY (tenant, source, doc_id, seq)
);
CREATE TABLE sources (
	tenant     text COLLATE "C" NOT NULL,
	name       text COLLATE "C" NOT NULL,
	documents  integer NOT NULL,
	chunks     integer NOT NULL,
	revision   bigint NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (tenant, name)
);

CREATE TABLE responses (
	tenant text COLLATE "C" NOT NULL,
	id     text COLLATE "C" NOT NULL,
	body   json NOT NULL,
	PRIMARY KEY (tenant, id)
);
