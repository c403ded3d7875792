"""Errors a user can fix. The CLI prints them as one line and exits 2, without a traceback."""


class GanforgeError(Exception):
    """A problem with the user's input: the message names it and says how to fix it."""

    exit_code = 2


class ConfigError(GanforgeError):
    """An invalid configuration: unknown key, wrong type, out-of-range or contradictory value."""


class DataError(GanforgeError):
    """Missing, corrupt or unverifiable data files."""


class CheckpointError(GanforgeError):
    """A file that is not a usable ganforge checkpoint."""


class TrainingDiverged(GanforgeError):
    """A loss became NaN or Inf; the last good checkpoint is kept. Exit code 3."""

    exit_code = 3
