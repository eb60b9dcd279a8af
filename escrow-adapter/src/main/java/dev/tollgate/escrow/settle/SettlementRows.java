package dev.tollgate.escrow.settle;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/** The {@code settlement} table: one row per paid request. Called inside the caller's transaction. */
final class SettlementRows {
    /** A settlement row. */
    record Row(String requestId, String account, String worker, String policy, String escrowId, String state,
               long reserved, long cost, long released, long refunded, long bonus, String score, long deadlineMs) {
    }

    private SettlementRows() {
    }

    static void insert(Connection c, String requestId, String account, String worker, String policy, String escrowId,
                       String state, long reserved, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO settlement(request_id, account, worker, policy, "
                + "escrow_id, state, reserved, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, requestId);
            ps.setString(2, account);
            ps.setString(3, worker);
            ps.setString(4, policy);
            ps.setString(5, escrowId);
            ps.setString(6, state);
            ps.setLong(7, reserved);
            ps.setLong(8, now);
            ps.executeUpdate();
        }
    }

    /**
     * Inserts the row of a request whose cost accrues to a shared escrow, released in batches: {@code cost} is its
     * part, {@code cumulative} the escrow's accrued total with it (a release to that total pays it).
     */
    static void insertBatched(Connection c, String requestId, String account, String worker, String policy,
                              String escrowId, long reserved, long cost, long cumulative, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO settlement(request_id, account, worker, policy, "
                + "escrow_id, state, reserved, cost, cum_target, updated_ms) VALUES (?, ?, ?, ?, ?, 'batched', ?, ?, ?, "
                + "?)")) {
            ps.setString(1, requestId);
            ps.setString(2, account);
            ps.setString(3, worker);
            ps.setString(4, policy);
            ps.setString(5, escrowId);
            ps.setLong(6, reserved);
            ps.setLong(7, cost);
            ps.setLong(8, cumulative);
            ps.setLong(9, now);
            ps.executeUpdate();
        }
    }

    static Row find(Connection c, String requestId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT request_id, account, worker, policy, escrow_id, state, "
                + "reserved, cost, released, refunded, bonus, score, COALESCE(deadline_ms, 0) FROM settlement "
                + "WHERE request_id = ?")) {
            ps.setString(1, requestId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                return new Row(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5),
                        rs.getString(6), rs.getLong(7), rs.getLong(8), rs.getLong(9), rs.getLong(10), rs.getLong(11),
                        rs.getString(12), rs.getLong(13));
            }
        }
    }

    static void update(Connection c, String requestId, String set, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE settlement SET " + set + ", updated_ms = updated_ms "
                + "WHERE request_id = ?")) {
            int i = 1;
            for (Object a : args) {
                ps.setObject(i++, a);
            }
            ps.setString(i, requestId);
            ps.executeUpdate();
        }
    }
}
