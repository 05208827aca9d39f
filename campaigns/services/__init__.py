"""Writes for campaigns and memberships: each a keyword-only function in a transaction.

`actor=None` means the system itself (a beat task or an operator's manage.py command).
Authority is checked in the services as well as in the views, so no caller can skip it.
"""

from campaigns.services.background import (
    embargoes_lift,
    membership_reminders_send,
    memberships_expire,
)
from campaigns.services.campaign import (
    campaign_archive,
    campaign_create,
    campaign_move_data_path,
    campaign_set_idp_group,
    campaign_set_pi,
    campaign_update_data_paths,
    campaign_update_details,
    campaign_update_embargo,
    data_paths_clean,
)
from campaigns.services.campaign_request import (
    campaign_request_approve,
    campaign_request_create,
    campaign_request_reject,
)
from campaigns.services.idp_groups import memberships_follow_idp_groups
from campaigns.services.membership import (
    manager_appoint,
    manager_remove,
    membership_add,
    membership_approve,
    membership_leave,
    membership_reject,
    membership_request,
    membership_revoke,
    membership_set_valid_until,
    membership_withdraw,
)
from campaigns.services.node_token import (
    NODE_TOKEN_PREFIX,
    node_token_create,
    node_token_record_use,
    node_token_revoke,
    node_token_rotate,
)
from campaigns.services.rules import REMINDER_DAYS, RESERVED_SLUGS, TRANSITIONS

__all__ = [
    "NODE_TOKEN_PREFIX",
    "REMINDER_DAYS",
    "RESERVED_SLUGS",
    "TRANSITIONS",
    "campaign_archive",
    "campaign_create",
    "campaign_move_data_path",
    "campaign_request_approve",
    "campaign_request_create",
    "campaign_request_reject",
    "campaign_set_pi",
    "campaign_set_idp_group",
    "campaign_update_data_paths",
    "campaign_update_details",
    "campaign_update_embargo",
    "data_paths_clean",
    "embargoes_lift",
    "manager_appoint",
    "manager_remove",
    "membership_add",
    "membership_approve",
    "membership_leave",
    "membership_reject",
    "membership_request",
    "membership_revoke",
    "membership_set_valid_until",
    "membership_withdraw",
    "node_token_create",
    "node_token_record_use",
    "node_token_revoke",
    "node_token_rotate",
    "memberships_expire",
    "memberships_follow_idp_groups",
    "membership_reminders_send",
]
