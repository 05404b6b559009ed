"""Errors of the road_rules package."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule file that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"rules refused, {len(problems)} problem(s):\n  " + "\n  ".join(problems[:50])
        )
