"""Loading the `maquette:` and `amendments:` sections of a contract file.

Called by `cper.loading.contract_load` inside its transaction, after the contract's structure
is upserted. Three steps:

1. validate the sections (schema) and expand the compact form (totals split by axis weights,
   by mode, over the years) into lines partner × objective × year, each knowing the key of
   the file it comes from;
2. check everything in memory with the rules of `rules.py` (unknown codes, totals that do not
   add up, amendments that would make an allocation negative, unbalanced redeployments, dates
   outside the period…), raising `ContractFileError` naming key and line: nothing is written;
3. synchronise the database with the file through the services (`amendments_write`,
   `allocations_write`): create what is missing, update what changed, delete version-0 or
   amendment lines the file no longer has; every write audited, an unchanged file writes
   nothing (idempotent).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from cper.audit.services import Actor, UpsertDraft
from cper.contracts.loader import (
    ContractFileError,
    LoadReport,
    _line_for,
    _loc_to_path,
    _to_python,
    file_error,
)
from cper.contracts.models import BudgetProgramme, Contract, Objective
from cper.findings import Finding
from cper.maquette.models import Allocation, Amendment
from cper.maquette.rules import (
    Cell,
    ChangeLine,
    amendment_errors,
    apply_changes,
    change_reference_errors,
    spread,
)
from cper.maquette.schema import AmendmentIn, BlockIn, LineIn, MaquetteIn
from cper.maquette.services import AllocationChange, allocations_write, amendments_write

ZERO = Decimal("0.00")
KIND_V0 = "lignes de maquette"
KIND_AMENDMENT = "avenants"
KIND_CHANGE = "lignes d'avenants"


@dataclass(frozen=True)
class Line:
    """A line as the file describes it, expanded."""

    partner: str
    objective: str
    year: int | None
    amount: Decimal
    note: str
    budget_nature: str | None
    programme: str | None
    provenance: str
    source: str
    path: str  # the key of the file it comes from

    @property
    def key(self) -> tuple[str, str, int | None, str]:
        return (self.partner, self.objective, self.year, self.note)


class _Errors:
    def __init__(self, path: str, lines: dict[str, int]):
        self.path, self.lines, self.items = path, lines, []  # type: ignore[var-annotated]

    def add(self, where: str, message: str) -> None:
        self.items.append(file_error(where, _line_for(where, self.lines), message))

    def rule(self, e: Finding) -> None:
        self.items.append(file_error(e.field, e.line or _line_for(e.field, self.lines), e.message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ContractFileError(self.path, list(self.items))


def _line_map(path: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return lines
    if root is not None:
        _to_python(root, "", lines)
    return lines


def _validate(model: Any, value: Any, prefix: str, errors: _Errors) -> Any:
    try:
        return TypeAdapter(model).validate_python(value)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _loc_to_path(tuple(err["loc"]))
            where = (
                f"{prefix}{loc}" if loc.startswith("[") else f"{prefix}.{loc}" if loc else prefix
            )
            errors.add(where, str(err["msg"]).removeprefix("Value error, "))
        return None


class _Expander:
    """Expands partners' blocks and explicit lines into `Line`s, collecting errors."""

    def __init__(self, contract: Contract, errors: _Errors):
        self.contract = contract
        self.errors = errors
        self.objectives = {
            o.code: o.axis.number
            for o in Objective.objects.filter(contract=contract).select_related("axis")
        }
        self.axis_objectives: dict[int, list[str]] = defaultdict(list)
        for o in Objective.objects.filter(contract=contract).order_by("axis__number", "position"):
            self.axis_objectives[self.objectives[o.code]].append(o.code)
        self.partners = set(contract.partners.values_list("code", flat=True))
        self.programmes = set(BudgetProgramme.objects.values_list("code", flat=True))
        self.years = set(contract.years)

    def _years(self, profile: dict[int, Decimal] | None, where: str) -> list[int] | None:
        if profile is None:
            return None
        ok = True
        for y in profile:
            if y not in self.years:
                self.errors.add(
                    f"{where}.{y}",
                    f"année {y} hors de la période du contrat "
                    f"({self.contract.start_year}-{self.contract.end_year})",
                )
                ok = False
        if ok and not any(w > 0 for w in profile.values()):
            self.errors.add(where, "profil annuel sans poids positif")
            ok = False
        return sorted(profile) if ok else None

    def _over_years(
        self,
        *,
        amount: Decimal,
        profile: dict[int, Decimal] | None,
        profile_where: str,
        rounding: Decimal,
        make: Any,
    ) -> list[Line]:
        years = self._years(profile, profile_where)
        if profile is None or years is None:
            return [make(None, amount)] if profile is None else []
        parts = spread(amount, [profile[y] for y in years], quantum=rounding)
        return [make(y, part) for y, part in zip(years, parts, strict=True) if part != 0]

    def block(
        self,
        block: BlockIn,
        where: str,
        *,
        weights: dict[str, Decimal],
        weights_where: str,
        years: dict[int, Decimal] | None,
        years_where: str,
        rounding: Decimal,
        modes: dict[str, tuple[str, str]] | None = None,
    ) -> list[Line]:
        out: list[Line] = []
        if block.partner not in self.partners:
            self.errors.add(f"{where}.partner", f"partenaire inconnu « {block.partner} »")
            return out
        for code in [block.programme, *block.programmes.values()]:
            if code and code not in self.programmes:
                self.errors.add(f"{where}.programme", f"programme LOLF inconnu « {code} »")
        for code in block.programmes:
            if code not in self.objectives:
                self.errors.add(f"{where}.programmes.{code}", f"objectif inconnu « {code} »")
        profile = block.years if block.years is not None else years
        profile_where = f"{where}.years" if block.years is not None else years_where
        w = block.objective_weights if block.objective_weights is not None else weights
        w_where = (
            f"{where}.objective_weights" if block.objective_weights is not None else weights_where
        )
        for code in w:
            if code not in self.objectives:
                self.errors.add(f"{w_where}.{code}", f"objectif inconnu « {code} »")

        def maker(objective: str, note: str) -> Any:
            def make(year: int | None, amount: Decimal) -> Line:
                return Line(
                    partner=block.partner,
                    objective=objective,
                    year=year,
                    amount=amount,
                    note=note,
                    budget_nature=block.budget_nature.value if block.budget_nature else None,
                    programme=block.programmes.get(objective) or block.programme,
                    provenance=block.provenance,
                    source=block.source,
                    path=where,
                )

            return make

        def to_objective(objective: str, amount: Decimal, note: str) -> None:
            out.extend(
                self._over_years(
                    amount=amount,
                    profile=profile,
                    profile_where=profile_where,
                    rounding=rounding,
                    make=maker(objective, note),
                )
            )

        parts = ZERO
        for axis, amount in block.by_axis.items():
            parts += amount
            if axis not in self.axis_objectives:
                self.errors.add(f"{where}.by_axis.{axis}", f"axe inconnu {axis}")
                continue
            codes = [c for c in self.axis_objectives[axis] if w.get(c, 0) > 0]
            if not codes:
                self.errors.add(
                    f"{where}.by_axis.{axis}",
                    f"aucun poids d'objectif pour répartir l'axe {axis} ({w_where})",
                )
                continue
            if amount == 0:
                continue
            for code, part in zip(
                codes, spread(amount, [w[c] for c in codes], quantum=rounding), strict=True
            ):
                if part:
                    to_objective(code, part, "")
        for code, amount in block.by_objective.items():
            parts += amount
            if code not in self.objectives:
                self.errors.add(f"{where}.by_objective.{code}", f"objectif inconnu « {code} »")
            elif amount:
                to_objective(code, amount, "")
        for code, amount in block.by_mode.items():
            parts += amount
            if modes is None or code not in modes:
                self.errors.add(f"{where}.by_mode.{code}", f"mode inconnu « {code} »")
            elif amount:
                objective, label = modes[code]
                to_objective(objective, amount, label)
        if block.total is not None and block.total.amount != parts:
            self.errors.add(
                f"{where}.total.amount",
                f"le total annoncé ({block.total.amount}) diffère de la somme des montants "
                f"détaillés ({parts}) de {block.total.amount - parts}",
            )
        return out

    def line(self, item: LineIn, where: str) -> Line | None:
        bad = change_reference_errors(
            changes=[ChangeLine(item.partner, item.objective, item.year, item.amount)],
            partners=self.partners,
            objectives=self.objectives,
            years=self.years,
        )
        for e in bad:
            self.errors.add(where, e.message)
        if item.programme and item.programme not in self.programmes:
            self.errors.add(f"{where}.programme", f"programme LOLF inconnu « {item.programme} »")
        if bad:
            return None
        return Line(
            partner=item.partner,
            objective=item.objective,
            year=item.year,
            amount=item.amount,
            note=item.note,
            budget_nature=item.budget_nature.value if item.budget_nature else None,
            programme=item.programme,
            provenance=item.provenance,
            source=item.source,
            path=where,
        )


