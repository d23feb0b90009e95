"""Issue 12 (volets): the volets of a contract, and each axis's volet.

A contract loaded before this migration gets one volet covering its years and its envelope
(same provenance and source), and every axis goes into it: the figures are unchanged."""

import django.db.models.deletion
from django.db import migrations, models

import cper.db

# Frozen here (a migration does not import the app's current code): the loader's default.
DEFAULT_CODE = "principal"
DEFAULT_TITLE = "Volet principal"


def contracts_one_volet(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Give each contract without a volet one volet spanning it, holding all its axes."""
    Contract = apps.get_model("contracts", "Contract")
    Volet = apps.get_model("contracts", "Volet")
    Axis = apps.get_model("contracts", "Axis")
    for contract in Contract.objects.filter(volets__isnull=True).order_by("pk"):
        volet = Volet.objects.create(
            contract=contract,
            code=DEFAULT_CODE,
            title=DEFAULT_TITLE,
            start_year=contract.start_year,
            end_year=contract.end_year,
            envelope=contract.envelope,
            provenance=contract.envelope_provenance,
            source=contract.envelope_source,
            position=1,
        )
        Axis.objects.filter(contract=contract, volet__isnull=True).update(volet=volet)


class Migration(migrations.Migration):
    dependencies = [
        # Chained after the "decisions" helper's migration so the graph has one leaf; the lead
        # renumbers at integration.
        ("contracts", "0002_programming_mode"),
    ]

    operations = [
        migrations.CreateModel(
            name="Volet",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "provenance",
                    models.CharField(
                        choices=[("official", "officiel"), ("illustrative", "illustratif")],
                        default="illustrative",
                        max_length=16,
                        verbose_name="provenance",
                    ),
                ),
                ("source", models.CharField(blank=True, max_length=500, verbose_name="source")),
                ("code", models.SlugField(verbose_name="code")),
                ("title", models.CharField(max_length=300, verbose_name="intitulé")),
                ("start_year", models.PositiveSmallIntegerField(verbose_name="première année")),
                ("end_year", models.PositiveSmallIntegerField(verbose_name="dernière année")),
                (
                    "envelope",
                    cper.db.MoneyField(
                        blank=True, null=True, verbose_name="enveloppe du volet (€)"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="ordre")),
                (
                    "amendment_number",
                    models.PositiveSmallIntegerField(
                        blank=True, null=True, verbose_name="créé par l'avenant n°"
                    ),
                ),
                (
                    "contract",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="volets",
                        to="contracts.contract",
                    ),
                ),
            ],
            options={
                "verbose_name": "volet",
                "ordering": ["contract", "position", "code"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("contract", "code"), name="volet_code_unique"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("end_year__gte", models.F("start_year"))),
                        name="volet_period",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("envelope__isnull", True), ("envelope__gte", 0), _connector="OR"
                        ),
                        name="volet_envelope_pos",
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="axis",
            name="volet",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="axes",
                to="contracts.volet",
                verbose_name="volet",
            ),
        ),
        migrations.RunPython(contracts_one_volet, migrations.RunPython.noop),
    ]
