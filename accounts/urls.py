from django.urls import path

from accounts import account_views, views
from accounts.oidc import views as oidc_views
from accounts.rucio import views as rucio_views
from accounts.scim import views as scim_views

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("account/", account_views.account_page, name="account"),
    path(
        "account/identities/<int:pk>/remove/",
        account_views.identity_remove_page,
        name="account-identity-remove",
    ),
    path("account/certificate/", account_views.certificate_page, name="account-certificate"),
    # Login (accounts.oidc) and registration
    path("login/<str:idp>/", oidc_views.login_start, name="oidc_login_start"),
    path("oidc/callback/", oidc_views.oidc_callback, name="oidc_callback"),
    path("logout/", oidc_views.logout, name="logout"),
    path("register/", views.register, name="register"),
    path("register/waiting/", views.registration_waiting, name="registration_waiting"),
    path("registrations/", views.registrations, name="registrations"),
    path(
        "registrations/<int:pk>/approve/",
        views.registration_approve,
        name="registration_approve",
    ),
    path("registrations/<int:pk>/reject/", views.registration_reject, name="registration_reject"),
    # SCIM sync history and "run now" (admins)
    path("sync/", scim_views.sync_runs, name="scim_sync_runs"),
    path("sync/run/", scim_views.sync_run_now, name="scim_sync_run_now"),
    # Rucio provisioning history, "run now", one account's state and "sync now" (admins)
    path("rucio/", rucio_views.rucio_sync_runs, name="rucio_sync_runs"),
    path("rucio/run/", rucio_views.rucio_sync_run_now, name="rucio_sync_run_now"),
    path("rucio/accounts/<str:name>/", rucio_views.rucio_account, name="rucio_account"),
    path(
        "rucio/accounts/<str:name>/sync/",
        rucio_views.rucio_account_sync,
        name="rucio_account_sync",
    ),
]
