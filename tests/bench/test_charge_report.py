"""The benchmark's « Charge » section (the production server under concurrent clients) and the
export timings of the pages section: targets of issue 14 judged at M for the dashboard only,
sections spliced into an existing report once."""

from __future__ import annotations

from bench.__main__ import CHARGE_TITLE, PAGES_TITLE, _charge_section, _pages_section, splice
from bench.load import LoadResult


def _phase(name: str, per_second: float, p95: float, errors: int = 0) -> dict:
    return {
        "name": name,
        "clients": 20,
        "requests": int(per_second * 15),
        "per_second": per_second,
        "median_ms": p95 / 2,
        "p95_ms": p95,
        "errors": errors,
    }


def _charge(scale: str, *phases: dict) -> dict:
    return {
        "scale": scale,
        "database": "postgresql",
        "workers": 3,
        "seconds": 15.0,
        "phases": list(phases),
    }


def test_the_dashboard_target_is_judged_at_m_not_at_s_nor_for_the_api():
    text = "\n".join(
        _charge_section(
            [
                _charge(
                    "M",
                    _phase("tableau de bord", 24.0, 800.0),
                    _phase("API (listes, 1re page)", 5.0, 4000.0),
                ),
                _charge("M", _phase("tableau de bord", 30.0, 900.0, errors=1)),
                _charge("S", _phase("tableau de bord", 2.0, 9000.0)),
            ]
        )
    )
    assert (
        "| M | postgresql | tableau de bord | 3 | 20 | 15 s | 360 | 24,0 | 400.0 ms | 800.0 ms "
        "| 0 | oui |" in text
    )
    assert "| API (listes, 1re page) | 3 | 20 | 15 s | 75 | 5,0 | 2.00 s | 4.00 s | 0 | — |" in text
    assert "| 30,0 | 450.0 ms | 900.0 ms | 1 | **non** |" in text  # one error fails it
    assert (
        "| S | postgresql | tableau de bord | 3 | 20 | 15 s | 30 | 2,0 | 4.50 s | 9.00 s | 0 | — |"
        in text
    )


def test_the_charge_section_is_spliced_before_the_targets_once():
    report = f"# Perf\n\n{PAGES_TITLE}\n\np\n\n## Cibles\n\n- c\n"
    once = splice(
        report, _charge_section([_charge("S", _phase("tableau de bord", 2.0, 9.0))]), CHARGE_TITLE
    )
    assert once.index(PAGES_TITLE) < once.index(CHARGE_TITLE) < once.index("## Cibles")
    again = splice(
        once, _charge_section([_charge("S", _phase("tableau de bord", 3.0, 7.0))]), CHARGE_TITLE
    )
    assert again.count(CHARGE_TITLE) == 1 and "| 3,0 |" in again and "| 2,0 |" not in again


def test_the_pages_section_lists_the_export_timings():
    run = {
        "scale": "S",
        "database": "sqlite",
        "runs": 11,
        "pages": [],
        "exports": [
            {
                "name": "lines.csv (page, en flux)",
                "first_byte_ms": 12.0,
                "total_ms": 830.0,
                "bytes": 2_688_434,
            },
            {
                "name": "movements.xlsx (tâche en arrière-plan)",
                "first_byte_ms": None,
                "total_ms": 21_500.0,
                "bytes": 3_400_000,
            },
        ],
    }
    text = "\n".join(_pages_section([run]))
    assert "| lines.csv (page, en flux) | 12.0 ms | 830.0 ms | 2,6 Mo |" in text
    assert "| movements.xlsx (tâche en arrière-plan) | — | 21.50 s | 3,2 Mo |" in text


def test_a_load_result_counts_every_answer_that_is_not_a_200_as_an_error():
    result = LoadResult(clients=2, seconds=2.0, latencies_ms=[10.0, 20.0, 30.0, 40.0])
    result.statuses.update({200: 3, 429: 1})
    result.failures.append("/x: connexion refusée")
    summary = result.summary()
    assert summary["requests"] == 4 and summary["per_second"] == 2.0
    assert summary["errors"] == 2 and summary["median_ms"] == 25.0
