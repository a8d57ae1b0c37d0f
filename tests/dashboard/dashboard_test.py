#!/usr/bin/python3
"""The dashboard in a real headless Chromium against a real network of tesd.

Starts four daemons on loopback (an owner and three holders, each on its own
/24), opens the owner's dashboard with the link `tes ui` prints, and checks
what a person would see: the node and its tesseras; a tessera created and
published from the page becoming healthy; a holder killed and the page showing
it unreachable and the tessera degraded, without a reload. Keyboard use and a
phone-sized screen are checked too.

  dashboard_test.py --tesd PATH --tes PATH [--screenshots DIR]

With --screenshots (or TESSERAS_SCREENSHOT_DIR) the main views are saved as PNG
files there (scripts/screenshots.sh regenerates docs/screenshots with it).
Every wait is bounded; the script exits non-zero on the first failed check.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoSuchElementException,
                                            StaleElementReferenceException, TimeoutException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("not ok - python3-selenium is missing: run scripts/install-deps.sh")
    sys.exit(1)

NODES = 4
BASE = 160  # 127.0.161.1 ... 127.0.164.1: a /24 per node, unused by other tests
WAIT = 30   # seconds, for every condition on the page

checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1
    print(f"ok {checks} - {what}", flush=True)


def addr(n):
    return f"127.0.{BASE + n}.1"


class Network:
    def __init__(self, tesd, tes, root):
        self.tesd, self.tes_bin, self.root = tesd, tes, root
        self.procs, self.http, self.ids = {}, {}, {}
        with open(os.path.join(root, "t.toml"), "w") as f:
            f.write("[replication]\nmin_free_space_bytes = 67108864\n")

    def dir(self, n):
        return os.path.join(self.root, f"n{n}")

    def start(self, n):
        args = [self.tesd, "--data-dir", self.dir(n), "--listen", f"{addr(n)}:7700",
                "--http-listen", f"{addr(n)}:0", "--config", os.path.join(self.root, "t.toml")]
        if n > 1:
            args += ["--bootstrap", f"{addr(1)}:7700"]
        log = open(os.path.join(self.root, f"n{n}.log"), "w+")
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        self.procs[n] = (p, log)
        deadline = time.time() + 15
        while time.time() < deadline:
            log.seek(0)
            m = re.search(r" ready node_id=(\w+) .* http=(\S+)", log.read())
            if m:
                self.ids[n], self.http[n] = m.group(1), m.group(2)
                return
            if p.poll() is not None:
                break
            time.sleep(0.05)  # polling the log file for the ready line
        log.seek(0)
        raise AssertionError(f"node {n} did not become ready:\n{log.read()}")

    def kill(self, n):
        p, log = self.procs.pop(n)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        log.close()

    def stop_all(self):
        for n in list(self.procs):
            p, log = self.procs.pop(n)
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
            log.close()

    def tes(self, n, *args):
        out = subprocess.run([self.tes_bin, "--data-dir", self.dir(n), "--json", *args],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"tes {' '.join(args)} failed: {out.stderr}")
        return json.loads(out.stdout)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='tesseras-chromium-')}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                            options=options)


def wait(driver, what, condition):
    # The page redraws every few seconds, so an element found a moment ago
    # may be gone: such a look is simply tried again.
    try:
        WebDriverWait(driver, WAIT, poll_frequency=0.2,
                      ignored_exceptions=[NoSuchElementException,
                                          StaleElementReferenceException]).until(
            lambda d: condition())
    except TimeoutException as e:
        raise AssertionError(f"timed out after {WAIT} s waiting for: {what}") from e
    check(True, what)


def css(driver, selector):
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0] if found else None


def click(driver, what, selector):
    """Clicks the element, finding it again if a redraw replaced it between
    the look and the click."""
    def attempt():
        driver.find_element(By.CSS_SELECTOR, selector).click()
        return True
    wait(driver, what, attempt)


def text(driver, selector):
    """The element's visible text, read in one step in the page."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
        selector)


