"""The documents built on a closing: the annual execution report (« Bilan d'exécution au
31/12/N ») as a PDF (WeasyPrint) with its annexes (XLSX, ODS), and the comité de suivi pack.

Every amount printed comes from the closing's frozen figures (`cper.closings.figures`), formatted
by `cper.money` — the same strings `cper closing show` prints; no amount is recomputed here (only
rates are derived from the frozen amounts). The
indicators and forecasts sections are asked of their apps (`report_section`), when they expose
one; otherwise the report says « non disponible ».
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from types import ModuleType
from typing import Any

from django.template.loader import render_to_string

from cper.closings import figures as F
from cper.closings import selectors
from cper.closings.models import Closing
from cper.contracts.models import Axis, Contract
from cper.forecasts import selectors as forecast_selectors
from cper.indicators import selectors as indicator_selectors
from cper.io import writers
from cper.money import format_number, rate
from cper.operations import selectors as operation_selectors
from cper.web import maps
from cper.web.charts import MEASURES as CHART_MEASURES
from cper.web.charts import grouped_hbar

# The sections other apps add to the report: each app's `selectors.report_section(*, contract,
# at)` returns plain data (French keys: "titre", "note", and lists of rows as dicts — with
# "colonnes"/"lignes" for a main table). Read through `getattr`: an app without the function
# gives a « non disponible » section.
_SECTION_MODULES: dict[str, ModuleType] = {
    "indicators": indicator_selectors,
    "forecasts": forecast_selectors,
}
_SECTION_TITLES = {
    "indicators": "Indicateurs de réalisation et de résultat",
    "forecasts": "Prévisions d'engagements et de paiements",
}
# The column keys of the indicators app's rows, in the order of its "colonnes".
_KNOWN_KEYS = (
    "code",
    "indicateur",
    "nature",
    "unite",
    "reference",
    "cible_2027",
    "prevu",
    "realise",
    "avancement_pct",
    "operations",
)
_CAPTIONS = {
    "par_axe": "Par axe",
    "besoins": "Besoin en crédits de paiement par partenaire",
    "besoins_par_programme": "Besoin en crédits de paiement par programme",
    "retards": "Retards d'exécution (alertes)",
    "total": "Total",
}
_HEADERS = {
    "cp_n1": "CP prévus N+1 (€)",
    "report": "Retard reporté (€)",
    "besoin": "Besoin (€)",
    "ecart_pct": "Écart (%)",
    "ecart": "Écart (€)",
    "prevu_cumule": "Prévu cumulé (€)",
    "realise_cumule": "Réalisé cumulé (€)",
    "lignes_sans_echeancier": "Lignes sans échéancier",
    "intitule": "Intitulé",
    "operation": "Opération",
    "unite": "Unité",
    "prevu": "Prévu",
    "realise": "Réalisé",
    "operations": "Opérations",
}

# The report's groupings, in the order of its chapters.
REPORT_GROUPINGS = ("volet", "axis", "objective", "partner", "programme", "departement")


@dataclass
class Table:
    """A table of frozen figures, formatted: one row per key, then the total."""

    grouping: str
    title: str
    rows: list[F.FigureRow]
    total: F.FigureRow | None

    @property
    def has_maquette(self) -> bool:
        return any(r.maquette is not None for r in self.rows)


@dataclass
class SubTable:
    caption: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class ExtraSection:
    key: str
    title: str
    available: bool
    note: str = ""
    tables: list[SubTable] = field(default_factory=list)


@dataclass
class AxisComment:
    axis: Axis
    text: str
    author: str
    at: dt.datetime | None


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return format_number(value, 2 if value != value.to_integral_value() else 0)
    if isinstance(value, dt.date):
        return f"{value:%d/%m/%Y}"
    return str(value)


def _header(key: str) -> str:
    return _HEADERS.get(key, key.replace("_", " ").capitalize())


def _dict_table(caption: str, items: list[dict[str, Any]]) -> SubTable:
    keys = list(items[0])
    return SubTable(
        caption, [_header(k) for k in keys], [[_text(i.get(k)) for k in keys] for i in items]
    )


def extra_section(key: str, *, contract: Contract, at: dt.date) -> ExtraSection:
    """The section an app provides (indicators, forecasts), or a « non disponible » one."""
    fn = getattr(_SECTION_MODULES.get(key), "report_section", None)
    if fn is None:
        return ExtraSection(key, _SECTION_TITLES[key], False)
    data: dict[str, Any] = fn(contract=contract, at=at)
    out = ExtraSection(key, str(data.get("titre") or _SECTION_TITLES[key]), True)
    out.note = str(data.get("note", ""))
    headers = [str(h) for h in data.get("colonnes", [])]
    if headers and data.get("lignes"):
        rows = []
        for line in data["lignes"]:
            if isinstance(line, dict):
                keys = (
                    list(line)
                    if len(line) == len(headers)
                    else [k for k in _KNOWN_KEYS if k in line]
                )
                rows.append([_text(line.get(k)) for k in keys])
            else:
                rows.append([_text(v) for v in line])
        out.tables.append(SubTable("", headers, rows))
    for name, value in data.items():
        if name in {"lignes", "colonnes"}:
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out.tables.append(_dict_table(_CAPTIONS.get(name, _header(name)), value))
        elif isinstance(value, dict) and value:
            out.tables.append(_dict_table(_CAPTIONS.get(name, _header(name)), [value]))
    return out


def tables(closing: Closing, names: tuple[str, ...] = REPORT_GROUPINGS) -> list[Table]:
    out = []
    for name in names:
        if name not in closing.figures.get("groupings", {}):
            continue  # volet, programme: only when the aggregation service had them
        out.append(
            Table(
                name,
                F.GROUPING_LABELS[name],
                F.rows_of(closing.figures, name),
                F.total_of(closing.figures, name),
            )
        )
    return out


def axis_chart(closing: Closing) -> Any:
    rows = F.rows_of(closing.figures, "axis")
    if not rows:
        return ""
    return grouped_hbar(
        chart_id="bilan-axes",
        title=f"Exécution par axe au {closing.at:%d/%m/%Y}",
        categories=[r.label for r in rows],
        series=["maquette", "programmed", "committed", "paid"],
        values=[[r.maquette, r.programmed, r.committed, r.paid] for r in rows],
    )


def departement_map(closing: Closing) -> dict[str, Any] | None:
    """The region's départements coloured by the programmed amount arrêté (quantile classes),
    or None when the region has no outlines shipped."""
    try:
        layer = maps.region_map(closing.contract.region_id, "departement")
    except (LookupError, OSError):
        return None
    amounts = {
        str(r.key.get("departement")): r.programmed
        for r in F.rows_of(closing.figures, "departement")
    }
    classes = maps.class_breaks(list(amounts.values()))
    return {
        "layer": layer,
        "items": [
            {
                "shape": s,
                "fill": fill,
                "text": "#ffffff" if fill in maps.PALETTE[-2:] else "#161616",
            }
            for s in layer.shapes
            for fill in (maps.colour_for(amounts.get(s.code), classes),)
        ],
        "classes": classes,
        "no_data": maps.NO_DATA,
    }


def axis_comments(closing: Closing) -> list[AxisComment]:
    current = selectors.current_comments(closing=closing)
    out = []
    for axis in Axis.objects.filter(contract_id=closing.contract_id).order_by("number"):
        c = current.get(axis.number)
        out.append(
            AxisComment(
                axis,
                c.text if c else "",
                str(c.author) if c and c.author else "",
                c.at if c else None,
            )
        )
    return out


def annual_report_context(closing: Closing) -> dict[str, Any]:
    contract = closing.contract
    total = F.total_of(closing.figures)
    return {
        "contract": contract,
        "closing": closing,
        "total": total,
        "commitment_rate": rate(total.committed, total.maquette)
        if total and total.maquette
        else None,
        "payment_rate": rate(total.paid, total.maquette) if total and total.maquette else None,
        "tables": tables(closing),
        "chart": axis_chart(closing),
        "map": departement_map(closing),
        "legend": [(k, CHART_MEASURES[k]) for k in ("maquette", "programmed", "committed", "paid")],
        "operations": F.rows_of(closing.figures, F.OPERATIONS_OF_YEAR),
        "operations_total": F.total_of(closing.figures, F.OPERATIONS_OF_YEAR),
        "comments": axis_comments(closing),
        "extras": [
            extra_section(k, contract=contract, at=closing.at) for k in ("indicators", "forecasts")
        ],
        "illustrative": operation_selectors.illustrative_operations_exist(contract=contract),
        "digest_ok": selectors.digest_ok(closing),
    }


def annual_report_html(closing: Closing) -> str:
    return render_to_string("closings/annual_report.html", annual_report_context(closing))


def pdf_of(html: str) -> bytes:
    """A printable page as PDF; fonts are the system's (DejaVu), nothing is fetched."""
    from weasyprint import HTML  # heavy: loaded only when a PDF is made

    pdf: bytes = HTML(string=html, base_url=None).write_pdf()
    return pdf


