"""The product feed Facebook fetches on its schedule: CSV with Meta's column names."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from cashout_facebook._catalog import FEED_COLUMNS, Product

CONTENT_TYPE = "text/csv; charset=utf-8"
FILENAME = "facebook-catalog.csv"


def render_csv(products: Sequence[Product]) -> bytes:
    """Render products as a CSV feed: a header row, then one row per product.

    Every field is double-quoted: Meta asks for quotes around fields with whitespace or commas,
    and quoting all of them also covers quotes (doubled) and line breaks inside descriptions.

    Args:
        products: the products, in the order to list them.

    Returns:
        The UTF-8 bytes of the CSV document.
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(FEED_COLUMNS)
    for product in products:
        writer.writerow([product.data.get(column, "") for column in FEED_COLUMNS])
    return out.getvalue().encode("utf-8")
