"""Triggers: rebuilding a site when its git host reports a push. The pure part lives here:
which hosts and headers (`hosts`), checking a delivery's signature or token (`signatures`),
reading a push event into a `Push` (`push`), and deciding per site whether the push calls for
a build (`matching`). No HTTP server, no Temporal, no database.

A hook endpoint uses them in this order: `push.read_event` (bounded, safe on an unverified
body; a `PayloadRejected` is a 400), `matching.targets_for` the registered sites of the
pushed repository, `signatures.verify` with each one's secret (drop those that fail), then
`matching.decide` per site; `Push.delivery` names the job.
"""
