"""The one exception a user can cause: the CLI prints its message as one line and exits 2."""


class UserError(Exception):
    """Bad input from the user (a name, a length, a file): what is wrong, what is expected."""
