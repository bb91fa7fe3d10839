"""The administration pages in a real browser (Debian's Chromium).

An administrator creates a user, gives her a password and a group with a policy written in the
editor (validated as typed, simulated before saving); she signs in and is allowed and denied as
the simulator said; the graph page draws the assume-role path just created; a user without IAM
read rights gets the "Not allowed" page.  Every page is checked at 1280 px and 390 px for
horizontal overflow and photographed into tests/browser/screenshots/.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import SCREENSHOTS, Console, screenshot, sign_in, wait_for_path
from tests.support.server import ACCOUNT_ID

pytestmark = pytest.mark.xdist_group("browser")

ALICE_PASSWORD = "Alice-Console-Pass-1"
READ_USERS = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "ReadUsers", "Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetUser"], "Resource": "*"}],
}
WIDTHS = (1280, 390)


def fits(page: Any, width: int) -> None:
    """The page needs no horizontal scrolling at this width."""
    page.set_viewport_size({"width": width, "height": 900})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px too wide at {width}px"


def check_page(page: Any, url: str, name: str) -> None:
    """Open ``url``, check both widths, and keep a screenshot of each."""
    page.goto(url)
    for width in WIDTHS:
        fits(page, width)
        screenshot(page, f"admin-{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until ``selector`` has the focus (the page must be usable by keyboard)."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus by Tab")


def test_admin_builds_access_that_works_as_simulated(console: Console, page: Any) -> None:
    console.create_user("admin")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, console, "admin")
    wait_for_path(page, "/home")

    # create alice by keyboard alone
    page.goto(console.url("/users"))
    tab_to(page, "details.create summary")
    page.keyboard.press("Enter")
    tab_to(page, "#new-user-name")
    page.keyboard.type("alice")
    page.keyboard.press("Enter")
    wait_for_path(page, "/user")
    expect(page.locator("#notice")).to_have_text("User alice was created.")
    page.reload()  # a refresh shows the page again and submits nothing
    expect(page.locator("#notice")).to_have_count(0)
    assert [u["UserName"] for u in console.iam.list_users()["Users"]] == ["admin", "alice"]

    # her console password
    page.fill("#user-password", ALICE_PASSWORD)
    page.click("#set-password")
    expect(page.locator("#notice")).to_have_text("alice can now sign in to the console.")
    expect(page.locator("#console-access")).to_contain_text("Enabled")

    # an access key: the secret is shown once, with a copy button
    page.click("#create-key")
    expect(page.locator("#new-key-secret")).to_have_text(re.compile(r"^[A-Za-z0-9/+]{40}$"))
    expect(page.locator("button[data-copy='new-key-secret']")).to_be_visible()
    page.reload()
    expect(page.locator("#new-key-secret")).to_have_count(0)

    # a group
    page.goto(console.url("/groups"))
    page.click("details.create summary")
    page.fill("#new-group-name", "readers")
    page.click("#create-group")
    wait_for_path(page, "/group")
    page.fill("#member-name", "alice")
    page.click("#add-member")
    expect(page.locator("#members")).to_contain_text("alice")

    # the policy, written in the editor: checked as typed, then simulated
    page.goto(console.url("/policy/edit?target=new-policy"))
    page.fill("#policy-name", "read-users")
    editor = page.locator("#document")
    editor.fill(
        '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", "Action": "iam:ListUsers"}\n  ]\n}'
    )
    editor.press("End")  # an input event from the keyboard
    editor.type(" ")
    expect(page.locator("#validation")).to_contain_text("Line 4")
    expect(page.locator("#gutter .bad")).to_have_text("4")
    editor.fill(json.dumps(READ_USERS, indent=2))
    editor.type("\n")
    expect(page.locator("#validation")).to_have_text("The policy is valid.")
    page.fill("#sim-actions", "iam:ListUsers iam:CreateUser")
    page.click("#simulate")
    allowed = page.locator('#simulation li[data-action="iam:ListUsers"]')
    denied = page.locator('#simulation li[data-action="iam:CreateUser"]')
    expect(allowed).to_have_attribute("data-decision", "allowed")
    expect(allowed).to_contain_text("this draft, lines")
    expect(denied).to_have_attribute("data-decision", "implicitDeny")
    expect(page.locator("#gutter .hit").first).to_be_visible()
    page.set_viewport_size({"width": 1100, "height": 1000})
    page.screenshot(path=str(SCREENSHOTS / "admin-editor-simulated.png"))  # and this one
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#save-policy")
    wait_for_path(page, "/policy")
    policy_arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/read-users"
    expect(page.locator("#policy-name")).to_have_text("read-users")

    page.goto(console.url("/group?name=readers"))
    page.fill("#attach-arn", policy_arn)
    page.click("#attach-group")
    expect(page.locator("#group-attached")).to_contain_text("read-users")

    # a role alice may assume, created with the editor's trust policy
    page.goto(console.url("/policy/edit?target=new-role"))
    page.fill("#role-name-new", "auditor")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/alice"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    page.locator("#document").fill(json.dumps(trust, indent=2))
    page.click("#save-policy")
    wait_for_path(page, "/role")
    expect(page.locator("#role-name")).to_have_text("auditor")

    # the graph shows alice -> auditor, and on through a chain to a role auditor may assume
    page.click("#who-can-assume")
    wait_for_path(page, "/access/role")
    expect(page.locator('#graph line[data-from="user alice"][data-to="role auditor"]')).to_have_count(1)
    expect(page.locator("#paths")).to_contain_text("user alice → role auditor")
    iam = console.iam
    chain = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ACCOUNT_ID}:role/deploy"}
    iam.put_role_policy(
        RoleName="auditor",
        PolicyName="chain",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [chain]}),
    )
    deploy_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(deploy_trust))
    page.reload()
    page.select_option("#pick-role", "deploy")
    page.focus("#pick-role")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Show", by keyboard
    expect(page.locator('#graph line[data-from="role auditor"][data-to="role deploy"]')).to_have_count(1)
    expect(page.locator("#paths")).to_contain_text("user alice → role auditor → role deploy")
    page.set_viewport_size({"width": 1100, "height": 720})
    page.screenshot(path=str(SCREENSHOTS / "admin-who-can-assume.png"))  # the README shows this one

    # every page fits both widths; screenshots of each
    for url, name in [
        ("/users", "users"),
        ("/user?name=alice", "user"),
        ("/groups", "groups"),
        ("/group?name=readers", "group"),
        ("/roles", "roles"),
        ("/role?name=auditor", "role"),
        ("/policies", "policies"),
        ("/policies?scope=AWS", "policies-aws"),
        (f"/policy?arn={policy_arn}", "policy"),
        ("/policy/edit?target=new-policy", "editor"),
        ("/account", "account"),
        (f"/access?arn=arn:aws:iam::{ACCOUNT_ID}:user/alice", "effective"),
        ("/access/role?name=auditor", "graph"),
        ("/access/user?name=alice", "reachable"),
    ]:
        check_page(page, console.url(url), name)

    # alice: allowed and denied as simulated
    page.goto(console.url("/home"))
    page.click("#signout")
    sign_in(page, console, "alice", ALICE_PASSWORD)
    wait_for_path(page, "/home")
    page.goto(console.url("/users"))
    expect(page.locator("#users")).to_contain_text("admin")
    page.click("details.create summary")
    page.fill("#new-user-name", "mallory")
    page.click("#create-user")
    expect(page.locator("#error")).to_contain_text("Not allowed: you may not perform iam:CreateUser")
    assert "mallory" not in [u["UserName"] for u in console.iam.list_users()["Users"]]


def test_editor_keyboard(console: Console, page: Any) -> None:
    console.create_user("admin")
    sign_in(page, console, "admin")
    wait_for_path(page, "/home")
    page.goto(console.url("/policy/edit?target=new-policy"))
    tab_to(page, "#document")
    page.keyboard.press("Control+Home")
    page.keyboard.press("Tab")  # indents inside the editor
    assert page.locator("#document").input_value().startswith("  {")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")  # and Escape, Tab leaves it
    assert page.evaluate("document.activeElement.id") != "document"


def test_no_iam_rights_gets_not_allowed(console: Console, page: Any) -> None:
    console.create_user("carol", admin=False)
    sign_in(page, console, "carol")
    wait_for_path(page, "/home")
    for path, action in [("/users", "iam:ListUsers"), ("/policies", "iam:ListPolicies")]:
        response = page.goto(console.url(path))
        assert response is not None and response.status == 403
        expect(page.locator("#not-allowed")).to_have_text("Not allowed")
        expect(page.locator("#denied-action")).to_have_text(action)
    for width in WIDTHS:
        fits(page, width)
        screenshot(page, f"admin-not-allowed-{width}")
