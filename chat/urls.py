from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    # Before the room's own pattern, so that these read as what they are.
    path("join/<str:token>/", views.join, name="join"),
    path("<str:room_name>/members/", views.members, name="members"),
    path("<str:room_name>/", views.room, name="room"),
]
