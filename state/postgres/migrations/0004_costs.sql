-- Schema version 4: costs (issue 19). Each usage record's cost in
-- micro-dollars at the prices in force when it was written (NULL:
-- unknown, the model had no price), and each monthly counter's spend: the
-- sum of its records' known costs, added in the statement that adds their
-- tokens. Records written before have an unknown cost, so the months they
-- fall in start with no spend.
ALTER TABLE usage ADD COLUMN cost_micros bigint;
ALTER TABLE counters ADD COLUMN spend_micros bigint NOT NULL DEFAULT 0;
-- Spend reports of every tenant over a time range.
CREATE INDEX usage_by_time ON usage (at);
