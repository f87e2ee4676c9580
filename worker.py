"""`python worker.py`: run one Pressroom worker, the same as `pressroom worker`.

The worker itself (clients, workflow and activity registration, graceful drain on SIGTERM)
is `pressroom.starter.worker`, so that it ships in the installed package.
"""

from pressroom.starter.worker import main

if __name__ == "__main__":
    main()
