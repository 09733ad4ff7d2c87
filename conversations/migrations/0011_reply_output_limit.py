"""Each reply keeps which length limit applied to it (the conversation's max output tokens,
the monthly quota's room, or the model's own), so one cut short can name it."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0010_login_attempts_for_administrators'),
    ]

    operations = [
        migrations.AddField(
            model_name='reply',
            name='output_limit',
            field=models.CharField(blank=True, choices=[('conversation', "The conversation's settings"), ('quota', 'The monthly quota'), ('model', "The model's own limit")], max_length=12, verbose_name='length limit'),
        ),
    ]
