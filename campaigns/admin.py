from campaigns.exports import admin as exports_admin  # noqa: F401  (registers NodeToken)
