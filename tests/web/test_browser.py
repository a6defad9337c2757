"""The dashboard in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Every request the page makes is checked: anything not addressed to 127.0.0.1 is aborted and
fails the test (the page must work offline, with no CDN). Screenshots go to test-artifacts/
(light, dark, phone and one plug's detail view) for a human to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright import async_api as playwright_api

from .harness import NAMES, TOKEN, Stack, until

CHROMIUM = os.environ.get("POWERMONITOR_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 20_000

pytestmark = [pytest.mark.service, pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)",
)]


class Browser:
    """One Chromium; pages that refuse off-loopback traffic and record console errors."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.errors: list[str] = []
        self.blocked: list[str] = []

    async def page(self, **options: Any) -> Any:
        context = await self.browser.new_context(**options)
        page = await context.new_page()

        async def only_loopback(route: Any) -> None:
            url = route.request.url
            if url.startswith(("http://127.0.0.1:", "data:")):
                await route.continue_()
            else:
                self.blocked.append(url)
                await route.abort()

        await page.route("**/*", only_loopback)
        def console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.set_default_timeout(WAIT_MS)
        await page.goto(self.base_url + "/")
        await wait_js(page, "document.querySelectorAll('.card').length === 3")
        return page


@contextlib.asynccontextmanager
async def chromium(stack: Stack) -> AsyncIterator[Browser]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            b = Browser(browser, stack.base_url)
            yield b
            assert not b.blocked, f"the page tried to leave 127.0.0.1: {b.blocked}"
            assert not b.errors, f"errors in the page: {b.errors}"
        finally:
            await browser.close()


async def wait_js(page: Any, expression: str, arg: Any = None, timeout: float = 20.0) -> None:
    """Poll a JS expression (or function of ``arg``) until truthy, bounded by ``timeout``.

    Playwright's wait_for_function builds its predicate with eval, which the page's
    Content-Security-Policy (rightly) forbids; page.evaluate goes through DevTools instead.
    """
    async with asyncio.timeout(timeout):
        while not await page.evaluate(expression, arg):
            await asyncio.sleep(0.05)


async def some_live_data(page: Any) -> None:
    """A few seconds of live data make a more useful picture of the live chart."""
    await wait_js(page, "(() => { const x = window.powermonitor.charts.live.data[0];"
                        " return x.length && x[x.length - 1] - x[0] >= 8; })()")


def card(name: str) -> str:
    return f".card:has(h3:text-is('{name}'))"


async def charts_drawn(page: Any) -> None:
    await wait_js(page, """() => {
        const c = window.powermonitor.charts;
        const has = (u) => u && u.data[1] && u.data[1].some((v) => v != null);
        return has(c.live) && has(c.history) && has(c.energy);
    }""")


