"""The web app measured in a real browser, and the docs' screenshots of its four pages.

Starts the whole system on UC Merced as ``anneal serve`` does (TLS, tokens, the web app),
drives Debian's Chromium with Playwright, and measures:

- Label page: time from an answer key press to the next pair fully drawn (both images decoded;
  the page's ``pair-drawn`` event), over ``--answers`` answers of a scripted annotator who
  answers from the class folders as fast as the page lets it, and the answers per minute it
  reaches.
- Search page: time from choosing a file to its k = 20 results drawn (every result thumbnail
  loaded), over ``--searches`` uploads of archive images.

Writes docs/screenshots/{search,label,rounds,status}.png (1280 x 900) unless --no-screenshots.

    .venv/bin/python bench/web_pages.py [--answers 100] [--searches 30]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from anneal.data.archive import Archive
from services.cli.system_config import SystemConfig, free_port_base
from services.cli.system_start import start_system
from services.security.local_setup import CLIENT_ROLES
from services.security.principal import Role
from services.web.chromium import CHROMIUM, CHROMIUM_FLAGS

SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
TIMEOUT_MS = 120_000

# In the page: the time of the last key press, and each key-to-drawn latency.
LABEL_PROBE = """() => {
  window.__latencies = []; window.__pressedAt = null;
  document.addEventListener('keydown', () => { window.__pressedAt = performance.now(); }, true);
  document.addEventListener('pair-drawn', () => {
    if (window.__pressedAt !== null) {
      window.__latencies.push(performance.now() - window.__pressedAt);
      window.__pressedAt = null;
    }
  });
}"""
SEARCH_PROBE = """() => {
  window.__chosenAt = null; window.__renderedAt = 0;
  document.querySelector('#query-file').addEventListener(
    'change', () => { window.__chosenAt = performance.now(); }, true);
  new MutationObserver(() => { window.__renderedAt = performance.now(); })
    .observe(document.querySelector('#results'), {childList: true});
}"""
SEARCH_DRAWN = """(k) => new Promise((resolve) => {
  const check = () => {
    const imgs = [...document.querySelectorAll('#results .result img')];
    const fresh = window.__renderedAt > window.__chosenAt
      && !document.querySelector('#results').hasAttribute('aria-busy');
    if (fresh && imgs.length === k && imgs.every((i) => i.complete && i.naturalWidth > 0)) {
      resolve(performance.now() - window.__chosenAt);
    } else { requestAnimationFrame(check); }
  };
  check();
})"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def sign_in(page: Page, url: str, token: str, path: str) -> None:
    page.goto(url + path.lstrip("/"))
    page.get_by_role("textbox", name="Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#user-name").wait_for(timeout=TIMEOUT_MS)
    page.goto(url + path.lstrip("/"))


