"""Where segmart keeps its files, and the user's configuration.

Everything a run reads or writes lives under one *home* directory (``--home``, env
``SEGMART_HOME``, default ``./data``). Nothing here runs at import time; call
:func:`home_paths` when a path is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
ENTITIES_FILE = Path(__file__).resolve().parent / "entities.yaml"
DEFAULT_CONFIG_FILE = REPO_ROOT / "config" / "segmart.yaml"
PII_KEY_ENV = "SEGMART_PII_KEY"
PII_KEY_FILE = "pii.key"  # under {home}/state, mode 0600, when the env var is not set


@dataclass(frozen=True)
class HomePaths:
    """The layout of a segmart home directory (see data/README.md)."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "segmart.duckdb"

    @property
    def serving(self) -> Path:
        return self.root / "serving"

    @property
    def quality(self) -> Path:
        return self.root / "serving" / "quality"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def pii_key_file(self) -> Path:
        return self.root / "state" / PII_KEY_FILE

    @property
    def user_mappings(self) -> Path:
        return self.root / "mappings"

    @property
    def user_config(self) -> Path:
        return self.root / "segmart.yaml"

    def ensure(self) -> HomePaths:
        for p in (
            self.landing,
            self.raw,
            self.quarantine,
            self.rejected,
            self.manifest,
            self.warehouse.parent,
            self.serving,
            self.state,
        ):
            p.mkdir(parents=True, exist_ok=True)
        return self


def home_dir(home: str | os.PathLike | None = None) -> Path:
    """Resolve the home directory: explicit argument, then ``SEGMART_HOME``, then ``./data``."""
    value = home or os.environ.get("SEGMART_HOME") or "data"
    return Path(value).expanduser().resolve()


def home_paths(home: str | os.PathLike | None = None) -> HomePaths:
    return HomePaths(home_dir(home))


# libyaml's loader where PyYAML was built with it (~10x faster than the pure-Python one; the
# configuration is read some 17 times per run)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_all(text: str) -> list:
    """Every document of a YAML text, safely loaded."""
    return list(yaml.load_all(text, Loader=YAML_LOADER))


def read_yaml(text: str):
    """A one-document YAML text, safely loaded (None when empty)."""
    return yaml.load(text, Loader=YAML_LOADER)


def load_config(home: str | os.PathLike | None = None) -> dict:
    """The shipped defaults of ``config/segmart.yaml`` overlaid with ``{home}/segmart.yaml``."""
    config = read_yaml(DEFAULT_CONFIG_FILE.read_text()) or {}
    user_file = home_paths(home).user_config
    if user_file.exists():
        config = _deep_merge(config, read_yaml(user_file.read_text()) or {})
    return config


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_entities() -> dict:
    """The canonical entity contract (pipelines/core/entities.yaml)."""
    return read_yaml(ENTITIES_FILE.read_text())


# --- the key of the personal-data hash (docs/privacy.md) ------------------------------------

log = logging.getLogger("segmart.privacy")


@dataclass(frozen=True)
class PiiKey:
    """The secret that keys ``pii_hash``: env ``SEGMART_PII_KEY`` when set, else the home's
    generated key file. ``source`` is ``"env"`` or ``"generated"``; ``created`` is true only
    in the call that wrote the file. The secret never appears in ``repr``."""

    secret: bytes = field(repr=False)
    source: str
    path: Path | None = None
    created: bool = False

    @property
    def key_id(self) -> str:
        """A non-secret fingerprint of the key (HMAC of a constant): tells two keys apart in
        build records without revealing either."""
        return hmac.new(self.secret, b"segmart pii key id", hashlib.sha256).hexdigest()[:16]

    def pads(self) -> tuple[bytes, bytes]:
        """RFC 2104's inner and outer padded keys: HMAC(k, m) = H(opad || H(ipad || m)).

        The engines (DuckDB variables, Spark conf) receive these, never the key itself;
        they are as secret as the key and are never written down either."""
        key = self.secret
        if len(key) > 64:  # SHA-256's block size
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

    def hash(self, value: str) -> str:
        """HMAC-SHA-256 of ``value`` (UTF-8) as lowercase hex: what ``pii_hash`` computes."""
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()


def pii_key(home: str | os.PathLike | None = None, create: bool = True) -> PiiKey:
    """The PII key of ``home``: env ``SEGMART_PII_KEY`` if set (non-empty), else
    ``{home}/state/pii.key``, created on first use with a random 256-bit key (mode 0600,
    written atomically; a concurrent first use reads the same file). The creation is logged
    once, by the process that wrote the file. ``create=False`` raises ``FileNotFoundError``
    instead of creating it."""
    value = os.environ.get(PII_KEY_ENV, "")
    if value:
        return PiiKey(value.encode(), "env")
    path = home_paths(home).pii_key_file
    created = False
    if not path.exists():
        if not create:
            raise FileNotFoundError(path)
        created = _create_key_file(path)
    secret = path.read_text(encoding="ascii").strip().encode()
    if not secret:
        raise ValueError(f"{path} is empty: delete it to generate a new key, or set {PII_KEY_ENV}")
    return PiiKey(secret, "generated", path, created)


def _create_key_file(path: Path) -> bool:
    """Write a random key to ``path`` unless it exists; true when this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails when another process won the race
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    log.warning(
        "%s is not set: generated a random PII key in %s (mode 0600). Every run of this home "
        "uses it; back it up with the home, and set %s to the same value to keep the hashes "
        "when moving the home (docs/privacy.md).",
        PII_KEY_ENV,
        path,
        PII_KEY_ENV,
    )
    return True
