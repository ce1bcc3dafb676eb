-- Whether the endpoint's last attempt got an HTTP answer, whatever its status. An endpoint
-- that has not answered yet (a new one) or whose last attempt got none (it timed out, or no
-- connection could be made) is silent, and a tenant has only a few attempts in flight to its
-- silent endpoints at a time (delivery.EndpointSlots): a dead tenant's endpoints no longer
-- take its whole share of slots at once, time out together 15 s later and start as many
-- again, every 15 s, each time a burst of work that other tenants' webhooks waited behind.
ALTER TABLE subscriptions ADD COLUMN answering boolean NOT NULL DEFAULT false;
UPDATE subscriptions SET answering = true WHERE failing_since IS NULL;
