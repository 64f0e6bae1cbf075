"""The one exception type the CLI turns into a single-line error message."""


class SparsemcuError(Exception):
    """A user-facing error: the message names the problem in one line, no traceback."""


class UnsupportedOpError(SparsemcuError):
    pass


class DoesNotFitError(SparsemcuError):
    pass
