-- Schema version 5: why a failed call failed (issue 20). Each usage
-- record's error text: the error and its cause, at most 300 bytes; empty
-- for a call that did not fail and for records written before.
ALTER TABLE usage ADD COLUMN error text NOT NULL DEFAULT '';
