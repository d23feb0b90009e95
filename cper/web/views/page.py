"""What every figures page shares: the observation date, the filters, the links of each
dimension's rows, the operations table, the key figures, the breadcrumb and the rendering."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from cper import params
from cper.accounts.permissions import sees_unpublished
from cper.contracts import selectors
from cper.contracts.models import Contract
from cper.finance import aggregation
from cper.io.exports import header_block
from cper.operations.models import Operation
from cper.operations.selectors import operation_list
from cper.web.figures import Chart, row_label
from cper.web.tables import Table, execution_table, export_response


def maybe_reverse(name: str, **kwargs: Any) -> str | None:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def observation_date(request: HttpRequest) -> tuple[dt.date, str]:
    """The observation date from `?date=AAAA-MM-JJ` (today by default) and an error, if any.
    A date outside `params.DATE_MIN`–`DATE_MAX`, or text that is not storable, raises
    `params.BadParameter` (a 400 through `params.guard_input`)."""
    raw = request.GET.get("date", "").strip()
    today = dt.date.today()
    if not raw:
        return today, ""
    params.check_text("date", raw, max_length=40)
    try:
        dt.date.fromisoformat(raw)
    except ValueError:
        return today, f"« {raw} » n'est pas une date (AAAA-MM-JJ) : date du jour retenue."
    return params.parse_date("date", raw), ""  # within the bounds, or refused


@dataclass
class Page:
    """What every figures page carries: the contract, the date, the filters and its tables."""

    request: HttpRequest
    contract: Contract
    as_of: dt.date
    date_error: str
    filters: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)

    @cached_property
    def links(self) -> dict[str, Callable[[Any], str | None]]:
        return row_links(self.contract)

    def visible_operations(self, rows: list[Any]) -> list[Any]:
        """Operation rows this visitor may see: the public sees published operations only (the
        aggregation service already leaves the others out of its figures for this viewer)."""
        linker: OperationLinks = self.links["operation"]  # type: ignore[assignment]
        linker.prime(r.key.get("operation") for r in rows)
        if sees_unpublished(self.request.user):
            return rows
        return [r for r in rows if linker.published(r)]

    def execution(self, *group_by: str, extra: dict[str, Any] | None = None) -> Any:
        return aggregation.execution(
            contract=self.contract,
            as_of=self.as_of,
            group_by=group_by,
            filters={**self.filters, **(extra or {})},
            viewer=self.request.user,  # the public sees published operations only
        )

    def add(self, item: Table | Chart) -> Any:
        self.tables.append(item.table if isinstance(item, Chart) else item)
        return item

    def export(self, name: str) -> HttpResponse | None:
        def meta(table: Table) -> list[tuple[str, str]]:
            return header_block(
                self.contract,
                what=f"{table.caption} (page {self.request.path})",
                filters=self.filters,
                as_of=self.as_of,
            )

        return export_response(self.request, self.tables, filename=name, meta=meta)


def figures_page(request: HttpRequest, slug: str) -> Page:
    contract = selectors.contract_get(slug=slug)
    as_of, error = observation_date(request)
    return Page(request, contract, as_of, error)


def breadcrumb(contract: Contract, *links: tuple[str, str], current: str) -> dict[str, Any]:
    return {
        "links": [
            {"url": reverse("web:dashboard", args=[contract.slug]), "title": contract.title},
            *[{"url": u, "title": t} for u, t in links],
        ],
        "current": current,
    }


def contract_url(name: str, contract: Contract, **kwargs: Any) -> str:
    return reverse(name, kwargs={"slug": contract.slug, **kwargs})


def row_links(contract: Contract) -> dict[str, Callable[[Any], str | None]]:
    """How a row of each dimension links to its page."""

    def link(name: str, kwarg: str, dim: str) -> Callable[[Any], str | None]:
        def inner(row: Any) -> str | None:
            value = row.key.get(dim)
            return None if value in (None, "") else contract_url(name, contract, **{kwarg: value})

        return inner

    return {
        "axis": link("web:axis", "number", "axis"),
        "objective": link("web:objective", "code", "objective"),
        "partner": link("web:partner", "code", "partner"),
        "departement": link("web:departement", "code", "departement"),
        "epci": link("web:epci", "siren", "epci"),
        "territory": link("web:project_territory", "code", "territory"),
        "operation": OperationLinks(contract),
    }


class OperationLinks:
    """Rows keyed by operation code → the operation's page. The aggregation keys operations by
    their code: the codes of a table are resolved together (`prime`, one query)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.ops: dict[str, tuple[int, bool]] = {}  # code → (pk, published)

    def prime(self, codes: Iterable[str]) -> None:
        missing = [c for c in codes if c not in self.ops]
        if missing:
            rows = Operation.objects.filter(contract=self.contract, code__in=missing)
            for code, pk, published in rows.values_list("code", "pk", "published"):
                self.ops[code] = (pk, published)

    def published(self, row: Any) -> bool:
        return self.ops.get(row.key.get("operation"), (0, False))[1]

    def __call__(self, row: Any) -> str | None:
        found = self.ops.get(row.key.get("operation"))
        if found is None:
            return None
        return maybe_reverse("operations:detail", slug=self.contract.slug, pk=found[0])


