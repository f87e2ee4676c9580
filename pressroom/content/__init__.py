"""Content: what a source tree says. Front matter (YAML, TOML, JSON), Markdown rendering and
sectioning, posts (ids, fields, caps, sanitised HTML), media (images, dimensions, references)
and thumbnails. Pure functions over bytes and paths: no I/O beyond reading the files given."""
