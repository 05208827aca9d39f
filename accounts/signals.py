"""What accounts tells the apps above it (campaigns, tokens) about identities and logins.

accounts imports no app above it, so those apps connect receivers here in their
`AppConfig.ready()`. A receiver does one thing: call a service or selector of its own app.
"""

from django.dispatch import Signal

# A login brought tokens (account, identity, idp, token_response, ip). The receiver that keeps
# them returns the id of the row it wrote; the session keeps that id for logout.
login_tokens_received = Signal()

# A session is logging out (account, token_id). A receiver may return the ID token the login
# brought, for the provider's id_token_hint.
logout_started = Signal()

# A SCIM sync of provider `idp` is about to read IAM. Each receiver returns the SCIM ids of the
# IdP groups it follows: the sync reads those groups' members and keeps their rows even when
# IAM drops the group (reading every group's members would cost a request per group).
scim_groups_followed = Signal()

# A SCIM sync of provider `idp` changed people and groups and committed (run: the SyncRun).
# Receivers bring what they derive from IdP groups up to date; each may return a dict of
# counts, which the run's record shows beside its own.
scim_sync_finished = Signal()

# Accounts were suspended (account_ids), by an admin, a command or the SCIM sync; sent inside
# the suspending transaction. The tokens app drops their refresh tokens.
account_suspended = Signal()
