"""One node's long-lived objects: settings, clock, database, key ring, caches, verifier."""

from __future__ import annotations

import base64
import logging
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from iamd.audit import hooks as audit_hooks
from iamd.audit.store import audit_log
from iamd.auth.credentials import CredentialResolver
from iamd.auth.jwks import HttpsFetcher, JwksCache, JwksError, JwksSettings, offline_key_sets
from iamd.auth.session_tokens import TokenCache
from iamd.auth.sigv4 import SigV4Verifier
from iamd.core.clock import Clock, SystemClock
from iamd.core.config import Settings
from iamd.core.crypto import MasterKeyError, SecretBox, create_key_file, decode_key, read_key_file
from iamd.core.private_files import ensure_private_dir
from iamd.orgs.levels import OrgStandingCache
from iamd.services import accounts, token_keys
from iamd.services.authz import Authorizer
from iamd.services.context import NodeServices
from iamd.services.iam import aws_managed
from iamd.services.principal_policies import ManagedPolicyCache, PrincipalPolicyCache
from iamd.services.registry import Operation, load_all
from iamd.store import tables as t
from iamd.store.cache import GenerationWatcher
from iamd.store.db import Database, insert_ignore

log = logging.getLogger("iamd")

MASTER_KEY_FILE = "master.key"
_KEY_CHECK = "master_key_check"
_KEY_CHECK_PLAINTEXT = b"iamd master key check"
_KEY_CHECK_QUERY = sa.select(t.settings.c.value).where(t.settings.c.key == _KEY_CHECK)


