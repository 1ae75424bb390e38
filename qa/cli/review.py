"""Review, for supervisors and trainers: ``qa review`` (a verdict on a finding or a conversation), ``qa export``
(coaching examples with clips, redacted) and ``qa serve`` (the review page)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qa.cli import options as opt
from qa.cli.output import audit, fail, warn_typos

if TYPE_CHECKING:
    from qa.store import Store


def review(
    conversation_id: Annotated[str, typer.Argument(help="Conversation id.")],
    verdict: Annotated[str, typer.Argument(help="confirmed | false_positive | disputed.")],
    reviewer: Annotated[str, typer.Option("--by", help="Who gives the verdict.", envvar="QA_REVIEWER")],
    finding: Annotated[str | None, typer.Option(
        help="Finding key (from `qa findings`); without it the verdict is on the whole conversation.")] = None,
    comment: Annotated[str | None, typer.Option(help="Why.")] = None,
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
) -> None:
    """Record a supervisor's verdict on a finding or a conversation (kept across re-scoring)."""
    from qa.review import report
    from qa.store import Review, StoreError

    store = opt.open_db(db)
    try:
        review_id = store.add_review(Review(conversation_id, verdict, reviewer, finding, comment))
    except (ValueError, LookupError, StoreError) as exc:
        raise fail(str(exc.args[0]) if exc.args else str(exc)) from exc
    audit(store, reviewer, "verdict", conversation_id, f"{finding or 'whole conversation'}: {verdict} (qa review)")
    report.console.print(f"Recorded {verdict} on {conversation_id} {finding or '(conversation)'}: {review_id}")


def export(
    out: Annotated[Path, typer.Option("--out", help="Output folder (created; files are only written inside it).")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl | csv | html (one self-contained page).")] = "jsonl",
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category (e.g. stop_word, escalation).")] = None,
    team: opt.TeamOpt = None,
    operator: opt.OperatorOpt = None,
    since: opt.SinceOpt = None,
    until: opt.UntilOpt = None,
    verdict: Annotated[str | None, typer.Option(
        help="Only findings with this verdict: confirmed | false_positive | disputed | unreviewed | all "
             "(default: all but false_positive).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many examples.")] = 20,
    context: Annotated[float, typer.Option(help="Seconds of context turns (and audio) around each finding.")] = 10.0,
    clip_format: Annotated[str, typer.Option(help="ogg (Opus) | mp3.")] = "ogg",
    clips: Annotated[bool, typer.Option("--clips/--no-clips", help="Cut an audio clip for each call finding.")]
    = True,
    redact: Annotated[bool, typer.Option("--redact/--no-redact", help="Replace personal data in text and beep it "
                                         "in clips (on by default; --no-redact exports it as spoken).")] = True,
    audio_root: opt.AudioRootOpt = None,
    good: Annotated[bool, typer.Option("--good", help="Good examples: script steps done well (greeting, "
                                       "farewell…) from the best-scored conversations, instead of findings. --rule "
                                       "takes a script rule or rule.step, --category a step category, --verdict "
                                       "the verdict on the conversation.")] = False,
    rules: Annotated[Path, typer.Option("--rules", help="Rule set folder the HTML page takes rule titles from.",
                                        envvar="QA_RULES")] = Path(opt.DEFAULT_RULES),
) -> None:
    """Coaching examples with context, verdicts and audio clips; personal data redacted unless --no-redact.

    Exit 3 when the export was written but some call examples have no clip because their audio file is missing
    or unreadable (each is listed; --no-clips exports text only)."""
    from qa.review import export as exporter
    from qa.review import report
    from qa.store import StoreError

    if fmt not in exporter.FORMATS:
        raise typer.BadParameter(f"--format: one of {', '.join(exporter.FORMATS)}")
    if clip_format not in exporter.CLIP_MIME:
        raise typer.BadParameter("--clip-format: ogg or mp3")
    filters = opt.filters(since, until, team, operator, rule, category, None, None, None, None, verdict)
    if not redact:
        report.err_console.print(
            "[bold red]WARNING: --no-redact: the export will contain personal data (phone, card, passport, "
            "INN and SNILS numbers, e-mails, dates of birth, names) in its text and audio clips exactly as "
            "spoken. Keep it inside the company.[/]", highlight=False)
    redactor = None
    if redact:
        from qa.text.redaction import get_redactor

        redactor = get_redactor()
    options = exporter.ExportOptions(out_dir=out, fmt=fmt, context_s=context, clips=clips, clip_format=clip_format,
                                     redact=redact, audio_root=opt.audio_root(audio_root), limit=limit, good=good,
                                     rules_dir=rules)
    store = opt.open_db(db)
    try:
        result = exporter.export_examples(store, filters, options, redactor)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    typo = warn_typos(store, filters, skip=("rule", "category") if good else ())
    missing = result.missing_clips
    no_clip: dict[tuple[str, str], int] = {}
    for example in result.examples:
        if example.clip_error:
            key = (example.conversation_id, example.clip_error)
            no_clip[key] = no_clip.get(key, 0) + 1
    for (cid, why), count in no_clip.items():
        colour = "red" if any(e.conversation_id == cid for e in missing) else "yellow"
        report.err_console.print(f"[{colour}]no clip[/] {cid} ({count} examples): {why}", highlight=False)
    redacted = ", ".join(f"{k} {v}" for k, v in sorted(result.redacted.items())) or "none found"
    report.console.print(
        f"Exported {len(result.examples)} examples to {result.out_file} with {len(result.clips)} clips; "
        + (f"redacted: {redacted}." if result.redaction else "[bold red]NOT redacted[/]."), highlight=False)
    shown = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(filters).items() if v is not None}
    audit(store, None, "export", None, f"{fmt}{', good' if good else ''}, {len(result.examples)} examples, "
           f"{len(missing)} without clip, {'redacted' if redact else 'NOT redacted'}, to {result.out_file}: {shown}")
    if typo and not result.examples:
        raise typer.Exit(1)
    if missing:
        calls = len({e.conversation_id for e in missing})
        raise fail(f"{len(missing)} requested clips could not be cut: the audio of {calls} calls is missing or "
                    "unreadable (listed above; set audio_root in qa.toml or --audio-root, or pass --no-clips); the "
                    "export was written without them", code=3)


