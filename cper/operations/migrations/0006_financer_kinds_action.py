"""Issue 12, items 4 and 6: two financer kinds (the State's operators, Banque des Territoires:
co-financing shown apart) and an operation's optional `action` (third level of the structure).
Existing rows keep their kind and figures; `action` is nullable. Depends on both current leaves
of the app (partners' decisions, BOP/activity) so that the graph keeps one leaf; the lead
renumbers at integration."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0004_action_level"),
        ("operations", "0004_partner_decisions"),
        ("operations", "0005_line_bop_activity"),
    ]

    operations = [
        migrations.AddField(
            model_name="operation",
            name="action",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="operations",
                to="contracts.action",
                verbose_name="action",
            ),
        ),
        migrations.AlterField(
            model_name="financingline",
            name="financer_kind",
            field=models.CharField(
                choices=[
                    ("partner", "partenaire du contrat"),
                    ("eu_fund", "fonds européen"),
                    ("other_public", "autre financement public"),
                    ("owner", "autofinancement du maître d'ouvrage"),
                    ("private", "financement privé"),
                    ("state_operator", "opérateur de l'État"),
                    ("banque_des_territoires", "Banque des Territoires"),
                ],
                max_length=24,
                verbose_name="type de financeur",
            ),
        ),
    ]
