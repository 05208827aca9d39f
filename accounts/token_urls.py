from django.urls import path

from accounts import token_views

app_name = "tokens"
urlpatterns = [
    path("", token_views.tokens_mine, name="mine"),
    path("all/", token_views.tokens_all, name="all"),
    path("inspect/", token_views.inspect_page, name="inspect"),
    path("<int:pk>/", token_views.token_detail, name="detail"),
    path("<int:pk>/delete/", token_views.token_delete, name="delete"),
]
