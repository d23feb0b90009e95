"""Issue 12, item 6: the third level of a contract's structure (`Action` under an objective).
Chained after the volets migration so that the graph keeps one leaf; the lead renumbers."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0003_volets"),
    ]

    operations = [
        migrations.CreateModel(
            name="Action",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.CharField(max_length=16, verbose_name="code")),
                ("title", models.CharField(max_length=400, verbose_name="intitulé")),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="ordre")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("operation_nommee", "opération inscrite au contrat"),
                            ("enveloppe", "enveloppe"),
                            ("appel_a_projets", "appel à projets"),
                        ],
                        default="enveloppe",
                        max_length=16,
                        verbose_name="nature",
                    ),
                ),
                (
                    "provenance",
                    models.CharField(
                        choices=[("official", "officiel"), ("illustrative", "illustratif")],
                        default="official",
                        max_length=16,
                        verbose_name="provenance",
                    ),
                ),
                (
                    "contract",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="actions",
                        to="contracts.contract",
                    ),
                ),
                (
                    "objective",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="actions",
                        to="contracts.objective",
                    ),
                ),
            ],
            options={
                "verbose_name": "action",
                "ordering": [
                    "contract",
                    "objective__axis__number",
                    "objective__position",
                    "position",
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("contract", "code"), name="action_code_unique")
                ],
            },
        ),
    ]
