"""Specific exceptions raised by the core; the CLI and the app turn them into messages."""


class PromptingError(Exception):
    """Base class for every error the core raises on bad input or a failed resource."""


class ModelLoadError(PromptingError):
    """A model could not be loaded (offline and not cached, bad path, not a dual encoder).

    ``operator_hint`` is advice only the server's operator can act on (pass a local folder, copy
    the hub cache); it ends ``str(error)`` for the CLI and the server log, while a web page shows
    its visitors ``public_message`` (see ``public_message``).
    """

    def __init__(self, message: str, operator_hint: str = "") -> None:
        super().__init__(" ".join(part for part in (message, operator_hint) if part))
        self.public_message = message
        self.operator_hint = operator_hint


OPERATOR_NOTE = "The server log tells its operator how to fix this."


def public_message(error: Exception) -> str:
    """What a visitor of a web page is told about ``error``: advice meant for the server's operator
    (``operator_hint``, for the log) is replaced by a note that the log has it."""
    if getattr(error, "operator_hint", ""):
        return f"{error.public_message} {OPERATOR_NOTE}"  # type: ignore[attr-defined]
    return str(error)


class ClassListError(PromptingError):
    """A class list is empty, has duplicates or is otherwise unusable."""


class DescriptionsError(PromptingError):
    """A CuPL/DCLIP descriptions file is malformed or does not cover the class list."""


class StrategyError(PromptingError):
    """An unknown strategy or a strategy missing what it needs (templates, descriptions)."""


class ImageDecodeError(PromptingError):
    """A file is not a decodable image; the message says why."""


class DatasetError(PromptingError):
    """An image folder is missing, empty or laid out wrongly."""


class LLMError(PromptingError):
    """A language-model request failed after retries; the message names endpoint and cause."""


class StoreError(PromptingError):
    """An embedding store is missing, incomplete, corrupt, or was built for another model or source."""


class CacheError(PromptingError):
    """The persistent cache is unusable as configured (its directory is a file or unwritable, a bad size)."""


class BudgetError(PromptingError):
    """A request asks for more work than this server allows (pixels to decode, prompts to encode)."""
