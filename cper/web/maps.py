"""Maps drawn on the server as inline SVG from the outlines shipped in `cper/territories/data/`.

No tile server and no network: the commune outlines of the region (IGN Admin Express 2018 via
france-geojson) are dissolved into département and EPCI outlines (a border shared by two
communes of the same unit cancels out), simplified with their topology kept (each border
between two units is simplified once and drawn the same on both sides, so no slivers), projected
and turned into SVG path strings once per process — and kept on disk (VAR_DIR/cache/maps) for
the next processes, under a name that changes with the sources and this code.

Outlines date from 2018 while the communes are those of the COG 2026: a commune's outline is
joined on its INSEE code; outlines of communes merged since 2018 (absent from the COG) are
given to the unit of the neighbour they share the longest border with, and `MapLayer.coverage`
says how many of each there are.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

from cper.territories.models import Departement
from cper.territories.services import DATA_DIR

Level = Literal["departement", "epci"]
Point = tuple[float, float]

# Regions whose commune outlines are shipped (the others get a département map only).
COMMUNE_OUTLINES = {"32": DATA_DIR / "hauts-de-france"}
FRANCE_DEPARTEMENTS = DATA_DIR / "france" / "departements-simplifie.geojson"

WIDTH = 600  # SVG user units; the height follows the region's shape
MARGIN = 6
TOLERANCE = 0.6  # Douglas-Peucker tolerance, in SVG units


@dataclass(frozen=True)
class Shape:
    code: str
    name: str
    d: str  # SVG path data
    cx: float  # a point inside (centre of the bounding box of the largest ring)
    cy: float


@dataclass(frozen=True)
class Coverage:
    """How the 2018 outlines match the current communes (COG 2026)."""

    communes: int  # communes of the region in the COG
    without_outline: tuple[str, ...]  # COG communes with no 2018 outline
    former_outlines: tuple[
        str, ...
    ]  # 2018 outlines of communes merged since (given to a neighbour)

    @property
    def complete(self) -> bool:
        return not self.without_outline


@dataclass(frozen=True)
class MapLayer:
    region: str
    level: Level
    width: int
    height: int
    shapes: tuple[Shape, ...]
    coverage: Coverage | None = None
    source: str = "IGN Admin Express 2018 (france-geojson), Licence Ouverte"

    def by_code(self) -> dict[str, Shape]:
        return {s.code: s for s in self.shapes}


def has_map(region: str, level: Level) -> bool:
    return level == "departement" or region in COMMUNE_OUTLINES


@lru_cache(maxsize=8)
def region_map(region: str, level: Level) -> MapLayer:
    """The outlines of the region's départements or EPCI, projected and simplified: once per
    process (this cache), and once per version of their sources on disk (`_stored`), so that
    the first request of a new process reads them instead of dissolving thousands of
    communes again (several seconds)."""
    if region in COMMUNE_OUTLINES:
        folder = COMMUNE_OUTLINES[region]
        sources = [folder / "communes.csv", folder / "communes.geojson"]
        sources.append(DATA_DIR / "france" / "departements.csv")
        return _stored(region, level, sources, [], lambda: _dissolved_map(region, level))
    if level != "departement":
        raise LookupError(f"pas de contours de communes pour la région {region}")
    names = sorted(Departement.objects.filter(region_id=region).values_list("code", "name"))
    return _stored(region, level, [FRANCE_DEPARTEMENTS], names, lambda: _departement_map(region))


def _stored(
    region: str,
    level: Level,
    sources: Sequence[Path],
    extra: Any,
    build: Callable[[], MapLayer],
) -> MapLayer:
    """The layer from its file under VAR_DIR/cache/maps, named after what it is made of (the
    sources' sizes and dates, this module's code, `extra`): a change of any of them (a new
    `cper geo load`, a new version) names another file. Built and written when absent;
    unreadable or unwritable files only cost the building."""
    parts = [str(Path(__file__).stat().st_mtime_ns), Path(__file__).stat().st_size, extra]
    for path in sources:
        stat = path.stat()
        parts.append([path.name, stat.st_size, stat.st_mtime_ns])
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]
    folder = Path(settings.VAR_DIR) / "cache" / "maps"
    path = folder / f"{region}-{level}-{digest}.json"
    try:
        return _layer_from(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    layer = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(layer)), encoding="utf-8")
        os.replace(temporary, path)  # whole or absent, whatever another process does
    except OSError:
        pass
    return layer


def _layer_from(data: dict[str, Any]) -> MapLayer:
    coverage = data.get("coverage")
    return MapLayer(
        region=data["region"],
        level=data["level"],
        width=int(data["width"]),
        height=int(data["height"]),
        shapes=tuple(Shape(**s) for s in data["shapes"]),
        coverage=Coverage(
            communes=int(coverage["communes"]),
            without_outline=tuple(coverage["without_outline"]),
            former_outlines=tuple(coverage["former_outlines"]),
        )
        if coverage
        else None,
        source=data["source"],
    )


# -- reading -------------------------------------------------------------------------------------


def _rings(geometry: dict) -> list[list[Point]]:  # type: ignore[type-arg]
    polygons = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    return [[(float(x), float(y)) for x, y in ring] for polygon in polygons for ring in polygon]


def _departement_map(region: str) -> MapLayer:
    names = dict(Departement.objects.filter(region_id=region).values_list("code", "name"))
    features = json.loads(FRANCE_DEPARTEMENTS.read_text(encoding="utf-8"))["features"]
    faces = {
        f["properties"]["code"]: _rings(f["geometry"])
        for f in features
        if f["properties"]["code"] in names
    }
    projection = _Projection([p for rings in faces.values() for ring in rings for p in ring])
    shapes = []
    for code, rings in sorted(faces.items()):
        projected = [[projection(p) for p in ring] for ring in rings]
        simplified = [_douglas_peucker(r, TOLERANCE) for r in projected]
        shapes.append(_shape(code, names[code], simplified))
    return MapLayer(region, "departement", WIDTH, projection.height, tuple(shapes))


def _dissolved_map(region: str, level: Level) -> MapLayer:
    folder = COMMUNE_OUTLINES[region]
    with (folder / "communes.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if level == "departement":
        unit_of = {r["code_insee"]: r["departement"] for r in rows}
        with (DATA_DIR / "france" / "departements.csv").open(encoding="utf-8") as handle:
            names = {r["code"]: r["nom"] for r in csv.DictReader(handle)}
    else:
        unit_of = {r["code_insee"]: r["epci_siren"] for r in rows if r["epci_siren"]}
        names = {r["epci_siren"]: r["epci_nom"] for r in rows if r["epci_siren"]}
    features = json.loads((folder / "communes.geojson").read_text(encoding="utf-8"))["features"]
    outlines = {f["properties"]["code"]: _rings(f["geometry"]) for f in features}
    cog = {r["code_insee"] for r in rows}
    coverage = Coverage(
        communes=len(cog),
        without_outline=tuple(sorted(cog - outlines.keys())),
        former_outlines=tuple(sorted(outlines.keys() - cog)),
    )
    projection = _Projection([p for rings in outlines.values() for ring in rings for p in ring])
    # Snap to a grid a little finer than the drawing so that shared vertices stay shared.
    commune_rings = {
        code: [[_snap(projection(p)) for p in ring] for ring in rings]
        for code, rings in outlines.items()
    }
    _attribute_former_communes(commune_rings, unit_of)
    faces = _dissolve(commune_rings, unit_of)
    rings_by_unit = _simplify_topology(faces)
    shapes = [
        _shape(code, names.get(code, code), rings) for code, rings in sorted(rings_by_unit.items())
    ]
    return MapLayer(region, level, WIDTH, projection.height, tuple(shapes), coverage)


# -- projection ----------------------------------------------------------------------------------


class _Projection:
    """Equirectangular, scaled by the cosine of the mean latitude: good enough at a region's
    scale (the distortion across Hauts-de-France is under 2 %)."""

    def __init__(self, points: Iterable[Point]) -> None:
        xs, ys = zip(*points, strict=True)
        self.lon0, self.lat1 = min(xs), max(ys)
        self.k = math.cos(math.radians((min(ys) + max(ys)) / 2))
        span_x = (max(xs) - self.lon0) * self.k
        span_y = self.lat1 - min(ys)
        self.scale = (WIDTH - 2 * MARGIN) / span_x
        self.height = math.ceil(span_y * self.scale + 2 * MARGIN)

    def __call__(self, p: Point) -> Point:
        return (
            MARGIN + (p[0] - self.lon0) * self.k * self.scale,
            MARGIN + (self.lat1 - p[1]) * self.scale,
        )


def _snap(p: Point) -> Point:
    return (round(p[0], 3), round(p[1], 3))


# -- dissolving ----------------------------------------------------------------------------------

Edge = tuple[Point, Point]


def _edges(ring: Sequence[Point]) -> Iterable[Edge]:
    for a, b in itertools.pairwise(ring):
        if a != b:
            yield (a, b)


def _key(edge: Edge) -> Edge:
    return edge if edge[0] <= edge[1] else (edge[1], edge[0])


def _attribute_former_communes(
    commune_rings: dict[str, list[list[Point]]], unit_of: dict[str, str]
) -> None:
    """Give each outline absent from the COG the unit of the neighbour it shares the longest
    border with (a commune merged since 2018 sits next to the commune nouvelle it joined)."""
    pending = [code for code in commune_rings if code not in unit_of]
    owners: dict[Edge, list[str]] = defaultdict(list)
    for code, rings in commune_rings.items():
        for ring in rings:
            for e in _edges(ring):
                owners[_key(e)].append(code)
    for _ in range(3):  # two merged neighbours may need a second pass
        still = []
        for code in pending:
            shared: Counter[str] = Counter()
            for ring in commune_rings[code]:
                for e in _edges(ring):
                    for other in owners[_key(e)]:
                        if other != code and other in unit_of:
                            shared[unit_of[other]] += 1
            if shared:
                unit_of[code] = shared.most_common(1)[0][0]
            else:
                still.append(code)
        pending = still


def _dissolve(
    commune_rings: dict[str, list[list[Point]]], unit_of: dict[str, str]
) -> dict[str, list[Edge]]:
    """Each unit's outer edges: an edge drawn by two communes of the same unit cancels out."""
    count: dict[str, Counter[Edge]] = defaultdict(Counter)
    directed: dict[str, dict[Edge, Edge]] = defaultdict(dict)
    for code, rings in commune_rings.items():
        unit = unit_of.get(code)
        if unit is None:
            continue
        for ring in rings:
            for e in _edges(ring):
                k = _key(e)
                count[unit][k] += 1
                directed[unit][k] = e
    return {
        unit: [directed[unit][k] for k, n in counter.items() if n % 2 == 1]
        for unit, counter in count.items()
    }