def operations_list_url(contract: Contract, params: dict[str, Any]) -> str | None:
    """The operations list of the operations app with the page's filters (French names)."""
    url = maybe_reverse("operations:list", slug=contract.slug)
    if url is None:
        return None
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


TOP_OPERATIONS = 25


def operations_table(
    page: Page,
    total: Any,
    caption: str = "Opérations",
    *,
    group_by: tuple[str, ...] = ("operation",),
    extra: Sequence[tuple[str, Callable[[Any], Any]]] = (),
) -> Table:
    """The TOP_OPERATIONS largest operations at this level that the visitor may see (chosen
    and counted by the operations selector, by contractualised amount), with their figures
    from the aggregation service at the date; `total` is the service's total of the level, every
    operation included. The whole list is the operations register's (linked)."""
    chosen = operation_list(
        contract=page.contract,
        user=page.request.user,
        filters=page.filters,
        order="-amount",
        limit=TOP_OPERATIONS,
    )
    codes = [o.code for o in chosen.items]
    linker: OperationLinks = page.links["operation"]  # type: ignore[assignment]
    linker.ops.update({o.code: (o.pk, o.published) for o in chosen.items})
    result = page.execution(*group_by, extra={"operation": codes}) if codes else None
    order = {code: i for i, code in enumerate(codes)}
    rows = sorted(result.rows, key=lambda r: order.get(r.key.get("operation"), 0)) if result else []
    note = (
        f"Les {len(codes)} opérations au plus fort montant contractualisé sur {chosen.total}, "
        "avec leurs montants à la date ; la ligne Total porte sur tout le niveau."
        if chosen.total > len(codes)
        else f"{chosen.total} opération{'s' if chosen.total > 1 else ''} ; la ligne Total porte "
        "sur tout le niveau."
    )
    if not sees_unpublished(page.request.user):
        note += " Seules les opérations publiées sont listées et comptées."
    return page.add(
        execution_table(
            "operations",
            caption,
            SimpleNamespace(rows=rows, total=total),
            first="Opération",
            label=lambda r: row_label(r, "operation"),
            link=linker,
            maquette=False,
            note=note,
            extra=extra,
        )
    )


def kpis(total: Any, *, envelope: Decimal | None = None) -> dict[str, Any]:
    return {"row": total, "envelope": envelope}


def render_page(request: HttpRequest, template: str, page: Page, context: dict[str, Any]) -> Any:
    # htmx asks for the same page and keeps its #figures (hx-select): one code path.
    return render(
        request,
        template,
        {
            "contract": page.contract,
            "as_of": page.as_of,
            "date_error": page.date_error,
            "filters": page.filters,
            **context,
        },
    )


@dataclass
class FilterField:
    name: str
    label: str
    choices: list[tuple[str, str]]
    value: str
    all_label: str = "Tous"
