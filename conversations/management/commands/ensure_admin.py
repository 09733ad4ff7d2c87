"""Creates the first administrator when the site has no users, printing its name and a
generated password once. Does nothing when any user exists."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an administrator with a generated password if there are no users yet."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username="admin", email="", password=password)
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nAn administrator was created for you (shown only this once):\n"
            f"  username: admin\n  password: {password}\n"
            f"Log in at the address below; change the password in the admin (/admin/).\n{bar}"
        )
