"""Logging out on one Daphne process closes the person's socket on another, through Redis."""

import http.cookiejar
import urllib.parse
import urllib.request

import pytest
from pytest_channels_live import DaphneCluster, DaphneServer

from tests.conftest import create_staff_user
from tests.wsclient import ChatClient

PASSWORD = "a-long-password-for-tests"


class Browser:
    """Cookies and forms over plain HTTP, as a browser would send them."""

    def __init__(self, server: DaphneServer) -> None:
        self.server = server
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def cookie(self, name: str) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == name)

    def post_form(self, path: str, fields: dict[str, str]) -> None:
        """Post a form with the CSRF token (the login page sets the cookie)."""
        if not any(cookie.name == "csrftoken" for cookie in self.cookies):
            self.opener.open(f"{self.server.http_url}/admin/login/", timeout=10).read()
        fields = fields | {"csrfmiddlewaretoken": self.cookie("csrftoken")}
        self.opener.open(f"{self.server.http_url}{path}", urllib.parse.urlencode(fields).encode(), timeout=10)

    def log_in(self, username: str) -> None:
        self.post_form("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"})
        self.cookie("sessionid")  # raises if the login failed

    def socket(self, server: DaphneServer, room: str) -> ChatClient:
        return ChatClient(server, room, cookie=f"sessionid={self.cookie('sessionid')}")


@pytest.mark.server_databases("postgres")  # the close crossing processes through Redis is the point
def test_logging_out_on_one_process_closes_the_socket_on_the_other(
    cluster: DaphneCluster, server_database: str, room_name: str
) -> None:
    create_staff_user(server_database, "logout-live", PASSWORD)
    browser = Browser(cluster[0])
    browser.log_in("logout-live")
    socket = browser.socket(cluster[1], room_name)
    post = socket.post("hello", "hello")
    assert socket.receive_message("hello")["author"] == "logout-live"

    browser.post_form("/admin/logout/", {})
    frame = socket.receive_until(lambda f: f.get("type") == "error")
    assert frame["code"] == "account_changed"
    with pytest.raises(ConnectionError, match="close code 4001"):
        socket.receive()
    with ChatClient(cluster[1], room_name, after=post) as guest:  # what the page does next: a guest now
        guest.send_frame({"type": "delete", "id": post})
        assert guest.receive_until(lambda f: f.get("type") == "error")["code"] == "forbidden"