class ConfigError(Exception):
    """The node cannot start with these settings; the message says what to change."""


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        if settings.store.data_dir is not None:
            ensure_private_dir(settings.store.data_dir)
        self.db = Database(settings.store.effective_database_url)
        try:
            self.box = SecretBox(self._master_key())
        except MasterKeyError as exc:
            self.db.dispose()
            raise ConfigError(str(exc)) from exc
        except BaseException:
            self.db.dispose()
            raise
        self.resolver = CredentialResolver(self.db, self.box, settings.identity.partition)
        self.watcher = GenerationWatcher(self.db, self.clock, settings.store.cache_refresh_seconds)
        self.watcher.subscribe(self.resolver.clear)
        self.verifier = SigV4Verifier(self.clock, max_skew_seconds=settings.sigv4.max_skew_seconds)
        self.operations: Mapping[tuple[str, str], Operation] = load_all()
        self.key_usage = KeyUsageRecorder(self.db)
        self.token_keys = token_keys.TokenKeyCache(self.db, self.box)
        self.principal_policies = PrincipalPolicyCache(self.db)
        self.watcher.subscribe(self.principal_policies.clear)
        self.managed_policies = ManagedPolicyCache(self.db)
        self.watcher.subscribe(self.managed_policies.clear)
        self.org_standings = OrgStandingCache(self.db)
        self.watcher.subscribe(self.org_standings.clear)
        self.authorizer = Authorizer(
            self.principal_policies,
            self.managed_policies,
            settings.identity.partition,
            message_box=self.box if settings.sts.encoded_authorization_messages else None,
            clock=self.clock,
            standings=self.org_standings,
        )
        self.watcher.subscribe(self.token_keys.clear)
        self.token_cache = TokenCache()
        self.jwks = _jwks_cache(settings, self.clock)
        """OIDC providers' signing keys, shared by this node's request threads."""
        self.audit = audit_log(settings, self.db, self.clock)
        audit_hooks.install(self.audit)
        self.services = NodeServices(
            clock=self.clock,
            box=self.box,
            identity=settings.identity,
            quotas=settings.quotas,
            mfa=settings.mfa,
            seal_token=lambda claims: self.token_keys.ring().seal(claims),
            usage=self.key_usage,
            side_transaction=self.db.side_write,
            write_transaction=self._own_write,
            authorizer=self.authorizer,
            federation=settings.federation,
            jwks=self.jwks,
        )
        """What operation handlers may use of this node (they never see the Runtime)."""

    @contextmanager
    def _own_write(self) -> Iterator[sa.Connection]:
        """A handler's own write transaction: commits, bumps the generation, clears this node's caches."""
        with self.db.write() as conn:
            yield conn
        self.watcher.invalidate()

    # -- the master key ---------------------------------------------------------------------------

    def _master_key(self) -> bytes:
        """IAMD_MASTER_KEY, else IAMD_MASTER_KEY_FILE, else DIR/master.key (made only for a new database)."""
        s, data_dir = self.settings.secrets, self.settings.store.data_dir
        if s.master_key:
            try:
                return decode_key(s.master_key)
            except MasterKeyError as exc:
                raise ConfigError(f"IAMD_MASTER_KEY: {exc}") from exc
        if s.master_key_file:
            key = _read_key_file(s.master_key_file, "(IAMD_MASTER_KEY_FILE) ")
            if key is None:
                raise ConfigError(
                    f"the master key file (IAMD_MASTER_KEY_FILE) {s.master_key_file} does not exist: "
                    "point IAMD_MASTER_KEY_FILE at the file holding this database's master key"
                )
            return key
        if data_dir is None:
            raise ConfigError("no master key: set IAMD_MASTER_KEY or IAMD_MASTER_KEY_FILE, or give --data-dir")
        path = data_dir / MASTER_KEY_FILE
        return _read_key_file(path) or self._first_start_key(path)

    def _first_start_key(self, path: Path) -> bytes:
        """Create DIR/master.key, but only for a database that holds no secrets yet."""
        with self.db.startup_lock():
            key = _read_key_file(path)  # another node on this data dir made it while we waited
            if key is not None:
                return key
            self.db.upgrade_schema()
            with self.db.side_write() as conn:
                if conn.execute(_KEY_CHECK_QUERY).first() is not None:
                    raise ConfigError(
                        f"{path} is missing, but the database {self.db.display_url} already holds secrets "
                        "encrypted under a master key. Restore master.key from your backup into the data "
                        "directory, or give that key with IAMD_MASTER_KEY or IAMD_MASTER_KEY_FILE. iamd does not "
                        "make a new key for an existing database: it could not read the secrets stored there"
                    )
                key = create_key_file(path)
                _check_master_key(conn, SecretBox(key))
        log.info("new database: created its master key in %s (back it up apart from the database)", path)
        return key

    # -- start-up -------------------------------------------------------------------------------

    def prepare_store(self) -> None:
        """Migrate the schema, check that the master key opens this database, seed what every store holds.

        Under the start-up lock: any number of nodes may run this at once on a new database.
        """
        with self.db.startup_lock():
            self.db.upgrade_schema()
            with self.db.write() as conn:
                _check_master_key(conn, self.box)
                aws_managed.seed(conn, self.settings.identity.partition, self.clock.time())
                token_keys.ensure_primary_key(conn, self.box, self.clock)

    def bootstrap(self) -> accounts.RootCredentials | None:
        """Create the default account on an empty store; return its root key if it was generated."""
        s, data_dir = self.settings.identity, self.settings.store.data_dir
        generated = s.bootstrap_root_access_key_id is None
        if generated and data_dir is None:
            raise ConfigError(
                "cannot write root-credentials.json without --data-dir: "
                "set IAMD_ROOT_ACCESS_KEY_ID and IAMD_ROOT_SECRET_ACCESS_KEY"
            )
        with self.db.startup_lock():  # one default account, however many nodes start at once
            with self.db.write() as conn:
                if accounts.has_default_account(conn):
                    return None
                try:
                    creds = accounts.create_account(
                        conn,
                        self.box,
                        self.clock,
                        account_id=s.bootstrap_account_id,
                        name="default",
                        root_access_key_id=s.bootstrap_root_access_key_id,
                        root_secret_access_key=s.bootstrap_root_secret_access_key,
                        is_default=True,
                    )
                except accounts.AccountError as exc:
                    raise ConfigError(f"cannot create the default account: {exc}") from exc
            if generated and data_dir is not None:
                path = data_dir / "root-credentials.json"
                accounts.write_credentials_file(path, creds)
                log.info("default account %s created; its root access key is in %s", creds.account_id, path)
            else:
                log.info("default account %s created with the root access key from the environment", creds.account_id)
        self.watcher.invalidate()
        return creds

    def reset(self) -> None:
        """Dev only: wipe every entity and re-create the default account."""
        self.key_usage.discard()
        while self.audit.flush():  # records of before the reset go with the rest
            pass
        self.db.wipe()
        with self.db.write() as conn:
            aws_managed.seed(conn, self.settings.identity.partition, self.clock.time())
        self.watcher.invalidate()
        self.bootstrap()

    def close(self) -> None:
        self.key_usage.flush()
        self.audit.close()  # writes what is still queued
        self.db.dispose()

    @property
    def credentials_path(self) -> Path | None:
        data_dir = self.settings.store.data_dir
        return data_dir / "root-credentials.json" if data_dir else None


