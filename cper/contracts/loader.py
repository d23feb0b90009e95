"""Loading a contract data file (YAML): its structure, idempotently.

Two steps: `contract_file_parse` reads and validates the file, returning errors (`Finding`s)
that name the faulty key and its line; `contract_structure_load` upserts contract,
organisations, partners, axes, objectives, priorities, territories, markers and programmes
keyed on their codes through the services of their apps (`contracts.services`,
`accounts.services`, `territories.services`), which audit every row they create or change.
Running it twice changes nothing.

The sections other apps own (the maquette's `maquette:` and `amendments:`) are loaded by those
apps; `cper.loading.contract_load` runs the whole load in one transaction. The contracts app
does not depend on the apps that depend on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import models, transaction
from pydantic import ValidationError

from cper.accounts.services import organisations_write
from cper.audit.services import Actor, UpsertDraft, Upserted
from cper.contracts.models import (
    Action,
    Axis,
    BudgetProgramme,
    Contract,
    Marker,
    MarkerContribution,
    Objective,
    Partner,
    PartnerStatedAmount,
    Priority,
    Volet,
)
from cper.contracts.schema import ContractFile
from cper.contracts.services import (
    contract_territories_link,
    contract_upsert,
    links_set,
    structure_write,
    volets_unused_delete,
)
from cper.db import Provenance
from cper.findings import Finding
from cper.territories.models import Commune, Epci, ProjectTerritory, Region
from cper.territories.services import project_territories_write, project_territory_members_set

# issue 12: the volet of a contract whose file names none (as the migration names it).
DEFAULT_VOLET_CODE = "principal"
DEFAULT_VOLET_TITLE = "Volet principal"


def file_error(path: str, line: int | None, message: str) -> Finding:
    """An error of a contract file: the key path where it is, the line, the message."""
    return Finding(path, message, line=line)


class ContractFileError(Exception):
    """A contract file refused: each error names its key and line ("ligne N, chemin : …")."""

    def __init__(self, filename: str, errors: list[Finding]):
        self.filename = filename
        self.errors = errors
        super().__init__(
            f"{filename} refusé ({len(errors)} erreur(s)) :\n"
            + "\n".join(f"  - {e}" for e in errors)
        )


@dataclass
class LoadReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def count(self, outcome: str, kind: str) -> None:
        if outcome == "unchanged":
            self.unchanged += 1
        else:
            bucket = self.created if outcome == "created" else self.updated
            bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        def fmt(d: dict[str, int]) -> str:
            return ", ".join(f"{v} {k}" for k, v in sorted(d.items())) or "rien"

        return (
            f"créés : {fmt(self.created)} ; modifiés : {fmt(self.updated)} ; "
            f"inchangés : {self.unchanged}"
        )


# --- parsing with line numbers ---------------------------------------------------------------


def _to_python(node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            child = f"{path}.{key}" if path else str(key)
            out[key] = _to_python(value_node, child, lines)
            lines.setdefault(child, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, f"{path}[{i}]", lines) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    return loader.construct_object(node, deep=True)


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_for(path: str, lines: dict[str, int]) -> int | None:
    probe = path
    while probe:
        if probe in lines:
            return lines[probe]
        probe = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
    return None


def contract_file_parse(path: Path | str) -> tuple[ContractFile, dict[str, Any]]:
    """Read and validate a contract file; raise ContractFileError naming key and line."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractFileError(
            name, [file_error("", None, f"lecture impossible : {exc}")]
        ) from exc
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ContractFileError(
            name,
            [file_error("", mark.line + 1 if mark else None, f"YAML invalide : {exc}")],
        ) from exc
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ContractFileError(name, [file_error("", 1, "le fichier doit décrire un contrat")])
    data = _to_python(root, "", lines)
    try:
        parsed = ContractFile.model_validate(data)
    except ValidationError as exc:
        errors: list[Finding] = []
        for err in exc.errors():
            loc_path = _loc_to_path(tuple(err["loc"]))
            msg = str(err["msg"]).removeprefix("Value error, ")
            if not loc_path and " : " in msg:
                # Cross-reference errors raised by the model carry their own paths.
                for piece in msg.split(" ; "):
                    p, _, m = piece.partition(" : ")
                    errors.append(file_error(p, _line_for(p, lines), m))
                continue
            errors.append(file_error(loc_path, _line_for(loc_path, lines), msg))
        raise ContractFileError(name, errors) from exc
    return parsed, data


