"""URL configuration: the chat pages, accounts and the admin."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from chat import api, health, metrics, views
from notifications.api import post_user_notification

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:index", permanent=False)),
    path("chat/", include("chat.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/rooms/<str:room_name>/messages", api.post_room_message, name="api-room-messages"),
    path("api/users/<str:username>/notifications", post_user_notification, name="api-user-notifications"),
    re_path(r"^api(?:/(?P<rest>.*))?$", api.no_endpoint),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]
