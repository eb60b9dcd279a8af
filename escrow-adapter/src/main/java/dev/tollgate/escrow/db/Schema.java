package dev.tollgate.escrow.db;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/** Tables of the ledger and the settlement journal. */
final class Schema {
    private Schema() {
    }

    static Void create(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            // Double-entry ledger: every movement is a transfer between two accounts; balances are kept in the
            // same transaction and must always equal the sum of transfers. Amounts are micro-USDC.
            s.execute("CREATE TABLE IF NOT EXISTS account (id TEXT PRIMARY KEY, balance INTEGER NOT NULL, "
                    + "referrer TEXT)");
            s.execute("CREATE TABLE IF NOT EXISTS transfer (seq INTEGER PRIMARY KEY AUTOINCREMENT, op_id TEXT NOT NULL, "
                    + "debit TEXT NOT NULL, credit TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0), "
                    + "kind TEXT NOT NULL, escrow_id TEXT, at_ms INTEGER NOT NULL)");
            s.execute("CREATE INDEX IF NOT EXISTS transfer_credit ON transfer(credit, kind)");
            s.execute("CREATE INDEX IF NOT EXISTS transfer_debit ON transfer(debit, kind)");
            s.execute("CREATE TABLE IF NOT EXISTS escrow (id TEXT PRIMARY KEY, payer TEXT NOT NULL, payee TEXT NOT NULL, "
                    + "locked INTEGER NOT NULL, released INTEGER NOT NULL, refunded INTEGER NOT NULL, "
                    + "fee INTEGER NOT NULL, referral INTEGER NOT NULL, status TEXT NOT NULL, "
                    + "expires_at_ms INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, "
                    + "CHECK (released + refunded <= locked))");
            // Only open escrows are looked up by expiry: a closed one (most are inserted closed, a short request's
            // hold locked and settled in one commit) costs no index entry. Databases of earlier versions indexed
            // every escrow by status.
            s.execute("DROP INDEX IF EXISTS escrow_open");
            s.execute("CREATE INDEX IF NOT EXISTS escrow_locked ON escrow(expires_at_ms) WHERE status = 'locked'");
            // Fees per payer x payee on the cumulative amount paid, rounded once; the remainder carries.
            s.execute("CREATE TABLE IF NOT EXISTS fee_pair (payer TEXT NOT NULL, payee TEXT NOT NULL, "
                    + "paid INTEGER NOT NULL, fee INTEGER NOT NULL, fee_with_referrer INTEGER NOT NULL, "
                    + "referral INTEGER NOT NULL, PRIMARY KEY (payer, payee))");
            // One effect per ledger operation id.
            s.execute("CREATE TABLE IF NOT EXISTS ledger_op (op_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                    + "escrow_id TEXT, outcome TEXT NOT NULL, code TEXT)");
            // The last usage log entry whose effects are in this database (the journal's watermark).
            s.execute("CREATE TABLE IF NOT EXISTS journal_log (id INTEGER PRIMARY KEY CHECK (id = 1), "
                    + "applied_seq INTEGER NOT NULL)");
            // Settlement journal: usage is deduplicated by request id forever.
            s.execute("CREATE TABLE IF NOT EXISTS usage (request_id TEXT PRIMARY KEY, account TEXT NOT NULL, "
                    + "worker TEXT NOT NULL, upstream TEXT NOT NULL, model TEXT NOT NULL, route TEXT NOT NULL, "
                    + "stream INTEGER NOT NULL, prompt INTEGER NOT NULL, completion INTEGER NOT NULL, "
                    + "source TEXT NOT NULL, max_tokens INTEGER NOT NULL, started_ms INTEGER NOT NULL, "
                    + "ttft_us INTEGER NOT NULL, duration_us INTEGER NOT NULL, generation_us INTEGER NOT NULL, "
                    + "upstream_us INTEGER NOT NULL, outcome TEXT NOT NULL, status INTEGER NOT NULL)");
            s.execute("CREATE TABLE IF NOT EXISTS settlement (request_id TEXT PRIMARY KEY, account TEXT NOT NULL, "
                    + "worker TEXT NOT NULL, policy TEXT NOT NULL, escrow_id TEXT, state TEXT NOT NULL, "
                    + "reserved INTEGER NOT NULL DEFAULT 0, cost INTEGER NOT NULL DEFAULT 0, "
                    + "released INTEGER NOT NULL DEFAULT 0, refunded INTEGER NOT NULL DEFAULT 0, "
                    + "bonus INTEGER NOT NULL DEFAULT 0, cum_target INTEGER NOT NULL DEFAULT 0, score TEXT, "
                    + "deadline_ms INTEGER, updated_ms INTEGER NOT NULL)");
            // Rows waiting for their escrow's next batched release (stream budgets, post-pay): a release finds them
            // without scanning the table.
            s.execute("CREATE INDEX IF NOT EXISTS settlement_batched ON settlement(escrow_id, cum_target) "
                    + "WHERE state = 'batched'");
            s.execute("CREATE TABLE IF NOT EXISTS settle_op (op_id TEXT PRIMARY KEY, request_id TEXT, escrow_id TEXT, "
                    + "kind TEXT NOT NULL, target INTEGER NOT NULL, payer TEXT, payee TEXT, state TEXT NOT NULL, "
                    + "attempts INTEGER NOT NULL DEFAULT 0, next_at_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL, "
                    + "seq INTEGER NOT NULL, error TEXT)");
            s.execute("CREATE INDEX IF NOT EXISTS settle_op_due ON settle_op(state, next_at_ms)");
            s.execute("CREATE INDEX IF NOT EXISTS settle_op_escrow ON settle_op(escrow_id, state)");
            // The quality gate's deadline sweep (every 200 ms) reads the requests waiting for a score, not the table.
            s.execute("CREATE INDEX IF NOT EXISTS settlement_awaiting_score ON settlement(deadline_ms) "
                    + "WHERE state = 'awaiting_score'");
            // Finished operations move here (same columns) so the live table stays the size of the work in flight.
            s.execute("CREATE TABLE IF NOT EXISTS settle_op_archive AS SELECT * FROM settle_op WHERE 0");
            s.execute("CREATE INDEX IF NOT EXISTS settle_op_archive_created ON settle_op_archive(created_ms)");
            // Usage records that could not be journaled with their batch, kept verbatim for an operator.
            s.execute("CREATE TABLE IF NOT EXISTS usage_quarantine (request_id TEXT PRIMARY KEY, record TEXT NOT NULL, "
                    + "error TEXT NOT NULL, at_ms INTEGER NOT NULL)");
            // Served tokens so far of long streams, to settle what was served if the process dies mid-stream.
            s.execute("CREATE TABLE IF NOT EXISTS progress (request_id TEXT PRIMARY KEY, model TEXT NOT NULL, "
                    + "prompt INTEGER NOT NULL, completion INTEGER NOT NULL, at_ms INTEGER NOT NULL)");
            s.execute("CREATE TABLE IF NOT EXISTS budget (escrow_id TEXT PRIMARY KEY, payer TEXT NOT NULL, "
                    + "worker TEXT NOT NULL, locked INTEGER NOT NULL, cost_pico INTEGER NOT NULL DEFAULT 0, "
                    + "released_target INTEGER NOT NULL DEFAULT 0, "
                    + "calls_since INTEGER NOT NULL DEFAULT 0, tokens_since INTEGER NOT NULL DEFAULT 0, "
                    + "last_release_ms INTEGER NOT NULL, state TEXT NOT NULL)");
            s.execute("CREATE INDEX IF NOT EXISTS budget_open ON budget(payer, worker, state)");
            // Post-pay (backends without partial release): what each payer owes each worker, and what was paid.
            s.execute("CREATE TABLE IF NOT EXISTS postpay (payer TEXT NOT NULL, worker TEXT NOT NULL, "
                    + "owed_pico INTEGER NOT NULL DEFAULT 0, paid INTEGER NOT NULL DEFAULT 0, "
                    + "arrears INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (payer, worker))");
            // Remote escrows created for operations, persisted the moment the service answers (or before the
            // call, as 'creating', so that an unanswered create is never repeated blindly).
            s.execute("CREATE TABLE IF NOT EXISTS remote_escrow (op_id TEXT PRIMARY KEY, remote_id TEXT, "
                    + "state TEXT NOT NULL, amount INTEGER NOT NULL, updated_ms INTEGER NOT NULL)");
            // Purple Flea backend: why a payer x worker's payments stop (insufficient balance, or a configuration
            // error the service reported), and each escrow's amount and the service's fees, for the views.
            s.execute("CREATE TABLE IF NOT EXISTS postpay_problem (payer TEXT NOT NULL, worker TEXT NOT NULL, "
                    + "code TEXT NOT NULL, message TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (payer, worker))");
            s.execute("CREATE TABLE IF NOT EXISTS purpleflea_escrow (op_id TEXT PRIMARY KEY, escrow_id TEXT NOT NULL, "
                    + "payer TEXT NOT NULL, worker TEXT NOT NULL, amount INTEGER NOT NULL, commission INTEGER NOT NULL, "
                    + "referral INTEGER NOT NULL, status TEXT NOT NULL, updated_ms INTEGER NOT NULL)");
            s.execute("CREATE INDEX IF NOT EXISTS purpleflea_escrow_pair ON purpleflea_escrow(payer, worker)");
            // Langfuse: the trace of each request (columns appended, ALTER for databases of earlier versions),
            // the outbox of ingestion events, what was written per request, scores seen, tips paid.
            addColumn(c, s, "usage", "trace_id", "TEXT");
            addColumn(c, s, "usage", "trace_attrs", "TEXT");
            s.execute("CREATE INDEX IF NOT EXISTS usage_trace ON usage(trace_id) WHERE trace_id IS NOT NULL");
            s.execute("CREATE TABLE IF NOT EXISTS langfuse_outbox (event_id TEXT PRIMARY KEY, lane TEXT NOT NULL, "
                    + "body TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
                    + "next_at_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL, error TEXT)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_outbox_lane ON langfuse_outbox(lane, state)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_outbox_due ON langfuse_outbox(state, next_at_ms)");
            s.execute("CREATE TABLE IF NOT EXISTS langfuse_sync (request_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, "
                    + "version INTEGER NOT NULL, snapshot TEXT, settled_at_ms INTEGER, watch_until_ms INTEGER NOT NULL, "
                    + "recheck INTEGER NOT NULL DEFAULT 0)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_sync_watch ON langfuse_sync(watch_until_ms)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_sync_settled ON langfuse_sync(settled_at_ms)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_sync_recheck ON langfuse_sync(recheck) WHERE recheck = 1");
            s.execute("CREATE TABLE IF NOT EXISTS langfuse_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
            s.execute("CREATE TABLE IF NOT EXISTS langfuse_score (score_id TEXT PRIMARY KEY, updated_at TEXT NOT NULL, "
                    + "trace_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, seen_ms INTEGER NOT NULL, "
                    + "outcome TEXT)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_score_trace ON langfuse_score(trace_id, name)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_score_open ON langfuse_score(outcome) "
                    + "WHERE outcome IS NULL OR outcome = 'pending_trace'");
            s.execute("CREATE TABLE IF NOT EXISTS langfuse_tip (score_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, "
                    + "request_id TEXT, payer TEXT NOT NULL, worker TEXT NOT NULL, micros INTEGER NOT NULL, "
                    + "at_ms INTEGER NOT NULL)");
            s.execute("CREATE INDEX IF NOT EXISTS langfuse_tip_trace ON langfuse_tip(trace_id)");
            // RunPod jobs (proxy runpod package): every job Tollgate watches until a terminal state, so a restart
            // resumes watching it. A hold whose request id is here is a job's, never a request cut off by a stop.
            s.execute("CREATE TABLE IF NOT EXISTS runpod_job (request_id TEXT PRIMARY KEY, upstream TEXT NOT NULL, "
                    + "job_id TEXT, account TEXT NOT NULL, worker TEXT NOT NULL, model TEXT NOT NULL, "
                    + "route TEXT NOT NULL, state TEXT NOT NULL, input TEXT NOT NULL, max_tokens INTEGER NOT NULL, "
                    + "submitted_ms INTEGER NOT NULL, job_status TEXT, delay_ms INTEGER, execution_ms INTEGER, "
                    + "result TEXT, injected INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL)");
            s.execute("CREATE INDEX IF NOT EXISTS runpod_job_open ON runpod_job(state)");
            s.execute("CREATE INDEX IF NOT EXISTS runpod_job_id ON runpod_job(job_id)");
            // Agent escrow API (REST and MCP): escrows agents open themselves, on top of the ledger's escrow rows
            // (memo, auto-release time and what happens then), and the answers to requests with an
            // Idempotency-Key, kept with a hash of the request they answered.
            s.execute("CREATE TABLE IF NOT EXISTS agent_escrow (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                    + "id TEXT NOT NULL UNIQUE, payer TEXT NOT NULL, payee TEXT NOT NULL, memo TEXT NOT NULL, "
                    + "auto_release_hours INTEGER NOT NULL, release_at_ms INTEGER NOT NULL, "
                    + "on_expiry TEXT NOT NULL, created_ms INTEGER NOT NULL, open INTEGER NOT NULL DEFAULT 1)");
            s.execute("CREATE INDEX IF NOT EXISTS agent_escrow_payer ON agent_escrow(payer, seq)");
            s.execute("CREATE INDEX IF NOT EXISTS agent_escrow_payee ON agent_escrow(payee, seq)");
            s.execute("CREATE INDEX IF NOT EXISTS agent_escrow_due ON agent_escrow(open, release_at_ms)");
            s.execute("CREATE TABLE IF NOT EXISTS agent_idempotency (account TEXT NOT NULL, idem_key TEXT NOT NULL, "
                    + "request_hash TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, "
                    + "created_ms INTEGER NOT NULL, PRIMARY KEY (account, idem_key))");
            // Named tranches of an agent escrow (milestone billing), released by the payer one by one.
            s.execute("CREATE TABLE IF NOT EXISTS agent_milestone (escrow_id TEXT NOT NULL, seq INTEGER NOT NULL, "
                    + "name TEXT NOT NULL, amount INTEGER NOT NULL, released_ms INTEGER, PRIMARY KEY (escrow_id, name))");
            // Billing periods of subscription, hybrid and milestone accounts per payer x worker: the period's
            // escrows and the requests it covered (durable, so a restart resumes the period).
            s.execute("CREATE TABLE IF NOT EXISTS billing_period (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                    + "account TEXT NOT NULL, worker TEXT NOT NULL, "
                    + "kind TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, "
                    + "base_escrow TEXT NOT NULL, overage_escrow TEXT, quota INTEGER NOT NULL, "
                    + "used INTEGER NOT NULL DEFAULT 0, overage_units INTEGER NOT NULL DEFAULT 0, "
                    + "open INTEGER NOT NULL DEFAULT 1)");
            s.execute("CREATE INDEX IF NOT EXISTS billing_period_open ON billing_period(account, worker, open)");
        }
        return null;
    }

    /** Adds a column to a table created by an earlier version (no-op when it is there). */
    private static void addColumn(Connection c, Statement s, String table, String column, String type)
            throws SQLException {
        try (java.sql.ResultSet rs = c.createStatement().executeQuery("PRAGMA table_info(" + table + ")")) {
            while (rs.next()) {
                if (rs.getString("name").equals(column)) {
                    return;
                }
            }
        }
        s.execute("ALTER TABLE " + table + " ADD COLUMN " + column + " " + type);
    }
}
