"""The one exception type for mistakes a user can make.

The app catches `UserInputError` and shows its message in the page; anything else is a bug.
Messages name the offending field and value so the user can fix it without reading a traceback.
"""

import re


class UserInputError(ValueError):
    """Bad input from a user: text, model name, settings. The message is shown as is."""


class ModelUnavailableError(UserInputError):
    """A model that cannot be loaded here (offline hub, missing package, bad folder)."""


class GpuUnavailableError(UserInputError):
    """The GPU a run was sent to refused it (a ZeroGPU visitor's quota, a full GPU queue)."""


# An absolute POSIX path of two or more parts (a Windows drive path too): what a library error
# says about the server's files ("no file named model.safetensors in /srv/app/...").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/-])(?:[A-Za-z]:\\|/)(?:[\w.@+-]+[/\\])+[\w.@+-]*")


def redact_paths(text: str, keep: tuple[str, ...] = ()) -> str:
    """`text` with every absolute path swapped for "<server path>", except those in `keep` (what
    the user typed: they know it, and it helps them fix it). The server log keeps the original."""

    def swap(match: re.Match) -> str:
        path = match.group()
        return path if any(path.startswith(k) for k in keep if k) else "<server path>"

    return _ABSOLUTE_PATH.sub(swap, text)