def _jwks_cache(settings: Settings, clock: Clock) -> JwksCache:
    f = settings.federation
    if f.allow_http_loopback and not settings.server.dev:
        raise ConfigError("IAMD_FEDERATION_ALLOW_HTTP_LOOPBACK is for development only: it needs --dev")
    offline = {}
    if f.offline_jwks_dir is not None:
        try:
            documents = {
                urllib.parse.unquote(path.name.removesuffix(".json")): path.read_bytes()
                for path in sorted(f.offline_jwks_dir.glob("*.json"))
            }
            offline = offline_key_sets(documents)
        except (OSError, JwksError) as exc:
            raise ConfigError(f"IAMD_OFFLINE_JWKS_DIR {f.offline_jwks_dir}: {exc}") from exc
    fetcher = HttpsFetcher(ca_file=f.ca_file, allow_http_loopback=f.allow_http_loopback)
    return JwksCache(
        fetcher,
        clock,
        JwksSettings(
            ttl_seconds=f.jwks_ttl_seconds,
            refresh_interval_seconds=f.jwks_refresh_seconds,
            allow_http_loopback=f.allow_http_loopback,
            offline_keys=offline,
        ),
    )


def _read_key_file(path: Path, setting: str = "") -> bytes | None:
    try:
        return read_key_file(path)
    except OSError as exc:
        raise ConfigError(f"cannot read the master key file {setting}{path}: {exc.strerror or exc}") from exc
    except MasterKeyError as exc:
        raise ConfigError(f"the master key file {setting}{path} is damaged: {exc}") from exc


def _check_master_key(conn: sa.Connection, box: SecretBox) -> None:
    """Record a check value on a new database; refuse a master key that does not open it."""
    blob = base64.b64encode(box.encrypt(_KEY_CHECK_PLAINTEXT)).decode()
    insert_ignore(conn, t.settings, {"key": _KEY_CHECK, "value": blob})
    stored = conn.execute(_KEY_CHECK_QUERY).scalar_one()
    try:
        box.decrypt(base64.b64decode(stored))
    except MasterKeyError as exc:
        raise ConfigError(
            "the master key does not open this database's secrets: "
            "start with the master key the database was created with"
        ) from exc


class KeyUsageRecorder:
    """Access-key last-used data, gathered in memory and written in batches off the hot path."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[str, tuple[float, str, str]] = {}
        self._roles: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def record_role(self, role_id: str, when: float, region: str) -> None:
        """A role was assumed (RoleLastUsed)."""
        self._roles[role_id] = (when, region)

    def record(self, access_key_id: str, when: float, service: str, region: str) -> None:
        self._pending[access_key_id] = (when, service, region)

    def discard(self) -> None:
        with self._lock:
            self._pending = {}
            self._roles = {}

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            roles, self._roles = self._roles, {}
        if not pending and not roles:
            return
        k, r = t.access_keys, t.roles
        try:
            with self._db.engine.connect().execution_options(iamd_write=True) as conn, conn.begin():
                for key_id, (when, service, region) in pending.items():
                    conn.execute(
                        k.update()
                        .where(k.c.id == key_id)
                        .values(last_used_at=when, last_used_service=service, last_used_region=region)
                    )
                for role_id, (when, region) in roles.items():
                    conn.execute(r.update().where(r.c.id == role_id).values(last_used_at=when, last_used_region=region))
        except sa.exc.DBAPIError:
            log.warning("could not record access key usage; will retry")
            with self._lock:
                for key_id, value in pending.items():
                    self._pending.setdefault(key_id, value)
                for role_id, used in roles.items():
                    self._roles.setdefault(role_id, used)
