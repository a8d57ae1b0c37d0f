-- 008_coexisting_plans: different owners' plans for one tessera hash are kept
-- side by side (docs/SECURITY.md, "Claims never exclude each other"). The
-- first plan a node stores for a hash is keyed by the hash itself, as before;
-- each other owner's plan is keyed by its plan slot (docs/STORAGE.md, "Plans
-- of one hash from several owners") and names here the hash it is a plan of.
-- NULL: the row's key is the hash (every row written before this migration).
ALTER TABLE signed_plans ADD COLUMN plan_of BLOB CHECK (plan_of IS NULL OR length(plan_of) = 32);

CREATE INDEX signed_plans_by_plan_of ON signed_plans (plan_of) WHERE plan_of IS NOT NULL;
