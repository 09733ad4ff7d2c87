"""Accounts that follow the company's directory (OpenID Connect sign-in): which person of the
provider an account belongs to, and which of its group memberships the directory gave, so that
each sign-in adds and removes those and never touches what an administrator set by hand."""

import logging

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

# The role the reviewer directory group (OIDC_REVIEWER_GROUP) gives (created by migration 0004).
REVIEWER_ROLE = "Reviewer"


class DirectoryAccount(models.Model):
    """The link between a site account and one person of the provider (their `sub`, which never
    changes, unlike a username), with what the directory granted at the last sign-in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="directory_account",
    )
    issuer = models.CharField(_("identity provider"), max_length=500)
    subject = models.CharField(_("subject"), max_length=255)
    # Memberships this link gave (departments and the reviewer role): only these are removed
    # when the directory no longer lists them.
    granted_groups = models.ManyToManyField(
        Group, verbose_name=_("groups from the directory"), blank=True, related_name="+"
    )
    # Staff status given with the reviewer role (removed with it; never one set by hand).
    granted_staff = models.BooleanField(_("staff status from the directory"), default=False)
    last_sign_in = models.DateTimeField(_("last company sign-in"), null=True, blank=True)

    class Meta:
        verbose_name = _("company account link")
        verbose_name_plural = _("company account links")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_account_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"

    def sync_groups(self, directory_names: set[str], reviewer: bool) -> None:
        """Makes the user's directory memberships those listed: joins (creating if needed) each
        listed group, and the Reviewer role with staff status when `reviewer`; leaves what the
        directory gave earlier and no longer lists; keeps every membership given by hand."""
        user = self.user
        wanted = {Group.objects.get_or_create(name=name)[0] for name in directory_names}
        role = Group.objects.filter(name=REVIEWER_ROLE).first() if reviewer else None
        if role is not None:
            wanted.add(role)
        elif reviewer:
            logger.error("the %r role is missing: run `manage.py migrate`", REVIEWER_ROLE)
            reviewer = False
        held = set(user.groups.all())
        granted = set(self.granted_groups.all())
        user.groups.add(*(wanted - held))
        user.groups.remove(*(granted - wanted))
        # A membership already held by hand stays the administrator's, not the directory's.
        self.granted_groups.set((granted & wanted) | (wanted - held))
        if reviewer and not user.is_staff:
            user.is_staff = self.granted_staff = True
        elif not reviewer and self.granted_staff:
            user.is_staff = self.granted_staff = False
        user.save(update_fields=["is_staff"])
        self.save(update_fields=["granted_staff", "last_sign_in"])
