"""Gatehouse as the issuer of storage tokens: signing keys, discovery and JWKS, the token
endpoint (RFC 8693 exchange, client credentials) and the browser's "Storage access" panel.

Who gets which scope is decided in tokens/policy.py, nowhere else.
"""
