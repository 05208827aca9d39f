from django.urls import path

from tokens import views
from tokens.issuer import pages

app_name = "tokens"
urlpatterns = [
    path("", views.tokens_mine, name="mine"),
    path("all/", views.tokens_all, name="all"),
    path("inspect/", views.inspect_page, name="inspect"),
    path("<int:pk>/", views.token_detail, name="detail"),
    path("<int:pk>/delete/", views.token_delete, name="delete"),
    path("storage/", pages.storage_tokens_mine, name="storage_mine"),
    path("storage/<str:slug>/", pages.storage_token_request, name="storage_request"),
]
