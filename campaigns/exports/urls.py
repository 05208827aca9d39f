from django.urls import path

from campaigns.exports import views

app_name = "exports"
urlpatterns = [
    path("<str:format_name>", views.export_file, name="file"),
]
