# Issue 12 (helper "decisions"): each co-financer's own decision on its financing line.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import cper.db


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0002_programming_mode"),
        ("operations", "0003_text_search_trigrams"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PartnerDecision",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("arrete_attributif", "arrêté attributif"), ("convention", "convention"), ("deliberation_cp", "délibération de la commission permanente"), ("deliberation_conseil", "délibération du conseil (départemental, métropolitain…)"), ("decision_bureau", "décision du bureau"), ("autre", "autre")], max_length=20, verbose_name="nature de l'acte")),
                ("body", models.CharField(blank=True, max_length=200, verbose_name="instance")),
                ("date", models.DateField(verbose_name="date de la décision")),
                ("reference", models.CharField(blank=True, max_length=100, verbose_name="référence")),
                ("amount", cper.db.MoneyField(verbose_name="montant décidé (€)")),
                ("outcome", models.CharField(choices=[("granted", "accordée"), ("refused", "refusée"), ("withdrawn", "retirée")], default="granted", max_length=10, verbose_name="sens")),
                ("document", models.FileField(blank=True, upload_to="decisions/%Y/", verbose_name="acte signé")),
                ("notes", models.TextField(blank=True, verbose_name="observations")),
                ("provenance", models.CharField(choices=[("official", "officiel"), ("illustrative", "illustratif")], default="official", max_length=16, verbose_name="provenance")),
                ("recorded_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="enregistrée le")),
                ("financing_line", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="partner_decisions", to="operations.financingline")),
                ("partner", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="contracts.partner")),
                ("recorded_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "verbose_name": "décision du financeur",
                "verbose_name_plural": "décisions des financeurs",
                "ordering": ["financing_line", "date", "id"],
                "indexes": [models.Index(fields=["financing_line", "date"], name="operations__financi_6dcbc9_idx")],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("amount__gte", 0)), name="partner_decision_amount_pos"),
                    models.CheckConstraint(condition=models.Q(("outcome", "granted"), ("amount", 0), _connector="OR"), name="partner_decision_refusal_zero"),
                ],
            },
        ),
    ]
