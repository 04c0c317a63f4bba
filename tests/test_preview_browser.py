"""The preview page in headless Chromium after real demo traffic: what a person sees.

The demo's orchestration runs in-process against a preview that stays up for the test
(the app under ``opentelemetry-instrument``, the scripted session, delivery), then a
real browser (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium; installed
by ``scripts/install-browser.sh``, which ``./dev test`` runs) loads the page. The
screenshot goes to ``docs/preview.png`` (shown in the README) and ``artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from otel_discord.commands.demo import (
    WEBHOOK_NAME,
    Demo,
    DemoOptions,
    demo_channels,
    has_exporter,
)
from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.render.embed import RenderOptions, render_embed
from otel_discord.render.payload import build_payload
from otel_discord.testing.preview import Preview, field_columns

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
WINDOW = (1400, 900)
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
ERROR_RED = "rgb(231, 76, 60)"  # 0xE74C3C, the ERROR colour of render/style.py


def _browser() -> Any:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: run scripts/install-browser.sh (./dev test does)")
    if not chromium or not chromedriver:
        pytest.fail("Debian's chromium and chromium-driver are missing: run scripts/install-browser.sh")
    options = Options()
    options.binary_location = chromium  # with both paths given, Selenium Manager downloads nothing
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    driver.set_page_load_timeout(30)
    # --window-size includes the window's frame; this makes the page itself 1400x900.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
    )
    return driver


def _rgb(color: int) -> str:
    return f"rgb({color >> 16 & 255}, {color >> 8 & 255}, {color & 255})"


@pytest.fixture(scope="module")
def demo_preview() -> Iterator[tuple[Preview, Any]]:
    """A preview that has received the demo's traffic; the app is stopped (and flushed) afterwards."""
    preview = Preview.start(demo_channels(), port=0, webhook_name=WEBHOOK_NAME)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    demo = Demo(DemoOptions(exit=True, port=0), preview=preview, environ=environ, out=print)
    try:
        result = demo.run()
    finally:
        demo.close()  # stops the app; the preview is ours and stays up
    try:
        assert result.summary is not None and result.summary.total >= 1, result
        assert result.missing == [], result
        yield preview, result
    finally:
        preview.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, script: str, timeout: float = 20) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(script))


def _embeds_with(driver: Any, text: str) -> list[Any]:
    return [e for e in driver.find_elements("css selector", ".embed") if text in e.text]


def test_what_a_person_sees_after_the_demo(demo_preview, browser):
    """Error and slow-query embeds (and the high-value invoice once logs are exported) with their colour
    bars, the inline field grid, a message edited live, counters; then the screenshot for the README."""
    preview, _ = demo_preview
    server = preview.server
    browser.get(preview.url)
    _wait(browser, "return document.querySelectorAll('.embed').length > 0 && document.body.dataset.revision")

    # One column per channel, named like Discord's.
    columns = [h.text for h in browser.find_elements("css selector", "section.channel h2")]
    assert columns == [f"#{name}" for name in demo_channels()]

    # The error from /boom: its exception type in the title, the red bar, the Python stack trace.
    errors = _embeds_with(browser, "ValueError")
    assert errors and errors[0].is_displayed()
    error = errors[0]
    assert "ValueError" in error.find_element("css selector", ".embed-title").text
    assert browser.execute_script("return getComputedStyle(arguments[0]).borderLeftColor", error) == ERROR_RED
    assert "ValueError" in error.find_element("css selector", "pre.md-codeblock[data-lang=py]").text

    # The slow cash-flow report: the normalised SQL in an sql block.
    (slow,) = _embeds_with(browser, "Slow query")
    assert "RECURSIVE" in slow.find_element("css selector", "pre.md-codeblock[data-lang=sql]").text

    # Fields sit in Discord's grid: inline ones up to three to a row, the others on a row of their own.
    for shown, title in ((error, "ValueError"), (slow, "Slow query")):
        sent = next(e for m in server.messages() for e in m.embeds if title in e.get("title", ""))
        _assert_field_grid(browser, shown, field_columns(sent["fields"]))

    if has_exporter("logs"):  # the business events arrive through the log exporter
        invoices = [e for e in _embeds_with(browser, "€7,850.00") if "250090" in e.text]
        assert invoices and all("HIGH_VALUE" in e.text for e in invoices)

    # Every colour bar the browser draws is the colour Discord received for that embed.
    drawn = browser.execute_script(
        "return [...document.querySelectorAll('.msg')].map(m => [m.dataset.id,"
        " [...m.querySelectorAll('.embed')].map(e => getComputedStyle(e).borderLeftColor)])"
    )
    assert len(drawn) == len(server.messages())
    for message_id, bars in drawn:
        assert bars == [_rgb(e["color"]) for e in server.message(message_id).embeds], message_id

    # An edit (what grouping does when an error repeats) shows in place, live, marked "(edited)".
    message = next(m for m in server.messages() if "ValueError" in str(m.embeds))
    hook = preview.webhooks[message.channel]
    patched = requests.patch(
        f"{hook.url}/messages/{message.id}", json={"content": "Seen again: **3×** in the last 5 minutes"}, timeout=10
    )
    assert patched.status_code == 200
    _wait(
        browser,
        f"const m = document.querySelector('.msg[data-id=\"{message.id}\"]');"
        "return m && m.innerText.includes('(edited)')",
    )
    edited = browser.find_element("css selector", f'.msg[data-id="{message.id}"]')
    assert "Seen again: 3× in the last 5 minutes" in edited.text
    assert edited.find_element("css selector", ".msg-content strong").text == "3×"
    assert edited.find_elements("css selector", ".embed")  # the embed stayed

    # The counters at the top match what the server saw.
    stats = {
        s.get_attribute("data-stat"): s.find_element("css selector", "b").text
        for s in browser.find_elements("css selector", ".stat")
    }
    assert stats["messages"] == str(len(server.messages()))
    assert stats["edited"] == str(server.stats()["edits"])
    assert stats["rejected"] == "0" and stats["429s"] == str(preview.summary().rate_limited)

    # For the README: each column shows its most telling message, without the "just arrived" glow.
    browser.execute_script(
        "document.querySelectorAll('.fresh').forEach(m => m.classList.remove('fresh'));"
        "document.querySelectorAll('.messages').forEach(m => m.scrollTop = 0);"
        "for (const e of arguments[0]) { const m = e.closest('.msg'), list = m.parentElement;"
        "  list.scrollTop = m.offsetTop - list.offsetTop - 8; }",
        [*_embeds_with(browser, "ValueError")[:1], *_embeds_with(browser, "HIGH_VALUE")[:1]],
    )
    _save_screenshot(browser)


