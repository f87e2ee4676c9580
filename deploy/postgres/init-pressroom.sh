#!/bin/sh
# Runs once, when the Postgres volume is first initialised (docker-entrypoint-initdb.d):
# Pressroom's own role and database, with pgvector. Temporal's databases (temporal,
# temporal_visibility) are created by the temporal service's auto-setup, as the superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v pw="$PRESSROOM_DB_PASSWORD" <<'SQL'
CREATE ROLE pressroom LOGIN PASSWORD :'pw';
CREATE DATABASE pressroom OWNER pressroom;
\connect pressroom
CREATE EXTENSION IF NOT EXISTS vector;
SQL
