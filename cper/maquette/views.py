"""Pages of the maquette: the table in force at a date or version (with drill-down to
objectives and years, a chart and a CSV export), the amendments, one amendment, and the
differences between two versions or dates. Thin views over the selectors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from cper.contracts import selectors as contract_selectors
from cper.contracts.models import Contract
from cper.formulas import InertCsvWriter
from cper.maquette import selectors
from cper.maquette.charts import stacked_hbar
from cper.maquette.models import Amendment
from cper.maquette.selectors import MaquetteQueryError, Point


def _crumbs(contract: Contract, current: str, *extra: tuple[str, str]) -> dict[str, Any]:
    links = [
        {"url": "/", "title": "Accueil"},
        {"url": reverse("web:contract", args=[contract.slug]), "title": contract.title},
    ]
    links += [{"url": url, "title": title} for url, title in extra]
    return {"links": links, "current": current}


def _point_from_request(request: HttpRequest) -> tuple[int | None, dt.date | None, list[str]]:
    """`?version=N` or `?date=AAAA-MM-JJ` (a version wins when both are filled)."""
    errors: list[str] = []
    raw_version = request.GET.get("version", "").strip()
    raw_date = request.GET.get("date", "").strip()
    if raw_version:
        if raw_version.isdigit():
            return int(raw_version), None, errors
        errors.append(f"Version invalide « {raw_version} » : un nombre est attendu.")
    if raw_date:
        try:
            return None, dt.date.fromisoformat(raw_date), errors
        except ValueError:
            errors.append(f"Date invalide « {raw_date} » : le format attendu est AAAA-MM-JJ.")
    return None, None, errors


def _versions(contract: Contract) -> list[Amendment]:
    return list(Amendment.objects.filter(contract=contract).order_by("number"))


def index(request: HttpRequest, slug: str) -> HttpResponse:
    contract = contract_selectors.contract_get(slug=slug)
    version, as_of, errors = _point_from_request(request)
    table = selectors.maquette_table(contract=contract, as_of=as_of, version=version)
    if request.GET.get("format") == "csv":
        return _table_csv(table)
    axis_param = request.GET.get("axe", "")
    detail = None
    if axis_param.isdigit():
        detail = table.details.get(int(axis_param))
    amendments = _versions(contract)
    chart = stacked_hbar(
        [
            (
                f"Axe {a.number}",
                [table.cells.get((p.code, a.number), selectors.ZERO) for p in table.partners],
            )
            for a in table.axes
        ],
        [r.label for r in table.partner_rows],
    )
    query = request.GET.copy()
    query.pop("axe", None)
    query.pop("format", None)
    return render(
        request,
        "maquette/index.html",
        {
            "contract": contract,
            "table": table,
            "detail": detail,
            "chart": chart,
            "amendments": amendments,
            "selected_version": version,
            "selected_date": as_of.isoformat() if as_of else "",
            "today": timezone.localdate(),
            "errors": errors,
            "query": query.urlencode(),
            "title": f"Maquette financière — {contract.title}",
            "breadcrumb_data": _crumbs(contract, "Maquette financière"),
            "valorised": selectors.valorised_credits(contract=contract),
        },
    )


def _table_csv(table: selectors.MaquetteTable) -> HttpResponse:
    """The table shown, as CSV (UTF-8, comma, amounts as decimal strings)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    point = table.point
    suffix = f"v{point}" if isinstance(point, int) else (point or timezone.localdate()).isoformat()
    response["Content-Disposition"] = (
        f'attachment; filename="maquette-{table.contract.slug}-{suffix}.csv"'
    )
    writer = InertCsvWriter(response, lineterminator="\n")
    writer.writerow(
        ["partenaire", "code", *[f"axe {a.number}" for a in table.axes], "total", "part (%)"]
    )
    for row in table.partner_rows:
        writer.writerow(
            [
                row.label,
                row.key,
                *[f"{v:.2f}" for v in row.values],
                f"{row.total:.2f}",
                "" if row.share is None else f"{row.share:.2f}",
            ]
        )
    writer.writerow(
        ["Total", "", *[f"{v:.2f}" for v in table.axis_totals], f"{table.total:.2f}", "100.00"]
    )
    return response


def amendments(request: HttpRequest, slug: str) -> HttpResponse:
    contract = contract_selectors.contract_get(slug=slug)
    items = selectors.amendment_list(contract=contract)
    return render(
        request,
        "maquette/amendments.html",
        {
            "contract": contract,
            "items": items,
            "envelope": selectors.envelope_in_force(contract=contract),
            "title": f"Avenants — {contract.title}",
            "breadcrumb_data": _crumbs(
                contract,
                "Avenants",
                (reverse("maquette:index", args=[contract.slug]), "Maquette financière"),
            ),
        },
    )


def amendment(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    contract = contract_selectors.contract_get(slug=slug)
    try:
        detail = selectors.amendment_detail(contract=contract, number=number)
    except Amendment.DoesNotExist as exc:
        raise Http404("avenant inconnu") from exc
    return render(
        request,
        "maquette/amendment.html",
        {
            "contract": contract,
            "detail": detail,
            "a": detail.amendment,
            "diff": detail.diff,
            "title": f"Avenant n°{number} — {contract.title}",
            "breadcrumb_data": _crumbs(
                contract,
                f"Avenant n°{number}",
                (reverse("maquette:index", args=[contract.slug]), "Maquette financière"),
                (reverse("maquette:amendments", args=[contract.slug]), "Avenants"),
            ),
        },
    )


def diff(request: HttpRequest, slug: str) -> HttpResponse:
    contract = contract_selectors.contract_get(slug=slug)
    versions = _versions(contract)
    errors: list[str] = []
    latest = versions[-1].number if versions else 0
    raw_from = request.GET.get("de", "").strip() or "0"
    raw_to = request.GET.get("a", "").strip() or str(latest)
    points: list[Point] = []
    for raw, default in ((raw_from, 0), (raw_to, latest)):
        try:
            points.append(selectors.parse_point(raw))
        except MaquetteQueryError as exc:
            errors.append(str(exc))
            points.append(default)
    result = selectors.maquette_diff(contract=contract, from_=points[0], to=points[1])
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="ecarts-{contract.slug}-{raw_from}-{raw_to}.csv"'
        )
        writer = InertCsvWriter(response, lineterminator="\n")
        writer.writerow(
            ["partenaire", "axe", "objectif", "année", "avant", "après", "écart", "avenants"]
        )
        for x in result.cells:
            writer.writerow(
                [
                    x.partner,
                    x.axis,
                    x.objective,
                    "" if x.year is None else x.year,
                    f"{x.before:.2f}",
                    f"{x.after:.2f}",
                    f"{x.delta:.2f}",
                    " ".join(str(n) for n in x.amendments),
                ]
            )
        return response
    return render(
        request,
        "maquette/diff.html",
        {
            "contract": contract,
            "diff": result,
            "versions": versions,
            "raw_from": raw_from,
            "raw_to": raw_to,
            "errors": errors,
            "query": request.GET.urlencode(),
            "title": f"Écarts de la maquette — {contract.title}",
            "breadcrumb_data": _crumbs(
                contract,
                "Écarts entre versions",
                (reverse("maquette:index", args=[contract.slug]), "Maquette financière"),
            ),
        },
    )
