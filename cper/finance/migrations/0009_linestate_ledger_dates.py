"""Each line state keeps the dates the caducité alert starts from — its last payment, its first
affectation or commitment — so the alert picks its candidates among the states without grouping
the ledger; the existing states get them from the ledger as it stands."""

from django.db import migrations, models

FILL = """
UPDATE finance_linestate SET
    paid_on = (
        SELECT MAX(m.date) FROM finance_movement m
        WHERE m.financing_line_id = finance_linestate.line_id AND m.kind = 'payment'
    ),
    opened_on = (
        SELECT MIN(m.date) FROM finance_movement m
        WHERE m.financing_line_id = finance_linestate.line_id
          AND m.kind IN ('affectation', 'commitment')
    )
WHERE movements > 0
"""


class Migration(migrations.Migration):

    dependencies = [
        ("finance", "0008_linestate_movements"),
    ]

    operations = [
        migrations.AddField(
            model_name="linestate",
            name="opened_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="linestate",
            name="paid_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
