package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What the journal keeps so that nothing is lost when a process dies or a record cannot be written: progress
 * checkpoints of long streams, the settlement of holds whose request was cut off by a stop, and the quarantine
 * of records that failed to journal.
 *
 * <p>Threading: inside the caller's transaction.
 */
final class Recovery {
    private Recovery() {
    }

    static void checkpoint(Connection c, LedgerIntents.Progress p, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO progress(request_id, model, prompt, completion, "
                + "at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(request_id) DO UPDATE SET prompt = MAX(prompt, "
                + "excluded.prompt), completion = MAX(completion, excluded.completion), at_ms = excluded.at_ms")) {
            ps.setString(1, p.requestId());
            ps.setString(2, p.model());
            ps.setLong(3, p.promptTokens());
            ps.setLong(4, p.completionTokens());
            ps.setLong(5, now);
            ps.executeUpdate();
        }
    }

    static void clearCheckpoint(Connection c, String requestId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM progress WHERE request_id = ?")) {
            ps.setString(1, requestId);
            ps.executeUpdate();
        }
    }

    /**
     * At start-up no request is in flight: a per-request hold without a usage record belongs to a request the
     * stop cut off. Pay what its last checkpoint says was served, refund the rest, now rather than at expiry.
     * Holds of watched RunPod jobs (table {@code runpod_job}) are not cut off: their watcher settles them.
     */
    static int settleOrphanLocks(Connection c, SettlementConfig cfg, PerRequestPolicy perRequest, long now)
            throws SQLException {
        List<String> ids = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT s.request_id FROM settlement s WHERE s.policy = ? "
                + "AND s.state = 'locked' AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.request_id = s.request_id) "
                // A RunPod job's hold outlives the process: its watcher resumes and settles it.
                + "AND NOT EXISTS (SELECT 1 FROM runpod_job j WHERE j.request_id = s.request_id)")) {
            ps.setString(1, PerRequestPolicy.NAME);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getString(1));
                }
            }
        }
        for (String id : ids) {
            SettlementRows.Row row = SettlementRows.find(c, id);
            long cost = 0;
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT model, prompt, completion FROM progress WHERE request_id = ?")) {
                ps.setString(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        Price price = cfg.priceOf(rs.getString(1));
                        cost = price == null ? 0 : price.microsFor(rs.getLong(2), rs.getLong(3), 1, 0);
                    }
                }
            }
            perRequest.settle(c, row, cost, now);
            clearCheckpoint(c, id);
        }
        return ids.size();
    }

    static Set<String> fundedAccounts(Connection c) throws SQLException {
        Set<String> out = new HashSet<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT op_id FROM ledger_op WHERE op_id LIKE 'fund:%'");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(rs.getString(1).substring("fund:".length()));
            }
        }
        return out;
    }

    static Void quarantine(Connection c, UsageRecord r, Exception cause, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT OR REPLACE INTO usage_quarantine(request_id, record, "
                + "error, at_ms) VALUES (?, ?, ?, ?)")) {
            ps.setString(1, r.requestId());
            ps.setString(2, r.toString());
            ps.setString(3, String.valueOf(cause));
            ps.setLong(4, now);
            ps.executeUpdate();
        }
        return null;
    }

    static long quarantineCount(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM usage_quarantine");
             ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }
}
