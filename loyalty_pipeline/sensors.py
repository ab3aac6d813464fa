"""Sensors: a failed run posts a short, actionable message to a Slack-compatible webhook; the
runs of killed `loyalty-pipeline run` commands are closed so that they do not hold the queue."""

import json
import urllib.request

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from loyalty_pipeline.run_lock import close_runs_of_killed_commands

ALERT_TIMEOUT_SECONDS = 10


class AlertWebhook(dg.ConfigurableResource):
    """Where run failures are posted (`LOYALTY_ALERT_WEBHOOK_URL`); unset, alerts are only logged.

    The URL is a secret (it grants posting to a channel): it is never logged or shown.
    """

    url: str | None = None
    ui_url: str = "http://127.0.0.1:3000"

    def post(self, text: str) -> None:
        request = urllib.request.Request(
            self.url or "",
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=ALERT_TIMEOUT_SECONDS) as response:
            response.read()


def run_partitions(tags: dict[str, str]) -> str:
    """The partition or partition range a run was launched for, from its tags."""
    if ASSET_PARTITION_RANGE_START_TAG in tags:
        start, end = tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
        return start if start == end else f"{start}..{end}"
    return tags.get("dagster/partition", "unpartitioned")


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The checks of a run that failed, with what each found."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    failed = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed:
            failed.append(
                f"{evaluation.asset_check_key.to_user_string()} ({evaluation.severity.value}): "
                f"{evaluation.description or 'see the run'}"
            )
    return failed


def alert_text(context: dg.RunFailureSensorContext, ui_url: str) -> str:
    """The alert: job, partitions, failed checks or the failure, and a link to the run."""
    run = context.dagster_run
    lines = [f":rotating_light: *{run.job_name}* failed for partitions {run_partitions(run.tags)}"]
    checks = failed_checks(context.instance, run.run_id)
    if checks:
        lines.append("Failed checks:")
        lines.extend(f"• {check}" for check in checks[:10])
    else:
        lines.append(f"Failure: {context.failure_event.message or 'see the run'}")
    lines.append(f"Run: {ui_url.rstrip('/')}/runs/{run.run_id}")
    return "\n".join(lines)


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    description="Posts failed runs (job, partitions, failed checks, link) to LOYALTY_ALERT_WEBHOOK_URL.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook) -> None:
    text = alert_text(context, alert_webhook.ui_url)
    if not alert_webhook.url:
        context.log.warning(f"LOYALTY_ALERT_WEBHOOK_URL is not set; alert not sent:\n{text}")
        return
    alert_webhook.post(text)
    context.log.info(f"alert for run {context.dagster_run.run_id} posted to the webhook")


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def close_runs_of_killed_commands_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Close the runs that a killed `loyalty-pipeline run` left in progress.

    Such a run carries the code location's tag, so the queue would hold every run from the
    UI, a backfill or the schedule behind it until the next command over its data folder
    closed it; and no run would fail, so nobody would be told.
    """
    closed = close_runs_of_killed_commands(context.instance)
    for run_id in closed:
        context.log.info(f"closed run {run_id}: its command was killed (marked failed)")
    return dg.SkipReason(f"closed {len(closed)} run(s) of killed commands" if closed else "no killed command's run")
