"""Postgres: the connection pool, the schema and its migration, loading and switching a
site's revisions (one transaction each), related posts and the embedding cache tables. All of
Pressroom's SQL lives here and in `pressroom.search`."""
