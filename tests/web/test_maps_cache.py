"""Map outlines are built once: a new process reads the layer another one built (no dissolving of
thousands of communes on its first request), and a change of the sources builds it again."""

from __future__ import annotations

import os

import pytest

from cper.web import maps


@pytest.fixture
def fresh(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    maps.region_map.cache_clear()
    yield tmp_path
    maps.region_map.cache_clear()


def _forbid_building(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(*args: object) -> None:
        raise AssertionError("contours recalculés")

    monkeypatch.setattr(maps, "_dissolved_map", refuse)
    monkeypatch.setattr(maps, "_departement_map", refuse)


@pytest.mark.django_db
def test_a_new_process_reads_the_outlines_built_before(fresh, monkeypatch, hdf):  # type: ignore[no-untyped-def]
    built = {level: maps.region_map("32", level) for level in ("departement", "epci")}
    assert len(list((fresh / "cache" / "maps").glob("32-*.json"))) == 2
    maps.region_map.cache_clear()  # as in a new process
    _forbid_building(monkeypatch)
    for level, layer in built.items():
        assert maps.region_map("32", level) == layer
    assert len(built["epci"].shapes) == 92 and built["epci"].coverage is not None


@pytest.mark.django_db
def test_new_sources_are_dissolved_again(fresh, monkeypatch, hdf):  # type: ignore[no-untyped-def]
    first = maps.region_map("32", "departement")
    maps.region_map.cache_clear()
    source = maps.COMMUNE_OUTLINES["32"] / "communes.csv"
    stat = source.stat()
    calls: list[str] = []
    real = maps._dissolved_map

    def counting(region: str, level: maps.Level) -> maps.MapLayer:
        calls.append(level)
        return real(region, level)

    monkeypatch.setattr(maps, "_dissolved_map", counting)
    try:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert maps.region_map("32", "departement") == first
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert calls == ["departement"]


@pytest.mark.django_db
def test_an_unreadable_file_is_built_again(fresh, monkeypatch, hdf):  # type: ignore[no-untyped-def]
    layer = maps.region_map("32", "departement")
    for path in (fresh / "cache" / "maps").glob("32-departement-*.json"):
        path.write_text("{tronqué", encoding="utf-8")
    maps.region_map.cache_clear()
    assert maps.region_map("32", "departement") == layer
