"""Who may do what with user records: a user owns the record keyed by their own id (the token's sub)."""

from service_common.identity import Caller, forbidden


def check_can_list(caller: Caller) -> None:
    if not caller.is_admin:
        raise forbidden("Only admins may list users")


def check_can_read(caller: Caller, user_id: str) -> None:
    # Checked before any lookup, so a refusal says nothing about whether the user exists.
    if user_id != caller.user_id and not caller.is_admin:
        raise forbidden("You may only read your own user record")


def check_can_change(caller: Caller, user_id: str) -> None:
    if user_id != caller.user_id:
        raise forbidden("You may only update or delete your own user record")