def attr(driver, selector, name):
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "return e ? e.getAttribute(arguments[1]) : null;", selector, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tesd", required=True)
    ap.add_argument("--tes", required=True)
    ap.add_argument("--screenshots", default=os.environ.get("TESSERAS_SCREENSHOT_DIR", ""))
    a = ap.parse_args()
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        check(os.access(tool, os.X_OK), f"{tool} is installed (scripts/install-deps.sh)")
    root = tempfile.mkdtemp(prefix="tesseras-dashboard-")
    net = Network(a.tesd, a.tes, root)
    driver = None
    shots = a.screenshots

    def shot(name):
        if shots:
            os.makedirs(shots, exist_ok=True)
            driver.save_screenshot(os.path.join(shots, f"dashboard-{name}.png"))

    try:
        for n in range(1, NODES + 1):
            net.start(n)
        deadline = time.time() + 20
        while len(net.tes(1, "peers")) < NODES - 1:
            if time.time() > deadline:
                raise AssertionError("the network did not converge")
            time.sleep(0.1)  # polling a condition

        # A tessera made with tes before the page opens.
        letters = os.path.join(root, "letters")
        os.makedirs(letters)
        for i in range(3):
            with open(os.path.join(letters, f"letter{i}.txt"), "w") as f:
                f.write(f"Letter {i}, written to outlive us.\n")
        first = net.tes(1, "create", letters)["hash"]

        ui = net.tes(1, "ui", "--no-open")
        check(ui["url"].startswith(f"http://{net.http[1]}/#token="), "tes ui prints the link")

        driver = browser()
        driver.get(ui["url"])
        wait(driver, "the page shows the node's id",
             lambda: text(driver, "#node-id") == net.ids[1])
        check("token=" not in driver.current_url, "the token is taken out of the address bar")
        wait(driver, "the page shows the node's peers",
             lambda: text(driver, "#node-peers") == str(NODES - 1))
        wait(driver, "the page shows the background scrub",
             lambda: re.search(r"fragments|idle", text(driver, "#node-scrub")) is not None)
        wait(driver, "the tessera made with tes is listed",
             lambda: css(driver, f'tr[data-hash="{first}"]') is not None)
        check(attr(driver, f'tr[data-hash="{first}"]', "data-state") == "local",
              "it is local (not published)")

        # Create a Medium tessera (5 MiB: 24 fragments) from the page.
        medium = os.path.join(root, "medium")
        os.makedirs(medium)
        with open(os.path.join(medium, "video.bin"), "wb") as f:
            f.write(os.urandom(5 * 1024 * 1024))
        driver.find_element(By.ID, "create-paths").send_keys(medium)
        driver.find_element(By.ID, "create-button").click()
        wait(driver, "the page reports the new tessera",
             lambda: text(driver, "#create-result").startswith("created "))
        created = text(driver, "#create-result").split()[1]
        check(re.fullmatch(r"[0-9a-f]{64}", created) is not None, "with its hash")
        wait(driver, "it appears in the list without a reload",
             lambda: css(driver, f'tr[data-hash="{created}"]') is not None)
        shot("overview")

        # Open it with the keyboard, publish it and watch it become healthy.
        button = css(driver, f'tr[data-hash="{created}"] button.hash')
        button.send_keys(Keys.ENTER)
        wait(driver, "Enter on the hash opens the tessera",
             lambda: driver.find_element(By.ID, "view-tessera").is_displayed())
        driver.find_element(By.ID, "action-publish").click()
        wait(driver, "publishing from the page places its fragments",
             lambda: text(driver, "#tessera-result").startswith("published: 24 fragment(s)"))
        wait(driver, "its state becomes healthy",
             lambda: css(driver, '#tessera-facts [data-state="healthy"]') is not None)
        reachable = driver.execute_script(
            "return [...document.querySelectorAll('#holders-body tr')]"
            ".map((r) => r.getAttribute('data-reachable'));")
        check(len(reachable) == NODES - 1, "every other node holds fragments of it")
        check(all(r == "true" for r in reachable), "every holder is reachable")
        check(driver.execute_script("return document.querySelectorAll('#spread-body tr').length;")
              == NODES - 1, "the holders spread over one subnet each")
        shot("tessera")

        for tab, view in [("ledger", "ledger"), ("maintenance", "maintenance"),
                          ("problems", "problems")]:
            driver.find_element(By.ID, f"tab-{tab}").click()
            wait(driver, f"the {tab} view opens",
                 lambda: driver.find_element(By.ID, f"view-{view}").is_displayed())
            if tab == "ledger":
                wait(driver, "the ledger lists what each holder stores for us",
                     lambda: len(driver.find_elements(By.CSS_SELECTOR, "#ledger-body tr"))
                     == NODES - 1)
                check(css(driver, "#ledger-chart svg") is not None, "and draws it as a chart")
            if tab == "maintenance":
                wait(driver, "the maintenance queue lists the published tessera",
                     lambda: created[:12] in text(driver, "#queue-body"))
                driver.find_element(By.ID, "action-repair-all").click()
                wait(driver, "a repair pass runs from the page",
                     lambda: text(driver, "#maintenance-result").startswith("pass done"))
                wait(driver, "and is listed among the last passes",
                     lambda: driver.execute_script(
                         "return document.querySelectorAll('#passes-body tr').length;") == 1)
            if tab != "problems":
                shot(tab)
        # Arrow keys move between the tabs.
        driver.find_element(By.ID, "tab-problems").send_keys(Keys.ARROW_RIGHT)
        wait(driver, "ArrowRight on the last tab goes to the first",
             lambda: driver.find_element(By.ID, "tab-overview").get_attribute("aria-selected")
             == "true")

        # Kill a holder; the open tessera's page must show it, without a reload.
        click(driver, "the tessera's row is clicked", f'tr[data-hash="{created}"] button.hash')
        wait(driver, "the tessera is open again",
             lambda: driver.find_element(By.ID, "view-tessera").is_displayed()
             and len(driver.find_elements(By.CSS_SELECTOR, "#holders-body tr")) == NODES - 1)
        victim_id = attr(driver, "#holders-body tr", "data-node")
        victim = next(n for n, i in net.ids.items() if i == victim_id)
        driver.execute_script("window.__tesserasNoReload = true;")
        net.kill(victim)
        wait(driver, "the killed holder shows unreachable or suspect",
             lambda: attr(driver, f'#holders-body tr[data-node="{victim_id}"]', "data-status")
             in ("unreachable", "suspect"))
        wait(driver, "the tessera shows degraded",
             lambda: css(driver, '#tessera-facts [data-state="degraded"]') is not None)
        check(driver.execute_script("return window.__tesserasNoReload === true;"),
              "the page was not reloaded")
        shot("degraded")
        driver.find_element(By.ID, "tab-problems").click()
        wait(driver, "the failed audit is listed among the problems",
             lambda: victim_id[:12] in text(driver, "#events-body"))
        shot("problems")

        # A phone-sized screen: nothing wider than the screen.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 2,
                                "mobile": True})
        driver.find_element(By.ID, "tab-overview").click()
        wait(driver, "the overview fits a phone-sized screen (390 px)",
             lambda: driver.execute_script(
                 "return window.innerWidth <= 400 && "
                 "document.documentElement.scrollWidth <= window.innerWidth;"))
        wait(driver, "and still shows each tessera's state",
             lambda: text(driver, f'tr[data-hash="{created}"] .state') == "degraded")
        shot("phone")
    finally:
        if driver is not None:
            driver.quit()
        net.stop_all()
        if os.environ.get("TESSERAS_KEEP_TMP") != "1":
            shutil.rmtree(root, ignore_errors=True)
    print(f"{checks} passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"not ok - {e}", flush=True)
        print(f"{checks} passed, 1 failed")
        sys.exit(1)
