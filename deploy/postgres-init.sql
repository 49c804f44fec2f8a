-- Run once by the postgres image, on the first start with an empty volume
-- (docker-compose.yml mounts it into /docker-entrypoint-initdb.d/).
--
-- payflow's own database. Temporal's auto-setup creates `temporal` and
-- `temporal_visibility` itself; `payflow migrate` creates the tables.
CREATE DATABASE payflow;
