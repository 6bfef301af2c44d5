-- Schema version 2: when each API key the configuration declares was
-- first seen (its creation time in key listings).
CREATE TABLE declared_keys (
	id   text COLLATE "C" PRIMARY KEY,
	seen timestamptz NOT NULL
);
