"""What accounts tells the apps above it (campaigns, tokens) about identities and logins.

accounts imports no app above it, so those apps connect receivers here in their
`AppConfig.ready()`. A receiver does one thing: call a service of its own app.
"""

from django.dispatch import Signal

# A login brought tokens (account, identity, idp, token_response, ip). The receiver that keeps
# them returns the id of the row it wrote; the session keeps that id for logout.
login_tokens_received = Signal()

# A session is logging out (account, token_id). A receiver may return the ID token the login
# brought, for the provider's id_token_hint.
logout_started = Signal()

# Accounts were suspended (account_ids), by an admin, a command or the SCIM sync; sent inside
# the suspending transaction. The tokens app drops their refresh tokens.
account_suspended = Signal()
