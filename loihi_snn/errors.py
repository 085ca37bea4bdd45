"""The one exception type the CLI turns into a single line and a non-zero exit."""


class LoihiSnnError(Exception):
    """A problem with the user's input or environment; the message says what to do."""
