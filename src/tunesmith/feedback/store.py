"""The feedback store: corrections (and, opt-in, logged predictions) in an embedded SQLite
database beside the run, `feedback.db`.

WAL mode: readers never block the writer and a process killed mid-write leaves every committed
record intact. Each record is committed on its own; the service funnels writes through one
writer thread.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,          -- correction | rating (not trained on) | prediction
    version TEXT NOT NULL,       -- the model version that answered
    input TEXT NOT NULL,         -- a text, a chat as JSON, or an image under feedback/images/
    predicted TEXT,              -- the model's answer
    label TEXT                   -- the right answer (JSON where it is structured)
)"""


def db_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "feedback.db"


class FeedbackStore:
    def __init__(self, run_dir: str | Path):
        self.path = db_path(run_dir)
        self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at each checkpoint
        self.db.execute(SCHEMA)
        self.db.commit()

    def add(
        self, kind: str, version: str, text: str, predicted: str | None, label: str | None
    ) -> int:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self.db:  # one transaction, committed on exit
            cursor = self.db.execute(
                "INSERT INTO feedback (time, kind, version, input, predicted, label) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now, kind, version, text, predicted, label),
            )
        return int(cursor.lastrowid)

    def count(self, kind: str | None = None) -> int:
        query = "SELECT COUNT(*) FROM feedback" + (" WHERE kind = ?" if kind else "")
        return int(self.db.execute(query, (kind,) if kind else ()).fetchone()[0])

    def counts(self) -> dict[str, int]:
        """How many of each kind (correction, prediction, rating, ...)."""
        return dict(self.db.execute("SELECT kind, COUNT(*) FROM feedback GROUP BY kind"))

    def latest(self, n: int) -> list[dict]:
        """The newest `n` rows of any kind, newest first."""
        rows = self.db.execute(
            "SELECT time, kind, version, input, predicted, label FROM feedback "
            "ORDER BY id DESC LIMIT ?",
            (n,),
        ).fetchall()
        keys = ("time", "kind", "version", "input", "predicted", "label")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def corrections(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT id, time, version, input, predicted, label FROM feedback "
            "WHERE kind = 'correction' ORDER BY id"
        ).fetchall()
        keys = ("id", "time", "version", "input", "predicted", "label")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def close(self) -> None:
        self.db.close()
