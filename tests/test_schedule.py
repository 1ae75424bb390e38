"""The scheduled deployment is declared for 02:00 Moscow time with the inbox, db, rules and PBX sources as
parameters."""

from __future__ import annotations

import json


def test_nightly_deployment_is_a_moscow_cron():
    from qa.flows.nightly import nightly_deployment

    deployment = nightly_deployment("/in", "/qa.duckdb", "/rules")
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Moscow")
    assert deployment.name == "nightly"
    assert deployment.parameters == {"inbox": "/in", "db": "/qa.duckdb", "rules": "/rules", "sources": []}


def test_the_deployment_keeps_the_pbx_sources_as_data():
    """A served deployment stores its parameters as JSON: the sources of qa.toml go in as plain data and come back
    as the same settings."""
    from qa.config import CallLogSettings, DirectorySettings, SourceSettings
    from qa.flows.nightly import nightly_deployment

    source = SourceSettings(name="pbx", folder="/var/spool/asterisk/monitor", patterns=("{uniqueid}",),
                            call_log=CallLogSettings(path="/var/log/asterisk/cdr-csv/Master.csv", format="asterisk",
                                                     answered=("Дозвонился",)),
                            directory=DirectorySettings(path="/srv/hr/operators.csv"))
    deployment = nightly_deployment(None, "/qa.duckdb", "/rules", sources=[source.as_dict()])
    kept = json.loads(json.dumps(deployment.parameters))
    assert kept["inbox"] is None
    assert [SourceSettings.from_dict(s) for s in kept["sources"]] == [source]
