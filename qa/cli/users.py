"""`qa users`: accounts of the review page (add, remove, passwd, role, list)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qa.cli.options import open_db
from qa.cli.output import fail

users_app = typer.Typer(help="Accounts of the review page (`qa serve`): roles, teams, passwords.",
                        no_args_is_help=True)

DbOpt = Annotated[Path, typer.Option("--db", help="DuckDB file or ducklake:postgres:… setting.", envvar="QA_DB")]
RoleOpt = Annotated[str, typer.Option(help="supervisor | team_lead | trainer | admin.")]
TeamOpt = Annotated[list[str] | None, typer.Option("--team", help="A team the team lead sees (repeat for more).")]
PiiOpt = Annotated[bool, typer.Option("--pii/--no-pii", help="May show personal data in clear (supervisor).")]
PasswordOpt = Annotated[str | None, typer.Option(
    help="Password (default: asked twice on the terminal; or the QA_PASSWORD variable).", envvar="QA_PASSWORD")]


def _password(given: str | None) -> str:
    return given if given is not None else typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def add(username: str, db: DbOpt = Path("data/qa.duckdb"), role: RoleOpt = "supervisor", team: TeamOpt = None,
        pii: PiiOpt = False, password: PasswordOpt = None) -> None:
    """Create an account (the password is stored as an argon2 hash)."""
    from qa.review import auth
    from qa.review.report import console

    try:
        user = auth.add_user(open_db(db), username, _password(password), role, tuple(team or ()), pii)
    except auth.AccountError as exc:
        raise fail(f"{db}: {exc}") from exc
    console.print(f"User {user.username} added ({user.role}{': ' + ', '.join(user.teams) if user.teams else ''}).")


@users_app.command("remove")
def remove(username: str, db: DbOpt = Path("data/qa.duckdb")) -> None:
    """Delete an account and end its sessions."""
    from qa.review import auth
    from qa.review.report import console

    try:
        auth.remove_user(open_db(db), username)
    except auth.AccountError as exc:
        raise fail(f"{db}: {exc}") from exc
    console.print(f"User {username} removed.")


@users_app.command("passwd")
def passwd(username: str, db: DbOpt = Path("data/qa.duckdb"), password: PasswordOpt = None) -> None:
    """Set a new password (unlocks the account, ends its sessions)."""
    from qa.review import auth
    from qa.review.report import console

    try:
        auth.set_password(open_db(db), username, _password(password))
    except auth.AccountError as exc:
        raise fail(f"{db}: {exc}") from exc
    console.print(f"Password of {username} changed.")


@users_app.command("role")
def role(username: str, db: DbOpt = Path("data/qa.duckdb"), role: RoleOpt = "supervisor", team: TeamOpt = None,
         pii: PiiOpt = False) -> None:
    """Change an account's role, teams and PII permission."""
    from qa.review import auth
    from qa.review.report import console

    try:
        auth.set_role(open_db(db), username, role, tuple(team or ()), pii)
    except auth.AccountError as exc:
        raise fail(f"{db}: {exc}") from exc
    console.print(f"User {username} is now {role}.")


@users_app.command("list")
def list_(db: DbOpt = Path("data/qa.duckdb")) -> None:
    """List the accounts."""
    from qa.review import auth
    from qa.review.report import console

    store = open_db(db)
    if not store.exists():
        raise fail(f"{store.display}: database not found")
    for user, locked in auth.list_users(store):
        teams = ", ".join(user.teams) or "all teams"
        console.print(f"{user.username}\t{user.role}\t{teams}\t{'pii' if user.pii else ''}"
                      f"{'	locked until ' + str(locked) if locked else ''}", highlight=False)
