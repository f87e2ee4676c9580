"""Search: hybrid (full text + vector) search over a site's current revision.

`params` (the validated request and its errors), `language` (text-search configurations),
`fusion` (the one pure rank fusion every back end shares), `hits` (what a hit may carry),
`queries` (the search SQL), `searcher` (Postgres: runs the queries, fuses, shapes the
answer) and `file` (the same search over a published search.json, without the database)."""
