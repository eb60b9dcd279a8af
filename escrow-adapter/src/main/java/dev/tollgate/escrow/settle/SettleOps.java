package dev.tollgate.escrow.settle;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The settlement operations table: what must be done to an escrow, written before it is done. States:
 * {@code pending} (to do), {@code sent} (being done; after a crash it is {@code unknown}), {@code unknown}
 * (read the backend before retrying), {@code done}, {@code rejected}. Operations on one escrow run in the
 * order they were written. An unknown operation that cannot be read back is set aside ({@link #setAside}): it
 * keeps {@code unknown} for an operator, is never due, and no longer orders its escrow's later operations.
 *
 * <p>Threading: called inside the caller's database transaction.
 */
final class SettleOps {
    enum Kind { LOCK, RELEASE, REFUND, PAY }

    record Op(String opId, String requestId, String escrowId, Kind kind, long target, String payer, String payee,
              String state, int attempts) {
    }

    /** Writes that made an operation pending, in any database of the process (see {@link #madePendingCount}). */
    private static final AtomicLong MADE_PENDING = new AtomicLong();

    private SettleOps() {
    }

    /**
     * How many writes have made an operation pending so far, process-wide: when it has not moved since a look at
     * the due operations, no new one can be due but those whose retry time comes later (the settler's timer runs
     * those). A write in another database of the process only costs that database's next look.
     */
    static long madePendingCount() {
        return MADE_PENDING.get();
    }

    /** Counts a write that made an operation pending (for an update outside this class). */
    static void madePending() {
        MADE_PENDING.incrementAndGet();
    }

    static void insert(Connection c, String opId, String requestId, String escrowId, Kind kind, long target,
                       String payer, String payee, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT OR IGNORE INTO settle_op(op_id, request_id, escrow_id, "
                + "kind, target, payer, payee, state, next_at_ms, created_ms, seq) VALUES (?, ?, ?, ?, ?, ?, ?, "
                + "'pending', ?, ?, 0)")) {
            ps.setString(1, opId);
            ps.setString(2, requestId);
            ps.setString(3, escrowId);
            ps.setString(4, kind.name());
            ps.setLong(5, target);
            ps.setString(6, payer);
            ps.setString(7, payee);
            ps.setLong(8, now);
            ps.setLong(9, now);
            ps.executeUpdate();
            MADE_PENDING.incrementAndGet();
        }
    }

    /** Operations due now whose escrow has no earlier unfinished operation. */
    static List<Op> due(Connection c, long now, int limit) throws SQLException {
        List<Op> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT op_id, request_id, escrow_id, kind, target, payer, "
                + "payee, state, attempts FROM settle_op o WHERE state IN ('pending', 'unknown') AND next_at_ms <= ? "
                + "AND NOT EXISTS (SELECT 1 FROM settle_op p WHERE p.escrow_id = o.escrow_id AND p.rowid < o.rowid "
                + "AND p.state IN ('pending', 'sent', 'unknown')) ORDER BY o.rowid LIMIT ?")) {
            ps.setLong(1, now);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Op(rs.getString(1), rs.getString(2), rs.getString(3), Kind.valueOf(rs.getString(4)),
                            rs.getLong(5), rs.getString(6), rs.getString(7), rs.getString(8), rs.getInt(9)));
                }
            }
        }
        return out;
    }

    static Op find(Connection c, String opId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT op_id, request_id, escrow_id, kind, target, payer, "
                + "payee, state, attempts FROM settle_op WHERE op_id = ?")) {
            ps.setString(1, opId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new Op(rs.getString(1), rs.getString(2), rs.getString(3),
                        Kind.valueOf(rs.getString(4)), rs.getLong(5), rs.getString(6), rs.getString(7), rs.getString(8),
                        rs.getInt(9)) : null;
            }
        }
    }

    /** Marks an operation {@code sent} if it is still as it was found ({@code state}); false when it changed. */
    static boolean claim(Connection c, String opId, String state, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE settle_op SET state = 'sent', next_at_ms = ?, error = NULL, "
                + "attempts = attempts + 1 WHERE op_id = ? AND state = ?")) {
            ps.setLong(1, now);
            ps.setString(2, opId);
            ps.setString(3, state);
            return ps.executeUpdate() == 1;
        }
    }

    static void mark(Connection c, String opId, String state, long nextAt, String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE settle_op SET state = ?, next_at_ms = ?, error = ?, "
                + "attempts = attempts + (CASE WHEN ? = 'sent' THEN 1 ELSE 0 END) WHERE op_id = ?")) {
            ps.setString(1, state);
            ps.setLong(2, nextAt);
            ps.setString(3, error);
            ps.setString(4, state);
            ps.setString(5, opId);
            ps.executeUpdate();
        }
    }

    /** Prefix of the escrow id of an operation set aside for an operator (it no longer orders its escrow's). */
    static final String SET_ASIDE = "unanswered:";

    /**
     * An operation whose outcome cannot be read back: {@code unknown}, never run again by itself, moved off its
     * escrow's queue so that later operations of that escrow go on.
     */
    static void setAside(Connection c, String opId, String reason, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE settle_op SET state = 'unknown', next_at_ms = ?, "
                + "error = ?, escrow_id = ? WHERE op_id = ?")) {
            ps.setLong(1, Long.MAX_VALUE);
            ps.setString(2, reason);
            ps.setString(3, SET_ASIDE + opId);
            ps.setString(4, opId);
            ps.executeUpdate();
        }
    }

    /** A refused payment that stays owed: pending again at {@code nextAt}, the attempt counted. */
    static void retryLater(Connection c, String opId, long nextAt, String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE settle_op SET state = 'pending', next_at_ms = ?, "
                + "error = ?, attempts = attempts + 1 WHERE op_id = ?")) {
            ps.setLong(1, nextAt);
            ps.setString(2, error);
            ps.setString(3, opId);
            ps.executeUpdate();
            MADE_PENDING.incrementAndGet();
        }
    }

    /** Moves finished operations created before {@code before} to the archive table; returns how many. */
    static int archive(Connection c, long before) throws SQLException {
        try (PreparedStatement ins = c.prepareStatement("INSERT INTO settle_op_archive SELECT * FROM settle_op "
                + "WHERE state IN ('done', 'rejected') AND created_ms < ?");
             PreparedStatement del = c.prepareStatement("DELETE FROM settle_op WHERE state IN ('done', 'rejected') "
                     + "AND created_ms < ?")) {
            ins.setLong(1, before);
            int n = ins.executeUpdate();
            del.setLong(1, before);
            del.executeUpdate();
            return n;
        }
    }

    /** At start-up: an operation caught mid-call by a crash may or may not have happened. */
    static int sentToUnknown(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE settle_op SET state = 'unknown' WHERE state = 'sent'")) {
            return ps.executeUpdate();
        }
    }

    static long count(Connection c, String state) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM settle_op WHERE state = ?")) {
            ps.setString(1, state);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }
}
