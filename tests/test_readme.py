"""The README describes the service as it is: statuses it names are the ones the code writes."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from service_common.orders import OrderStatus

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_order_status_the_readme_names_is_one_the_code_writes():
    named = set(re.findall(r"`status: ([A-Z_]+)`", README.read_text()))
    assert named, "the README no longer names a stored order's status"
    assert named <= set(typing.get_args(OrderStatus))
