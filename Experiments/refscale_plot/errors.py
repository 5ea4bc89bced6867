"""The one error plot.py reports as bad input: one line on stderr, exit code 1."""


class InputError(Exception):
    """A file, the column catalogue or the output directory cannot be used; the message names it."""
