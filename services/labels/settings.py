"""The label service's settings: the common ones, the store and its backups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.setting import Setting, positive, text
from services.common.settings import LABEL_DB, CommonSettings

BACKUP_DIR = Setting(
    "--backup-dir",
    "ANNEAL_LABELS_BACKUP_DIR",
    "",
    "folder of BackupLabels' copies (default: label-backups next to the label store)",
    text,
)
BACKUP_KEEP = Setting(
    "--backup-keep", "ANNEAL_LABELS_BACKUP_KEEP", 7, "backups kept (the newest)", positive
)


@dataclass(frozen=True, kw_only=True)
class LabelSettings(CommonSettings):
    service: ClassVar[str] = "labels"

    label_db: str = LABEL_DB.field()
    backup_dir: str = BACKUP_DIR.field()
    backup_keep: int = BACKUP_KEEP.field()