@pytest.mark.slow
async def test_page_loads_updates_live_and_draws_charts(stack: Stack) -> None:
    async with chromium(stack) as b:
        page = await b.page(viewport={"width": 1280, "height": 900})
        names = await page.locator(".card h3").all_text_contents()
        assert names == NAMES
        await page.wait_for_selector("#live-status.live")
        # live values change without a reload: the card's reading timestamp moves on
        first = await page.get_attribute(card("fridge"), "data-ts")
        await wait_js(page,
            "(ts) => document.querySelector('.card').dataset.ts !== ts", arg=first)
        power = await page.text_content(card("fridge") + " .power .value")
        assert power and power != "–"
        volts = await page.text_content(card("fridge") + " [data-field=voltage]")
        assert volts and volts.endswith(" V")
        today = await page.text_content(card("heater") + " [data-field=today]")
        assert today and today.endswith(" kWh")
        cost = await page.text_content(card("heater") + " [data-field=cost]")
        assert cost and "€" in cost
        await charts_drawn(page)
        # history: a gap in the seeded data stays a gap (a null point, not spanned)
        hist = await page.evaluate("""() => {
            const u = window.powermonitor.charts.history;
            return {nulls: u.data[1].filter((v) => v === null).length,
                    points: u.data[1].filter((v) => v != null).length,
                    spanGaps: u.series[1].spanGaps,
                    resolution: window.powermonitor.data.history.resolution,
                    width: u.width, height: u.height};
        }""")
        assert hist["nulls"] >= 1 and hist["points"] > 100 and hist["spanGaps"] is False
        assert hist["resolution"] == "1m" and hist["width"] > 600 and hist["height"] > 100
        energy = await page.evaluate("window.powermonitor.charts.energy.data")
        assert len(energy[0]) >= 3 and max(energy[1]) > 1.0 and max(energy[2]) > 0.3
        canvases = await page.locator("canvas").count()
        assert canvases == 3
        # range buttons fetch rollups
        for label, resolution in (("7d", "1h"), ("1y", "1d"), ("1h", "raw")):
            await page.click(f".ranges button[data-range='{label}']")
            await wait_js(page,
                "(r) => window.powermonitor.data.history.resolution === r", arg=resolution)
        await page.click(".ranges button[data-range='24h']")
        await wait_js(page, "window.powermonitor.data.history.resolution === '1m'")
        await charts_drawn(page)
        ARTIFACTS.mkdir(exist_ok=True)
        await some_live_data(page)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


async def test_toggle_switches_the_simulated_plug(stack: Stack) -> None:
    sim = stack.server("fridge").plug
    toggle = card("fridge") + " .toggle"
    async with chromium(stack) as b:
        page = await b.page()
        await page.wait_for_selector(toggle + "[aria-checked=true]:not([disabled])")
        # without a token the page asks for it, and nothing is switched
        await page.click(toggle)
        await page.wait_for_selector("#token-panel:not([hidden])")
        assert "token" in (await page.text_content("#token-panel .help") or "").lower()
        assert sim.controls == 0
        # a wrong token is refused and forgotten
        await page.fill("#token-input", "not-the-token")
        await page.click("#token-form button[type=submit]")
        await page.click(toggle)
        await page.wait_for_selector("#token-message.error")
        assert sim.switches[1] is True and sim.controls == 0
        assert await page.evaluate("localStorage.getItem('powermonitor.token')") is None
        # Chromium logs the refused request; that is all
        assert len(b.errors) == 1 and "status of 403" in b.errors[0]
        b.errors.clear()
        # the right token switches the real (simulated) plug off and on again
        await page.fill("#token-input", TOKEN)
        await page.click("#token-form button[type=submit]")
        assert await page.evaluate("localStorage.getItem('powermonitor.token')") == TOKEN
        await page.click(toggle)
        await until(lambda: sim.switches[1] is False)
        await page.wait_for_selector(toggle + "[aria-checked=false]")
        await wait_js(page,
            "document.querySelector('.card').querySelector('.power .value').textContent"
            " === '0.0'")
        await page.click(toggle)
        await until(lambda: sim.switches[1] is True)
        await page.wait_for_selector(toggle + "[aria-checked=true]")
        # one outlet of the strip
        strip = stack.server("strip").plug
        await page.click(card("strip") + " .toggle[data-outlet='2']")
        await until(lambda: strip.switches[2] is False)
        assert strip.switches[1] is True
        # the token is never sent as a cookie
        assert not await page.context.cookies()


