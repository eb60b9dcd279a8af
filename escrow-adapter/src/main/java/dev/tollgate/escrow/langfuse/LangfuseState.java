package dev.tollgate.escrow.langfuse;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The {@code langfuse_state} table: the bridge's cursors (journal position, score high-water mark), so a restart
 * continues where the last run stopped. Called inside the caller's transaction.
 */
final class LangfuseState {
    private LangfuseState() {
    }

    static String get(Connection c, String key, String dflt) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT value FROM langfuse_state WHERE key = ?")) {
            ps.setString(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : dflt;
            }
        }
    }

    static void put(Connection c, String key, String value) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO langfuse_state(key, value) VALUES (?, ?) "
                + "ON CONFLICT(key) DO UPDATE SET value = excluded.value")) {
            ps.setString(1, key);
            ps.setString(2, value);
            ps.executeUpdate();
        }
    }
}
