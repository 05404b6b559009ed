"""Configuration from the environment, with defaults for a single-machine install."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
DEFAULT_OSM = DATA_DIR / "osm" / "shenzhen-futian-nanshan.osm.bz2"
DEFAULT_DISTRICTS = DATA_DIR / "boundaries" / "shenzhen-districts.geojson"
DEFAULT_RULES = DATA_DIR / "rules"
TIMEZONE = "Asia/Shanghai"
UTC_OFFSET = "+08:00"  # China has no daylight saving time


def _default_db() -> str:
    return f"sqlite:///{REPO_ROOT / 'instance' / 'loopvan.db'}"


@dataclass(frozen=True)
class Settings:
    """Runtime settings. ``from_env`` reads ``LOOPVAN_*`` variables."""

    database_url: str = field(default_factory=_default_db)
    osm_path: Path = DEFAULT_OSM
    districts_path: Path = DEFAULT_DISTRICTS
    max_snap_m: float = 500.0
    solver_time_limit_s: float = 10.0
    speeds_path: Path | None = None  # YAML speed overrides per profile (LOOPVAN_SPEEDS)
    rules_dir: Path | None = DEFAULT_RULES  # district road-rights rule files (LOOPVAN_RULES)

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``LOOPVAN_DATABASE_URL``, ``LOOPVAN_OSM``, ``LOOPVAN_SOLVER_SECONDS``."""
        env = os.environ
        return cls(
            database_url=env.get("LOOPVAN_DATABASE_URL", _default_db()),
            osm_path=Path(env.get("LOOPVAN_OSM", str(DEFAULT_OSM))),
            districts_path=Path(env.get("LOOPVAN_DISTRICTS", str(DEFAULT_DISTRICTS))),
            max_snap_m=float(env.get("LOOPVAN_MAX_SNAP_M", "500")),
            solver_time_limit_s=float(env.get("LOOPVAN_SOLVER_SECONDS", "10")),
            speeds_path=Path(env["LOOPVAN_SPEEDS"]) if env.get("LOOPVAN_SPEEDS") else None,
            rules_dir=Path(env.get("LOOPVAN_RULES", str(DEFAULT_RULES))),
        )
