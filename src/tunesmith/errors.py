"""Errors a user can cause and fix: what went wrong, where, and how to fix it.

The CLI prints these as one line and exits with code 2 (no traceback unless --debug).
Anything else that escapes is a bug in tunesmith, not a user error.
"""

from __future__ import annotations


class TunesmithError(Exception):
    """A user-facing error. `where` names the file/row/column/flag; `fix` says what to do."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text = f"{text.rstrip('.')}. Fix: {self.fix}"
        return text
