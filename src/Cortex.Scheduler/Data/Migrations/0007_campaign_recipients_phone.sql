-- A number listed twice in one campaign (two recipient rows, one phone: a feeder's INSERT repeated, two source rows for
-- one customer) got the campaign twice, under two message ids: the fan-out skips a recipient whose phone a lower id of
-- the campaign already has. This index answers that question per recipient. A deployment that replaced the table by a
-- view (docs/data-model.md) indexes its base table instead, as it does for (campaign id, id).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'cortex' AND c.relname = 'campaign_recipients' AND c.relkind IN ('r', 'p')) THEN
        CREATE INDEX campaign_recipients_phone ON cortex.campaign_recipients (campaign_id, phone, id);
    END IF;
END
$$;
