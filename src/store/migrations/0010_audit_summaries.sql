-- An audit row may stand for several calls: unauthenticated calls beyond the per-minute
-- budget are counted in one summary row per address instead of one row each.
ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
