"""App configuration for the chat workspace."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import chatsite.checks  # noqa: F401 (registers the serving checks)

        post_migrate.connect(_seed_model_catalogue, sender=self)


def _seed_model_catalogue(sender, **kwargs) -> None:
    """Every migrate adds the RESPONSES_MODELS list to the model catalogue (without prices)."""
    from conversations.models import AIModel

    AIModel.seed_from_settings()
