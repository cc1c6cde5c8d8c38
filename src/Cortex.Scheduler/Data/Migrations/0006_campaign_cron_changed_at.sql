-- When a recurring campaign's cron last changed. A run starts for the latest firing of the cron since its last run; an
-- edit after today's run (09:00 moved to 10:00 at 10:30) made today's 10:00 such a firing, and every recipient got the
-- campaign twice. Firings before the change are not made up: the new schedule counts from the change on, as a recurring
-- job's does in Hangfire. Set by the trigger whenever cron changes, unless the same UPDATE sets it.
ALTER TABLE cortex.campaigns ADD COLUMN cron_changed_at timestamptz NULL;

CREATE FUNCTION cortex.campaigns_cron_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cron IS DISTINCT FROM OLD.cron AND NEW.cron_changed_at IS NOT DISTINCT FROM OLD.cron_changed_at THEN
        NEW.cron_changed_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER campaigns_cron_changed BEFORE UPDATE OF cron ON cortex.campaigns
    FOR EACH ROW EXECUTE FUNCTION cortex.campaigns_cron_changed();
