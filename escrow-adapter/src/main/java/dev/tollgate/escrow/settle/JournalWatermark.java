package dev.tollgate.escrow.settle;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The number of the last usage log entry whose effects are in the database, written in the same transaction as
 * those effects: entries at or below it are never applied again, entries above it are applied at the next start.
 *
 * <p>Threading: inside the caller's transaction.
 */
final class JournalWatermark {
    private JournalWatermark() {
    }

    static long get(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT applied_seq FROM journal_log WHERE id = 1");
             ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }

    /** Records {@code seq} as applied; -1 (entries that were not logged) changes nothing. */
    static void set(Connection c, long seq) throws SQLException {
        if (seq < 0) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO journal_log(id, applied_seq) VALUES (1, ?) "
                + "ON CONFLICT(id) DO UPDATE SET applied_seq = MAX(applied_seq, excluded.applied_seq)")) {
            ps.setLong(1, seq);
            ps.executeUpdate();
        }
    }
}
