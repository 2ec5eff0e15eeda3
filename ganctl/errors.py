"""Exceptions the core raises; the CLI turns them into one-line messages and exit codes."""


class GanctlError(Exception):
    """A failure the user can act on (exit code 1)."""

    exit_code = 1


class UsageError(GanctlError):
    """Bad input from the user: options, paths, values (exit code 2)."""

    exit_code = 2