def test_untrusted_text_stays_text_in_the_browser(demo_preview, browser):
    """An exception message carrying a script and an onerror image shows as text; nothing runs."""
    preview, _ = demo_preview
    notice = Notice(
        kind=Kind.ERROR,
        severity=Severity.ERROR,
        category=Category.ERROR,
        title=f"ValueError: {HOSTILE}",
        description=HOSTILE,
        code=f"raise ValueError({HOSTILE!r})",
        fields=(Field("Route", HOSTILE),),
        service="ozark-finances",
    )
    payload = build_payload([render_embed(notice, RenderOptions())], content=HOSTILE)
    hook = preview.webhooks["default"]
    posted = requests.post(hook.url + "?wait=true", json=payload, timeout=10)
    assert posted.status_code == 200, posted.text
    browser.get(preview.url)
    message_id = posted.json()["id"]
    _wait(browser, f"return document.querySelector('.msg[data-id=\"{message_id}\"]')")
    shown = browser.find_element("css selector", f'.msg[data-id="{message_id}"]')
    assert browser.title == "otel-discord preview"
    assert browser.execute_script("return document.querySelectorAll('script').length") == 1
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0
    assert '<script>document.title="pwned"</script>' in shown.text


def _assert_field_grid(driver: Any, embed: Any, columns: list[tuple[int, int]]) -> None:
    """Fields with column spans ``columns`` (Discord's 12-column grid) are drawn that way."""
    boxes = driver.execute_script(
        "return [...arguments[0].querySelectorAll('.embed-field')].map(f => f.getBoundingClientRect())"
        ".map(r => [Math.round(r.top), Math.round(r.left), Math.round(r.width)])",
        embed,
    )
    assert len(boxes) == len(columns)
    full = (
        max(width for (_, _, width), (start, stop) in zip(boxes, columns) if (start, stop) == (1, 13))
        if (1, 13) in columns
        else None
    )
    row_top, row_left, previous_left = None, None, None
    for (top, left, width), (start, stop) in zip(boxes, columns):
        if start == 1:  # a new row starts below the last one, at the left edge
            assert row_top is None or top > row_top
            assert row_left is None or abs(left - row_left) <= 1
            row_top, row_left = top, left
        else:  # beside the previous field
            assert abs(top - row_top) <= 1 and left > previous_left
        if full is not None and stop - start < 12:
            assert width < full * (stop - start) / 12 + 2
        previous_left = left


def _save_screenshot(driver: Any) -> None:
    png = driver.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG")
    for target in (REPO / "docs" / "preview.png", REPO / "artifacts" / "preview.png"):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)
