# Issue 12 (statechain): the BOP and activity of a State line. Nullable columns: existing lines
# keep no value, and the demo's raw inserts need not name them.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0003_text_search_trigrams"),
    ]

    operations = [
        migrations.AddField(
            model_name="financingline",
            name="bop",
            field=models.CharField(blank=True, max_length=30, null=True, verbose_name="BOP"),
        ),
        migrations.AddField(
            model_name="financingline",
            name="activity",
            field=models.CharField(
                blank=True, max_length=30, null=True, verbose_name="activité"
            ),
        ),
    ]
