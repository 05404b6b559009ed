"""Errors raised by the routing package.

They subclass built-in exceptions so callers can catch them broadly, and their
messages are written for the person who supplied the input.
"""

from __future__ import annotations


class RoutingError(Exception):
    """Base class of every routing error."""


class NetworkError(RoutingError, ValueError):
    """The road network file cannot be read or holds no drivable road."""


class SnapError(RoutingError, ValueError):
    """A place is too far from any usable road of the network."""

    def __init__(self, message: str, *, distance_m: float | None = None) -> None:
        super().__init__(message)
        self.distance_m = distance_m


class ProblemError(RoutingError, ValueError):
    """A routing problem is malformed (bad window, negative capacity, ...)."""
