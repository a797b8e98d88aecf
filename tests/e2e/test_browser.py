"""The pipe in a real browser: Debian's Chromium, driven by Playwright, against the
session's real Open WebUI 0.12.4 and the fake OpenAI upstream.

One test walks through what people do, in the page, in order:

1. the admin signs in (the account itself was signed up over REST by the session
   fixture), opens Admin Panel > Functions > Create, pastes the built file into the
   code editor with the clipboard (Ctrl+A, Ctrl+V), saves and confirms; the editor
   fills name and id from the frontmatter, and the saved code must equal the file
   byte for byte (read back over REST: the editor runs Black over it before saving);
2. enables it with the switch in the list, opens its Valves (the gear) and sets
   OPENAI_API_BASE_URL (the fake upstream) and OPENAI_API_KEY in the form;
3. makes two models public in Admin Panel > Settings > Models ("..." > Make Public);
4. a user (added over REST, as an admin does in Admin Panel > Users) signs in, picks
   `OPENAI/gpt-4o-mini` in the model selector and sets their own key with the Valves
   knob beside the message box; the key field is masked;
5. sends a message and watches the answer stream in, then the pipe's usage status
   line ("19 in · 13 out · 4 tok/s · <$0.0001"), with numbers matching what the
   upstream reported and the request sent with the user's own key;
6. with a wrong key the same user sees the pipe's readable error (401, and where to
   fix OPENAI_API_KEY), and no part of any key is in the page;
7. with the key back and `RESPONSES_API` on, the user asks a reasoning model
   (`o4-mini`): the reasoning summary streams into Open WebUI's thought block, which
   the user opens, and the answer follows it.

Screenshots of every step go to `test-artifacts/browser/NN-step.png`, with the
page's console errors (`console.log`) and step timings (`timings.txt`). With
`UPDATE_DOCS_SCREENSHOTS=1` the three the README shows are refreshed in `docs/`.

Needs `/usr/bin/chromium` (`apt-get install -y chromium`) and the `playwright` Python
package (the `test` extra); without either the test is skipped with the reason, before
Open WebUI is started for it. Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ARTIFACTS,
    PIPE_FILE,
    PIPE_ID,
    REPO_ROOT,
    USER_KEYS,
)
from tests.upstream import DEFAULT_KEY, answer_text, plan_answer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

    from scripts.owui.client import OpenWebUI
    from tests.e2e.conftest import Host
    from tests.upstream import FakeOpenAI

# Debian's Chromium (apt-get install -y chromium); CHROMIUM_PATH points elsewhere.
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    _PLAYWRIGHT = True
except ImportError:  # pragma: no cover - depends on the environment
    PlaywrightTimeout = TimeoutError
    _PLAYWRIGHT = False

# Checked before any fixture runs, so a machine without a browser does not even
# start Open WebUI for this module.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium "
        "(or set CHROMIUM_PATH)",
    ),
    pytest.mark.skipif(
        not _PLAYWRIGHT,
        reason="the playwright Python package is not installed (pip install playwright)",
    ),
]

SHOTS = ARTIFACTS / "browser"
DOCS = REPO_ROOT / "docs"
# Screenshots the README shows: artifact name -> docs/ name.
DOCS_SHOTS = {
    "03-editor-pasted.png": "paste-function.png",
    "12-answer-and-usage.png": "chat-usage.png",
    "14-reasoning-thought.png": "reasoning-thought.png",
}

WAIT = 30_000  # ms: the longest any single step may take on a busy 2-core machine
SHORT = 10_000  # ms: optional things (a changelog that may not show, toasts leaving)

USER_PASSWORD = "pw-browser-user-12345"
USER_KEY = USER_KEYS[0]
WRONG_KEY = "sk-wrong-key-browser-000000000000"
PUBLIC_MODELS = ("gpt-4o", "gpt-4o-mini")
CHAT_MODEL = "gpt-4o-mini"
LOCAL_PRICES = "gpt-4o*=0.15/0.60"
PROMPT = "Hello from a real browser, please echo this sentence back to me."
RETRY_PROMPT = "Is my new key any better?"
THINK_PROMPT = "Why is the sky blue?"
REASONING_MODEL = "o4-mini"
# Seconds between the fake upstream's streamed chunks: long enough to see the answer
# grow in the page (13 chunks, about 4 s), short enough to keep the test quick.
STREAM_PACE = 0.3
USAGE_LINE = re.compile(r"^\d[\d,]* in · \d[\d,]* out · \d[\d,]* tok/s · (?:<?\$\d+(?:\.\d+)?)$")


# --------------------------------------------------------------------------------------
# Browser plumbing
# --------------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots() -> Path:
    """A fresh `test-artifacts/browser/` (old screenshots would mislead)."""
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS


class Session:
    """One person's browser context and page, with console errors kept for reports."""

    def __init__(self, browser: Browser, base_url: str, who: str) -> None:
        self.who = who
        self.base_url = base_url
        self.context: BrowserContext = browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=base_url
        )
        self.context.set_default_timeout(WAIT)
        # the clipboard is how an admin gets the file into the editor
        self.context.grant_permissions(
            ["clipboard-read", "clipboard-write"], origin=base_url
        )
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.console.append(f"{message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        self.page.on(
            "pageerror", lambda error: self.console.append(f"pageerror: {error}")
        )

    def sign_in(self, email: str, password: str, shot: str | None = None) -> None:
        """The sign-in form at /auth, as typed by a person."""
        page = self.page
        page.goto("/auth")
        page.locator("#email").fill(email)
        page.locator("#password").fill(password)
        if shot:
            self.shot(shot)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth" not in url)

    def close_changelog(self) -> None:
        """Admins get "What's New" on their first visit; close it like a person would."""
        button = self.page.get_by_role("button", name="Okay, Let's Go!")
        try:
            button.wait_for(state="visible", timeout=SHORT)
        except PlaywrightTimeout:
            return  # already seen by this account: nothing to close
        button.click()
        button.wait_for(state="hidden")

    def wait_for_toasts_to_go(self) -> None:
        """Let notifications fade before a screenshot meant for the README."""
        try:
            self.page.wait_for_function(
                "() => !document.querySelector('[data-sonner-toast]')", timeout=SHORT
            )
        except PlaywrightTimeout:
            pass  # cosmetic only

    def shot(self, name: str) -> None:
        # animations="disabled": finished transitions, never a toast half slid in
        self.page.screenshot(path=SHOTS / name, animations="disabled")

    def close(self) -> None:
        self.context.close()


