-- Who closed a conversation: 'cortex' when the scheduler closed it after its follow-ups ran out, NULL when another
-- system did (an agent resolved it). The check of waiting messages withdraws a follow-up whose conversation an agent
-- closed, but not the last follow-up of one Cortex closed itself: that one is still due, late as it may be.
ALTER TABLE cortex.conversations ADD COLUMN closed_by text NULL;
