"""Runtime: what every process shares: JSON logs, Prometheus metrics, fault injection points
for crash drills, memory release, and the embedded Postgres of the dev stack."""
