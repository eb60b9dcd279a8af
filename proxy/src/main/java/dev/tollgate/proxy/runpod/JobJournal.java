package dev.tollgate.proxy.runpod;

import dev.tollgate.escrow.db.Database;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The durable list of RunPod jobs (table {@code runpod_job} in the ledger's database). States: {@code submitting}
 * (the hold is written, RunPod not yet answered), {@code watching} (RunPod has the job; Tollgate polls it),
 * {@code settling} (terminal: its usage record is on its way to the journal, the terminal answer kept in
 * {@code result}), {@code settled} (the usage record is journaled). A row's presence also tells start-up recovery
 * that the hold belongs to a job, not to a request cut off by a stop.
 *
 * <p>Threading: blocking JDBC; call it only on the RunPod thread, never on an event loop.
 */
final class JobJournal {
    /** A journaled job with its state and, once terminal, RunPod's terminal answer. */
    record Entry(Job job, String state, String result) {
    }

    private final Database db;

    JobJournal(Database db) {
        this.db = db;
    }

    /**
     * Writes a new job in state {@code submitting}, but only once its hold is durable (its settlement row exists)
     * when {@code needsHold}: a job row never points at a hold that a crash could lose. Returns false when the hold
     * is not written yet (try again shortly).
     */
    boolean insertWhenHeld(Job j, boolean needsHold) {
        return db.transaction(c -> {
            if (needsHold) {
                try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM settlement WHERE request_id = ?")) {
                    ps.setString(1, j.requestId());
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            return false;
                        }
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT OR IGNORE INTO runpod_job(request_id, upstream, "
                    + "job_id, account, worker, model, route, state, input, max_tokens, submitted_ms, updated_ms, injected) "
                    + "VALUES (?, ?, ?, ?, ?, ?, ?, 'submitting', ?, ?, ?, ?, ?)")) {
                ps.setString(1, j.requestId());
                ps.setString(2, j.upstream());
                ps.setString(3, j.jobId());
                ps.setString(4, j.account());
                ps.setString(5, j.worker());
                ps.setString(6, j.model());
                ps.setString(7, j.chat() ? "chat" : "completions");
                ps.setString(8, j.input());
                ps.setLong(9, j.maxTokens());
                ps.setLong(10, j.submittedMs());
                ps.setLong(11, System.currentTimeMillis());
                ps.setInt(12, j.usageInjected() ? 1 : 0);
                ps.executeUpdate();
            }
            return true;
        });
    }

    /** RunPod accepted the job: Tollgate watches it from now on. */
    void watching(String requestId, String jobId) {
        update(requestId, "UPDATE runpod_job SET job_id = ?, state = 'watching', updated_ms = ? WHERE request_id = ?",
                jobId);
    }

    /** The job ended: keep RunPod's terminal answer and its timings until the usage record is journaled. */
    void settling(String requestId, String jobStatus, String result, long delayMs, long executionMs) {
        db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE runpod_job SET state = 'settling', job_status = ?, "
                    + "result = ?, delay_ms = ?, execution_ms = ?, updated_ms = ? WHERE request_id = ?")) {
                ps.setString(1, jobStatus);
                ps.setString(2, result);
                ps.setLong(3, delayMs);
                ps.setLong(4, executionMs);
                ps.setLong(5, System.currentTimeMillis());
                ps.setString(6, requestId);
                ps.executeUpdate();
            }
            return null;
        });
    }

    void settled(String requestId) {
        db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE runpod_job SET state = 'settled', result = NULL, updated_ms = ? WHERE request_id = ?")) {
                ps.setLong(1, System.currentTimeMillis());
                ps.setString(2, requestId);
                ps.executeUpdate();
            }
            return null;
        });
    }

    private void update(String requestId, String sql, String value) {
        db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setString(1, value);
                ps.setLong(2, System.currentTimeMillis());
                ps.setString(3, requestId);
                ps.executeUpdate();
            }
            return null;
        });
    }

    /** Jobs not settled yet (a restart resumes them). */
    List<Entry> unfinished() {
        return db.transaction(c -> query(c, "SELECT * FROM runpod_job WHERE state <> 'settled' ORDER BY submitted_ms",
                null));
    }

    /** The latest submission of a RunPod job id (a retried job has several), or null. */
    Entry byJobId(String jobId) {
        List<Entry> l = db.transaction(c -> query(c,
                "SELECT * FROM runpod_job WHERE job_id = ? ORDER BY submitted_ms DESC, rowid DESC LIMIT 1", jobId));
        return l.isEmpty() ? null : l.get(0);
    }

    /** A job by Tollgate's request id, or null. */
    Entry byRequestId(String requestId) {
        List<Entry> l = db.transaction(c -> query(c, "SELECT * FROM runpod_job WHERE request_id = ?", requestId));
        return l.isEmpty() ? null : l.get(0);
    }

    /** Whether the usage record of this request is in the settlement journal. */
    boolean usageJournaled(String requestId) {
        return db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM usage WHERE request_id = ?")) {
                ps.setString(1, requestId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next();
                }
            }
        });
    }

    /** A job's recorded queue and execution times and final status: {@code [delay_ms, execution_ms]}, or null. */
    long[] timings(String requestId) {
        return db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT delay_ms, execution_ms FROM runpod_job WHERE request_id = ? AND delay_ms IS NOT NULL")) {
                ps.setString(1, requestId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? new long[] {rs.getLong(1), rs.getLong(2)} : null;
                }
            }
        });
    }

    private static List<Entry> query(Connection c, String sql, String arg) throws SQLException {
        List<Entry> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (arg != null) {
                ps.setString(1, arg);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Job j = new Job(rs.getString("request_id"), rs.getString("upstream"), rs.getString("job_id"),
                            rs.getString("account"), rs.getString("worker"), rs.getString("model"),
                            "chat".equals(rs.getString("route")), rs.getString("input"), rs.getLong("max_tokens"),
                            rs.getLong("submitted_ms"), rs.getInt("injected") != 0);
                    out.add(new Entry(j, rs.getString("state"), rs.getString("result")));
                }
            }
        }
        return out;
    }
}
