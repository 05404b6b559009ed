"""The lifecycle and booking commands: tables on success, a message and exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch.cli import main


@pytest.fixture(scope="module")
def db_env(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("LOOPVAN_DATABASE_URL", url)
    assert main(["demo", "--no-serve", "--date", "2026-12-01", "--seconds", "1"]) == 0
    yield url
    mp.undo()


def test_approve_publish_and_refuse_twice(db_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """approve then publish print the new state and route versions; approving again is exit 2."""
    capsys.readouterr()
    assert main(["plan", "approve", "1", "--by", "li"]) == 0
    assert "now approved" in capsys.readouterr().out
    assert main(["plan", "approve", "1", "--by", "li"]) == 2
    assert "only a draft can be approved" in capsys.readouterr().err
    assert main(["plan", "publish", "1", "--by", "li"]) == 0
    out = capsys.readouterr().out
    assert "now published" in out and "route version" in out
    assert main(["plan", "reject", "1", "--by", "li", "--reason", "late"]) == 2


def test_booking_create_is_idempotent_and_validated(
    db_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same file twice makes one booking; an unknown material is named; show prints the history."""
    body = {
        "resident": {"name": "王芳", "phone": "13800138000"},
        "address": "福田区某小区3栋1201",
        "lat": 22.5370,
        "lon": 114.0250,
        "materials": [{"material": "paper", "kg": 12, "m3": 0.1}],
        "date": "2026-12-02",
        "window": {"start": "09:00", "end": "11:00"},
        "idempotency_key": "cli-key-0001",
    }
    f = tmp_path / "b.json"
    f.write_text(json.dumps(body), encoding="utf-8")
    capsys.readouterr()
    assert main(["booking", "create", str(f), "--today", "2026-12-01"]) == 0
    ref = capsys.readouterr().out.split(": ")[1].split(" ")[0]
    assert main(["booking", "create", str(f), "--today", "2026-12-01"]) == 0
    assert "already exists" in capsys.readouterr().out
    body["materials"][0]["material"] = "uranium"
    body["idempotency_key"] = "cli-key-0002"
    f.write_text(json.dumps(body), encoding="utf-8")
    assert main(["booking", "create", str(f), "--today", "2026-12-01"]) == 2
    assert "materials[0].material" in capsys.readouterr().err
    assert main(["booking", "show", ref]) == 0
    out = capsys.readouterr().out
    assert "requested" in out and "queued" in out
    assert main(["booking", "cancel", ref]) == 0
    assert main(["booking", "cancel", ref]) == 2