def _chain(edges: list[Edge]) -> list[list[Point]]:
    """Join edges into closed rings (orientation ignored: the map fills with even-odd)."""
    adjacent: dict[Point, list[Point]] = defaultdict(list)
    for a, b in edges:
        adjacent[a].append(b)
        adjacent[b].append(a)
    rings = []
    for start in list(adjacent):
        while adjacent[start]:
            ring = [start]
            previous, current = start, adjacent[start].pop()
            adjacent[current].remove(previous)
            while current != start and adjacent[current]:
                ring.append(current)
                previous, current = current, adjacent[current].pop()
                adjacent[current].remove(previous)
            ring.append(start)
            if len(ring) >= 4 and current == start:
                rings.append(ring)
    return rings


def _simplify_topology(faces: dict[str, list[Edge]]) -> dict[str, list[list[Point]]]:
    """Simplify every unit's rings so that a border shared by two units is simplified once:
    vertices where the neighbour changes are kept, and each run between them is simplified
    in a canonical direction."""
    owner: dict[Edge, set[str]] = defaultdict(set)
    for unit, edges in faces.items():
        for e in edges:
            owner[_key(e)].add(unit)
    cache: dict[tuple[Point, ...], list[Point]] = {}

    def simplify_run(run: list[Point]) -> list[Point]:
        forward = run[0] < run[-1] or (run[0] == run[-1] and run[1] <= run[-2])
        canonical = tuple(run if forward else run[::-1])
        if canonical not in cache:
            cache[canonical] = _douglas_peucker(list(canonical), TOLERANCE)
        out = cache[canonical]
        return out if forward else out[::-1]

    result: dict[str, list[list[Point]]] = {}
    for unit, edges in faces.items():
        rings = []
        for ring in _chain(edges):
            pts = ring[:-1]
            n = len(pts)
            sides = [frozenset(owner[_key((pts[i], pts[(i + 1) % n]))]) for i in range(n)]
            nodes = [i for i in range(n) if sides[i] != sides[i - 1]]
            if not nodes:
                # An island or a ring with one neighbour all round: anchor on two fixed points.
                first = min(range(n), key=lambda i: pts[i])
                nodes = [first, (first + n // 2) % n]
            out: list[Point] = []
            for j, start in enumerate(nodes):
                end = nodes[(j + 1) % len(nodes)]
                run = (pts[start : end + 1] if end > start else pts[start:] + pts[: end + 1]) or [
                    pts[start]
                ]
                simplified = simplify_run(run) if len(run) > 2 else run
                out.extend(simplified[:-1])
            if len(out) >= 3 and _area(out) > 0.5:
                rings.append([*out, out[0]])
        result[unit] = rings
    return result


def _area(ring: Sequence[Point]) -> float:
    return abs(
        sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, [*ring[1:], ring[0]], strict=True)) / 2
    )