def _merge_keys(lines: list[Line], errors: _Errors) -> list[Line]:
    """One line per partner × objective × year × note: a second one is an error."""
    seen: dict[tuple[str, str, int | None, str], Line] = {}
    for line in lines:
        if line.key in seen:
            errors.add(
                line.path,
                f"{line.partner} / {line.objective} / {line.year or 'toutes années'} "
                f"{('« ' + line.note + ' » ') if line.note else ''}est déjà défini par "
                f"{seen[line.key].path}",
            )
        else:
            seen[line.key] = line
    return list(seen.values())


def _as_changes(lines: list[Line], line_numbers: dict[str, int]) -> list[ChangeLine]:
    return [
        ChangeLine(
            x.partner,
            x.objective,
            x.year,
            x.amount,
            x.note,
            x.path,
            _line_for(x.path, line_numbers),
        )
        for x in lines
    ]


def _db_lines(contract: Contract, amendment: Amendment | None) -> list[Line]:
    qs = Allocation.objects.filter(contract=contract, amendment=amendment).values_list(
        "partner__code", "objective__code", "year", "amount", "note"
    )
    where = f"avenant n°{amendment.number} (base)" if amendment else "maquette (base)"
    return [Line(p, o, y, a, n or "", None, None, "", "", where) for p, o, y, a, n in qs]


