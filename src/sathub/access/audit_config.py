"""Where the audit's secret and anchors live: the key (``SATHUB_AUDIT_KEY``,
``SATHUB_AUDIT_KEY_FILE`` or ``DATA/secrets/audit.key``), the anchor targets
(``SATHUB_AUDIT_ANCHOR``) and the anchoring cadence (``SATHUB_AUDIT_ANCHOR_EVERY``).

The attacker the audit is built against can rewrite anything under the data directory but
neither the key nor the anchor kept outside it; :attr:`AuditConfig.inside_data` lists what
the operator left inside, so that ``sathub audit verify`` can say what it cannot prove.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sathub.access.audit_anchor import Anchor, FileAnchor, parse_targets
from sathub.access.secretfile import load_or_create, parse_key, read_key_file
from sathub.errors import InvalidInput


@dataclass(frozen=True)
class AuditKey:
    """The HMAC key of the chain, the head, the anchor lines and the pending tile rows."""

    secret: bytes = field(repr=False)
    source: str  # "SATHUB_AUDIT_KEY", or the key file's path
    inside_data: bool

    @property
    def id(self) -> str:
        """A public name of the key (written in every anchor line): lines of another key
        (another installation sharing a syslog) are told apart from forged ones."""
        return hmac.new(self.secret, b"sathub audit key id", hashlib.sha256).hexdigest()[:16]

    def mac(self, domain: bytes, body: bytes) -> str:
        return hmac.new(self.secret, domain + b"\n" + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditConfig:
    key: AuditKey
    anchors: tuple[Anchor, ...] = ()
    anchor_every: int = 1
    data_root: Path | None = None

    @classmethod
    def default(cls, secrets_dir: Path) -> AuditConfig:
        """Today's layout: the key in ``secrets_dir/audit.key`` (created once), no anchor."""
        path = Path(secrets_dir) / "audit.key"
        return cls(AuditKey(load_or_create(path), str(path), True), data_root=Path(secrets_dir).parent)

    @classmethod
    def from_settings(cls, settings: Any) -> AuditConfig:
        """From :class:`sathub.config.Settings`; InvalidInput names the setting at fault."""
        root = Path(settings.data)
        secrets_dir = settings.layout.secrets
        env_key, key_file = settings.audit_key, settings.audit_key_file
        if env_key is not None and key_file is not None:
            raise InvalidInput("set SATHUB_AUDIT_KEY or SATHUB_AUDIT_KEY_FILE, not both",
                               field="audit_key")  # fmt: skip
        if env_key is not None:
            key = AuditKey(parse_key(env_key.get_secret_value(), source="SATHUB_AUDIT_KEY",
                                     field="audit_key"), "SATHUB_AUDIT_KEY", False)  # fmt: skip
        elif key_file is not None:
            path = Path(key_file).expanduser()
            key = AuditKey(read_key_file(path, field="audit_key_file"), str(path), _inside(path, root))
        else:
            key = AuditConfig.default(secrets_dir).key
        return cls(key, tuple(parse_targets(settings.audit_anchor)), settings.audit_anchor_every, root)

    def anchors_inside_data(self) -> list[str]:
        return [a.describe() for a in self.anchors
                if isinstance(a, FileAnchor) and self.data_root is not None
                and _inside(a.path, self.data_root)]  # fmt: skip


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False