def label_round(page: Page, answers: int) -> tuple[list[float], float]:
    """Answer up to ``answers`` pairs by keyboard; latencies (ms) and answers per minute."""
    page.evaluate(LABEL_PROBE)
    pair = page.locator("#pair")
    expect(pair).to_have_attribute("data-pair-id", re.compile(r"\d+"), timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.body.dataset.pairDrawnAt !== undefined")
    started = time.perf_counter()
    given = 0
    for _ in range(answers):
        shown = page.evaluate("() => document.querySelector('#pair').dataset.pairId")
        if not shown:
            break
        a, b = page.evaluate(
            "() => [document.querySelector('#image-a').alt, document.querySelector('#image-b').alt]"
        )
        drawn = page.evaluate("() => window.__latencies.length")
        page.keyboard.press("y" if a.split("/")[0] == b.split("/")[0] else "n")
        given += 1
        try:
            page.wait_for_function(
                f"() => window.__latencies.length > {drawn}"
                " || !document.querySelector('#pair').dataset.pairId",
                timeout=TIMEOUT_MS,
            )
        except Exception:
            break
    elapsed = time.perf_counter() - started
    return list(page.evaluate("() => window.__latencies")), given / elapsed * 60


def search_uploads(page: Page, files: list[Path], k: int = 20) -> list[float]:
    page.select_option("#k", str(k))
    page.evaluate(SEARCH_PROBE)
    times = []
    for path in files:
        page.set_input_files("#query-file", str(path))
        times.append(float(page.evaluate(SEARCH_DRAWN, k)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=Path("../shared/data/ucmerced"))
    parser.add_argument("--feature-cache", type=Path, default=Path(".cache/features"))
    parser.add_argument("--answers", type=int, default=100)
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    archive = args.archive.resolve()
    ids = Archive.from_folder(archive).ids
    with tempfile.TemporaryDirectory(prefix="anneal-web-bench-") as scratch:
        config = SystemConfig(
            archive=archive,
            state_dir=Path(scratch) / "state",
            grpc_port_base=free_port_base(57051),
            metrics_port_base=free_port_base(9501, offsets=(0,), count=7),
            feature_cache=str(args.feature_cache.resolve()),
            log_level="WARNING",
        )
        supervisor = start_system(config, say=lambda text: print(text, file=sys.stderr))
        url = config.web_url
        token = {
            role: config.security.role_token(role).read_text().strip() for role in CLIENT_ROLES
        }
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS)
                )
                viewport = {"width": 1280, "height": 900}
                operator = browser.new_context(viewport=viewport).new_page()
                sign_in(operator, url, token[Role.OPERATOR], "/rounds")
                operator.fill("#budget", str(args.answers))
                operator.click("#start-round")
                expect(
                    operator.locator("#rounds-table tbody tr[data-round]").last
                ).to_have_attribute("data-state", "collecting", timeout=TIMEOUT_MS)
                annotator = browser.new_context(viewport=viewport).new_page()
                sign_in(annotator, url, token[Role.ANNOTATOR], "/label")
                if not args.no_screenshots:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    annotator.wait_for_load_state("networkidle")
                    annotator.screenshot(path=str(SHOTS / "label.png"))
                latencies, per_minute = label_round(annotator, args.answers)
                expect(
                    operator.locator("#rounds-table tbody tr[data-round]").last
                ).to_have_attribute("data-state", "done", timeout=10 * TIMEOUT_MS)
                reader = browser.new_context(viewport=viewport).new_page()
                sign_in(reader, url, token[Role.READER], "/")
                rng = random.Random(0)
                files = [archive / image_id for image_id in rng.sample(ids, args.searches)]
                search_ms = search_uploads(reader, files)
                if not args.no_screenshots:
                    reader.wait_for_load_state("networkidle")
                    reader.screenshot(path=str(SHOTS / "search.png"))
                    operator.reload()
                    operator.wait_for_load_state("networkidle")
                    operator.screenshot(path=str(SHOTS / "rounds.png"))
                    operator.goto(url + "status")
                    operator.locator("#services-table tr[data-service]").first.wait_for()
                    operator.wait_for_load_state("networkidle")
                    operator.screenshot(path=str(SHOTS / "status.png"))
                browser.close()
        finally:
            supervisor.stop()
    print(f"{len(ids)} images (UC Merced), system as `anneal serve` runs it, Chromium headless\n")
    print("| figure | n | p50 ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|---|")
    print(
        f"| label: answer key -> next pair drawn | {len(latencies)} |"
        f" {statistics.median(latencies):.1f} | {percentile(latencies, 95):.1f} |"
        f" {max(latencies):.1f} | p95 <= 100 ms |"
    )
    print(
        f"| search: file chosen -> 20 results drawn | {len(search_ms)} |"
        f" {statistics.median(search_ms):.1f} | {percentile(search_ms, 95):.1f} |"
        f" {max(search_ms):.1f} | p95 <= 300 ms |"
    )
    print(f"\nscripted annotator: {per_minute:.0f} answers per minute")


if __name__ == "__main__":
    main()