def valve_row(page: Page, dialog: Locator, title: str) -> Locator:
    """One valve of the Valves form: its title, Default/Custom switch and input."""
    return dialog.locator("form > div > div").filter(
        has=page.get_by_text(title, exact=True)
    )


def set_valve(page: Page, dialog: Locator, title: str, value: str) -> Locator:
    """Switch a valve from "Default" to "Custom" if needed and type the value."""
    row = valve_row(page, dialog, title)
    row.wait_for()  # the form shows a spinner until the valves and their spec load
    default = row.get_by_role("button", name="Default", exact=True)
    if default.count():
        default.click()
    field = row.locator("input, textarea").first
    field.fill(value)
    return field


def is_masked(field: Locator) -> bool:
    """Whether a typed value shows as dots: a password input, or Open WebUI 0.12.4's
    SensitiveInput (a text input whose `password` class sets -webkit-text-security)."""
    return field.evaluate(
        "e => e.type === 'password' || getComputedStyle(e).webkitTextSecurity === 'disc'"
    )


def titles(spec: dict) -> dict[str, str]:
    """Valve name -> the label its form shows (the pydantic title, "Openai Api Key")."""
    return {name: field["title"] for name, field in spec["properties"].items()}


# --------------------------------------------------------------------------------------
# Clean slate: the UI must create the function, not find it
# --------------------------------------------------------------------------------------


