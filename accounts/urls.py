from django.urls import path

from accounts import views
from accounts.scim import views as scim_views

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("sync/", scim_views.sync_runs, name="scim_sync_runs"),
    path("sync/run/", scim_views.sync_run_now, name="scim_sync_run_now"),
]
