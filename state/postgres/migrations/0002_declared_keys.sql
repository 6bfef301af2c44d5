-- Schema version 2: when each API key the configuration declares was
-- first seen (its creation time in key listings, which show it to the
-- nanosecond: kept as nanoseconds since 1970).
CREATE TABLE declared_keys (
	id      text COLLATE "C" PRIMARY KEY,
	seen_ns bigint NOT NULL
);
