"""Callbacks: the job's outcome POSTed to the caller, signed with the Standard Webhooks scheme,
delivered at least once with a jittered retry schedule."""
