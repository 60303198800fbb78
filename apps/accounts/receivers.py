"""Accounts' own model events (connected in AccountsConfig.ready)."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from . import services
from .models import User

ACCESS_FIELDS = {"is_active", "deleted_at"}


@receiver(post_save, sender=User, dispatch_uid="accounts.end_sessions_of_inactive_user")
def end_sessions_of_inactive_user(sender: Any, instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    """A user saved as inactive or deleted (the admin's change form, any `save()`) loses every
    session at once, like `services.deactivate_user`. Saves that cannot change access (the wallet's
    `update_fields=["balance", ...]`) cost nothing here: no query, no Redis."""
    if update_fields is not None and not ACCESS_FIELDS & set(update_fields):
        return
    if ACCESS_FIELDS & instance.get_deferred_fields():
        return
    if not instance.is_active or instance.deleted_at is not None:
        services.end_all_sessions(user_id=instance.pk)


@receiver(post_save, sender=User, dispatch_uid="accounts.end_sessions_after_password_change")
def end_sessions_after_password_change(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    """A new password ends every session of the user, wherever it was set (the admin's password form,
    `manage.py changepassword`, any `set_password()` then `save()`): whoever held a stolen token
    loses it with the old password. `User.save` makes the save and this one transaction, so with
    Redis down the password does not change either (503). A hash upgraded at login is no change."""
    if not created and instance.password_replaced():
        services.end_all_sessions(user_id=instance.pk)
