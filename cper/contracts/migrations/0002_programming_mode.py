# Issue 12 (helper "decisions"): the contract's programming mode. Existing contracts take the
# database default `committee`, today's behaviour: their figures are unchanged.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="contract",
            name="programming_mode",
            field=models.CharField(
                choices=[
                    ("committee", "l'avis du comité programme les lignes"),
                    ("partner_decision", "la décision de chaque financeur programme sa ligne"),
                ],
                db_default="committee",
                default="committee",
                max_length=16,
                verbose_name="mode de programmation",
            ),
        ),
    ]
