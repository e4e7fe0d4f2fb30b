"""The pages in a real browser (headless Chromium) against the real system: a wrong token is
refused; searching by an uploaded file shows k results; an operator starts a round on the
Rounds page, an annotator answers it with the keyboard (undoing one answer on the way), every
answer is in the label store under that annotator, and the Rounds page shows the new index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from live_system import LiveSystem
from playwright.sync_api import expect

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.security.principal import Role

pytestmark = pytest.mark.integration
TIMEOUT_MS = 60_000


def sign_in(page, live_system: LiveSystem, role: Role, path: str = "/") -> None:  # type: ignore[no-untyped-def]
    page.goto(live_system.url.rstrip("/") + path)
    page.get_by_role("textbox", name="Access token").fill(live_system.token(role))
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    expect(page.locator("#user-name")).to_have_text(f"local-{role.value}", timeout=TIMEOUT_MS)
    if page.url.rstrip("/") != (live_system.url.rstrip("/") + path).rstrip("/"):
        page.goto(live_system.url.rstrip("/") + path)
    page.wait_for_load_state("load")  # the page's modules have run and listen for input


def test_a_wrong_token_is_refused(page, live_system: LiveSystem) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_system.url)
    page.get_by_role("textbox", name="Access token").fill("anl.0123456789abcdef.wrong")
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    expect(page.get_by_role("alert")).to_contain_text(re.compile("not known|token", re.I))
    expect(page.get_by_role("textbox", name="Access token")).to_be_visible()


def test_search_by_uploading_a_file_shows_k_results(
    page, live_system: LiveSystem, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_system, Role.READER)
    blue = next(i for i in live_system.ids if i.startswith("blue/"))
    query = tmp_path / "query.png"
    query.write_bytes((live_system.config.archive / blue).read_bytes())
    page.select_option("#k", "10")
    page.set_input_files("#query-file", str(query))
    results = page.locator("#results .result")
    expect(results).to_have_count(10, timeout=TIMEOUT_MS)
    expect(results.first).to_have_attribute("data-image-id", blue)
    expect(page.locator("#index-version")).to_contain_text(re.compile(r"v\d+"))


def _stored_labels(live_system: LiveSystem, round_number: int) -> list[labels_pb2.StoredLabel]:
    security = live_system.config.client(Role.OPERATOR)
    with security.channel(live_system.config.address("labels")) as channel:
        stub = labels_pb2_grpc.LabelServiceStub(channel)
        return list(stub.ListLabels(labels_pb2.ListLabelsRequest(round=round_number)).labels)


def test_a_round_from_the_rounds_page_labelled_by_keyboard_trains_and_swaps(
    browser, live_system: LiveSystem
) -> None:  # type: ignore[no-untyped-def]
    operator = browser.new_context().new_page()
    sign_in(operator, live_system, Role.OPERATOR, "/rounds")
    before = operator.locator("#serving-index").inner_text()
    operator.fill("input[name=budget]", "4")
    operator.fill("input[name=annotators_per_pair]", "2")
    operator.click("#start-round")
    expect(operator.locator("#rounds-table tr[data-round]").last).to_contain_text(
        re.compile("collecting", re.I), timeout=TIMEOUT_MS
    )
    expect(operator.locator("#rounds-table tr[data-round]").last).to_contain_text(
        "mgue · head · 2 per pair"
    )
    number = int(operator.locator("#rounds-table tr[data-round]").last.get_attribute("data-round"))

    annotator = browser.new_context().new_page()
    sign_in(annotator, live_system, Role.ANNOTATOR, "/label")
    pair = annotator.locator("#pair")
    expect(pair).to_have_attribute("data-pair-id", re.compile(r"\d+"), timeout=TIMEOUT_MS)
    first = pair.get_attribute("data-pair-id")
    with annotator.expect_response(lambda r: r.url.endswith("/api/v1/label")):
        annotator.keyboard.press("y")
    expect(pair).not_to_have_attribute("data-pair-id", first, timeout=TIMEOUT_MS)
    annotator.keyboard.press("u")  # undo: the first pair comes back
    expect(pair).to_have_attribute("data-pair-id", first, timeout=TIMEOUT_MS)
    answered = []
    for _ in range(4):
        shown, a, b = annotator.evaluate(
            "() => [document.querySelector('#pair').dataset.pairId,"
            " document.querySelector('#image-a').alt, document.querySelector('#image-b').alt]"
        )
        similar = a.split("/")[0] == b.split("/")[0]
        answered.append((int(shown), similar))
        saved = lambda r: r.url.endswith("/api/v1/label") and r.request.method == "POST"  # noqa: E731
        with annotator.expect_response(saved, timeout=TIMEOUT_MS):
            annotator.keyboard.press("y" if similar else "n")
        expect(pair).not_to_have_attribute("data-pair-id", shown, timeout=TIMEOUT_MS)
    expect(annotator.locator("#main")).to_contain_text(
        re.compile("training|re-embedded|index|done", re.I), timeout=TIMEOUT_MS
    )
    stored = [s for s in _stored_labels(live_system, number)]
    assert sorted((s.pair.pair_id, s.similar) for s in stored) == sorted(answered)
    assert {s.annotator_id for s in stored} == {"local-annotator"}

    expect(operator.locator("#rounds-table tr[data-round]").last).to_contain_text(
        re.compile("done", re.I), timeout=3 * TIMEOUT_MS
    )
    expect(operator.locator("#serving-index")).not_to_have_text(before, timeout=TIMEOUT_MS)
    annotator.context.close()
    operator.context.close()
