"""The two pages: the lobby and a room."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.identity import GUEST_COOKIE, GUEST_KEY_SESSION, SESSION_KEY, Person, identify, new_guest
from chat.forms import LobbyForm
from chat.groups import InvalidRoomName, clean_room_name


def current_person(request: HttpRequest) -> tuple[Person, str | None]:
    """Who this visitor is, and the guest cookie to give them if they are new here (`remember_guest`)."""
    person = identify(request.user, request.session, request.COOKIES)
    if person is not None:
        return person, None
    return new_guest()


def remember_guest(response: HttpResponse, new_cookie: str | None) -> HttpResponse:
    """Give a new guest the cookie that keeps their made-up name and key, so that the page and its sockets agree.

    Not in the session: that would store a session row for every cookie-less
    request, a crawler's too. The session is saved once the guest chooses a name.
    """
    if new_cookie is not None:
        response.set_cookie(
            GUEST_COOKIE,
            new_cookie,
            max_age=settings.SESSION_COOKIE_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


def socket_settings(**extra: float) -> dict[str, float]:
    """What a page's socket code needs to know (read from the page with json_script)."""
    return {"heartbeat": settings.CHAT_CLIENT_HEARTBEAT, **extra}


def index(request: HttpRequest) -> HttpResponse:
    """The lobby: pick a room (and a name), then go to `/chat/<room>/`."""
    posted = request.method == "POST"
    person, new_cookie = current_person(request)
    form = LobbyForm(request.POST if posted else None, initial={"display_name": person.name}, person=person)
    if request.user.is_authenticated:
        form.fields["display_name"].disabled = True
        form.fields["display_name"].help_text = "Logged-in users chat under their username."
    if posted and form.is_valid():
        # A guest keeping the name made for them has chosen nothing new: no session to store.
        if person.is_guest and form.cleaned_data["display_name"] != person.name:
            request.session[SESSION_KEY] = form.cleaned_data["display_name"]
            request.session[GUEST_KEY_SESSION] = person.key  # the same guest, under the name they chose
        return remember_guest(redirect("chat:room", room_name=form.cleaned_data["room_name"]), new_cookie)
    context = {"form": form, "socket_settings": socket_settings()}
    return remember_guest(render(request, "chat/index.html", context, status=400 if posted else 200), new_cookie)


def room(request: HttpRequest, room_name: str) -> HttpResponse:
    """A room's page; the browser then opens `ws/chat/<room>/`."""
    try:
        canonical = clean_room_name(room_name)
    except InvalidRoomName as exc:
        return render(request, "chat/room_not_found.html", {"room_name": room_name, "reason": exc}, status=404)
    if canonical != room_name:
        return redirect("chat:room", room_name=canonical)
    person, new_cookie = current_person(request)
    context = {
        "room_name": canonical,
        "display_name": person.name,
        "person": {"name": person.name, "kind": person.kind, "key": person.key},
        "max_message_length": settings.CHAT_MAX_MESSAGE_LENGTH,
        # The rate limit too, so that the page paces what it sends to stay within it.
        "socket_settings": socket_settings(rate=settings.CHAT_RATE_LIMIT, burst=settings.CHAT_RATE_BURST),
    }
    return remember_guest(render(request, "chat/room.html", context), new_cookie)
