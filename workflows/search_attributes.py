"""Custom search attributes, so the Temporal UI and `temporal workflow list` can filter jobs.

They must be registered on the namespace: the embedded dev server does it at start
(`pressroom dev up`); on a cluster run `temporal operator search-attribute create` (README).
"""

from temporalio.common import SearchAttributeKey

JOB_ID = SearchAttributeKey.for_keyword("PressroomJobId")
TASK = SearchAttributeKey.for_keyword("PressroomTask")
SITE = SearchAttributeKey.for_keyword("PressroomSite")
STATE = SearchAttributeKey.for_keyword("PressroomState")

ALL = (JOB_ID, TASK, SITE, STATE)