def remove_installed_pipe(admin: OpenWebUI) -> None:
    """Earlier tests of the session may have installed the pipe over REST and
    granted its models: remove both so that everything below happens in the page."""
    from scripts.owui.client import OpenWebUIError

    for model in admin.get("/api/v1/models/all"):
        if model["id"].startswith(f"{PIPE_ID}."):
            admin.delete_model(model["id"])
    try:
        admin.delete_function(PIPE_ID)
    except OpenWebUIError as error:
        if error.status not in (401, 404):
            raise


def restore_pipe(admin: OpenWebUI) -> None:
    """After a failure half-way, leave the pipe installed for the session's other
    tests (they install it once per session and expect it to stay)."""
    from scripts.owui.client import OpenWebUIError

    try:
        admin.get_function(PIPE_ID)
    except OpenWebUIError:
        try:
            admin.install_function(PIPE_FILE.read_text(encoding="utf-8"))
        except Exception:  # never hide the test's own failure behind this one
            pass


@pytest.fixture
def paced_upstream(upstream: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The session's fake upstream, streaming one chunk every STREAM_PACE seconds,
    so that the page visibly streams without markers in the user's message."""
    plan = upstream._plan

    def paced(body: dict):
        answer = plan(body)
        if body.get("stream"):
            answer.delay = max(answer.delay, STREAM_PACE)
        return answer

    monkeypatch.setattr(upstream, "_plan", paced)
    return upstream


# --------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------


def test_admin_pastes_the_pipe_and_a_user_chats_with_their_own_key(
    openwebui: Host, paced_upstream: FakeOpenAI, browser: Browser, shots: Path
) -> None:
    admin_api = openwebui.admin
    remove_installed_pipe(admin_api)
    walk = Walkthrough(openwebui, paced_upstream, browser)
    try:
        walk.admin_pastes_the_file()
        walk.admin_enables_it_and_sets_its_valves()
        walk.admin_makes_models_public()
        walk.user_picks_a_model_and_sets_their_key()
        walk.user_chats_and_sees_the_usage_line()
        walk.user_with_a_wrong_key_sees_a_readable_error()
        walk.user_reads_a_reasoning_models_thought()
    except BaseException:
        walk.failure_screenshots()
        restore_pipe(admin_api)
        raise
    finally:
        walk.close()

    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        for artifact, name in DOCS_SHOTS.items():
            shutil.copyfile(SHOTS / artifact, DOCS / name)


class Walkthrough:
    """The steps of the test, in order; each leaves the page where the next starts."""

    def __init__(self, host: Host, upstream: FakeOpenAI, browser: Browser) -> None:
        self.host = host
        self.upstream = upstream
        self.browser = browser
        self.admin_api = host.admin
        self.source = PIPE_FILE.read_text(encoding="utf-8")
        self.admin = Session(browser, host.base_url, "admin")
        self.user: Session | None = None
        self.user_api: OpenWebUI | None = None
        self.function_row: Locator | None = None
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}

    def lap(self, step: str) -> None:
        self.timings[step] = time.monotonic() - self.started

    # ---- 1. the admin pastes the file into a new function ----------------------------

    def admin_pastes_the_file(self) -> None:
        admin, page = self.admin, self.admin.page
        admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, shot="01-admin-sign-in.png")
        admin.close_changelog()
        page.goto("/admin/functions")
        page.get_by_role("button", name="Create", exact=True).click()
        page.wait_for_url("**/admin/functions/create")
        editor = page.locator(".cm-content")
        editor.wait_for()
        admin.wait_for_toasts_to_go()
        admin.shot("02-new-function-editor.png")

        editor.click()
        page.keyboard.press("Control+A")  # the starter code goes
        page.evaluate("text => navigator.clipboard.writeText(text)", self.source)
        page.keyboard.press("Control+V")
        # the editor fills name, id and description from the frontmatter
        expect_value(page.get_by_label("Function ID"), PIPE_ID)
        expect_value(page.get_by_placeholder("Function Name"), "OpenAI Manifold Pipe")
        pasted = editor_text(page)
        if pasted is not None:  # CodeMirror internals may move; the REST check stays
            assert pasted == self.source, "the editor does not hold the pasted file"
        page.keyboard.press("Control+Home")  # back to the frontmatter, for the picture
        admin.shot("03-editor-pasted.png")
        self.lap("pasted")

        page.get_by_role("button", name="Save & Create").click()
        confirm = page.get_by_role("button", name="Confirm", exact=True)
        confirm.wait_for()
        admin.shot("04-save-confirm.png")
        confirm.click()
        page.wait_for_url("**/admin/functions")
        function = self.admin_api.get_function(PIPE_ID)
        assert function["content"] == self.source, (
            "the saved code differs from openai_manifold_pipe.py (the editor runs "
            "Black over it before saving)"
        )
        assert function["name"] == "OpenAI Manifold Pipe"
        assert function["meta"]["description"]
        assert function["is_active"] is False  # Open WebUI creates functions disabled
        self.function_row = (
            page.locator('[role="presentation"]')
            .filter(has=page.locator(f'a[href$="?id={PIPE_ID}"]'))
            .last
        )
        self.function_row.wait_for()
        admin.shot("05-function-created.png")
        self.lap("saved")

    # ---- 2. enable it, set its global valves -----------------------------------------

    def admin_enables_it_and_sets_its_valves(self) -> None:
        admin, page, row = self.admin, self.admin.page, self.function_row
        assert row is not None
        switch = row.get_by_role("switch", name="Enabled")
        assert switch.get_attribute("aria-checked") == "false"
        switch.click()
        wait_attribute(switch, "aria-checked", "true")
        wait_until(
            lambda: self.admin_api.get_function(PIPE_ID)["is_active"], "pipe active"
        )
        admin.shot("06-function-enabled.png")

        row.get_by_role("button", name="Valves").click()  # the gear
        dialog = page.get_by_role("dialog")
        labels = titles(self.admin_api.get_valves_spec(PIPE_ID))
        set_valve(page, dialog, labels["OPENAI_API_BASE_URL"], self.upstream.base_url)
        key = set_valve(page, dialog, labels["OPENAI_API_KEY"], DEFAULT_KEY)
        assert is_masked(key), "the admin's OPENAI_API_KEY shows in clear"
        # OpenAI's list prices count on OpenAI only: this local server gets its own.
        set_valve(page, dialog, labels["MODEL_PRICES"], LOCAL_PRICES)
        admin.shot("07-admin-valves.png")
        dialog.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Valves updated successfully").first.wait_for()
        assert self.admin_api.get_valves(PIPE_ID) == {
            "OPENAI_API_BASE_URL": self.upstream.base_url,
            "OPENAI_API_KEY": DEFAULT_KEY,
            "MODEL_PRICES": LOCAL_PRICES,
        }
        self.lap("admin valves")

    # ---- 3. Admin Panel > Settings > Models: two models for everyone -----------------

    def admin_makes_models_public(self) -> None:
        admin, page = self.admin, self.admin.page
        page.goto("/admin/settings/models")
        search = page.get_by_placeholder("Search Models")
        for model in PUBLIC_MODELS:
            name = f"OPENAI/{model}"
            search.fill(name)
            model_row = (
                page.locator("div")
                .filter(has=page.get_by_text(name, exact=True))
                .filter(has=page.get_by_role("button", name="More Options"))
                .last
            )
            model_row.get_by_role("button", name="More Options").click()
            # the page saves the grant, then reloads its model list (which re-renders
            # the rows): wait for that reload before touching the next row
            with page.expect_response(
                lambda response: response.url.split("?")[0].endswith("/api/models")
                and response.request.method == "GET"
            ):
                page.get_by_role("button", name="Make Public").click()
            model_row.get_by_text("Public", exact=True).wait_for()
        search.fill("OPENAI/gpt-4o")
        admin.wait_for_toasts_to_go()
        admin.shot("08-models-public.png")
        self.lap("models public")

    # ---- 4. a user (added by the admin) picks a model and sets their key -------------

    def user_picks_a_model_and_sets_their_key(self) -> None:
        self.user_api = user_api = self.admin_api.create_user(
            "Browser User", password=USER_PASSWORD
        )
        ours = sorted(f"{PIPE_ID}.{model}" for model in PUBLIC_MODELS)
        assert (
            sorted(
                model
                for model in user_api.model_ids()
                if model.startswith(f"{PIPE_ID}.")
            )
            == ours
        ), "the models made public are not what the user may use"

        self.user = user = Session(self.browser, self.host.base_url, "user")
        page = user.page
        user.sign_in(user_api.user["email"], USER_PASSWORD)
        selector = page.locator("#model-selector-model-button")
        selector.click()
        options = page.locator(f'[role="option"][data-value^="{PIPE_ID}."]')
        options.first.wait_for()
        offered = options.evaluate_all("els => els.map(e => e.dataset.value)")
        assert sorted(offered) == ours
        user.shot("09-user-model-selector.png")
        page.locator(f'[role="option"][data-value="{PIPE_ID}.{CHAT_MODEL}"]').click()
        wait_text(selector, f"OPENAI/{CHAT_MODEL}")

        self.key_label = titles(user_api.get_user_valves_spec(PIPE_ID))[
            "OPENAI_API_KEY"
        ]
        key = self.open_user_valves_and_set_key(USER_KEY)
        assert is_masked(key), "the user's OPENAI_API_KEY shows in clear"
        user.shot("10-user-valves-masked.png")
        self.save_user_valves()
        assert user_api.get_user_valves(PIPE_ID).get("OPENAI_API_KEY") == USER_KEY
        self.lap("user valves")

    def open_user_valves_and_set_key(self, key: str) -> Locator:
        """The knob button beside the message box (shown for a pipe with UserValves)."""
        assert self.user is not None
        page = self.user.page
        page.locator("#model-valves-button").click()
        return set_valve(page, page.get_by_role("dialog"), self.key_label, key)

    def save_user_valves(self) -> None:
        assert self.user is not None
        page = self.user.page
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Valves updated successfully").first.wait_for()
        dialog.get_by_role("button", name="Close").click()  # Save leaves it open
        dialog.wait_for(state="hidden")

    # ---- 5. the answer streams in, then the usage line -------------------------------

    def user_chats_and_sees_the_usage_line(self) -> None:
        assert self.user is not None
        user, page = self.user, self.user.page
        send(page, PROMPT)
        answer = page.locator(".chat-assistant").last
        expected = answer_text(PROMPT)
        # streaming: the page shows the first words before the last have arrived
        page.wait_for_function(
            """([start, full]) => {
                const all = document.querySelectorAll('.chat-assistant');
                const text = all.length ? all[all.length - 1].innerText : '';
                return text.includes(start) && !text.includes(full);
            }""",
            arg=[" ".join(expected.split()[:3]), expected],
            timeout=WAIT,
        )
        user.shot("11-answer-streaming.png")
        wait_text(answer, expected)

        status = answer.locator(".status-description")
        status.filter(has_text=USAGE_LINE).wait_for()
        line = status.inner_text().strip()
        chat = next(r for r in self.upstream.chat_requests() if r.stream)
        assert chat.key == USER_KEY, "the chat did not go out with the user's own key"
        assert chat.model == CHAT_MODEL
        usage = plan_answer(chat.body).usage()  # what the fake upstream reported
        assert line.startswith(
            f"{usage['prompt_tokens']} in · {usage['completion_tokens']} out · "
        ), (line, usage)
        user.wait_for_toasts_to_go()
        user.shot("12-answer-and-usage.png")
        self.lap("answer")

    # ---- 6. a wrong key: a readable error, no key in sight ---------------------------

    def user_with_a_wrong_key_sees_a_readable_error(self) -> None:
        assert self.user is not None
        user, page = self.user, self.user.page
        self.open_user_valves_and_set_key(WRONG_KEY)
        self.save_user_valves()
        user.wait_for_toasts_to_go()  # so that the error's own toast stands alone
        send(page, RETRY_PROMPT)
        failed = page.locator(".chat-assistant").nth(1)
        failed.filter(has_text="401").wait_for()
        error_text = failed.inner_text()
        assert "OPENAI_API_KEY" in error_text, error_text
        assert "Echo:" not in error_text
        assert self.upstream.last_chat().key == WRONG_KEY
        # no key in sight, not even the masked form OpenAI echoes (first 8, last 4)
        body_text = page.locator("body").inner_text()
        for key in (WRONG_KEY, USER_KEY):
            assert key[:8] not in body_text and key[-12:] not in body_text, key
        user.shot("13-wrong-key-error.png")
        self.lap("wrong key")

    # ---- 7. a reasoning model's thought, from the Responses API ----------------------

    def user_reads_a_reasoning_models_thought(self) -> None:
        assert self.user is not None
        user, page = self.user, self.user.page
        self.open_user_valves_and_set_key(USER_KEY)
        self.save_user_valves()
        valves = self.admin_api.get_valves(PIPE_ID)
        self.admin_api.update_valves(PIPE_ID, {**valves, "RESPONSES_API": "always"})
        model = f"{PIPE_ID}.{REASONING_MODEL}"
        self.admin_api.make_model_public(model, f"OPENAI/{REASONING_MODEL}")
        page.goto(f"/?models={model}")
        wait_text(page.locator("#model-selector-model-button"), REASONING_MODEL)
        send(page, THINK_PROMPT)
        answer = page.locator(".chat-assistant").last
        wait_text(answer, answer_text(THINK_PROMPT))
        thought = answer.get_by_text(re.compile(r"^Thought", re.IGNORECASE)).first
        thought.click()
        wait_text(answer, f"Thinking about: {THINK_PROMPT}")
        request = self.upstream.responses_requests()[-1]
        assert request.key == USER_KEY and request.model == REASONING_MODEL
        assert request.body["reasoning"]["summary"] == "auto"
        user.wait_for_toasts_to_go()
        user.shot("14-reasoning-thought.png")
        self.admin_api.update_valves(PIPE_ID, valves)
        self.lap("reasoning")

    # ---- bookkeeping -----------------------------------------------------------------

    def failure_screenshots(self) -> None:
        for session in (self.admin, self.user):
            if session is not None:
                try:
                    session.page.screenshot(
                        path=SHOTS / f"99-failure-{session.who}.png"
                    )
                except Exception:  # the browser itself may be what failed
                    pass

    def close(self) -> None:
        sessions = [s for s in (self.admin, self.user) if s is not None]
        logs = [f"[{s.who}] {line}" for s in sessions for line in s.console]
        (SHOTS / "console.log").write_text("".join(f"{line}\n" for line in logs))
        (SHOTS / "timings.txt").write_text(
            "".join(f"{t:6.1f} s  {step}\n" for step, t in self.timings.items())
        )
        for session in sessions:
            session.close()
        if self.user_api is not None:
            self.user_api.close()


# --------------------------------------------------------------------------------------
# Small waits (Playwright's `expect` would do; these keep the failure text specific)
# --------------------------------------------------------------------------------------


def send(page: Page, text: str) -> None:
    """Type into the message box and press the send button."""
    page.locator("#chat-input").click()
    page.keyboard.type(text)
    page.locator("#send-message-button").click()


def expect_value(field: Locator, value: str) -> None:
    from playwright.sync_api import expect

    expect(field).to_have_value(value, timeout=WAIT)


def wait_text(locator: Locator, text: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=WAIT)


def wait_attribute(locator: Locator, name: str, value: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_attribute(name, value, timeout=WAIT)


def wait_until(check, what: str, timeout: float = WAIT / 1000) -> None:
    """Poll a REST-side condition the page has just caused (its request is async)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.1)


def editor_text(page: Page) -> str | None:
    """The CodeMirror document, through the view CodeMirror hangs on its DOM node;
    None if this CodeMirror version keeps it elsewhere."""
    return page.evaluate("""() => {
            const node = document.querySelector('.cm-content');
            const view = node && ((node.cmTile && node.cmTile.view) || (node.cmView && node.cmView.view));
            return view ? view.state.doc.toString() : null;
        }""")
