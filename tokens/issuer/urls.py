"""The issuer's URLs at the site root: discovery must sit at SITE_URL + /.well-known/..."""

from django.urls import path

from tokens.issuer import views

app_name = "issuer"
urlpatterns = [
    path(
        ".well-known/openid-configuration",
        views.openid_configuration,
        name="openid_configuration",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.oauth_authorization_server,
        name="oauth_authorization_server",
    ),
    path("oauth/jwks", views.jwks, name="jwks"),
    path("oauth/token", views.token, name="token"),
]
