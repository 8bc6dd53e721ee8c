"""Errors every layer raises and the CLI prints, defined at the bottom so no layer imports a higher one for them."""


class UsageError(Exception):
    """A problem with what the user asked for; the message says what to do. Printed as one line, no traceback."""


class OutputBusy(UsageError):
    """Another live run holds the lease on the output this run would write (transforms/lease.py): one writer per
    output. The message names that run (host, pid, start time)."""


class ConservationError(RuntimeError):
    """Some input record is neither kept, dropped nor skipped, or two rows share a doc_id: a bug, never a user
    error."""
