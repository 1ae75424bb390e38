"""The ``qa`` command line: a thin layer over the library and the flows, one module per command group.

- :mod:`qa.cli.batch`: ``run``, ``rescore``, ``schedule`` (the nightly batch);
- :mod:`qa.cli.scoring`: ``score``, ``check-rules`` (one conversation, a rule set's tests);
- :mod:`qa.cli.reads`: ``flagged``, ``stats``, ``findings``, ``precision``, ``sql`` (the read side);
- :mod:`qa.cli.search`: ``search`` (transcript search, and a search saved as a draft rule);
- :mod:`qa.cli.review`: ``review``, ``export``, ``serve`` (verdicts, coaching examples, the page);
- :mod:`qa.cli.admin`: ``init``, ``prepare-model``, ``purge``, ``compact`` (a working folder, the model, retention,
  a lake's upkeep);
- :mod:`qa.cli.users`: ``users …`` (accounts of the page);
- :mod:`qa.cli.sources`: ``sources check`` (the PBX sources of qa.toml, a dry run).

Every command is registered here, in the order ``qa --help`` lists them; the README documents each
(a test fails on an undocumented one).
"""

from __future__ import annotations

from qa.cli import admin, batch, reads, review, scoring, search
from qa.cli.app import app
from qa.cli.sources import sources_app
from qa.cli.users import users_app

app.command()(batch.run)
app.command()(scoring.score)
app.command()(reads.flagged)
app.command()(reads.stats)
app.command()(search.search)
app.command()(review.review)
app.command()(reads.findings)
app.command()(reads.precision)
app.command("check-rules")(scoring.check_rules)
app.command()(batch.rescore)
app.command()(reads.sql)
app.command()(review.export)
app.command()(review.serve)
app.command()(admin.init)
app.command()(admin.purge)
app.command()(admin.compact)
app.command("prepare-model")(admin.prepare_model)
app.command()(batch.schedule)
app.add_typer(users_app, name="users")
app.add_typer(sources_app, name="sources")

__all__ = ["app"]
