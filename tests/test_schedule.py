"""The scheduled deployment is declared for 02:00 Moscow time with the inbox, db and rules as parameters."""

from __future__ import annotations


def test_nightly_deployment_is_a_moscow_cron():
    from qa.flows.nightly import nightly_deployment

    deployment = nightly_deployment("/in", "/qa.duckdb", "/rules")
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Moscow")
    assert deployment.name == "nightly"
    assert deployment.parameters == {"inbox": "/in", "db": "/qa.duckdb", "rules": "/rules"}
