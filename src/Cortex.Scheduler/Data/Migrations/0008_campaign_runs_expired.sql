-- A campaign firing is fanned out no later than a scheduled message is sent: once its send time (fire_time, or the end
-- of the quiet hours it falls in) is more than Cortex:Scheduler:ExpireAfter past, the rest of the run is not fanned out
-- and the run ends 'expired', with the counts of what went before. Fanned out whenever the scheduler got to it, a "today
-- only" campaign went to every recipient two days late after an outage. The constraint is the one 0001 declared on the
-- column, under PostgreSQL's name for it.
ALTER TABLE cortex.campaign_runs DROP CONSTRAINT campaign_runs_status_check;
ALTER TABLE cortex.campaign_runs ADD CONSTRAINT campaign_runs_status_check
    CHECK (status IN ('running', 'completed', 'cancelled', 'expired'));
