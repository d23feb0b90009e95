"""Exporting then importing gives back the same data, in the wide and the long layout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.io import exports, writers
from cper.io.imports import import_operations
from cper.loading import contract_load
from cper.operations import services as ops
from cper.operations.models import FinancingLine, Operation
from tests.conftest import HDF_FILE
from tests.io.conftest import SIRET_A, SIRET_B

pytestmark = pytest.mark.django_db


def build_register(contract: Contract, actor: Actor) -> None:
    """A small register through the services: statuses, several lines per financer, EU funds,
    the owner's share."""
    p = {x.code: x for x in contract.partners.all()}
    obj = {o.code: o for o in contract.objectives.all()}
    lille = ops.owner_create(
        actor=actor, name="Ville de Lille", legal_category="commune", siret=SIRET_A
    )
    amiens = ops.owner_create(
        actor=actor, name="Amiens Métropole", legal_category="epci", siret=SIRET_B
    )
    asso = ops.owner_create(
        actor=actor, name="Association Les Jardins", legal_category="association", rna="W595012345"
    )
    committee = ops.committee_create(
        actor=actor, contract=contract, kind="programmation", date=dt.date(2023, 3, 15)
    )
    op1 = ops.operation_create(
        actor=actor,
        contract=contract,
        code="RT-001",
        title="Pôle d'échanges « gare » de Lille",
        owner=lille,
        objective=obj["2.2"],
        communes=["59350", "59009"],
        cost_ht=Decimal("1000000.00"),
        start_date=dt.date(2023, 1, 1),
        end_date=dt.date(2025, 12, 31),
        description="Deux quais ; un parvis.",
    )
    for partner, amount in (("etat", "300000"), ("region", "200000"), ("dep-59", "100000.50")):
        ops.financing_line_add(
            actor=actor,
            operation=op1,
            financer_kind="partner",
            partner=p[partner],
            amount=Decimal(amount),
        )
    ops.financing_line_add(
        actor=actor,
        operation=op1,
        financer_kind="eu_fund",
        financer_label="FEDER",
        amount=Decimal("150000"),
    )
    ops.financing_line_add(
        actor=actor, operation=op1, financer_kind="owner", amount=Decimal("249999.50")
    )
    from cper.operations.lifecycle import operation_transition

    operation_transition(actor=actor, operation=op1, to_status="submitted")
    ops.decision_record(actor=actor, committee=committee, operation=op1, outcome="approved")
    op2 = ops.operation_create(
        actor=actor,
        contract=contract,
        code="RT-002",
        title="Médiathèque",
        owner=amiens,
        objective=obj["2.3"],
        communes=["80021"],
        cost_ht=Decimal("500000"),
    )
    ops.financing_line_add(
        actor=actor,
        operation=op2,
        financer_kind="partner",
        partner=p["etat"],
        amount=Decimal("250000"),
    )
    ops.financing_line_add(
        actor=actor,
        operation=op2,
        financer_kind="partner",
        partner=p["etat"],
        amount=Decimal("50000"),
    )
    ops.financing_line_add(
        actor=actor,
        operation=op2,
        financer_kind="other_public",
        financer_label="ADEME",
        amount=Decimal("20000"),
    )
    ops.operation_create(
        actor=actor,
        contract=contract,
        code="RT-003",
        title="Jardins partagés",
        owner=asso,
        objective=obj["1.3"],
        communes=["02408"],
    )


def long_only(contract: Contract, actor: Actor) -> None:
    """Attributes only the long layout carries: year, reference, budget nature."""
    line = FinancingLine.objects.get(
        operation__contract=contract, operation__code="RT-002", financer_kind="other_public"
    )
    ops.financing_line_update(
        actor=actor, line=line, year=2024, external_ref="ADEME-77", budget_nature="other"
    )


