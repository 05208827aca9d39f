"""campaigns' answers to what accounts reports (see accounts.signals): each calls one service."""

from django.dispatch import receiver

from accounts.signals import scim_groups_followed, scim_sync_finished
from campaigns.selectors import idp_groups_followed
from campaigns.services.idp_groups import memberships_follow_idp_groups


@receiver(scim_groups_followed, dispatch_uid="campaigns.idp_groups_followed")
def groups_linked_to_campaigns(sender, *, idp: str, **kwargs) -> set[str]:
    return idp_groups_followed(idp=idp)


@receiver(scim_sync_finished, dispatch_uid="campaigns.memberships_follow_idp_groups")
def memberships_follow(sender, *, idp: str, **kwargs) -> dict[str, int]:
    return memberships_follow_idp_groups(idp=idp)
