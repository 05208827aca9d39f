from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("mine/", views.my_campaigns, name="mine"),
    path("who-can-read/", views.who_can_read, name="who_can_read"),
    path("new/", views.campaign_new, name="new"),
    path("requests/", views.campaign_requests, name="requests"),
    path(
        "requests/<int:pk>/approve/",
        views.campaign_request_approve,
        name="campaign_request_approve",
    ),
    path(
        "requests/<int:pk>/reject/", views.campaign_request_reject, name="campaign_request_reject"
    ),
    path("<slug:slug>/", views.campaign_detail, name="detail"),
    path("<slug:slug>/request/", views.membership_request, name="request"),
    path("<slug:slug>/withdraw/", views.membership_withdraw, name="withdraw"),
    path("<slug:slug>/leave/", views.membership_leave, name="leave"),
    path("<slug:slug>/manage/", views.campaign_manage, name="manage"),
    path("<slug:slug>/manage/settings/", views.campaign_settings, name="settings"),
    path("<slug:slug>/manage/members/add/", views.member_add, name="member_add"),
    path("<slug:slug>/manage/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path(
        "<slug:slug>/manage/members/<int:pk>/valid-until/",
        views.member_valid_until,
        name="member_valid_until",
    ),
    path(
        "<slug:slug>/manage/members/<int:pk>/appoint/",
        views.manager_appoint,
        name="manager_appoint",
    ),
    path(
        "<slug:slug>/manage/members/<int:pk>/unappoint/",
        views.manager_remove,
        name="manager_remove",
    ),
    path("<slug:slug>/manage/requests/<int:pk>/approve/", views.request_approve, name="approve"),
    path("<slug:slug>/manage/requests/<int:pk>/reject/", views.request_reject, name="reject"),
]
