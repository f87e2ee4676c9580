"""Publishing: the static artifacts of a revision (posts.json, media.json, search.json,
errors.json, manifest.json), the published layout's rules (site-owned folders, immutable
revisions, reserved names) and `latest.json`, which only ever moves forward."""