def _douglas_peucker(points: list[Point], tolerance: float) -> list[Point]:
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    t2 = tolerance * tolerance
    while stack:
        first, last = stack.pop()
        ax, ay = points[first]
        bx, by = points[last]
        dx, dy = bx - ax, by - ay
        norm = dx * dx + dy * dy
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            if norm == 0:
                dist = (px - ax) ** 2 + (py - ay) ** 2
            else:
                cross = dx * (py - ay) - dy * (px - ax)
                dist = cross * cross / norm
            if dist > worst:
                worst, index = dist, i
        if worst > t2 and index > 0:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, k in zip(points, keep, strict=True) if k]


# -- output --------------------------------------------------------------------------------------


def _shape(code: str, name: str, rings: list[list[Point]]) -> Shape:
    parts = []
    for ring in rings:
        if len(ring) < 4:
            continue
        head, *tail = ring[:-1]
        parts.append(
            f"M{head[0]:.1f} {head[1]:.1f}"
            + "L"
            + " ".join(f"{x:.1f} {y:.1f}" for x, y in tail)
            + "Z"
        )
    largest = max(rings, key=_area) if rings else [(0.0, 0.0)]
    xs = [p[0] for p in largest]
    ys = [p[1] for p in largest]
    return Shape(
        code=code,
        name=name,
        d="".join(parts),
        cx=round((min(xs) + max(xs)) / 2, 1),
        cy=round((min(ys) + max(ys)) / 2, 1),
    )


