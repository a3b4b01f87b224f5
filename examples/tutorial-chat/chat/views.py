from django.shortcuts import render


def index(request):
    """The page asking which room to join."""
    return render(request, "chat/index.html")


def room(request, room_name):
    """A room's page; its script opens the room's WebSocket."""
    return render(request, "chat/room.html", {"room_name": room_name})
