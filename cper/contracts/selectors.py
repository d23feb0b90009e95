"""Reads of contracts and their structure, with the related rows fetched up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from cper.contracts.models import (
    Action,
    Axis,
    Contract,
    Marker,
    MarkerContribution,
    Objective,
    Partner,
    PartnerStatedAmount,
    Priority,
    Volet,
)


def contract_list() -> list[Contract]:
    return list(Contract.objects.select_related("region").order_by("slug"))


def contract_get(*, slug: str) -> Contract:
    return get_object_or_404(Contract.objects.select_related("region"), slug=slug)


def axes_with_objectives(contract: Contract) -> QuerySet[Axis]:
    return (
        contract.axes.select_related("volet")  # issue 12
        .prefetch_related(Prefetch("objectives", queryset=Objective.objects.order_by("position")))
        .order_by("number")
    )


def partners_with_stated(contract: Contract) -> QuerySet[Partner]:
    return contract.partners.select_related("organisation").prefetch_related(
        Prefetch(
            "stated_amounts",
            queryset=PartnerStatedAmount.objects.select_related("axis").order_by("axis__number"),
        )
    )


# -- issue 12: volets --


@dataclass(frozen=True)
class VoletPart:
    """A volet of a contract with its axes, as the share checks, the pace and the pages read
    it. `volet` is None for the axes that belong to no volet (a contract built without the
    loader): they form one part spanning the contract, with its envelope."""

    volet: Volet | None
    code: str
    title: str
    start_year: int
    end_year: int
    envelope: Decimal | None
    provenance: str
    amendment_number: int | None
    axes: tuple[Axis, ...]

    @property
    def axis_numbers(self) -> tuple[int, ...]:
        return tuple(a.number for a in self.axes)

    @property
    def period_label(self) -> str:
        return f"{self.start_year}-{self.end_year}"

    @property
    def years(self) -> range:
        return range(self.start_year, self.end_year + 1)


def volet_parts(*, contract: Contract) -> list[VoletPart]:
    """The contract's volets in order, each with its axes (ordered by number); one query (a
    volet that holds no axis holds no money: it is left out). Axes without a volet form one
    part spanning the contract."""
    axes = list(Axis.objects.filter(contract=contract).select_related("volet").order_by("number"))
    found = {a.volet.pk: a.volet for a in axes if a.volet is not None}
    volets = sorted(found.values(), key=lambda v: (v.position, v.code))
    parts = [
        VoletPart(
            volet=v,
            code=v.code,
            title=v.title,
            start_year=v.start_year,
            end_year=v.end_year,
            envelope=v.envelope,
            provenance=v.get_provenance_display(),
            amendment_number=v.amendment_number,
            axes=tuple(a for a in axes if a.volet_id == v.pk),
        )
        for v in volets
    ]
    loose = tuple(a for a in axes if a.volet_id is None)
    if loose or not parts:
        parts.append(
            VoletPart(
                volet=None,
                code="",
                title="Contrat",
                start_year=contract.start_year,
                end_year=contract.end_year,
                envelope=contract.envelope,
                provenance=contract.get_envelope_provenance_display(),
                amendment_number=None,
                axes=loose,
            )
        )
    return parts


# -- end volets --


@dataclass
class ContractOverview:
    axes: list[Axis]
    partners: list[Partner]
    priorities: list[Priority]
    markers: list[Marker]
    stated_share_total: Decimal
    volets: list[VoletPart] = field(default_factory=list)  # issue 12

    @property
    def objective_count(self) -> int:
        return sum(len(a.objectives.all()) for a in self.axes)


def contract_overview(*, contract: Contract) -> ContractOverview:
    axes = list(axes_with_objectives(contract))
    return ContractOverview(
        axes=axes,
        partners=list(partners_with_stated(contract)),
        priorities=list(contract.priorities.prefetch_related("axes")),
        markers=list(
            contract.markers.prefetch_related(
                "objectives",
                Prefetch(
                    "contributions",
                    queryset=MarkerContribution.objects.select_related("axis").prefetch_related(
                        "territories"
                    ),
                ),
            )
        ),
        stated_share_total=sum(
            (a.stated_share for a in axes if a.stated_share is not None), Decimal("0")
        ),
        volets=volet_parts(contract=contract),
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def contract_as_dict(*, contract: Contract) -> dict[str, Any]:
    """The contract as plain JSON-ready data (money as decimal strings)."""
    ov = contract_overview(contract=contract)
    territories = contract.territories.select_related("territory").order_by("territory__code")
    return {
        "slug": contract.slug,
        "title": contract.title,
        "region": {"code": contract.region.code, "name": contract.region.name},
        "period": {"start": contract.start_year, "end": contract.end_year},
        "status": contract.status,
        "envelope": {
            "amount": _money(contract.envelope),
            "provenance": contract.envelope_provenance,
            "source": contract.envelope_source,
        },
        "signature": {
            "date": contract.signature_date.isoformat() if contract.signature_date else None,
            "place": contract.signature_place,
        },
        "partners": [
            {
                "code": p.code,
                "kind": p.kind,
                "name": p.name,
                "short_name": p.short_name,
                "insee_code": p.insee_code or None,
                "siren": p.siren or None,
                "siret": p.siret or None,
                "budget_nature": p.budget_nature,
                "stated_amounts": [
                    {
                        "axis": s.axis.number if s.axis else None,
                        "amount": _money(s.amount),
                        "provenance": s.provenance,
                        "source": s.source,
                    }
                    for s in p.stated_amounts.all()
                ],
            }
            for p in ov.partners
        ],
        "axes": [
            {
                "number": a.number,
                "title": a.title,
                "stated_share": None
                if a.stated_share is None
                else f"{a.stated_share.normalize():f}",
                "share_note": a.share_note,
                "volet": a.volet.code if a.volet else None,  # issue 12
                "objectives": [{"code": o.code, "title": o.title} for o in a.objectives.all()],
            }
            for a in ov.axes
        ],
        "stated_share_total": f"{ov.stated_share_total.normalize():f}",
        "volets": [
            {
                "code": v.code,
                "title": v.title,
                "period": {"start": v.start_year, "end": v.end_year},
                "envelope": {
                    "amount": _money(v.envelope),
                    "provenance": v.volet.provenance if v.volet else contract.envelope_provenance,
                    "source": v.volet.source if v.volet else contract.envelope_source,
                },
                "amendment": v.amendment_number,
                "axes": list(v.axis_numbers),
            }
            for v in ov.volets
        ],
        "priorities": [
            {"number": p.number, "title": p.title, "axes": sorted(a.number for a in p.axes.all())}
            for p in ov.priorities
        ],
        "markers": [
            {
                "code": m.code,
                "label": m.label,
                "objectives": sorted(o.code for o in m.objectives.all()),
                "contributions": [
                    {
                        "axis": c.axis.number,
                        "statement": c.statement,
                        "territories": sorted(t.code for t in c.territories.all()),
                    }
                    for c in m.contributions.all()
                ],
            }
            for m in ov.markers
        ],
        "territories": [
            {"code": ct.territory.code, "name": ct.territory.name} for ct in territories
        ],
    }


# -- issue 12: third level of the structure --


def objective_actions(*, objective: Objective) -> list[Action]:
    """The actions under an objective (third level of the structure), in the contract's
    order; empty where the contract has no third level."""
    return list(Action.objects.filter(objective=objective).order_by("position", "code"))
