"""Pressroom's domain library: everything a job does, as plain Python with no Temporal import.

Sub-packages, one concern each: `sources` (fetching a source tree safely), `content`
(front matter, Markdown, posts, media), `embeddings` (providers and the cache), `storage`
(the Store protocol, local and S3 backends, the claim-check work store), `db` (Postgres:
pool, schema, revisions, related posts), `search` (hybrid search over Postgres and over
search.json), `publish` (artifacts, the published layout, `latest.json`), `callbacks`
(signed webhooks), `security` (network guard, sealed credentials), `runtime` (logs, metrics,
fault injection, the embedded stack) and `steps` (each pipeline step as an async function).
`config` and `models` are shared by all of them.

Installed, the application packages live beside these under the same namespace:
`pressroom.workflows`, `pressroom.activities`, `pressroom.api` and `pressroom.starter`
(in the repository: the top-level folders of the same names).
"""