def maquette_load_from_file(
    *, contract: Contract, data: dict[str, Any], path: str, actor: Actor, report: LoadReport
) -> None:
    """Load the file's `maquette:` (version 0) and `amendments:` sections; see the module doc.
    Runs inside the contract loader's transaction: an error raises ContractFileError and the
    whole load is rolled back."""
    line_numbers = _line_map(path)
    errors = _Errors(path, line_numbers)
    maquette: MaquetteIn | None = None
    amendments: list[AmendmentIn] | None = None
    if data.get("maquette") is not None:
        maquette = _validate(MaquetteIn, data["maquette"], "maquette", errors)
    if data.get("amendments") is not None:
        amendments = _validate(list[AmendmentIn], data["amendments"], "amendments", errors)
    errors.raise_if_any()

    expander = _Expander(contract, errors)
    v0: list[Line] | None = None
    if maquette is not None:
        v0 = []
        for i, block in enumerate(maquette.partners):
            v0 += expander.block(
                block,
                f"maquette.partners[{i}]",
                weights=maquette.objective_weights,
                weights_where="maquette.objective_weights",
                years=maquette.years,
                years_where="maquette.years",
                rounding=maquette.rounding,
            )
        for i, item in enumerate(maquette.lines):
            where = f"maquette.lines[{i}]"
            if item.amount < 0:
                errors.add(f"{where}.amount", "une allocation initiale ne peut être négative")
            line = expander.line(item, where)
            if line:
                v0.append(line)
        v0 = _merge_keys(v0, errors)

    file_amendments: dict[int, tuple[AmendmentIn, str, list[Line]]] = {}
    for i, am in enumerate(amendments or []):
        where = f"amendments[{i}]"
        if am.number in file_amendments:
            errors.add(f"{where}.number", f"avenant n°{am.number} en double")
            continue
        modes: dict[str, tuple[str, str]] = {}
        for j, mode in enumerate(am.modes):
            if mode.objective not in expander.objectives:
                errors.add(
                    f"{where}.modes[{j}].objective", f"objectif inconnu « {mode.objective} »"
                )
            modes[mode.code] = (mode.objective, mode.label or mode.code)
        lines: list[Line] = []
        for j, block in enumerate(am.partners):
            lines += expander.block(
                block,
                f"{where}.partners[{j}]",
                weights=am.objective_weights,
                weights_where=f"{where}.objective_weights",
                years=am.years,
                years_where=f"{where}.years",
                rounding=am.rounding,
                modes=modes,
            )
        for j, item in enumerate(am.changes):
            line = expander.line(item, f"{where}.changes[{j}]")
            if line:
                lines.append(line)
        lines = _merge_keys(lines, errors)
        for j, mode in enumerate(am.modes):
            if mode.total is not None:
                got = sum((b.by_mode.get(mode.code, ZERO) for b in am.partners), ZERO)
                if got != mode.total.amount:
                    errors.add(
                        f"{where}.modes[{j}].total.amount",
                        f"le total annoncé du mode « {mode.code} » ({mode.total.amount}) "
                        f"diffère de la somme des partenaires ({got})",
                    )
        if am.total is not None:
            got = sum((x.amount for x in lines), ZERO)
            if got != am.total.amount:
                errors.add(
                    f"{where}.total.amount",
                    f"le total annoncé de l'avenant ({am.total.amount}) diffère de la somme de ses "
                    f"changements ({got})",
                )
        file_amendments[am.number] = (am, where, lines)
    errors.raise_if_any()

    # Rules, in memory, version after version: the file's amendments and any kept in the
    # database that the file does not name.
    db_amendments = {a.number: a for a in Amendment.objects.filter(contract=contract)}
    base_lines = v0 if v0 is not None else _db_lines(contract, None)
    cells: dict[Cell, Decimal] = apply_changes({}, _as_changes(base_lines, line_numbers))
    dates = {n: a.effective_on for n, a in db_amendments.items()}
    dates |= {n: am.effective_on for n, (am, _, _) in file_amendments.items()}
    for number in sorted(set(db_amendments) | set(file_amendments)):
        if number in file_amendments:
            am, where, lines = file_amendments[number]
            title, kind, effective_on = am.title, am.kind.value, am.effective_on
        else:
            db_am = db_amendments[number]
            report.warnings.append(f"avenant n°{number} absent du fichier (conservé)")
            where, lines = f"avenant n°{number} (base)", _db_lines(contract, db_am)
            title, kind, effective_on = db_am.title, db_am.kind, db_am.effective_on
        changes = _as_changes(lines, line_numbers)
        for e in amendment_errors(
            number=number,
            title=title,
            kind=kind,
            effective_on=effective_on,
            start_year=contract.start_year,
            end_year=contract.end_year,
            others=[(n, d) for n, d in dates.items() if n != number],
            changes=changes,
            partners=expander.partners,
            objectives=expander.objectives,
            base=cells,
            where=where,
            line=_line_for(where, line_numbers),
        ):
            errors.rule(e)
        cells = apply_changes(cells, changes)
    errors.raise_if_any()

    # Writes.
    if v0 is not None:
        _sync_lines(contract, None, v0, actor=actor, report=report, kind=KIND_V0)
    for _number, (am, _where, lines) in sorted(file_amendments.items()):
        amendment = _upsert_amendment(contract, am, actor=actor, report=report)
        _sync_lines(contract, amendment, lines, actor=actor, report=report, kind=KIND_CHANGE)


