"""A headless Chromium driven by selenium, for the playground's browser tests (skipped when there is none).

Debian's ``chromium`` and ``chromium-driver`` packages (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them) and the ``selenium`` package. Every browser starts with a fresh profile
and with Chromium's own background traffic off, so what it fetches is what the page asks for.
"""
import os
import shutil

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]
SCREENSHOTS = os.environ.get("CHAINRULE_SCREENSHOTS") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "screenshots")


def missing():
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(shutil.which(name) for name in CHROMIUM):
        return "chromium is not installed (apt-get install chromium chromium-driver; .ci/run does it)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install chromium-driver; .ci/run does it)"
    return None


def start(user_data_dir, width=1440, height=1400):
    """A new headless Chromium with a fresh profile, logging every network request it makes."""
    reason = missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(name) for name in CHROMIUM if shutil.which(name))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


def screenshot(driver, name):
    """Save a PNG of the whole page under build/screenshots (or $CHAINRULE_SCREENSHOTS); returns its path."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    # As tall as the page's content (its last element's bottom edge), no taller.
    height, chrome = driver.execute_script(
        "const last = document.body.lastElementChild.getBoundingClientRect();"
        "return [Math.ceil(last.bottom + window.scrollY + 12), window.outerHeight - window.innerHeight];")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(600, height) + chrome)       # the window's own bars are not page
    path = os.path.join(SCREENSHOTS, name)
    driver.save_screenshot(path)
    return path
