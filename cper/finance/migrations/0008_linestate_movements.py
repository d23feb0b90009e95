"""Each line state counts its movements (the API's movement list is counted from them); the
existing states get the count of the ledger as it stands."""

from django.db import migrations, models

FILL = """
UPDATE finance_linestate SET movements = (
    SELECT COUNT(*) FROM finance_movement m WHERE m.financing_line_id = finance_linestate.line_id
)
WHERE EXISTS (
    SELECT 1 FROM finance_movement m WHERE m.financing_line_id = finance_linestate.line_id
)
"""


class Migration(migrations.Migration):

    dependencies = [
        ("finance", "0007_ap_affectation"),
    ]

    operations = [
        migrations.AddField(
            model_name="linestate",
            name="movements",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
