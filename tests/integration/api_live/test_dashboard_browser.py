"""The dashboard in real headless Chromium while demo traffic flows through the whole pipeline.

demo service (capture middleware) -> Kafka -> real stream worker -> live-counts,
alerts and MongoDB -> real alerting process (real SMTP server) -> real API process
-> the page. Debian's Chromium is driven by Playwright
(``executable_path``: no browser download).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright
from pymongo import MongoClient

from failstream.infra.debian import ensure_binary
from failstream.settings import Settings
from tests.integration.api_live.support import read_key, start_api
from tests.integration.services import ProcessGroup, SmtpSink, wait_until

pytestmark = pytest.mark.integration

SCREENSHOT = Path("/tmp/dashboard.png")
IP_SCREENSHOT = Path("/tmp/dashboard-ip.png")


def _number(page: Page, selector: str) -> int:
    return int(re.sub(r"\D", "", page.locator(selector).text_content() or "") or 0)


def _wait_above(page: Page, selector: str, floor: int, timeout_s: float) -> int:
    """Poll from Python: the page's CSP (rightly) forbids the eval that wait_for_function needs."""
    wait_until(lambda: _number(page, selector) > floor, timeout_s, f"{selector} above {floor}", 0.25)
    return _number(page, selector)


@pytest.fixture
def pipeline(settings: Settings, smtp_sink: SmtpSink) -> Iterator[Settings]:
    """The test's isolated settings, mailing the test's SMTP server at once (no grouping)."""
    yield settings.model_copy(update={"smtp_port": smtp_sink.port, "group_wait_s": 0.0})
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    client.drop_database(settings.mongo_db)
    client.close()


@pytest.fixture
def demo_traffic(pipeline: Settings, processes: ProcessGroup) -> Iterator[None]:
    """Failed (and some good) requests to the real demo service from three loopback peers."""
    settings = pipeline
    processes.start("demo-app", "demo-app", settings)
    url = f"http://127.0.0.1:{settings.demo_port}/api/submit"

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{settings.demo_port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60, "the demo service")
    stop = threading.Event()
    good = settings.demo_tokens[0].get_secret_value()

    def send() -> None:
        clients = {
            octet: httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.0.{octet}"), timeout=5)
            for octet in (21, 22, 23)
        }
        try:
            while not stop.is_set():
                for octet, client in clients.items():
                    for i in range(octet - 20):  # .21 fails once a round, .23 three times
                        headers = {"Authorization": "Bearer stale"} if i % 2 else {}
                        client.post(url, headers=headers, json={"demo": True})
                    client.post(url, headers={"Authorization": f"Bearer {good}"}, json={"demo": True})
                stop.wait(0.3)
        finally:
            for client in clients.values():
                client.close()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


def test_dashboard_counts_live_failures_and_opens_an_ip_detail_in_chromium(
    pipeline: Settings, processes: ProcessGroup, demo_traffic: None
) -> None:
    settings = pipeline
    processes.start("stream", "stream", settings)
    processes.start("alerting", "alerting", settings)
    base = start_api(processes, settings)
    chromium = ensure_binary("chromium", "chromium")
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("console", on_console)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(base + "/")

            # the key is asked once, then kept for the tab
            page.fill("#key-input", read_key(settings))
            page.click("#key-submit")
            expect(page.locator("#conn")).to_have_text("live", timeout=30_000)

            # the live counter rises as the stream worker reports failures (startup included)
            first = _wait_above(page, "#live-total", 0, 120)
            _wait_above(page, "#live-total", first, 30)
            assert "stream workers reporting" in (page.locator("#workers").text_content() or "")

            # the REST panels fill from MongoDB: top IPs link to their detail
            page.wait_for_selector("#top-ips a.ip-link", timeout=60_000)
            page.wait_for_selector("#reasons .meter-fill")
            # every peer fails 5+ times in 10 minutes: alerts fire, are mailed, and show up
            page.wait_for_selector("#top-ips .b-firing", timeout=60_000)
            page.wait_for_selector("#alerts .b-firing", timeout=30_000)
            page.wait_for_selector("#emails .b-SENT", timeout=60_000)
            assert _number(page, "#emails-sent") > 0
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            link = page.locator("#top-ips a.ip-link").first
            ip = link.text_content() or ""
            assert ip.startswith("127.0.0.2"), ip
            link.click()
            page.wait_for_selector("#ip-detail:not([hidden])")
            assert page.locator("#ip-name").text_content() == ip
            _wait_above(page, "#ip-total", 0, 30)
            assert page.locator("#ip-failures tbody tr").count() > 0
            assert "/api/submit" in (page.locator("#ip-routes").text_content() or "")
            page.screenshot(path=str(IP_SCREENSHOT), full_page=True)

            # and back: the overview again, still live
            page.click("text=back to the overview")
            page.wait_for_selector("#overview:not([hidden])")
            expect(page.locator("#conn")).to_have_text("live")
        finally:
            browser.close()
    assert problems == [], problems
