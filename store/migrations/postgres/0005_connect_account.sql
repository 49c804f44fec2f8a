-- payflow schema, version 5 (PostgreSQL): Stripe Connect.
--
-- A connected account's events run in that account's workflows
-- (acct_…/subscription/<sub>). Sources stay in platform form
-- (subscription/<sub>, order/<pi>): Stripe object IDs are unique across
-- accounts, so they never collide, and running workflows keep writing the
-- same rows. What names the account is a column of its own, '' for the
-- platform's own objects (every row before this version):
--
--   access.account         the account whose workflow wrote the row; the
--                          provisioning webhook carries it too.
--   subscriptions.account  the account of the subscription's workflow, so
--                          `payflow inspect` queries acct_…/subscription/<sub>.

ALTER TABLE access ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN account TEXT NOT NULL DEFAULT '';
