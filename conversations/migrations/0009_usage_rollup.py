"""The rollups of the usage ledger (DailyUsage, MonthlyUsage, DailyConversationUsage,
MonthlyConversationUsage), filled from the ledger; quota policies' empty monthly limits now
inherit (help texts)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def backfill(apps, schema_editor):
    from conversations.models.rollup import rebuild_rollups

    rebuild_rollups(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0007_versions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='quotapolicy',
            name='monthly_cost_limit',
            field=models.DecimalField(blank=True, decimal_places=2, help_text="In the catalogue's currency. Empty: as the group's or the default policy says.", max_digits=12, null=True, verbose_name='monthly cost limit'),
        ),
        migrations.AlterField(
            model_name='quotapolicy',
            name='monthly_token_limit',
            field=models.PositiveBigIntegerField(blank=True, help_text="Empty: as the group's or the default policy says.", null=True, verbose_name='monthly token limit'),
        ),
        migrations.CreateModel(
            name='DailyConversationUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='day')),
                ('replies', models.PositiveBigIntegerField(default=0)),
                ('total_tokens', models.PositiveBigIntegerField(default=0)),
                ('cost', models.DecimalField(blank=True, decimal_places=6, max_digits=16, null=True)),
                ('currency', models.CharField(blank=True, max_length=3)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.conversation')),
            ],
            options={
                'verbose_name': 'daily conversation usage',
                'verbose_name_plural': 'daily conversation usage',
                'constraints': [models.UniqueConstraint(fields=('day', 'conversation'), name='one_daily_conversation_usage_row')],
            },
        ),
        migrations.CreateModel(
            name='DailyUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='day')),
                ('group_name', models.CharField(blank=True, max_length=150, verbose_name='group')),
                ('model', models.CharField(max_length=100, verbose_name='model')),
                ('currency', models.CharField(blank=True, max_length=3)),
                ('replies', models.PositiveBigIntegerField(default=0)),
                ('estimated_replies', models.PositiveBigIntegerField(default=0)),
                ('input_tokens', models.PositiveBigIntegerField(default=0)),
                ('cached_tokens', models.PositiveBigIntegerField(default=0)),
                ('output_tokens', models.PositiveBigIntegerField(default=0)),
                ('reasoning_tokens', models.PositiveBigIntegerField(default=0)),
                ('total_tokens', models.PositiveBigIntegerField(default=0)),
                ('cost', models.DecimalField(blank=True, decimal_places=6, max_digits=16, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'daily usage',
                'verbose_name_plural': 'daily usage',
                'indexes': [models.Index(fields=['user', 'day'], name='daily_usage_user_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('day', 'user', 'group_name', 'model', 'currency'), name='one_daily_usage_row')],
            },
        ),
        migrations.CreateModel(
            name='MonthlyConversationUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(verbose_name='month')),
                ('replies', models.PositiveBigIntegerField(default=0)),
                ('total_tokens', models.PositiveBigIntegerField(default=0)),
                ('cost', models.DecimalField(blank=True, decimal_places=6, max_digits=16, null=True)),
                ('currency', models.CharField(blank=True, max_length=3)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.conversation')),
            ],
            options={
                'verbose_name': 'monthly conversation usage',
                'verbose_name_plural': 'monthly conversation usage',
                'indexes': [models.Index(fields=['month', '-cost', '-total_tokens'], name='monthly_conversation_cost_idx')],
                'constraints': [models.UniqueConstraint(fields=('month', 'conversation'), name='one_monthly_conversation_usage_row')],
            },
        ),
        migrations.CreateModel(
            name='MonthlyUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('group_name', models.CharField(blank=True, max_length=150, verbose_name='group')),
                ('model', models.CharField(max_length=100, verbose_name='model')),
                ('currency', models.CharField(blank=True, max_length=3)),
                ('replies', models.PositiveBigIntegerField(default=0)),
                ('estimated_replies', models.PositiveBigIntegerField(default=0)),
                ('input_tokens', models.PositiveBigIntegerField(default=0)),
                ('cached_tokens', models.PositiveBigIntegerField(default=0)),
                ('output_tokens', models.PositiveBigIntegerField(default=0)),
                ('reasoning_tokens', models.PositiveBigIntegerField(default=0)),
                ('total_tokens', models.PositiveBigIntegerField(default=0)),
                ('cost', models.DecimalField(blank=True, decimal_places=6, max_digits=16, null=True)),
                ('month', models.DateField(verbose_name='month')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'monthly usage',
                'verbose_name_plural': 'monthly usage',
                'indexes': [models.Index(fields=['user', 'month'], name='monthly_usage_user_month_idx')],
                'constraints': [models.UniqueConstraint(fields=('month', 'user', 'group_name', 'model', 'currency'), name='one_monthly_usage_row')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