def dump(contract: Contract) -> dict[str, object]:
    out = {}
    for op in Operation.objects.filter(contract=contract).select_related("owner", "objective"):
        out[op.code] = {
            "title": op.title,
            "description": op.description,
            "owner": (op.owner.name, op.owner.siret, op.owner.rna, op.owner.legal_category),
            "communes": list(
                op.communes.order_by("operationcommune__position").values_list("code", flat=True)
            ),
            "objective": op.objective.code,
            "status": op.status,
            "dates": (op.start_date, op.end_date),
            "costs": (op.cost_ht, op.cost_ttc, op.cost_base),
            "committee": sorted(op.decisions.values_list("committee__date", "outcome")),
            "lines": sorted(
                (
                    line.financer_kind,
                    line.partner.code if line.partner else "",
                    line.financer_label,
                    line.amount,
                    line.objective.code,
                    line.contractualised,
                    line.budget_nature,
                    line.year,
                    line.external_ref,
                    line.status,
                )
                for line in op.financing_lines.select_related("partner", "objective")
            ),
        }
    return out


@pytest.fixture
def twin(hdf, tmp_path):  # type: ignore[no-untyped-def]
    """A second contract with the same structure as the Hauts-de-France one, programming
    setting included (its file's: each partner's decision programmes its line): the lines
    export carries the decision in force of each line, which the import records."""
    text = HDF_FILE.read_text(encoding="utf-8").replace(
        "slug: hauts-de-france-2021-2027", "slug: jumeau-2021-2027", 1
    )
    path = tmp_path / "jumeau.yaml"
    path.write_text(text, encoding="utf-8")
    contract, _ = contract_load(path=path, actor=Actor.system())
    return contract


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("operations", "xlsx"),
        ("lines", "xlsx"),
        ("lines", "ods"),
        ("operations", "csv"),
        ("lines", "csv"),
    ],
)
def test_export_then_import_gives_back_the_same_data(hdf, twin, admin_actor, kind, fmt):
    build_register(hdf, admin_actor)
    if kind == "lines":
        long_only(hdf, admin_actor)
    sheets = exports.build(kind, hdf, user=admin_actor.user)
    data = writers.render(sheets, fmt)
    report = import_operations(
        actor=admin_actor, contract=twin, source=data, file_name=f"export.{fmt}", dry_run=False
    )
    assert report.ok, [str(r) for r in report.rejections]
    assert report.layout == ("wide" if kind == "operations" else "long")
    assert dump(twin) == dump(hdf)
    # and importing the export back into its own contract changes nothing
    again = import_operations(
        actor=admin_actor, contract=hdf, source=data, file_name=f"export.{fmt}", dry_run=False
    )
    assert again.ok and again.created == 0 and again.updated == 0, again.summary()


def test_benchmark_hook_measures_import_next_to_bulk_insert(hdf, twin, admin_actor):
    from cper.io.bench import import_throughput

    build_register(hdf, admin_actor)
    figures = import_throughput(source=hdf, target=twin, operations=2)
    assert figures["rows"] == 8 and figures["created"] == 8  # RT-001 (5 lines), RT-002 (3)
    assert figures["import_rows_per_s"] > 0 and figures["bulk_rows_per_s"] > 0
    assert Operation.objects.filter(contract=twin, code__startswith="BULK-").count() == 0


@pytest.mark.parametrize("kind", ["lines", "operations"])
def test_demo_data_exported_to_xlsx_imports_back(hdf, twin, admin_actor, kind):
    """The demo register (statuses, committees, several lines per financer…) exported to XLSX,
    imported into a twin contract: the same register; imported again into its own: no change."""
    import io as _io

    from django.core.management import call_command

    call_command("demo", "--operations", "150", "--no-users", "--no-finance", stdout=_io.StringIO())
    data = writers.render(exports.build(kind, hdf, user=admin_actor.user), "xlsx")
    same = import_operations(
        actor=admin_actor, contract=hdf, source=data, file_name="demo.xlsx", dry_run=True
    )
    assert same.ok, [str(r) for r in same.rejections[:5]]
    assert (same.created, same.updated) == (0, 0), same.summary()
    report = import_operations(
        actor=admin_actor, contract=twin, source=data, file_name="demo.xlsx", dry_run=False
    )
    assert report.ok, [str(r) for r in report.rejections[:5]]

    def comparable(d: dict[str, dict]) -> dict[str, dict]:  # type: ignore[type-arg]
        out = {}
        for code, op in d.items():
            op = {k: v for k, v in op.items() if k != "committee"}  # only the approval travels
            if kind == "operations":  # the wide layout carries each line's amount only
                op["lines"] = sorted((x[0], x[1], x[2], x[3], x[9]) for x in op["lines"])
            out[code] = op
        return out

    assert comparable(dump(twin)) == comparable(dump(hdf))
