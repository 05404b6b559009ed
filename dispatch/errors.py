"""Domain errors of the dispatch layer; the web layer maps them to HTTP in one place."""

from __future__ import annotations


class DispatchError(ValueError):
    """Base class: a request that cannot be carried out as asked."""

    status = 400


class InvalidInput(DispatchError):
    """Input that fails validation; ``problems`` maps each field to what is wrong."""

    status = 422

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


class NotFound(DispatchError):
    """No such record (or not visible to the caller)."""

    status = 404


class Conflict(DispatchError):
    """The record is not in a state that allows the change (approving twice, ...)."""

    status = 409
