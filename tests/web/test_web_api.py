"""The web app's JSON API against the real system: sign-in, CSRF, roles from the services,
thumbnails and their cache headers, uploads sniffed and bounded, errors as JSON with the right
HTTP status and no trace, security headers."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from image_bytes import png_header
from live_system import LiveSystem
from PIL import Image

from services.common.image_links import ImageLinks
from services.security.principal import Role
from services.security.tokens import create_token
from services.web.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS

pytestmark = pytest.mark.integration


def png(colour: tuple[int, int, int] = (200, 30, 30), size: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def signed_in(live_system: LiveSystem) -> Iterator[callable]:  # type: ignore[valid-type]
    clients: list[httpx.Client] = []

    def as_role(role: Role) -> httpx.Client:
        client = httpx.Client(base_url=live_system.url, timeout=60)
        reply = client.post("/api/v1/session", json={"token": live_system.token(role)})
        assert reply.status_code == 200, reply.text
        client.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
        clients.append(client)
        return client

    yield as_role
    for client in clients:
        client.close()


def error_of(reply: httpx.Response) -> tuple[int, str, str]:
    body = reply.json()
    assert set(body) == {"error"} and "Traceback" not in reply.text
    return reply.status_code, body["error"]["code"], body["error"]["message"]


def test_health_is_open_and_pages_ask_for_sign_in(live_system: LiveSystem) -> None:
    with httpx.Client(base_url=live_system.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        page = client.get("/")
        assert page.status_code == 200 and 'name="token"' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        status, code, _ = error_of(client.get("/api/v1/archive"))
        assert (status, code) == (401, "UNAUTHENTICATED")


def test_a_wrong_token_is_refused(live_system: LiveSystem) -> None:
    with httpx.Client(base_url=live_system.url) as client:
        for token in ("anl.0123456789abcdef.nope", "not a token"):
            status, code, message = error_of(client.post("/api/v1/session", json={"token": token}))
            assert (status, code) == (401, "UNAUTHENTICATED") and message
        assert "set-cookie" not in client.post("/api/v1/session", json={"token": "x"}).headers


def test_service_and_labelling_service_tokens_cannot_sign_in(live_system: LiveSystem) -> None:
    tokens_file = live_system.config.security.tokens_file
    for role in (Role.SERVICE, Role.LABELLING_SERVICE):
        token = create_token(tokens_file, f"web-test-{role.value}", role)[0]
        with httpx.Client(base_url=live_system.url) as client:
            deadline = time.monotonic() + 15  # the app re-reads the token file every 5 s
            while True:
                status, code, message = error_of(
                    client.post("/api/v1/session", json={"token": token})
                )
                if "not known" not in message or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert (status, code) == (401, "UNAUTHENTICATED")
        assert f"{role.value} tokens cannot sign in to the web app" in message


def test_the_session_cookie_is_httponly_and_strict(live_system: LiveSystem) -> None:
    with httpx.Client(base_url=live_system.url) as client:
        reply = client.post("/api/v1/session", json={"token": live_system.token(Role.READER)})
        cookie = reply.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert live_system.token(Role.READER) not in reply.text  # the token stays server-side
        assert reply.json()["role"] == "reader"


def test_state_changes_need_the_csrf_token(signed_in) -> None:  # type: ignore[no-untyped-def]
    operator = signed_in(Role.OPERATOR)
    del operator.headers["X-CSRF-Token"]
    status, code, _ = error_of(operator.post("/api/v1/rounds", json={"budget": 3}))
    assert (status, code) == (403, "CSRF")


def test_roles_are_the_services_own_decision(signed_in) -> None:  # type: ignore[no-untyped-def]
    reader = signed_in(Role.READER)
    status, code, message = error_of(reader.post("/api/v1/rounds", json={"budget": 3}))
    assert (status, code) == (403, "PERMISSION_DENIED")
    assert "needs role operator" in message
    status, code, _ = error_of(reader.get("/api/v1/label/next"))
    assert (status, code) == (403, "PERMISSION_DENIED")


def test_a_round_start_with_bad_settings_says_which_and_starts_nothing(signed_in) -> None:  # type: ignore[no-untyped-def]
    operator = signed_in(Role.OPERATOR)
    before = operator.get("/api/v1/rounds").json()
    for body, field in [
        ({"budget": 3, "annotators_per_pair": 0}, "annotators_per_pair"),
        ({"budget": 3, "annotators_per_pair": 11}, "annotators_per_pair"),
        ({"budget": 3, "mode": "turbo"}, "mode"),
    ]:
        status, code, message = error_of(operator.post("/api/v1/rounds", json=body))
        assert (status, code) == (400, "INVALID_ARGUMENT") and message.startswith(field)
    assert operator.get("/api/v1/rounds").json() == before


def test_search_by_id_and_by_upload(live_system: LiveSystem, signed_in) -> None:  # type: ignore[no-untyped-def]
    reader = signed_in(Role.READER)
    query = live_system.ids[0]
    by_id = reader.get("/api/v1/search", params={"image_id": query, "k": 5}).json()
    assert len(by_id["hits"]) == 5 and query not in [h["image_id"] for h in by_id["hits"]]
    assert by_id["index_version"] >= 1
    assert by_id["hits"][0]["class"] == query.split("/")[0]  # the colour classes are obvious
    red = next(i for i in live_system.ids if i.startswith("red/"))
    upload = (live_system.config.archive / red).read_bytes()
    files = {"file": ("scene.png", upload, "image/png")}
    by_upload = reader.post("/api/v1/search", files=files, data={"k": "4"}).json()
    assert [h["rank"] for h in by_upload["hits"]] == [1, 2, 3, 4]
    assert by_upload["hits"][0]["image_id"] == red  # the same pixels: the same embedding


def test_uploads_are_sniffed_and_bounded(signed_in) -> None:  # type: ignore[no-untyped-def]
    reader = signed_in(Role.READER)
    disguised = {"file": ("scene.png", b"GIF89a not really a png", "image/png")}
    assert error_of(reader.post("/api/v1/search", files=disguised))[:2] == (
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    huge = {"file": ("big.png", png() + b"\0" * MAX_UPLOAD_BYTES, "image/png")}
    assert error_of(reader.post("/api/v1/search", files=huge))[0] == 413
    side = int(MAX_UPLOAD_PIXELS**0.5) + 1
    bomb = {"file": ("bomb.png", png_header(side, side), "image/png")}
    status, code, message = error_of(reader.post("/api/v1/search", files=bomb))
    assert (status, code) == (413, "RESOURCE_EXHAUSTED") and "pixels" in message
    assert error_of(reader.post("/api/v1/search", data={"k": "3"}))[:2] == (
        400,
        "INVALID_ARGUMENT",
    )


def test_thumbnails_are_cached_and_never_leave_the_archive(
    live_system: LiveSystem, signed_in
) -> None:  # type: ignore[no-untyped-def]
    reader = signed_in(Role.READER)
    url = f"/api/v1/images/{live_system.ids[0]}/thumbnail"
    first = reader.get(url, params={"size": 64})
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).size == (32, 32)  # never upscaled
    assert "max-age" in first.headers["cache-control"]
    again = reader.get(url, params={"size": 64}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    for bad in ("../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "red/../../state/labels.db"):
        status, code, _ = error_of(reader.get(f"/api/v1/images/{bad}/thumbnail"))
        assert (status, code) == (404, "NOT_FOUND"), bad


def test_anneal_serve_makes_the_link_key_and_its_web_app_serves_signed_links(
    live_system: LiveSystem,
) -> None:
    key = live_system.config.security.image_link_key.read_bytes()
    url = ImageLinks(key).url(live_system.url, live_system.ids[0], int(time.time()) + 60)
    with httpx.Client(timeout=60) as browser:  # no session
        reply = browser.get(url)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "image/png"
        tampered = ImageLinks(bytes(32)).url(live_system.url, live_system.ids[0], 2**31)
        assert error_of(browser.get(tampered))[:2] == (403, "PERMISSION_DENIED")


def test_the_openapi_spec_is_served(live_system: LiveSystem) -> None:
    with httpx.Client(base_url=live_system.url) as client:
        spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/search" in spec["paths"] and "/api/v1/label" in spec["paths"]