def serve(
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    host: Annotated[str, typer.Option(help="Address to listen on (keep 127.0.0.1 unless behind a proxy).")] =
    "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", envvar="QA_PORT")] = 8765,
    audio_root: Annotated[Path | None, typer.Option(
        help="Folder that relative call paths in the database are resolved against (default: qa.toml's "
             "audio_root, else the current one).", envvar="QA_AUDIO_ROOT")]
    = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Loopback only: serve without sign-in when the "
                                          "database has no account.")] = False,
    insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth", help="Serve any address without "
                                                   "sign-in (warns loudly).")] = False,
    trust_proxy_header: Annotated[str | None, typer.Option(help="Trust this header (e.g. X-Remote-User) as the "
                                                           "signed-in user, set by an authenticating reverse proxy; "
                                                           "the user needs an account here.")] = None,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies/--no-secure-cookies", help="Mark session "
                                                 "cookies Secure (set when served over https).")] = False,
    rules: Annotated[Path, typer.Option("--rules", help="Rule set folder the page takes rule titles from.",
                                        envvar="QA_RULES")] = Path(opt.DEFAULT_RULES),
    allowed_hosts: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Another name the page may be reached by (the Host header: a proxy's public name, "
                               "a DNS name; *.example.com for subdomains); repeatable. Requests naming any host "
                               "other than the listen address or these get 400 (DNS rebinding).",
        envvar="QA_ALLOWED_HOSTS")] = None,
) -> None:
    """The review web page: flagged list, conversation pages with audio, verdicts, dashboard, rule precision."""
    from qa.review import report
    from qa.review.web.app import serve as serve_app
    from qa.review.web.guards import HostError, bound_host_names, check_allowed_host

    store = opt.existing_db(db)
    try:
        extra = [check_allowed_host(h) for h in allowed_hosts or ()]
    except HostError as exc:
        raise fail(str(exc)) from exc
    mode = _serve_auth_mode(store, host, no_auth, insecure_no_auth, trust_proxy_header)
    report.console.print(f"Review page on http://{host}:{port}/ (database {store.display}); Ctrl+C stops it.")
    report.console.print("Answers requests for host " + ", ".join(dict.fromkeys([*bound_host_names(host), *extra]))
                         + " only (--allowed-host adds more).", highlight=False)
    serve_app(store, host=host, port=port, audio_root=opt.audio_root(audio_root), auth_mode=mode,
              proxy_header=trust_proxy_header, secure_cookies=secure_cookies, rules_dir=rules, allowed_hosts=extra)


def _serve_auth_mode(store: Store, host: str, no_auth: bool, insecure: bool, proxy_header: str | None) -> str:
    """accounts / proxy / none; refuses to serve without accounts unless told to (loudly off loopback)."""
    from qa.review import auth, report

    if proxy_header:
        return "proxy"
    if auth.count_users(store):
        return "accounts"
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if insecure or (no_auth and loopback):
        if not loopback:
            report.err_console.print(f"[bold red]WARNING: serving {host} with NO SIGN-IN: anyone who can reach it "
                                     "sees every conversation and can give verdicts.[/]")
        return "none"
    hint = f"add the first account: qa users add NAME --db {store.location} --role supervisor"
    if loopback:
        raise fail(f"{store.display}: no accounts yet; {hint} (or pass --no-auth for a local look without sign-in)")
    raise fail(f"{store.display}: refusing to serve {host} without any account; {hint} "
                "(or --insecure-no-auth, not recommended)")
