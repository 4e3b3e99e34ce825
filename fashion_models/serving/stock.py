"""The shop's stock: the items a photo can be matched with (sku, name, photo, quantity).

A stock file is a CSV with the columns `sku,name,photo,quantity` (`photo` relative to the CSV;
other columns are ignored), or a plain folder of photos (sku = the photo's path in the folder,
name = its file name, quantity 1). Quantities change every day and embeddings only with the
model or a photo, so the index keeps embeddings by sku and the quantities are read from here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from fashion_models.errors import UserError

COLUMNS = ("sku", "name", "photo", "quantity")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


class StockError(UserError):
    """The stock file cannot be used; the message names the file, the line and the column."""


@dataclass(frozen=True)
class StockItem:
    sku: str
    name: str
    photo: Path  # absolute
    quantity: int


def read_stock(path: Path) -> list[StockItem]:
    """The items of a stock CSV or of a folder of photos, in the file's (or sorted) order."""
    if path.is_dir():
        return [
            StockItem(str(p.relative_to(path)), p.name, p.resolve(), 1) for p in photos_under(path)
        ]
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return _rows(path, csv.DictReader(f))
    except FileNotFoundError as err:
        raise StockError(f"{path}: file not found") from err
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise StockError(f"{path}: cannot read the stock file ({err})") from err


def photos_under(directory: Path) -> list[Path]:
    """Image files under `directory` (recursively, by suffix), sorted."""
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _rows(path: Path, reader: csv.DictReader[str]) -> list[StockItem]:
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        found = ",".join(reader.fieldnames or []) or "no header"
        raise StockError(
            f"{path}:1: expected the columns {','.join(COLUMNS)}, found {found} "
            f"(missing {', '.join(missing)})"
        )
    items: list[StockItem] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        sku, name, photo = (str(row.get(c) or "").strip() for c in ("sku", "name", "photo"))
        for column, value in (("sku", sku), ("photo", photo)):
            if not value:
                raise StockError(f"{path}:{line}: {column}: expected a value, found an empty cell")
        if sku in seen:
            raise StockError(f"{path}:{line}: sku: '{sku}' is already on line {seen[sku]}")
        seen[sku] = line
        items.append(
            StockItem(sku, name or sku, (path.parent / photo).resolve(), _quantity(path, line, row))
        )
    return items


def _quantity(path: Path, line: int, row: dict[str, str | None]) -> int:
    text = str(row.get("quantity") or "").strip()
    try:
        quantity = int(text)
    except ValueError:
        quantity = -1
    if quantity < 0:
        raise StockError(f"{path}:{line}: quantity: expected an integer >= 0, found '{text}'")
    return quantity
