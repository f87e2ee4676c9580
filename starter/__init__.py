"""The command line (`pressroom`): dev stack, worker, API, jobs, replay and the demo."""
