"""The pages: the lobby, a room, a private room's members and invite links, the doors to direct conversations."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.identity import GUEST_COOKIE, GUEST_KEY_SESSION, SESSION_KEY, Person, identify, new_guest
from chat import direct, membership, selectors
from chat.forms import LobbyForm
from chat.groups import InvalidRoomName, clean_room_name
from chat.models import Room


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
    else:
        del form.fields["private"]  # a guest can't own a room
    if posted and form.is_valid():
        if form.cleaned_data.get("private"):
            return create_private_room(request, form)
        # A guest keeping the name made for them has chosen nothing new: no session to store.
        if person.is_guest and form.cleaned_data["display_name"] != person.name:
            request.session[SESSION_KEY] = form.cleaned_data["display_name"]
            request.session[GUEST_KEY_SESSION] = person.key  # the same guest, under the name they chose
        return remember_guest(redirect("chat:room", room_name=form.cleaned_data["room_name"]), new_cookie)
    context = {"form": form, "person": person, "socket_settings": socket_settings()}
    return remember_guest(render(request, "chat/index.html", context, status=400 if posted else 200), new_cookie)


def create_private_room(request: HttpRequest, form: LobbyForm) -> HttpResponse:
    """The lobby form with "Private room" ticked: a new room titled with the room name, then to it."""
    try:
        room = membership.create_private_room(request.user, form.cleaned_data["room_name"])
    except membership.MembershipError as exc:
        form.add_error("private", str(exc))
        return render(request, "chat/index.html", {"form": form, "socket_settings": socket_settings()}, status=400)
    return redirect("chat:room", room_name=room.name)


def refused(request: HttpRequest) -> HttpResponse:
    """A members-only page for someone who is not a member: log in first, or a 403 that says why."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return render(request, "chat/forbidden.html", status=403)


def room(request: HttpRequest, room_name: str) -> HttpResponse:
    """A room's page; the browser then opens `ws/chat/<room>/`. A private room's only for its members."""
    try:
        canonical = clean_room_name(room_name)
    except InvalidRoomName as exc:
        return render(request, "chat/room_not_found.html", {"room_name": room_name, "reason": exc}, status=404)
    if canonical != room_name:
        return redirect("chat:room", room_name=canonical)
    stored = selectors.room_named(canonical)
    if not membership.may_see(stored, request.user):
        return refused(request)
    person, new_cookie = current_person(request)
    context = {
        "room_name": canonical,
        "heading": direct.room_heading(stored, request.user),
        "room_kind": stored.kind,
        "may_manage": membership.may_manage(stored, request.user),
        "display_name": person.name,
        "person": {"name": person.name, "kind": person.kind, "key": person.key},
        # Whether the page offers to delete anyone's message; the socket checks again for each deletion.
        "can_moderate": membership.may_moderate(stored, request.user),
        "max_message_length": settings.CHAT_MAX_MESSAGE_LENGTH,
        # The rate limit too, so that the page paces what it sends to stay within it.
        "socket_settings": socket_settings(rate=settings.CHAT_RATE_LIMIT, burst=settings.CHAT_RATE_BURST),
    }
    return remember_guest(render(request, "chat/room.html", context), new_cookie)


@require_POST
def direct_message(request: HttpRequest, username: str) -> HttpResponse:
    """Open the direct conversation with the account `username` (made the first time) and go there."""
    if not request.user.is_authenticated:
        return redirect_to_login(where_they_were(request))
    try:
        conversation = direct.open_direct_room(request.user, username)
    except direct.DirectRoomRefused as refusal:
        return render(request, "chat/direct_refused.html", {"reason": str(refusal)}, status=refusal.status)
    return redirect("chat:room", room_name=conversation.name)


@require_http_methods(["GET", "HEAD", "POST"])
def direct_message_form(request: HttpRequest) -> HttpResponse:
    """The lobby's "Message a person" form posts its ``username`` here; a GET is the page of a room called "dm".

    ``/chat/dm/`` was a room's URL before it was this form's: the room keeps its page.
    """
    if request.method != "POST":
        return room(request, "dm")
    return direct_message(request, request.POST.get("username", ""))


