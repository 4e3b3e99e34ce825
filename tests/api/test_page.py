"""The shop page in a real browser: Debian's headless Chromium driven by Playwright for Python,
against the real service (tests/api/conftest.py). A customer chooses a photo and sees its class
and the photos of the similar items in stock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, expect, sync_playwright

from fashion_models.train.data import CLASS_NAMES
from tests.api.conftest import Service

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"  # Debian's package (make test installs it); never downloaded
# Headless, and nothing that reaches for the network this machine does not have.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_a_photo_chosen_on_the_page_shows_its_class_and_the_items_in_stock(
    service: Service, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(service.url + "/")
    expect(page.locator("#version")).to_contain_text("shop-service version")

    query = service.photos["SKU-006"]
    # What the web app gets for the same photo: the page must show exactly that.
    expected = requests.post(
        f"{service.url}/v1/similar?k=5", files=[("image", ("q.jpg", query.read_bytes()))]
    ).json()["similar"]
    assert 1 <= len(expected) <= 5
    page.set_input_files("#photo", str(query))
    items = page.locator("#items li")
    expect(items).to_have_count(len(expected), timeout=30_000)
    answer = page.locator("#answer")
    class_name = answer.get_attribute("data-class-name")
    assert class_name in CLASS_NAMES
    expect(answer).to_contain_text(f"{class_name} (")
    for item, shown in zip(expected, items.all(), strict=True):
        expect(shown).to_contain_text(item["name"])
        expect(shown).to_contain_text(f"{item['sku']} · {item['quantity']} in stock")
    assert expected[0]["sku"] == "SKU-006"
    # Every item's photo arrived from the service and decoded.
    page.wait_for_function(
        "[...document.querySelectorAll('#items img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert "0 in stock" not in page.locator("#items").inner_text()

    # A file that is not a photo: the page says why, and nothing else breaks.
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    page.set_input_files("#photo", str(text))
    expect(answer).to_contain_text("Sorry: photo 0: not a readable image")
    expect(items).to_have_count(0)
    assert errors == []
    page.close()
