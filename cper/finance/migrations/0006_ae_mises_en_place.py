# Issue 12 (statechain): AE mises en place, the State's credits delegated to the region per
# LOLF programme, BOP and year, recorded beside the contract (a new table: existing data intact).

import cper.db
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contracts', '0001_initial'),
        ('finance', '0005_movement_date_id_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AeMiseEnPlace',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bop', models.CharField(blank=True, max_length=30, null=True, verbose_name='BOP')),
                ('year', models.PositiveSmallIntegerField(verbose_name='exercice')),
                ('kind', models.CharField(choices=[('delegation', 'mise en place'), ('withdrawal', 'retrait')], max_length=10, verbose_name='nature')),
                ('amount', cper.db.MoneyField(verbose_name='montant (€)')),
                ('date', models.DateField(verbose_name='date')),
                ('reference', models.CharField(max_length=60, verbose_name='référence (notification, délégation)')),
                ('note', models.CharField(blank=True, max_length=300, verbose_name='note')),
                ('provenance', models.CharField(choices=[('official', 'officiel'), ('illustrative', 'illustratif')], default='official', max_length=16, verbose_name='provenance')),
                ('via', models.CharField(choices=[('web', 'page web'), ('import', 'import'), ('api', 'API'), ('cli', 'ligne de commande'), ('admin', 'administration'), ('system', 'système')], default='web', max_length=10, verbose_name='chemin')),
                ('recorded_at', models.DateTimeField(auto_now_add=True)),
                ('contract', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ae_mises_en_place', to='contracts.contract')),
                ('programme', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ae_mises_en_place', to='contracts.budgetprogramme', verbose_name='programme LOLF')),
                ('recorded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'AE mise en place',
                'verbose_name_plural': 'AE mises en place',
                'ordering': ['contract', 'programme', 'year', 'date', 'id'],
                'indexes': [models.Index(fields=['contract', 'programme', 'year'], name='finance_aem_contrac_2cd8f1_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='ae_mep_amount_pos')],
            },
        ),
    ]
