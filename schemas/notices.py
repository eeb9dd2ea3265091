"""The change notice: what the projector publishes on core NATS after each commit, so the
TUI (and any other reader) refreshes the documents it shows instead of polling.

Best effort by design: the read store is the truth and a reader that missed a notice
catches up from the store's position; a notice only says "these periods and reps moved".
"""

from __future__ import annotations

import msgspec

NOTICE_SUBJECT = "quotaboard.changes"


class ChangeNotice(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The read store reached `position`; the documents of `periods` and `reps` changed."""

    position: int
    periods: list[str] = []
    reps: list[str] = []


encode_notice = msgspec.json.Encoder().encode