def _upsert_amendment(
    contract: Contract, am: AmendmentIn, *, actor: Actor, report: LoadReport
) -> Amendment:
    values: dict[str, Any] = {
        "title": am.title,
        "kind": am.kind.value,
        "adopted_on": am.adopted_on,
        "signed_on": am.signed_on,
        "effective_on": am.effective_on,
        "decision_ref": am.decision_ref,
        "rationale": am.rationale,
        "provenance": am.provenance,
        "source": am.source,
    }
    (done,) = amendments_write(
        actor=actor,
        contract=contract,
        drafts=[UpsertDraft({"contract": contract, "number": am.number}, values)],
    )
    report.count(done.outcome, KIND_AMENDMENT)
    amendment: Amendment = done.obj
    return amendment


def _sync_lines(
    contract: Contract,
    amendment: Amendment | None,
    wanted: list[Line],
    *,
    actor: Actor,
    report: LoadReport,
    kind: str,
) -> None:
    done = allocations_write(
        actor=actor,
        contract=contract,
        amendment=amendment,
        drafts=[
            AllocationChange(
                partner=line.partner,
                objective=line.objective,
                year=line.year,
                amount=line.amount,
                note=line.note,
                programme=line.programme,
                budget_nature=line.budget_nature,
                provenance=line.provenance,
                source=line.source,
            )
            for line in wanted
        ],
    )
    # The report counts line by line, as the file's summary reads.
    for _ in range(done.unchanged):
        report.count("unchanged", kind)
    for _ in range(done.deleted):
        report.count("updated", f"{kind} supprimées")
    for _ in range(done.updated):
        report.count("updated", kind)
    for _ in range(done.created):
        report.count("created", kind)


__all__ = ["maquette_load_from_file"]
