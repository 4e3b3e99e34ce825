"""Tests for fashion_models.serving.stock: the shop's stock file, a CSV or a folder of photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.serving.stock import StockError, StockItem, read_stock


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stock.csv"
    path.write_text(text)
    return path


def test_a_csv_gives_its_items_in_order_with_photos_beside_it(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "sku,name,photo,quantity,colour\n"
        'A-1,"Coat, wool",photos/a.jpg,3,grey\n'
        "B-2,,b.png, 0 ,red\n",
    )
    assert read_stock(path) == [
        StockItem("A-1", "Coat, wool", (tmp_path / "photos" / "a.jpg").resolve(), 3),
        StockItem("B-2", "B-2", (tmp_path / "b.png").resolve(), 0),  # no name: the sku
    ]


def test_a_folder_is_a_stock_of_one_of_each_photo(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    for name in ("new/b.jpg", "a.PNG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert read_stock(tmp_path) == [
        StockItem("a.PNG", "a.PNG", (tmp_path / "a.PNG").resolve(), 1),
        StockItem("new/b.jpg", "b.jpg", (tmp_path / "new" / "b.jpg").resolve(), 1),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sku,name,image,quantity\n", ":1: expected the columns sku,name,photo,quantity, "
         "found sku,name,image,quantity (missing photo)"),
        ("", ":1: expected the columns sku,name,photo,quantity, found no header"),
        ("sku,name,photo,quantity\nA,a,a.jpg,1\nA,b,b.jpg,2\n",
         ":3: sku: 'A' is already on line 2"),
        ("sku,name,photo,quantity\nA,a,a.jpg,many\n", ":2: quantity: expected an integer >= 0, "
         "found 'many'"),
        ("sku,name,photo,quantity\nA,a,a.jpg,-1\n", ":2: quantity: expected an integer >= 0, "
         "found '-1'"),
        ("sku,name,photo,quantity\nA,a,,1\n", ":2: photo: expected a value, found an empty cell"),
        ("sku,name,photo,quantity\n,a,a.jpg,1\n", ":2: sku: expected a value"),
    ],
)  # fmt: skip
def test_a_bad_stock_file_names_its_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(StockError) as caught:
        read_stock(path)
    assert str(caught.value).startswith(f"{path}{message}")


def test_a_missing_or_unreadable_stock_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(StockError, match="stock.csv: file not found"):
        read_stock(tmp_path / "stock.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,name,photo,quantity\nA,caf\xe9,a.jpg,1\n".encode("latin-1"))
    with pytest.raises(StockError, match="cannot read the stock file"):
        read_stock(path)
