package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.metering.agent.PrometheusText;

/** The settlement's Prometheus metrics, read from memory only: a scrape never waits for the database. Stateless. */
final class SettlementMetrics {
    private static final long[] LAG_BOUNDS_MILLIS = {5, 10, 25, 50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000,
        30_000, 60_000, 300_000};
    private SettlementMetrics() {
    }

    static void write(StringBuilder out, long pendingOps, Settler settler, SettlementJournal journal, Database db,
                      QualityGate quality, Arrears arrears, RemoteOperations remoteOps) {
        PrometheusText.gauge(out, "tollgate_settlement_operations_pending", "Settlement operations not yet carried out.",
                pendingOps);
        out.append("# HELP tollgate_settlement_operations_total Settlement operations finished, by result.\n")
                .append("# TYPE tollgate_settlement_operations_total counter\n")
                .append("tollgate_settlement_operations_total{result=\"done\"} ").append(settler.doneCount())
                .append('\n')
                .append("tollgate_settlement_operations_total{result=\"rejected\"} ").append(settler.rejectedCount())
                .append('\n');
        PrometheusText.counter(out, "tollgate_journal_usage_records_total", "Usage records written to the durable journal.",
                journal.journaledCount());
        PrometheusText.counter(out, "tollgate_journal_quarantined_records_total",
                "Usage records that failed to journal and were quarantined (table usage_quarantine).",
                journal.quarantinedCount());
        PrometheusText.gauge(out, "tollgate_journal_waiting_entries",
                "Usage log entries (records and intents) waiting for the journal's next commit.",
                journal.waitingEntries());
        PrometheusText.counter(out, "tollgate_journal_backpressure_total",
                "Hand-offs that waited for the journal's writer because too many entries were waiting.",
                journal.backPressuredCount());
        journal.settlementLag().writePrometheus(out, "tollgate_settlement_lag_seconds",
                "Response end to the commit that journaled its usage and applied its settlement (a per-request "
                        + "release, a stream budget's accrual, or a remote escrow's queued operations).",
                LAG_BOUNDS_MILLIS, 1_000L);
        PrometheusText.counter(out, "tollgate_journal_intents_refused_total",
                "Admitted ledger intents that could not be written even alone, written as refused instead (their "
                        + "requests paid from the balance or owed).",
                journal.intentFailures());
        PrometheusText.counter(out, "tollgate_ledger_commits_total",
                "Ledger transactions committed (each group commit carries many operations).", db.commits());
        PrometheusText.counter(out, "tollgate_quality_scores_late_total",
                "Quality scores that arrived after the gate's deadline had settled the request; ignored.",
                quality.lateScores());
        PrometheusText.gauge(out, "tollgate_payers_in_arrears", "Payers refused service until what they owe is paid.",
                arrears.payers() + (remoteOps == null ? 0 : remoteOps.payersInArrears()));
        if (remoteOps != null) {
            remoteOps.writePrometheus(out);
        }
    }
}
