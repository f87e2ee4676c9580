"""Postgres: all of Pressroom's SQL outside search lives here (search's is `pressroom.search`).

`pool` (where the database is, connections and the lazily opened pool), `schema` (the
migration), `revision_indexes` (each revision's own HNSW and GIN indexes), `vectors` (the
dimension guard and pgvector values), `rows` (a revision's row types and their COPY),
`revisions` (load one revision in one transaction, switch, prune), `revision_events` (the
notification a switch sends and the listener that hears it), `sites` (a site's current
revision as readers see it, and a revision's output key), `posts` (reading one loaded post
back), `related` (related posts), `terms` (how many sections hold each word), `cache` (the
embedding and image-description caches), `folders` (published folders' claims), `leases`
(shares of a provider's request budget among workers) and `locks` (advisory locks)."""
