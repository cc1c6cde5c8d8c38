-- A message held for quiet hours waits in Redis's delayed set until morning. Shortly before it is due, the outbox-repair
-- job takes out those whose reason to send is gone (an opt-out, a paid charge, a reply, a cancelled campaign) and marks
-- their rows withdrawn, with the reason. The index finds the rows due soon among the ones already pushed.
ALTER TABLE cortex.dispatch_ledger
    DROP CONSTRAINT dispatch_ledger_status_check,
    ADD CONSTRAINT dispatch_ledger_status_check CHECK (status IN ('pending', 'enqueued', 'withdrawn')),
    ADD COLUMN withdrawn_reason text NULL;
CREATE INDEX dispatch_ledger_held ON cortex.dispatch_ledger (not_before) WHERE status = 'enqueued' AND not_before IS NOT NULL;
