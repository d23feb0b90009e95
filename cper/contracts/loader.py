"""Loading a contract data file (YAML) into the database, idempotently.

Two steps: `contract_file_parse` reads and validates the file, returning errors that name the
faulty key and its line; `contract_load` upserts contract, organisations, partners, axes,
objectives, priorities, territories, markers and programmes keyed on their codes, and writes an
audit entry for every row it creates or changes. Running it twice changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import models, transaction
from pydantic import ValidationError

from cper.accounts.models import Organisation
from cper.audit.services import Actor, audit_record
from cper.contracts.models import (
    Axis,
    BudgetProgramme,
    Contract,
    ContractTerritory,
    Marker,
    MarkerContribution,
    Objective,
    Partner,
    PartnerStatedAmount,
    Priority,
)
from cper.contracts.schema import ContractFile
from cper.db import Provenance
from cper.territories.models import Commune, Epci, ProjectTerritory, Region


@dataclass(frozen=True)
class FileError:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"ligne {self.line}, " if self.line else ""
        return f"{where}{self.path} : {self.message}"


class ContractFileError(Exception):
    def __init__(self, filename: str, errors: list[FileError]):
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
        raise ContractFileError(name, [FileError("", None, f"lecture impossible : {exc}")]) from exc
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ContractFileError(
            name,
            [FileError("", mark.line + 1 if mark else None, f"YAML invalide : {exc}")],
        ) from exc
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ContractFileError(name, [FileError("", 1, "le fichier doit décrire un contrat")])
    data = _to_python(root, "", lines)
    try:
        parsed = ContractFile.model_validate(data)
    except ValidationError as exc:
        errors: list[FileError] = []
        for err in exc.errors():
            loc_path = _loc_to_path(tuple(err["loc"]))
            msg = str(err["msg"]).removeprefix("Value error, ")
            if not loc_path and " : " in msg:
                # Cross-reference errors raised by the model carry their own paths.
                for piece in msg.split(" ; "):
                    p, _, m = piece.partition(" : ")
                    errors.append(FileError(p, _line_for(p, lines), m))
                continue
            errors.append(FileError(loc_path, _line_for(loc_path, lines), msg))
        raise ContractFileError(name, errors) from exc
    return parsed, data


# --- upserting -------------------------------------------------------------------------------


def _upsert(
    model: type[models.Model],
    lookup: dict[str, Any],
    values: dict[str, Any],
    *,
    actor: Actor,
    report: LoadReport,
    kind: str,
    contract_id: int | None,
) -> Any:
    obj = model._default_manager.filter(**lookup).first()
    if obj is None:
        obj = model._default_manager.create(**lookup, **values)
        audit_record(
            actor=actor,
            action="créé (chargement du contrat)",
            subject=obj,
            changes={k: {"avant": None, "après": v} for k, v in values.items()},
            contract_id=obj.pk if model is Contract else contract_id,
        )
        report.count("created", kind)
        return obj
    before = {k: getattr(obj, k) for k in values}
    changed = {k: v for k, v in values.items() if before[k] != v}
    if changed:
        for k, v in changed.items():
            setattr(obj, k, v)
        obj.save(update_fields=list(changed))
        audit_record(
            actor=actor,
            action="modifié (chargement du contrat)",
            subject=obj,
            changes={k: {"avant": before[k], "après": v} for k, v in changed.items()},
            contract_id=contract_id,
        )
        report.count("updated", kind)
    else:
        report.count("unchanged", kind)
    return obj


def _set_m2m(manager: Any, wanted: set[Any], report: LoadReport, kind: str) -> None:
    current = set(manager.values_list("pk", flat=True))
    target = {getattr(w, "pk", w) for w in wanted}
    if current != target:
        manager.set(list(target))
        report.count("updated", kind)
    else:
        report.count("unchanged", kind)


@transaction.atomic
def contract_load(*, path: Path | str, actor: Actor) -> tuple[Contract, LoadReport]:
    """Load or update the contract described by `path`. All or nothing."""
    spec, data = contract_file_parse(path)
    report = LoadReport()
    try:
        region = Region.objects.get(code=spec.region)
    except Region.DoesNotExist as exc:
        raise ContractFileError(
            str(path),
            [
                FileError(
                    "region",
                    None,
                    f"région inconnue « {spec.region} » (chargez la géographie : cper geo load)",
                )
            ],
        ) from exc
    notes = "\n\n".join(f"[{n.key}] {n.text}" for n in spec.notes)
    contract = _upsert(
        Contract,
        {"slug": spec.slug},
        {
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
        },
        actor=actor,
        report=report,
        kind="contrat",
        contract_id=None,
    )
    cid = contract.pk
    up = dict(actor=actor, report=report, contract_id=cid)

    for pg in spec.programmes:
        _upsert(
            BudgetProgramme,
            {"code": pg.code},
            {
                "label": pg.label,
                "ministry": pg.ministry,
                "valid_from": pg.valid_from,
                "valid_to": pg.valid_to,
            },
            kind="programmes",
            **up,
        )

    axes: dict[int, Axis] = {}
    for ax in spec.axes:
        share = ax.share
        axes[ax.number] = _upsert(
            Axis,
            {"contract": contract, "number": ax.number},
            {
                "title": ax.title,
                "stated_share": share.value if share else None,
                "share_note": share.note if share else "",
                "share_source": share.source if share else "",
            },
            kind="axes",
            **up,
        )
    objectives: dict[str, Objective] = {}
    for ax in spec.axes:
        for pos, ob in enumerate(ax.objectives, start=1):
            objectives[ob.code] = _upsert(
                Objective,
                {"contract": contract, "code": ob.code},
                {"axis": axes[ax.number], "title": ob.title, "position": pos},
                kind="objectifs",
                **up,
            )

    for pos, pa in enumerate(spec.partners, start=1):
        org_spec = pa.organisation
        organisation = _upsert(
            Organisation,
            {"code": org_spec.code if org_spec else pa.code},
            {
                "name": org_spec.name if org_spec else pa.name,
                "siren": (org_spec.siren if org_spec and org_spec.siren else pa.siren),
            },
            kind="organisations",
            **up,
        )
        partner = _upsert(
            Partner,
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
                "position": pos,
            },
            kind="partenaires",
            **up,
        )
        stated: list[tuple[Axis | None, Any]] = []
        if pa.stated_total:
            stated.append((None, pa.stated_total))
        stated += [(axes[s.axis], s) for s in pa.stated_by_axis]
        for axis, s in stated:
            _upsert(
                PartnerStatedAmount,
                {"partner": partner, "axis": axis},
                {
                    "amount": s.amount,
                    "provenance": s.provenance or Provenance.ILLUSTRATIVE,
                    "source": s.source,
                },
                kind="montants annoncés",
                **up,
            )

    for pr in spec.priorities:
        priority = _upsert(
            Priority,
            {"contract": contract, "number": pr.number},
            {"title": pr.title},
            kind="priorités",
            **up,
        )
        _set_m2m(priority.axes, {axes[n] for n in pr.axes}, report, "axes des priorités")

    territories: dict[str, ProjectTerritory] = {}
    for te in spec.territories:
        territory = _upsert(
            ProjectTerritory,
            {"code": te.code},
            {"name": te.name, "region": region, "description": te.description, "source": te.source},
            kind="territoires",
            **up,
        )
        territories[te.code] = territory
        epcis = list(Epci.objects.filter(siren__in=te.epcis))
        missing = set(te.epcis) - {e.siren for e in epcis}
        communes = set(Commune.objects.filter(code__in=te.communes).values_list("code", flat=True))
        missing |= set(te.communes) - communes
        if missing:
            idx = next(i for i, t in enumerate(spec.territories) if t.code == te.code)
            raise ContractFileError(
                str(path),
                [
                    FileError(
                        f"territories[{idx}]",
                        None,
                        f"codes inconnus de la géographie : {', '.join(sorted(missing))}",
                    )
                ],
            )
        communes |= set(Commune.objects.filter(epci__in=epcis).values_list("code", flat=True))
        _set_m2m(territory.epcis, set(epcis), report, "EPCI des territoires")
        _set_m2m(territory.communes, communes, report, "communes des territoires")
        if not ContractTerritory.objects.filter(contract=contract, territory=territory).exists():
            ContractTerritory.objects.create(contract=contract, territory=territory)
            report.count("created", "territoires du contrat")

    for mk in spec.markers:
        marker = _upsert(
            Marker,
            {"contract": contract, "code": mk.code},
            {"label": mk.label, "description": mk.description},
            kind="marqueurs",
            **up,
        )
        _set_m2m(
            marker.objectives,
            {objectives[c] for c in mk.objectives},
            report,
            "objectifs des marqueurs",
        )
        for co in mk.contributions:
            contribution = _upsert(
                MarkerContribution,
                {"marker": marker, "axis": axes[co.axis]},
                {"statement": co.statement, "themes": co.themes},
                kind="contributions",
                **up,
            )
            _set_m2m(
                contribution.territories,
                {territories[t] for t in co.territories},
                report,
                "territoires des contributions",
            )

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

    # The maquette and its amendments are loaded by their own app when the file carries them.
    if spec.maquette is not None or spec.amendments is not None:
        from cper.maquette.loader import maquette_load_from_file

        maquette_load_from_file(
            contract=contract, data=data, path=str(path), actor=actor, report=report
        )
    return contract, report