def annual_report_pdf(closing: Closing) -> bytes:
    return pdf_of(annual_report_html(closing))


def annual_report_filename(closing: Closing, ext: str = "pdf") -> str:
    suffix = f"-{closing.label}" if closing.label else ""
    return f"bilan-execution-{closing.contract.slug}-{closing.at.isoformat()}{suffix}.{ext}"


# -- annexes --------------------------------------------------------------------------------------


def annex_sheets(closing: Closing) -> list[writers.Sheet]:
    meta = [
        ("Contrat", closing.contract.title),
        ("Situation arrêtée au", f"{closing.at:%d/%m/%Y}"),
        ("Libellé", closing.label or "—"),
        ("Empreinte SHA-256", closing.digest),
    ]
    columns = [
        writers.Col("Libellé", width=50),
        writers.Col("Maquette (€)", writers.MONEY),
        writers.Col("Programmé (€)", writers.MONEY),
        writers.Col("Engagé (€)", writers.MONEY),
        writers.Col("Payé (€)", writers.MONEY),
    ]
    sheets = []
    names = (*REPORT_GROUPINGS, "axis,partner", "marker", "territory", "year", "status")
    for table in tables(closing, names):
        rows = [[r.label, r.maquette, r.programmed, r.committed, r.paid] for r in table.rows]
        if table.total is not None:
            t = table.total
            rows.append(["Total", t.maquette, t.programmed, t.committed, t.paid])
        sheets.append(writers.Sheet(table.title.replace("Par ", "")[:31], columns, rows, meta))
    ops = F.rows_of(closing.figures, F.OPERATIONS_OF_YEAR)
    sheets.append(
        writers.Sheet(
            f"Opérations programmées {closing.at.year}",
            columns,
            [[r.label, r.maquette, r.programmed, r.committed, r.paid] for r in ops],
            meta,
        )
    )
    return sheets


def annual_report_annex(closing: Closing, fmt: str) -> bytes:
    if fmt not in {"xlsx", "ods"}:
        raise ValueError(f"format d'annexe inconnu : {fmt}")
    return writers.render(annex_sheets(closing), fmt)


# -- comité de suivi pack -------------------------------------------------------------------------


def committee_pack_context(*, contract: Contract, committee_pk: int) -> dict[str, Any]:
    detail = operation_selectors.committee_detail(contract=contract, pk=committee_pk)
    closing = selectors.latest_closing(contract=contract)
    return {
        "contract": contract,
        "detail": detail,
        "committee": detail.committee,
        "closing": closing,
        "tables": tables(closing, ("axis", "partner")) if closing else [],
        "total": F.total_of(closing.figures) if closing else None,
    }


def committee_pack_pdf(*, contract: Contract, committee_pk: int) -> bytes:
    html = render_to_string(
        "closings/committee_pack.html",
        committee_pack_context(contract=contract, committee_pk=committee_pk),
    )
    return pdf_of(html)


__all__ = [
    "annual_report_annex",
    "annual_report_context",
    "annual_report_filename",
    "annual_report_html",
    "annual_report_pdf",
    "committee_pack_pdf",
]
