"""The endpoint fleet as people use it: an asset manager makes an enrolment secret (shown
once), a real `itsm-agent` enrols with it and runs; the device appears online, "refresh
now" brings its live processes onto the page, a live question finds it, and revoking it
from the page stops the agent."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser

AGENT = shutil.which("itsm-agent") or str(Path(sys.executable).parent / "itsm-agent")


def test_enrol_a_real_agent_see_it_live_ask_the_fleet_and_revoke_it(page, app_server,
                                                                    screenshot, tmp_path):
    # Given an asset manager making an enrolment secret for the laptops group
    sign_in(page, "asset.manager")
    page.get_by_role("link", name="Enrolment").first.click()
    page.locator("section, .card").filter(has_text="Head office laptops").first \
        .get_by_role("link", name="New secret").click()
    page.get_by_label("Label").fill("Browser journey")
    page.get_by_role("button", name="Create secret").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("itsm_enr_")
    expect(page.locator("#enrol-command")).to_contain_text(f"--secret {secret}")
    screenshot(page, "fleet-secret-shown-once")

    # When a machine enrols with it and its agent runs
    env = {**os.environ, "ITSM_AGENT_CONFIG_DIR": str(tmp_path / "etc"),
           "ITSM_AGENT_STATE_DIR": str(tmp_path / "state")}
    enrolled = subprocess.run([AGENT, "enroll", "--server", app_server.url, "--secret",
                               secret], env=env, capture_output=True, text=True, timeout=60)
    assert enrolled.returncode == 0, enrolled.stderr
    agent = subprocess.Popen([AGENT, "run"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        # Then the device is in the list, online
        hostname = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
        page.get_by_role("link", name="Devices").click()
        page.get_by_label("Search").fill(hostname)
        page.get_by_role("button", name="Filter").click()
        row = page.locator("tr", has_text=re.compile(hostname, re.I)).first
        expect(row).to_be_visible()
        for _attempt in range(30):  # the list shows presence as of its loading
            if "Online" in row.inner_text():
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(row).to_contain_text("Online")
        row.get_by_role("link").first.click()

        # and "refresh now" brings its live processes onto the page
        page.get_by_role("button", name="Refresh now").click()
        snapshot = page.locator("section", has=page.get_by_role("heading",
                                                                name="Live snapshot"))
        expect(snapshot).to_contain_text("itsm-agent", timeout=20_000)
        screenshot(page, "fleet-device-live")

        # A live question finds it, counting who answered
        page.get_by_role("link", name="Live questions").click()
        page.get_by_role("combobox", name="Question").select_option(
            label="Devices running a process")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator(".field-error").first).to_be_visible()  # no name given
        page.get_by_label("Process, service or package name").fill("itsm-agent")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("body")).to_contain_text(hostname, timeout=20_000)
        screenshot(page, "fleet-live-question")

        # When the manager revokes it from its page, the agent stops
        page.goto("/desk/fleet/?q=" + hostname)
        page.locator("tr", has_text=re.compile(hostname, re.I)).first \
            .get_by_role("link").first.click()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Revoke agent").click()
        assert agent.wait(timeout=30) == 3
    finally:
        if agent.poll() is None:
            agent.kill()