async def test_detail_view_of_one_plug(stack: Stack) -> None:
    async with chromium(stack) as b:
        page = await b.page()
        await page.click(card("heater") + " h3")
        await page.wait_for_selector("#facts:not([hidden])")
        assert await page.evaluate("location.hash") == f"#/plug/{stack.ids[2]}"
        assert await page.locator(".card:visible").count() == 1
        facts = await page.text_content("#facts") or ""
        assert stack.ids[2] in facts and "127.0.0.1" in facts
        for key in stack.keys:
            assert key not in (await page.content())
        await wait_js(page,
            "(id) => window.powermonitor.data.history && window.powermonitor.data.history.id === id"
            " && window.powermonitor.data.energy.rows.every((r) => r.id === id)",
            arg=stack.ids[2])
        await charts_drawn(page)
        series = await page.evaluate("window.powermonitor.charts.live.series.length")
        assert series == 2  # time + this plug
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-detail.png"), full_page=True)
        await page.click("#detail-nav a")
        await wait_js(page, "document.querySelectorAll('.card:not([hidden])').length === 3")


@pytest.mark.slow
async def test_dark_theme_toggle_and_phone_layout(stack: Stack) -> None:
    async with chromium(stack) as b:
        dark = await b.page(viewport={"width": 1280, "height": 900}, color_scheme="dark")
        bg = await dark.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(17, 21, 27)"
        await charts_drawn(dark)
        await some_live_data(dark)
        ARTIFACTS.mkdir(exist_ok=True)
        await dark.screenshot(path=str(ARTIFACTS / "dashboard-dark.png"), full_page=True)
        await dark.click("#theme-button")  # the toggle wins over the system setting
        assert await dark.evaluate("document.documentElement.dataset.theme") == "light"
        assert await dark.evaluate(
            "getComputedStyle(document.body).backgroundColor") == "rgb(244, 246, 248)"
        await charts_drawn(dark)  # charts are redrawn in the new colours
        await dark.reload()
        await wait_js(dark, "document.documentElement.dataset.theme === 'light'")

        phone = await b.page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                             is_mobile=True, has_touch=True)
        await charts_drawn(phone)
        await some_live_data(phone)
        layout = await phone.evaluate("""() => ({
            scroll: document.scrollingElement.scrollWidth,
            width: window.innerWidth,
            cards: [...document.querySelectorAll('.card')].map((c) => c.getBoundingClientRect()),
            charts: [...document.querySelectorAll('.uplot')].map((c) => c.getBoundingClientRect().width),
        })""")
        assert layout["scroll"] <= layout["width"]  # nothing sticks out sideways
        assert all(c["right"] <= layout["width"] for c in layout["cards"])
        assert len({round(c["top"]) for c in layout["cards"]}) >= 2  # the cards wrap
        assert all(w <= layout["width"] for w in layout["charts"])
        await phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)


@pytest.mark.slow
async def test_insight_panels_show_costs_alerts_and_cycles(stack: Stack) -> None:
    from powermonitor.alerts.events import AlertEvent
    from powermonitor.insight.cycles import Cycle
    from powermonitor.insight.store import InsightStore

    heater = stack.ids[NAMES.index("heater")]
    insight = InsightStore(stack.service.store)
    now = stack.service.started_at
    await insight.save_cycle(Cycle(heater, now - 7200, now - 3600, 1500.0, 0.45, 2200.0))
    await insight.enqueue(AlertEvent("heater done", "heater", heater, "finished", now - 3600,
                                     notify=("hook",)), ("hook",), now)
    async with chromium(stack) as b:
        page = await b.page(viewport={"width": 1280, "height": 900})
        await wait_js(page, "document.querySelectorAll('#costs-panel tbody tr').length === 3")
        first = await page.text_content("#costs-panel tbody tr:first-child td:first-child")
        assert first == "heater"  # sorted by cost
        await wait_js(page, "document.querySelectorAll('#alerts-panel tbody tr').length === 1")
        assert "heater done" in (await page.text_content("#alerts-panel tbody") or "")
        assert await page.is_hidden("#cycles-panel")  # only on a plug's page
        await page.click(card("heater") + " h3")
        await wait_js(page, "document.querySelectorAll('#cycles-panel tbody tr').length === 1")
        row = await page.text_content("#cycles-panel tbody tr")
        assert row is not None and "60 min" in row and "1.500 kWh" in row
