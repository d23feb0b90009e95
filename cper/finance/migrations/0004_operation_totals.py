"""Operations' contractualised totals, kept by the summaries (`summaries.totals`), filled here
for the operations already registered (the same SQL as `totals_rebuild`, frozen)."""

import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    true = "TRUE" if schema_editor.connection.vendor == "postgresql" else "1"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO finance_operationtotal (operation_id, contract_id, contractualised) "
            "SELECT o.id, o.contract_id, "
            "COALESCE(SUM(CAST(ROUND(l.amount * 100) AS BIGINT)), 0) "
            "FROM operations_operation o LEFT JOIN operations_financingline l "
            f"ON l.operation_id = o.id AND l.status = 'active' AND l.contractualised = {true} "
            "GROUP BY o.id, o.contract_id"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0001_initial"),
        ("finance", "0003_lighter_summary_indexes"),
        ("operations", "0002_provenance_transition_date"),
    ]

    operations = [
        migrations.CreateModel(
            name="OperationTotal",
            fields=[
                (
                    "operation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="amount_total",
                        serialize=False,
                        to="operations.operation",
                    ),
                ),
                ("contractualised", models.BigIntegerField(default=0)),
                (
                    "contract",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contracts.contract",
                    ),
                ),
            ],
            options={
                "verbose_name": "montant contractualisé d'une opération",
                "indexes": [
                    models.Index(
                        fields=["contract", "contractualised", "operation"],
                        name="operation_total_sort",
                    )
                ],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