def where_they_were(request: HttpRequest) -> str:
    """The page of this site the request came from (to come back to after logging in), else the lobby."""
    referer = request.headers.get("referer", "")
    if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("chat:index")


def member_action(room: Room, by: object, post: dict) -> str | None:
    """Do what one of the members page's forms posted: its ``action``, with a ``username`` or an ``invite``.

    Returns what to tell the person once done, if the page doesn't show it by itself.
    """
    action, username = post.get("action"), post.get("username", "")
    if action == "invite":
        membership.create_invite(room, by)
    elif action == "invite-person":
        invited = membership.invite_person(room, by, username).user.get_username()
        return f"Invited {invited}: they have a notification with a link to join the room."
    elif action == "revoke":
        invite = post.get("invite", "")
        # isdecimal, not isdigit: "²" is a digit that int() refuses.
        membership.revoke_invite(room, by, int(invite) if invite.isdecimal() and len(invite) <= 18 else 0)
    elif action == "remove":
        membership.remove_member(room, by, username)
        if membership.live_invites(room):
            # A link never names who may use it: one they saw before is still a way back in.
            return f"Removed {username}. Revoke the invite links below to keep them out: links they saw still work."
    elif action in ("make-moderator", "make-member"):
        membership.set_role(room, by, username, action.removeprefix("make-"))
    else:
        raise membership.NotAllowed("That is no action of this page.")
    return None


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, room_name: str) -> HttpResponse:
    """A private room's members and invite links: its owner's and moderators' page (others get 403)."""
    room = membership.private_room_named(room_name)
    if room is None:
        return render(request, "chat/room_not_found.html", {"room_name": room_name, "reason": ""}, status=404)
    if not membership.may_manage(room, request.user):
        return refused(request)
    problem, status = None, 200
    if request.method == "POST":
        try:
            done = member_action(room, request.user, request.POST)
        except membership.MembershipError as exc:
            problem, status = str(exc), _status_of(exc)
        else:
            if done:
                messages.success(request, done)  # shown by the page the redirect leads to, once
            return redirect("chat:members", room_name=room.name)  # after a post, a page that can be reloaded
    invites = [
        (invite, request.build_absolute_uri(reverse("chat:join", args=[invite.token])))
        for invite in membership.live_invites(room)
    ]
    context = {
        "room": room,
        "invites": invites,
        "members": membership.members_of(room, request.user),
        "problem": problem,
        # A refused invitation keeps the name typed, to correct it.
        "invite_username": request.POST.get("username", "") if request.POST.get("action") == "invite-person" else "",
    }
    return render(request, "chat/members.html", context, status=status)


def _status_of(error: membership.MembershipError) -> int:
    if isinstance(error, membership.NotAllowed):
        return 403
    return 404 if isinstance(error, membership.NotFound) else 400


@login_required
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """An invite link: a page that asks, then membership (POST); a member already goes straight to the room."""
    invite = membership.live_invite(token)
    if invite is None:
        return render(request, "chat/invite_not_found.html", status=404)
    if membership.may_see(invite.room, request.user):
        return redirect("chat:room", room_name=invite.room.name)
    if request.method == "POST":
        try:
            room = membership.join_by_invite(request.user, token)
        except membership.NotFound:  # revoked since the page was shown
            return render(request, "chat/invite_not_found.html", status=404)
        return redirect("chat:room", room_name=room.name)
    return render(request, "chat/join.html", {"room": invite.room})


# A day: the icon's address could change (a hashed name, once collected by a manifest storage), and a
# permanent redirect without a lifetime is kept by browsers for good.
FAVICON_REDIRECT_SECONDS = 86400


# Exempt from CSRF only so that another method gets its 405 rather than a CSRF page: it changes nothing.
@csrf_exempt
@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever a page names: send them to the icon the pages use."""
    response = HttpResponsePermanentRedirect(static("favicon.svg"))
    response["Cache-Control"] = f"max-age={FAVICON_REDIRECT_SECONDS}"
    return response
