"""Search: hybrid (full text + vector) search over a site's current revision, with one pure
rank fusion shared by every back end: Postgres (`searcher`) and the published search.json
(`file`)."""
