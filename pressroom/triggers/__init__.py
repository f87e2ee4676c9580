"""Triggers: rebuilding a site when its git host reports a push. The pure part lives here:
which hosts and headers (`hosts`), checking a delivery's signature or token (`signatures`),
reading a push event into a `Push` (`push`), and deciding per site whether the push calls for
a build (`matching`). No HTTP server, no Temporal, no database: the API's hook endpoints and
the job starting call these."""
