from django.urls import path

from accounts import account_views, views

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("account/", account_views.account_page, name="account"),
    path(
        "account/identities/<int:pk>/remove/",
        account_views.identity_remove_page,
        name="account-identity-remove",
    ),
    path("account/certificate/", account_views.certificate_page, name="account-certificate"),
]
