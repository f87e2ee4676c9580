"""Pressroom's domain library: config, models, sources, Markdown, media, embeddings, storage,
database, artifacts and webhooks. No Temporal imports here."""
