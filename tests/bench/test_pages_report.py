"""The benchmark's pages section: each page's times next to the service's, with the targets of
issue 14 judged at M (and twice them at L), not at S."""

from __future__ import annotations

from bench.__main__ import IMPORT_TITLE, PAGES_TITLE, _pages_section, splice
from bench.pages import _quantiles


def _page(name: str, p50: float, p95: float, service: float | None = None) -> dict:
    return {
        "name": name,
        "url": "/",
        "queries": 12,
        "first_ms": 900.0,
        "p50_ms": p50,
        "p95_ms": p95,
        "service_ms": service,
    }


def _run(scale: str, *pages: dict) -> dict:
    return {"scale": scale, "database": "postgresql", "runs": 11, "pages": list(pages)}


def test_targets_are_judged_at_m_and_twice_them_at_l():
    m = _run("M", _page("maquette", 120.0, 250.0), _page("opérations, page 1", 160.0, 200.0))
    big = _run("L", _page("opérations, page 1", 160.0, 400.0))
    small = _run("S", _page("maquette", 900.0, 990.0))
    text = "\n".join(_pages_section([m, big, small]))
    assert "| maquette | 900.0 ms | 120.0 ms | 250.0 ms | — | 12 | — | — | oui |" in text
    row = "| opérations, page 1 | 900.0 ms | 160.0 ms"
    assert f"{row} | 200.0 ms | — | 12 | — | — | **non** |" in text
    assert f"{row} | 400.0 ms | — | 12 | — | — | oui |" in text
    assert "| maquette | 900.0 ms | 900.0 ms | 990.0 ms | — | 12 | — | — | — |" in text


def test_the_dashboard_is_also_held_to_five_times_the_service():
    text = "\n".join(
        _pages_section(
            [
                _run(
                    "M",
                    _page("tableau de bord", 100.0, 120.0, service=10.0),
                    _page("tableau de bord, département 59", 40.0, 60.0, service=10.0),
                )
            ]
        )
    )
    assert (
        "| tableau de bord | 900.0 ms | 100.0 ms | 120.0 ms | — | 12 | 10.0 ms | 10.0 × | **non** |"
        in text
    )
    assert "| 10.0 ms | 4.0 × | oui |" in text


def test_the_section_goes_before_the_import_and_is_replaced():
    report = f"# Perf\n\n## Échelle M\n\nx\n\n{IMPORT_TITLE}\n\ny\n\n## Cibles\n\n- c\n"
    once = splice(report, _pages_section([_run("M", _page("maquette", 1.0, 2.0))]), PAGES_TITLE)
    assert once.index(PAGES_TITLE) < once.index("## Cibles")
    again = splice(once, _pages_section([_run("M", _page("maquette", 3.0, 4.0))]), PAGES_TITLE)
    assert again.count(PAGES_TITLE) == 1 and "3.0 ms" in again and "| 1.0 ms" not in again
    assert IMPORT_TITLE in again and again.endswith("## Cibles\n\n- c\n")


def test_the_95th_percentile_is_a_measured_time():
    assert _quantiles([float(i) for i in range(1, 21)]) == (10.5, 19.0)
    assert _quantiles([5.0]) == (5.0, 5.0)


def test_a_cached_page_also_shows_its_times_without_the_cache():
    page = _page("tableau de bord", 8.0, 12.0, service=10.0)
    page.update(p50_uncached_ms=400.0, p95_uncached_ms=600.0)
    text = "\n".join(_pages_section([_run("M", page)]))
    assert "| tableau de bord | 900.0 ms | 8.0 ms | 12.0 ms | 400.0 ms, 600.0 ms | 12 |" in text
