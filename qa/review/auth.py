"""Accounts of the review page: argon2-hashed passwords, roles and teams, sessions, login lockout, audit trail.

The only module that imports argon2. Everything lives in the project's DuckDB file (migration 004); every write
is one short transaction through :meth:`qa.store.Store.write_transaction`, which retries while the nightly flow
holds the file and, on a DuckLake, takes the write token (two logins at once: the loser is run again, nothing lost).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from qa.store import Store

ROLES = ("supervisor", "team_lead", "trainer", "admin")
MIN_PASSWORD = 10
MAX_FAILED_LOGINS = 5  # in a row, per account: then the account is locked for LOCKOUT
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anybody")


class AccountError(ValueError):
    """A bad account request (unknown user, weak password, bad role…)."""


class LockedOut(Exception):
    """Too many failed logins: the account or the client is locked for a while."""


@dataclass(frozen=True)
class User:
    """A signed-in user and what the role lets them do."""

    username: str
    role: str
    teams: tuple[str, ...] = ()
    pii: bool = False

    @property
    def all_teams(self) -> bool:
        """Sees every team's conversations (supervisor, trainer)."""
        return self.role in ("supervisor", "trainer")

    def sees_team(self, team: str | None) -> bool:
        """May open a conversation of ``team``."""
        return self.all_teams or (self.role == "team_lead" and team is not None and team in self.teams)

    @property
    def sees_conversations(self) -> bool:
        return self.role in ("supervisor", "team_lead", "trainer")

    @property
    def sees_stats(self) -> bool:
        """Dashboard, rule precision (team leads: their teams)."""
        return self.role in ("supervisor", "team_lead")

    @property
    def may_review(self) -> bool:
        return self.role in ("supervisor", "team_lead")

    @property
    def hears_audio(self) -> bool:
        """The original recording (unbeeped): not for trainers, who get redacted clips from exports."""
        return self.role in ("supervisor", "team_lead")

    @property
    def may_show_pii(self) -> bool:
        """May show personal data in clear (audited): a supervisor given the ``pii`` permission."""
        return self.role == "supervisor" and self.pii

    @property
    def sees_failures(self) -> bool:
        return self.role == "supervisor"

    @property
    def sees_users(self) -> bool:
        return self.role in ("admin", "supervisor")


@dataclass(frozen=True)
class Session:
    """A login: the cookie token (kept only hashed in the database) and its CSRF token."""

    token: str
    csrf_token: str
    user: User


def _now() -> datetime:
    return datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str, teams: tuple[str, ...]) -> None:
    if role not in ROLES:
        raise AccountError(f"role: one of {', '.join(ROLES)}, not {role!r}")
    if role == "team_lead" and not teams:
        raise AccountError("a team lead needs at least one team (--team)")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")


def add_user(store: Store, username: str, password: str, role: str, teams: tuple[str, ...] = (),
             pii: bool = False) -> User:
    """Create an account; the password is stored as an argon2id hash."""
    username = username.strip()
    if not username or len(username) > 80:
        raise AccountError("username: 1 to 80 characters")
    teams = tuple(t.strip() for t in teams if t.strip())
    _check_role(role, teams)
    _check_password(password)
    hashed = _HASHER.hash(password)  # once: a DuckLake write may be run again

    def write(con) -> None:
        if con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise AccountError(f"user {username!r} already exists")
        con.execute("INSERT INTO users (username, password_hash, role, teams, pii, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [username, hashed, role, list(teams), pii, _now()])
        _audit(con, None, "user_added", detail=f"{username} ({role})")
    store.write_transaction(write)
    return User(username, role, teams, pii)


def remove_user(store: Store, username: str) -> None:
    """Delete an account and end its sessions."""
    def write(con) -> None:
        if not con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise AccountError(f"user {username!r} not found")
        con.execute("DELETE FROM sessions WHERE username = ?", [username])
        con.execute("DELETE FROM users WHERE username = ?", [username])
        _audit(con, None, "user_removed", detail=username)
    store.write_transaction(write)


def set_password(store: Store, username: str, password: str) -> None:
    """Change a password, unlock the account and end its sessions."""
    _check_password(password)
    hashed = _HASHER.hash(password)

    def write(con) -> None:
        if not con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise AccountError(f"user {username!r} not found")
        con.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE username = ?",
                    [hashed, username])
        con.execute("DELETE FROM sessions WHERE username = ?", [username])
        _audit(con, None, "password_changed", detail=username)
    store.write_transaction(write)


def set_role(store: Store, username: str, role: str, teams: tuple[str, ...] = (), pii: bool = False) -> None:
    """Change an account's role, teams and PII permission (its sessions end)."""
    teams = tuple(t.strip() for t in teams if t.strip())
    _check_role(role, teams)
    def write(con) -> None:
        if not con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise AccountError(f"user {username!r} not found")
        con.execute("UPDATE users SET role = ?, teams = ?, pii = ? WHERE username = ?",
                    [role, list(teams), pii, username])
        con.execute("DELETE FROM sessions WHERE username = ?", [username])
        _audit(con, None, "role_changed", detail=f"{username} ({role})")
    store.write_transaction(write)


def list_users(store: Store) -> list[tuple[User, datetime | None]]:
    """Every account with the time it is locked until (``None``: not locked)."""
    _, rows = store.query("SELECT username, role, teams, pii, locked_until FROM users ORDER BY username")
    return [(User(r[0], r[1], tuple(r[2] or ()), bool(r[3])), r[4]) for r in rows]


