from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    # Before the rooms' pattern: these would otherwise be taken for rooms (a room called "dm" keeps its page).
    path("dm/", views.direct_message_form, name="direct-message-form"),
    path("dm/<str:username>/", views.direct_message, name="direct-message"),
    path("join/<str:token>/", views.join, name="join"),
    path("<str:room_name>/members/", views.members, name="members"),
    path("<str:room_name>/", views.room, name="room"),
]
