-- The counts of rate limits and quotas (src/limits), shared by every instance
-- on this database: each adds what it admitted since its last sync and reads
-- back the total. One row per limit and window; rows of ended windows are
-- deleted by the instances as they sync. Never edit once shipped.

CREATE TABLE keygate_limit_counters (
  -- e.g. key:key_…:rate:1 (scope, id, kind, window seconds)
  counter     text COLLATE "C" NOT NULL,
  -- When the window ends, epoch ms (from the application's clock).
  window_end  bigint NOT NULL,
  used        bigint NOT NULL CHECK (used >= 0),
  PRIMARY KEY (counter, window_end)
);

CREATE INDEX keygate_limit_counters_window_end ON keygate_limit_counters (window_end);