def count_users(store: Store) -> int:
    """How many accounts exist (0 for a database without any)."""
    if not store.exists():
        return 0
    return store.query("SELECT count(*) FROM users")[1][0][0]


def get_user(store: Store, username: str) -> User | None:
    _, rows = store.query("SELECT username, role, teams, pii FROM users WHERE username = ?", [username])
    return User(rows[0][0], rows[0][1], tuple(rows[0][2] or ()), bool(rows[0][3])) if rows else None


def _verified(store: Store, username: str, password: str, client: str | None) -> tuple[User, str] | None:
    """The account and its stored hash for a right password; ``None`` for a wrong one or an unknown name (both
    audited, a wrong one counted towards the lockout). Raises :class:`LockedOut` for a locked account."""
    now = _now()
    _, rows = store.query("SELECT password_hash, role, teams, pii, failed_logins, locked_until FROM users "
                        "WHERE username = ?", [username])
    if not rows:
        try:  # the same work as for a real account, so timing does not tell which names exist
            _HASHER.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        audit(store, username, "login_failed", detail="unknown user", client=client)
        return None
    password_hash, role, teams, pii, failed, locked_until = rows[0]
    if locked_until is not None and locked_until > now:
        audit(store, username, "login_locked", client=client)
        raise LockedOut(username)
    try:
        _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        failed += 1
        lock = now + LOCKOUT if failed >= MAX_FAILED_LOGINS else None
        def write(con) -> None:
            con.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE username = ?",
                        [0 if lock else failed, lock, username])
            _audit(con, username, "login_failed", detail="account locked" if lock else "wrong password",
                   client=client)
        store.write_transaction(write)
        if lock:
            raise LockedOut(username) from None
        return None
    return User(username, role, tuple(teams or ()), bool(pii)), password_hash


def login(store: Store, username: str, password: str, client: str | None = None) -> Session | None:
    """A new session for a right password; ``None`` for a wrong one. Raises :class:`LockedOut` after
    :data:`MAX_FAILED_LOGINS` failures in a row (the account stays locked for :data:`LOCKOUT`, right password or
    not). Every attempt is audited."""
    found = _verified(store, username, password, client)
    if found is None:
        return None
    user, password_hash = found
    now = _now()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    def write(con) -> None:
        if _HASHER.check_needs_rehash(password_hash):
            con.execute("UPDATE users SET password_hash = ? WHERE username = ?", [_HASHER.hash(password), username])
        con.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = ?", [username])
        con.execute("DELETE FROM sessions WHERE expires_at < ?", [now])
        con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                    [_token_hash(token), username, csrf, now, now + SESSION_LIFETIME])
        _audit(con, username, "login", client=client)
    store.write_transaction(write)
    return Session(token, csrf, user)


def authenticate(store: Store, username: str, password: str, action: str, detail: str | None = None,
                 client: str | None = None, role: str | None = None) -> User | None:
    """The account for a right password, without a session (a command that asks an admin to confirm who they
    are); ``None`` for a wrong one. Lockout and audit as :func:`login`; a success is audited as ``action``, or as
    ``action_refused`` when the account's role is not ``role``."""
    found = _verified(store, username, password, client)
    if found is None:
        return None
    user = found[0]
    refused = role is not None and user.role != role
    def write(con) -> None:
        con.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = ?", [username])
        _audit(con, username, f"{action}_refused" if refused else action,
               detail=f"role {user.role}, not {role}: {detail or ''}" if refused else detail, client=client)
    store.write_transaction(write)
    return user


def session(store: Store, token: str | None) -> Session | None:
    """The live session of a cookie token, or ``None``."""
    if not token or len(token) > 200:
        return None
    _, rows = store.query("SELECT u.username, u.role, u.teams, u.pii, s.csrf_token FROM sessions s "
                        "JOIN users u USING (username) WHERE s.token_hash = ? AND s.expires_at > ?",
                    [_token_hash(token), _now()])
    if not rows:
        return None
    username, role, teams, pii, csrf = rows[0]
    return Session(token, csrf, User(username, role, tuple(teams or ()), bool(pii)))


def logout(store: Store, token: str, username: str | None = None, client: str | None = None) -> None:
    """End a session."""
    def write(con) -> None:
        con.execute("DELETE FROM sessions WHERE token_hash = ?", [_token_hash(token)])
        _audit(con, username, "logout", client=client)
    store.write_transaction(write)


def _audit(con, username: str | None, action: str, conversation_id: str | None = None, detail: str | None = None,
           client: str | None = None) -> None:
    con.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)",
                [_now(), username, action, conversation_id, detail, client])


def audit(store: Store, username: str | None, action: str, conversation_id: str | None = None,
          detail: str | None = None, client: str | None = None) -> None:
    """Write one line of the audit trail (PII shown, export, verdict…)."""
    def write(con) -> None:
        _audit(con, username, action, conversation_id, detail, client)
    store.write_transaction(write)


class ClientThrottle:
    """Failed logins per client address in a sliding window (guards against trying many account names)."""

    def __init__(self, limit: int = 20, window_s: float = 900.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, client: str) -> bool:
        recent = self._failures.get(client)
        now = time.monotonic()
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        return bool(recent) and len(recent) >= self.limit

    def failed(self, client: str) -> None:
        self._failures.setdefault(client, deque()).append(time.monotonic())
