from django.contrib import admin
from django.urls import include, path

from webui import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("status/", views.status, name="status"),
    path("", include("accounts.urls")),
    path("tokens/", include("tokens.urls")),
    path("", include("tokens.issuer.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("exports/", include("campaigns.exports.urls")),
    path("admin/", admin.site.urls),
]

handler500 = "webui.views.server_error"
