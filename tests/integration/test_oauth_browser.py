"""The consent page in a real browser: Debian's headless Chromium driven by Selenium (through
/usr/bin/chromedriver, so Selenium never downloads a driver) opens the authorization URL, fills
the form, submits, and lands on the client's redirect URI with a code that redeems. Once with
JavaScript switched off on a desktop-sized window, once as a phone (390x844 CSS pixels, mobile
emulation) where the page must fit the width; screenshots of the page are kept under .work/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness import WORK
from oauth_support import (
    AuthorizationServer,
    DocumentServer,
    personal_credentials,
    pkce_pair,
    query_params,
    team_credentials,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = WORK / "screenshots"
PHONE = {"width": 390, "height": 844, "pixelRatio": 3}
CLIENT_NAME = "Browser Test Client"


def browser(*, javascript: bool, phone: bool) -> webdriver.Chrome:
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "chromium / chromium-driver missing: run scripts/setup.sh"
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach the network
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(argument)
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    else:
        options.add_argument("--window-size=1280,900")
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def landing() -> DocumentServer:
    """The client's redirect URI: a loopback page for the browser to land on."""
    server = DocumentServer()
    server.publish("/callback", {"landed": True})
    yield server
    server.close()


def fill_and_submit(driver: webdriver.Chrome, fields: dict[str, str]) -> None:
    """Types into the consent form like a person, then presses its approving submit button."""
    form = driver.find_element(By.NAME, next(iter(fields))).find_element(By.XPATH, "./ancestor::form")
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)
    buttons = [button for button in form.find_elements(By.CSS_SELECTOR, "button, input[type=submit]")
               if (button.get_attribute("type") or "submit") == "submit" and button.get_attribute("value") != "deny"]
    assert buttons, "no submit button on the consent form"
    buttons[0].click()


def consent_in_browser(server: AuthorizationServer, landing: DocumentServer, driver: webdriver.Chrome,
                       fields: dict[str, str], screenshot: Path) -> None:
    redirect_uri = f"{landing.base}/callback"
    client = server.register(redirect_uris=[redirect_uri], client_name=CLIENT_NAME)
    verifier, challenge = pkce_pair()
    driver.get(server.authorization_url(client, challenge, state="browser-state"))
    page_text = driver.find_element(By.TAG_NAME, "body").text
    assert CLIENT_NAME in page_text and "127.0.0.1" in page_text, page_text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 5000

    fill_and_submit(driver, fields)
    WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(redirect_uri))
    params = query_params(driver.current_url)
    assert params["state"] == "browser-state" and params["iss"] == server.origin, params
    redeemed = server.token({"grant_type": "authorization_code", "code": params["code"], "redirect_uri": redirect_uri,
                             "code_verifier": verifier, **client.auth()})
    assert redeemed.status_code == 200, redeemed.text
    assert server.mcp(redeemed.json()["access_token"]).status_code == 200


def test_consent_in_a_browser_without_javascript(oauth_team_worker, landing):
    driver = browser(javascript=False, phone=False)
    try:
        consent_in_browser(AuthorizationServer(oauth_team_worker), landing, driver, team_credentials(),
                           SCREENSHOTS / "consent-desktop-no-js.png")
    finally:
        driver.quit()


def test_consent_page_fits_a_phone(oauth_personal_worker, landing, prefect):
    driver = browser(javascript=True, phone=True)
    try:
        server = AuthorizationServer(oauth_personal_worker)
        driver.get(server.authorization_url(server.register(), pkce_pair()[1]))
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        viewport, content = metrics["cssLayoutViewport"], metrics["cssContentSize"]
        assert viewport["clientWidth"] == PHONE["width"], f"the page does not size itself to the phone: {metrics}"
        assert content["width"] <= viewport["clientWidth"], f"horizontal scrolling on a phone: {metrics}"
        consent_in_browser(server, landing, driver, personal_credentials(prefect), SCREENSHOTS / "consent-phone.png")
    finally:
        driver.quit()
