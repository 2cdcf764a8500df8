-- PostgreSQL for gov-intake: one login role that owns one database. The
-- role runs the migrations (`intake serve` and `intake db upgrade` apply
-- them) and nothing else: no superuser, no other databases, no new roles.
-- Run once, as a superuser, on the database host (docs/deployment.md):
--
--   sudo -u postgres psql -v password="$(cat /root/intake-db-password)" -f deploy/postgresql.sql
--
-- Optional: -v role=NAME -v database=NAME (both default to intake). Running
-- it again changes nothing but the password. Then allow the app hosts in
-- pg_hba.conf (hostssl intake intake 10.0.0.11/32 scram-sha-256, one line
-- per host) and set on each host
-- INTAKE_DATABASE_URL=postgresql+asyncpg://intake:PASSWORD@DBHOST:5432/intake.
\set ON_ERROR_STOP on
\if :{?role}
\else
  \set role intake
\endif
\if :{?database}
\else
  \set database intake
\endif
\if :{?password}
\else
  \echo 'deploy/postgresql.sql: give the role a password: psql -v password=... -f deploy/postgresql.sql'
  DO $$ BEGIN RAISE EXCEPTION 'no password given (psql -v password=...)'; END $$;
\endif

-- The role: it may log in, nothing more. The password is stored hashed
-- (scram-sha-256 by default since PostgreSQL 14).
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'password';
-- A transaction left open (a crashed client) does not hold locks for long.
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '5min';

-- The database, in UTF-8 whatever the cluster's default, owned by the role
-- (so it owns the public schema there: PostgreSQL 15 lets only the owner
-- create in it).
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'database', :'role', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = :'database') \gexec
ALTER DATABASE :"database" OWNER TO :"role";
-- Only this role (and superusers) may connect.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";
\connect :"database"
ALTER SCHEMA public OWNER TO :"role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
