from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    # A slug, since a room's name becomes part of a Channels group name (letters, digits, - and _).
    path("<slug:room_name>/", views.room, name="room"),
]