# --- upserting -------------------------------------------------------------------------------


def _counted(done: list[Upserted], report: LoadReport, kind: str) -> list[Any]:
    for d in done:
        report.count(d.outcome, kind)
    return [d.obj for d in done]


def _one(done: list[Upserted], report: LoadReport, kind: str) -> Any:
    (obj,) = _counted(done, report, kind)
    return obj


def _linked(changed: bool, report: LoadReport, kind: str) -> None:
    report.count("updated" if changed else "unchanged", kind)


@transaction.atomic
def contract_structure_load(
    *, path: Path | str, actor: Actor
) -> tuple[Contract, dict[str, Any], LoadReport]:
    """Load or update the structure of the contract described by `path` (everything but the
    sections other apps load); returns the contract, the file's data and the report. All or
    nothing. `cper.loading.contract_load` is the whole load."""
    spec, data = contract_file_parse(path)
    report = LoadReport()
    try:
        region = Region.objects.get(code=spec.region)
    except Region.DoesNotExist as exc:
        raise ContractFileError(
            str(path),
            [
                file_error(
                    "region",
                    None,
                    f"région inconnue « {spec.region} » (chargez la géographie : cper geo load)",
                )
            ],
        ) from exc
    notes = "\n\n".join(f"[{n.key}] {n.text}" for n in spec.notes)
    upserted = contract_upsert(
        actor=actor,
        slug=spec.slug,
        values={
            "title": spec.title,
            "region": region,
            "start_year": spec.period.start,
            "end_year": spec.period.end,
            "envelope": spec.envelope.amount,
            "envelope_provenance": spec.envelope.provenance,
            "envelope_source": spec.envelope.source,
            "signature_date": spec.signature.date,
            "signature_place": spec.signature.place,
            "signature_source": spec.signature.source,
            "status": spec.status.value,
            "description": spec.description,
            "notes": notes,
            "share_tolerance": spec.settings.share_tolerance,
            "over_programming": spec.settings.over_programming.value,
            "execution_tolerance": spec.settings.execution_tolerance,
            "programming_mode": spec.settings.programming_mode.value,  # issue 12
        },
    )
    contract: Contract = _one([upserted], report, "contrat")
    cid = contract.pk

    def write(model: type[models.Model], drafts: list[UpsertDraft], kind: str) -> list[Any]:
        done = structure_write(actor=actor, contract=contract, model=model, drafts=drafts)
        return _counted(done, report, kind)

    def link(subject: models.Model, relation: str, wanted: set[Any], kind: str) -> None:
        changed = links_set(
            actor=actor, contract=contract, subject=subject, relation=relation, wanted=wanted
        )
        _linked(changed, report, kind)

    write(
        BudgetProgramme,
        [
            UpsertDraft(
                {"code": pg.code},
                {
                    "label": pg.label,
                    "ministry": pg.ministry,
                    "valid_from": pg.valid_from,
                    "valid_to": pg.valid_to,
                },
            )
            for pg in spec.programmes
        ],
        "programmes",
    )

    # -- issue 12: volets (none in the file: one volet spanning the contract) --
    volet_drafts = [
        UpsertDraft(
            {"contract": contract, "code": vo.code},
            {
                "title": vo.title,
                "start_year": vo.period.start,
                "end_year": vo.period.end,
                "envelope": vo.envelope.amount if vo.envelope else None,
                "provenance": vo.envelope.provenance if vo.envelope else Provenance.ILLUSTRATIVE,
                "source": vo.envelope.source if vo.envelope else "",
                "position": pos,
                "amendment_number": vo.amendment,
            },
        )
        for pos, vo in enumerate(spec.volets, start=1)
    ] or [
        UpsertDraft(
            {"contract": contract, "code": DEFAULT_VOLET_CODE},
            {
                "title": DEFAULT_VOLET_TITLE,
                "start_year": spec.period.start,
                "end_year": spec.period.end,
                "envelope": spec.envelope.amount,
                "provenance": spec.envelope.provenance,
                "source": spec.envelope.source,
                "position": 1,
                "amendment_number": None,
            },
        )
    ]
    volets: dict[str, Volet] = {v.code: v for v in write(Volet, volet_drafts, "volets")}
    first_volet = next(iter(volets.values()))
    # -- end volets --

    axes: dict[int, Axis] = dict(
        zip(
            (ax.number for ax in spec.axes),
            write(
                Axis,
                [
                    UpsertDraft(
                        {"contract": contract, "number": ax.number},
                        {
                            "title": ax.title,
                            "stated_share": ax.share.value if ax.share else None,
                            "share_note": ax.share.note if ax.share else "",
                            "share_source": ax.share.source if ax.share else "",
                            "volet": volets[ax.volet] if ax.volet else first_volet,
                        },
                    )
                    for ax in spec.axes
                ],
                "axes",
            ),
            strict=True,
        )
    )
    objective_specs = [
        (ax.number, pos, ob) for ax in spec.axes for pos, ob in enumerate(ax.objectives, start=1)
    ]
    objectives: dict[str, Objective] = dict(
        zip(
            (ob.code for _, _, ob in objective_specs),
            write(
                Objective,
                [
                    UpsertDraft(
                        {"contract": contract, "code": ob.code},
                        {"axis": axes[number], "title": ob.title, "position": pos},
                    )
                    for number, pos, ob in objective_specs
                ],
                "objectifs",
            ),
            strict=True,
        )
    )
    # The third level (issue 12): actions under their objective, numbered as the contract does.
    write(
        Action,
        [
            UpsertDraft(
                {"contract": contract, "code": ac.code},
                {
                    "objective": objectives[ob.code],
                    "title": ac.title,
                    "position": pos,
                    "kind": ac.kind.value,
                    "provenance": ac.provenance,
                },
            )
            for _, _, ob in objective_specs
            for pos, ac in enumerate(ob.actions, start=1)
        ],
        "actions",
    )

    organisations = _counted(
        organisations_write(
            actor=actor,
            drafts=[
                UpsertDraft(
                    {"code": pa.organisation.code if pa.organisation else pa.code},
                    {
                        "name": pa.organisation.name if pa.organisation else pa.name,
                        "siren": (
                            pa.organisation.siren
                            if pa.organisation and pa.organisation.siren
                            else pa.siren
                        ),
                    },
                )
                for pa in spec.partners
            ],
            contract_id=cid,
        ),
        report,
        "organisations",
    )
    partners = write(
        Partner,
        [
            UpsertDraft(
                {"contract": contract, "code": pa.code},
                {
                    "organisation": organisation,
                    "kind": pa.kind.value,
                    "name": pa.name,
                    "short_name": pa.short_name,
                    "insee_code": pa.insee_code,
                    "siren": pa.siren,
                    "siret": pa.siret,
                    "budget_nature": pa.budget_nature.value,
                    "signatory": pa.signatory,
                    "affectation_required": pa.affectation_required,
                    "caducity_months": pa.caducity_months,
                    "position": pos,
                },
            )
            for pos, (pa, organisation) in enumerate(
                zip(spec.partners, organisations, strict=True), start=1
            )
        ],
        "partenaires",
    )
    stated: list[UpsertDraft] = []
    for pa, partner in zip(spec.partners, partners, strict=True):
        amounts: list[tuple[Axis | None, Any]] = []
        if pa.stated_total:
            amounts.append((None, pa.stated_total))
        amounts += [(axes[s.axis], s) for s in pa.stated_by_axis]
        stated += [
            UpsertDraft(
                {"partner": partner, "axis": axis},
                {
                    "amount": s.amount,
                    "provenance": s.provenance or Provenance.ILLUSTRATIVE,
                    "source": s.source,
                },
            )
            for axis, s in amounts
        ]
    write(PartnerStatedAmount, stated, "montants annoncés")

    priorities = write(
        Priority,
        [
            UpsertDraft({"contract": contract, "number": pr.number}, {"title": pr.title})
            for pr in spec.priorities
        ],
        "priorités",
    )
    for pr, priority in zip(spec.priorities, priorities, strict=True):
        link(priority, "axes", {axes[n].pk for n in pr.axes}, "axes des priorités")

    # Every territory's codes are checked before any is written.
    members: list[tuple[set[str], set[str]]] = []
    for idx, te in enumerate(spec.territories):
        epcis = set(Epci.objects.filter(siren__in=te.epcis).values_list("siren", flat=True))
        communes = set(Commune.objects.filter(code__in=te.communes).values_list("code", flat=True))
        missing = (set(te.epcis) - epcis) | (set(te.communes) - communes)
        if missing:
            raise ContractFileError(
                str(path),
                [
                    file_error(
                        f"territories[{idx}]",
                        None,
                        f"codes inconnus de la géographie : {', '.join(sorted(missing))}",
                    )
                ],
            )
        communes |= set(Commune.objects.filter(epci__in=epcis).values_list("code", flat=True))
        members.append((epcis, communes))
    written = _counted(
        project_territories_write(
            actor=actor,
            drafts=[
                UpsertDraft(
                    {"code": te.code},
                    {
                        "name": te.name,
                        "region": region,
                        "description": te.description,
                        "source": te.source,
                    },
                )
                for te in spec.territories
            ],
            contract_id=cid,
        ),
        report,
        "territoires",
    )
    territories: dict[str, ProjectTerritory] = {}
    for te, territory, (epcis, communes) in zip(spec.territories, written, members, strict=True):
        territories[te.code] = territory
        epcis_changed, communes_changed = project_territory_members_set(
            actor=actor, territory=territory, epcis=epcis, communes=communes, contract_id=cid
        )
        _linked(epcis_changed, report, "EPCI des territoires")
        _linked(communes_changed, report, "communes des territoires")
    attached = contract_territories_link(
        actor=actor, contract=contract, territories=list(territories.values())
    )
    for _ in range(attached):
        report.count("created", "territoires du contrat")

    markers = write(
        Marker,
        [
            UpsertDraft(
                {"contract": contract, "code": mk.code},
                {"label": mk.label, "description": mk.description},
            )
            for mk in spec.markers
        ],
        "marqueurs",
    )
    for mk, marker in zip(spec.markers, markers, strict=True):
        link(
            marker,
            "objectives",
            {objectives[c].pk for c in mk.objectives},
            "objectifs des marqueurs",
        )
    contributions = write(
        MarkerContribution,
        [
            UpsertDraft(
                {"marker": marker, "axis": axes[co.axis]},
                {"statement": co.statement, "themes": co.themes},
            )
            for mk, marker in zip(spec.markers, markers, strict=True)
            for co in mk.contributions
        ],
        "contributions",
    )
    contribution_specs = [co for mk in spec.markers for co in mk.contributions]
    for co, contribution in zip(contribution_specs, contributions, strict=True):
        link(
            contribution,
            "territories",
            {territories[t].pk for t in co.territories},
            "territoires des contributions",
        )

    # issue 12: a volet no axis belongs to any more (the migration's default one) holds no
    # money: it goes.
    for code in volets_unused_delete(actor=actor, contract=contract, keep=set(volets)):
        report.count("updated", f"volet supprimé ({code})")

    # Rows in the database that the file no longer names are reported, never deleted: money
    # may hang on them.
    known_obj = set(objectives)
    stale = Objective.objects.filter(contract=contract).exclude(code__in=known_obj)
    for stale_obj in stale:
        report.warnings.append(f"objectif {stale_obj.code} absent du fichier (conservé)")
    stale_partners = Partner.objects.filter(contract=contract).exclude(
        code__in=[p.code for p in spec.partners]
    )
    for pa_obj in stale_partners:
        report.warnings.append(f"partenaire {pa_obj.code} absent du fichier (conservé)")
    return contract, data, report
