"""The Inspect page in headless Chromium: htmx swaps the result in; without JS it still works."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_inspect_with_htmx_swaps_in_the_result(page, issuer):
    token = issuer.sign(issuer.claims())
    page.goto("/tokens/inspect/")
    page.fill("#id_token", token)
    page.select_option("#id_operation", "read")
    page.fill("#id_path", "/vo/data/run1")
    with page.expect_response("**/tokens/inspect/") as posted:
        page.click("button:has-text('Inspect')")
    assert posted.value.request.headers.get("hx-request") == "true"
    result = page.locator("#result")
    result.get_by_text("This token is valid").wait_for()
    assert "Allowed by storage.read:/data" in result.inner_text()
    assert token not in result.inner_html()
    assert page.url.endswith("/tokens/inspect/")


def test_inspect_works_without_javascript(browser, live_server, issuer):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        token = issuer.sign(issuer.claims(exp=1))
        page.goto("/tokens/inspect/")
        page.fill("#id_token", token)
        page.click("button:has-text('Inspect')")
        page.get_by_text("This token would be refused").wait_for()
        assert page.input_value("#id_token") == ""  # never written back into the page
        assert token not in page.content()
    finally:
        context.close()
