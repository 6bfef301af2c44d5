-- Schema version 3: the conversations of the Conversations API with their
-- items (ordered by seq, never reused), and the owners of the objects
-- made upstream through the passthrough (first come: an owned id keeps
-- its owner).
CREATE TABLE conversations (
	tenant     text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	metadata   json,
	created_at timestamptz NOT NULL,
	last_seq   bigint NOT NULL,
	PRIMARY KEY (tenant, id)
);

CREATE TABLE conversation_items (
	tenant       text COLLATE "C" NOT NULL,
	conversation text COLLATE "C" NOT NULL,
	seq          bigint NOT NULL,
	id           text COLLATE "C" NOT NULL,
	item         json NOT NULL,
	PRIMARY KEY (tenant, conversation, seq),
	FOREIGN KEY (tenant, conversation) REFERENCES conversations ON DELETE CASCADE
);

CREATE INDEX conversation_items_by_id ON conversation_items (tenant, conversation, id);

CREATE TABLE objects (
	id         text COLLATE "C" PRIMARY KEY,
	tenant     text COLLATE "C" NOT NULL,
	provider   text COLLATE "C" NOT NULL,
	created_at timestamptz NOT NULL
);
