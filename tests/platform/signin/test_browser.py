"""A real browser (headless Debian Chromium, driven by Playwright) against a real uvicorn
server: sign in, type the code the page shows, untick one account, approve, and land on the
partner's redirect URI with code, state and iss.

The partner's redirect URI is a tiny HTTP server on 127.0.0.1 (sandbox apps may register
local callbacks): Playwright's `page.route` does not see the requests a redirect leads to."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium, served
from tests.platform.signin.conftest import signin_app
from tests.platform.signin.support import (
    account_consent,
    consent_now,
    push,
    sandbox_customer,
)
from tests.platform.support import create_app

pytestmark = requires_chromium


@pytest.fixture
def server(db: Database, settings: Settings, clock: ShiftedClock) -> Iterator[str]:
    with served(signin_app(settings, clock)) as url:
        yield url


@pytest.fixture
def partner_callback() -> Iterator[tuple[str, list[str]]]:
    """The partner's redirect URI, served locally: (its URL, the paths it was asked for)."""
    seen: list[str] = []

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b"<!doctype html><title>partner</title><p>partner callback</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=httpd.serve_forever, name="partner", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/callback", seen
    httpd.shutdown()
    thread.join(timeout=10)


def test_a_customer_approves_a_narrowed_consent_in_a_real_browser(
    signin_client: TestClient,
    server: str,
    partner_callback: tuple[str, list[str]],
    db: Database,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    redirect_uri, landed = partner_callback
    app = create_app(signin_client, redirect_uris=(redirect_uri,))
    customer = sandbox_customer(signin_client, accounts=2)
    kept, dropped = customer.e_account_ids
    consent = account_consent(db, app, clock.now())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            request_uri, state = push(
                signin_client,
                app,
                settings,
                clock.now(),
                consent_id=consent.id,
                redirect_uri=redirect_uri,
            )
            query = urlencode({"client_id": app.client_id, "request_uri": request_uri})
            page.goto(f"{server}/oauth2/authorize?{query}")
            assert "测试应用" in page.content()

            page.fill("#phone", customer.phone)
            page.fill("#password", customer.password)
            page.click("button[type=submit]")
            code = page.inner_text("#sandbox-code").strip()
            page.fill("#code", code)
            page.click("button[type=submit]")

            page.wait_for_selector('input[name="e_account_ids"]')
            assert page.is_checked(f'input[name="e_account_ids"][value="{kept}"]')
            page.uncheck(f'input[name="e_account_ids"][value="{dropped}"]')
            with page.expect_navigation(url=f"{redirect_uri}?*"):
                page.click('button[name="decision"][value="approve"]')
            final_url = page.url
            assert "partner callback" in page.content()
        finally:
            browser.close()

    location = urlsplit(final_url)
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    assert [path for path in landed if path.startswith("/callback")] == [
        f"{location.path}?{location.query}"
    ]
    answer = parse_qs(location.query)
    assert answer["code"][0]
    assert answer["state"] == [state]
    assert answer["iss"] == [settings.public_url]
    stored = consent_now(db, app, consent, clock.now())
    assert stored.status == "authorised"
    assert stored.e_account_ids == [uuid.UUID(kept)]
