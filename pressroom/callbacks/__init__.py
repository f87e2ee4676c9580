"""Callbacks: the job's outcome POSTed to the caller (`webhooks`), signed with the Standard
Webhooks scheme through the `standardwebhooks` package, delivered at least once with a
jittered retry schedule."""
