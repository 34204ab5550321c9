-- POST /log-terms-acceptance: one row per acceptance a dashboard logs (the reference's
-- terms_acceptance collection, staking-api-service internal/shared/db/model/terms.go @126a047).
CREATE TABLE terms_acceptances (
  id             bigserial PRIMARY KEY,
  address        text NOT NULL CHECK (length(address) <= 90),
  public_key_hex text NOT NULL CHECK (public_key_hex ~ '^[0-9a-f]{64}$'),
  accepted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX terms_acceptances_address ON terms_acceptances (address);
