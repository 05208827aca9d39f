from django.urls import path

from tokens import views

app_name = "tokens"
urlpatterns = [
    path("", views.tokens_mine, name="mine"),
    path("all/", views.tokens_all, name="all"),
    path("inspect/", views.inspect_page, name="inspect"),
    path("<int:pk>/", views.token_detail, name="detail"),
    path("<int:pk>/delete/", views.token_delete, name="delete"),
]
