"""The one exception type for mistakes a user can make.

The app catches `UserInputError` and shows its message in the page; anything else is a bug.
Messages name the offending field and value so the user can fix it without reading a traceback.
"""


class UserInputError(ValueError):
    """Bad input from a user: text, model name, settings. The message is shown as is."""


class ModelUnavailableError(UserInputError):
    """A model that cannot be loaded here (offline hub, missing package, bad folder)."""
