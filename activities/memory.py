"""A worker interceptor that keeps a long-running worker's memory flat across jobs.

After every activity it hands the freed heap back to the OS (`pressroom.memory`), so the
worker's RSS returns to its working set between steps instead of ratcheting up to the sum
of the largest steps it ever ran.
"""

from __future__ import annotations

from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from pressroom.runtime.memory import release_memory


class _ReleaseAfterActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        finally:
            release_memory()


class ReleaseMemory(Interceptor):
    """`Worker(interceptors=[ReleaseMemory()])`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ReleaseAfterActivity(next)
