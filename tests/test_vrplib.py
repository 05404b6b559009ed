"""Solomon / VRPLIB instances: reading, solving to a feasible answer, honest reporting."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from dispatch.cli import main
from routing.errors import ProblemError
from routing.vrplib_solve import evaluate, read_instance, solve_instance

BENCH = Path(__file__).resolve().parent.parent / "data" / "bench"
SOLOMON = sorted((BENCH / "solomon").glob("*.txt"))


def test_all_solomon_instances_are_shipped() -> None:
    """The repository carries the Solomon instances the benchmark uses."""
    assert len(SOLOMON) >= 28
    assert (BENCH / "bks.csv").is_file()


@pytest.mark.parametrize("path", SOLOMON, ids=lambda p: p.stem)
def test_solve_vrplib_is_feasible_and_reports_the_true_distance(path: Path) -> None:
    """Every shipped Solomon instance gets a feasible answer whose distance is recomputed from its routes."""
    inst = read_instance(path)
    sol = solve_instance(inst, seconds=0.4, engine="pyvrp")
    assert sol.feasible, sol.problems
    # Customer numbers as in the file: each of 1..100 exactly once.
    served = sorted(c for r in sol.routes for c in r)
    assert served == list(range(1, len(inst.coords)))
    # Recompute the real-valued Euclidean distance independently from the coordinates.
    total = 0.0
    for r in sol.routes:
        seq = [0, *r, 0]
        total += sum(math.dist(inst.coords[a], inst.coords[b]) for a, b in itertools.pairwise(seq))
    assert total == pytest.approx(sol.distance, abs=1e-6)


def test_evaluate_flags_a_late_customer_and_overload() -> None:
    """The real-valued evaluation reports a window miss and a capacity excess, not just a distance."""
    inst = read_instance(BENCH / "solomon" / "C101.txt")
    one_route = [list(range(1, len(inst.coords)))]  # every customer on one truck
    _dist, problems = evaluate(inst, one_route)
    assert any("over capacity" in p for p in problems)
    assert any("served at" in p for p in problems)


def test_vrplib_format_numbers_customers_as_in_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    """A VRPLIB (Gehring–Homberger) instance is read with its 1-based node numbers and solved."""
    assert (
        main(["solve-vrplib", str(BENCH / "gh" / "C1_2_1.vrp"), "--time-limit", "1", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    served = sorted(c for r in out["routes"] for c in r)
    assert served == list(range(2, 202))  # node 1 is the depot
    assert out["feasible"] is True and out["distance"] > 0


def test_ortools_engine_is_also_feasible() -> None:
    """The plain OR-Tools engine, kept as the benchmark baseline, answers feasibly too."""
    sol = solve_instance(read_instance(BENCH / "solomon" / "R101.txt"), seconds=1, engine="ortools")
    assert sol.feasible, sol.problems


def test_bad_inputs_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file, a file in no known format, or an unknown engine: a message and exit 2."""
    bad = tmp_path / "x.txt"
    bad.write_text("hello\n")
    with pytest.raises(ProblemError):
        read_instance(bad)
    assert main(["solve-vrplib", str(tmp_path / "missing.txt")]) == 2
    assert main(["solve-vrplib", str(BENCH / "solomon" / "C101.txt"), "--engine", "magic"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "unknown engine" in err
