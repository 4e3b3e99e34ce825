"""The README's picture of the shop page: Debian's headless Chromium (through Playwright, as the
page test drives it) opens a running `optuna-run serve`, chooses a photo and waits for the
similar items, then saves a PNG.

    python bench/page_screenshot.py http://127.0.0.1:8000 PHOTO [--out reports/serving/page.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("photo", type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports/serving/page.png"))
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        page.goto(args.url.rstrip("/") + "/")
        page.set_input_files("#photo", str(args.photo))
        expect(page.locator("#items li").first).to_be_visible(timeout=30_000)
        page.wait_for_function(
            "[...document.querySelectorAll('#items img')].every(i => i.complete && i.naturalWidth)"
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        print(f"wrote {args.out}: {page.locator('#answer').inner_text()}")
        browser.close()


if __name__ == "__main__":
    main()