# -- colouring -----------------------------------------------------------------------------------

# Sequential shades of the DSFR "bleu France" (light to dark); text on the two darkest is white.
PALETTE = ("#e3e3fd", "#cacafb", "#8585f6", "#4747e0", "#000091")
NO_DATA = "#e5e5e5"


@dataclass(frozen=True)
class LegendClass:
    low: Decimal
    high: Decimal
    colour: str


@dataclass
class Choropleth:
    layer: MapLayer
    classes: list[LegendClass]
    fills: dict[str, str] = field(default_factory=dict)


def class_breaks(values: Sequence[Decimal], n: int = len(PALETTE)) -> list[LegendClass]:
    """Quantile classes over the positive values (at most n, fewer when values repeat)."""
    positive = sorted(v for v in values if v is not None and v > 0)
    if not positive:
        return []
    k = min(n, len(positive))
    bounds = [positive[0]]
    for i in range(1, k):
        bounds.append(positive[(i * len(positive)) // k])
    bounds.append(positive[-1])
    uniq: list[Decimal] = []
    for b in bounds:
        if not uniq or b > uniq[-1]:
            uniq.append(b)
    if len(uniq) == 1:
        return [LegendClass(uniq[0], uniq[0], PALETTE[-1])]
    count = len(uniq) - 1
    colours = PALETTE[len(PALETTE) - count :] if count < len(PALETTE) else PALETTE
    return [LegendClass(uniq[i], uniq[i + 1], colours[i]) for i in range(count)]


def colour_for(value: Decimal | None, classes: Sequence[LegendClass]) -> str:
    if value is None or value <= 0 or not classes:
        return NO_DATA
    for c in classes:
        if value <= c.high:
            return c.colour
    return classes[-1].colour
