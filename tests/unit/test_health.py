import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_says_the_process_is_up(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_channel_layer(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_answer_in_plain_http_when_pages_redirect_to_https(client: Client, path: str) -> None:
    # SecurityMiddleware reads the exemptions when it is made, so the setting must be on before the request.
    with override_settings(SECURE_SSL_REDIRECT=True):
        assert client.get("/chat/").status_code == 301
        assert client.get(path).status_code == 200
