-- Each organization's time zone (an IANA name), in which analytics count days, weeks and
-- months. `version` grows with every change of the organization's settings and travels in
-- the tenant.updated event, so consumers keep the newest whatever order events arrive in.
ALTER TABLE tenants ADD COLUMN timezone text NOT NULL DEFAULT 'Europe/Berlin';
ALTER TABLE tenants ADD COLUMN version bigint NOT NULL DEFAULT 1;
