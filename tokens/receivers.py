"""tokens' answers to what accounts reports (see accounts.signals), each calling one service,
and the issuer's cache of campaign data paths, forgotten when a campaign changes."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables

from accounts.signals import account_suspended, login_tokens_received, logout_started
from campaigns.models import Campaign
from tokens import policy, selectors, services


@receiver(login_tokens_received, dispatch_uid="tokens.keep_login_tokens")
@sensitive_variables()  # error reports must not show the tokens
def keep_login_tokens(sender, *, account, identity, idp, token_response, ip, **kwargs) -> int:
    token = services.login_token_store(
        account=account, identity=identity, idp=idp, token_response=token_response, ip=ip
    )
    return token.pk


@receiver(logout_started, dispatch_uid="tokens.id_token_hint")
@sensitive_variables()
def id_token_hint(sender, *, account, token_id, **kwargs) -> str:
    return selectors.login_id_token(account=account, token_id=token_id)


@receiver(logout_started, dispatch_uid="tokens.stop_refresh_at_logout")
def stop_refresh_at_logout(sender, *, account, token_id, **kwargs) -> None:
    services.login_tokens_logout(account=account, token_id=token_id)


@receiver(account_suspended, dispatch_uid="tokens.stop_refresh_when_suspended")
def stop_refresh_when_suspended(sender, *, account_ids, **kwargs) -> None:
    services.tokens_refresh_stop_for_accounts(
        account_ids=account_ids, reason="Refreshing stopped: the account is suspended."
    )


@receiver(post_save, sender=Campaign, dispatch_uid="tokens.campaign_paths_saved")
@receiver(post_delete, sender=Campaign, dispatch_uid="tokens.campaign_paths_deleted")
def campaign_paths_changed(sender, **kwargs) -> None:
    """The issuer's per-process list of campaign data paths is read again on next use."""
    policy.forget_campaign_paths()
