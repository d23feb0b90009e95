"""The benchmark report: the spreadsheet import's section, written alone or with the rest."""

from __future__ import annotations

from bench.__main__ import IMPORT_TITLE, _import_section, splice

FIGURES = {
    "scale": "M",
    "database": "sqlite",
    "operations": 100_000,
    "rows": 371_945,
    "import_seconds": 600.0,
    "import_rows_per_s": 619.9,
    "bulk_seconds": 90.0,
    "bulk_rows_per_s": 4132.7,
    "ratio": 6.7,
    "reimport_seconds": 120.0,
    "reimport_rows_per_s": 3099.5,
}
REPORT = "# Performances\n\n## Échelle M — sqlite\n\ntexte\n\n## Cibles\n\n- cibles\n"


def test_import_section_states_scale_rows_and_both_speeds():
    text = "\n".join(_import_section([FIGURES]))
    assert IMPORT_TITLE in text
    assert "| M | sqlite | 100 000 | 371 945 | 600.0 s | 620 | 90.0 s | 4 133 | 6.7 |" in text


def test_import_section_goes_before_the_targets_and_is_replaced_when_measured_again():
    once = splice(REPORT, _import_section([FIGURES]))
    assert once.index(IMPORT_TITLE) < once.index("## Cibles") and "texte" in once
    again = splice(once, _import_section([{**FIGURES, "import_rows_per_s": 1000.0}]))
    assert again.count(IMPORT_TITLE) == 1 and "| 1 000 |" in again and "| 620 |" not in again
    assert again.endswith("## Cibles\n\n- cibles\n")


def test_movements_imported_get_their_own_table_with_their_count_and_speeds():
    moved = {
        **FIGURES,
        "movements": {
            "operations": 2_000,
            "rows": 56_186,
            "import_seconds": 67.5,
            "import_rows_per_s": 832.4,
            "bulk_seconds": 12.1,
            "bulk_rows_per_s": 4643.5,
            "ratio": 5.6,
        },
    }
    text = "\n".join(_import_section([moved]))
    assert "| M | sqlite | 2 000 | 56 186 | 67.5 s | 832 | 12.1 s | 4 644 | 5.6 |" in text
    assert "movements_record_many" in text
    assert "mouvements/s" not in "\n".join(_import_section([FIGURES]))


def _result(scale: str, check_s: float, check_mb: float) -> dict[str, object]:
    case = {"service_ms": 5.0, "raw_ms": 50.0, "duckdb_ms": 40.0, "identical": True}
    return {
        "scale": scale,
        "database": "postgresql",
        "cases": [{**case, "name": f"question {i}"} for i in range(6)],
        "payment_ms": 4.0,
        "rebuild_s": 80.0,
        "check_s": check_s,
        "check_mb": check_mb,
    }


def test_the_contract_check_is_held_to_a_minute_and_500_mb_at_m_only():
    from bench.__main__ import _targets

    rows = _targets([_result("S", 200.0, 900.0), _result("M", 45.2, 612.0)])
    check = [r for r in rows if "contract check" in r]
    assert check == [
        "| M | postgresql | `cper contract check` ≤ 60 s et ≤ 500 Mo | 45.2 s, 612 Mo | non |"
    ]
    rows = _targets([_result("M", 45.2, 380.0)])
    assert any(r.endswith("| 45.2 s, 380 Mo | oui |") for r in rows)


def test_the_exports_memory_is_judged_on_the_heaviest_export_at_m_only():
    from bench.__main__ import _targets

    exports = [
        {"what": "operations.csv", "seconds": 13.9, "peak_mb": 101.0, "size_mb": 60.2},
        {"what": "operations.xlsx", "seconds": 46.0, "peak_mb": 316.0, "size_mb": 40.0},
    ]
    small = {**_result("S", 1.0, 100.0), "exports": exports}
    large = {**_result("M", 45.2, 380.0), "exports": exports}
    rows = [r for r in _targets([small, large]) if "export" in r]
    assert rows == [
        "| M | postgresql | mémoire ≤ 300 Mo pour tout export | 316 Mo au plus "
        "(operations.xlsx) | non |"
    ]
    exports[1]["peak_mb"] = 120.0
    assert next(r for r in _targets([large]) if "export" in r).endswith(
        "| 120 Mo au plus (operations.xlsx) | oui |"
    )
