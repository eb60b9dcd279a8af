package dev.tollgate.escrow.langfuse;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code langfuse_outbox} table: ingestion events written in the same transaction as the change they
 * report, sent later. States: {@code pending} (to send at {@code next_at_ms}), {@code done} (Langfuse accepted
 * it), {@code rejected} (Langfuse refused it for good, kept with the reason). An event id is deterministic, so
 * writing the same event twice keeps one row, and sending one again after a lost answer is deduplicated by
 * Langfuse. Events of one trace (its lane) go out in the order they were written: an event waiting to be retried
 * holds back the later events of its trace, so an older metadata snapshot never lands after a newer one.
 *
 * <p>Threading: called inside the caller's database transaction.
 */
final class Outbox {
    /** A pending event: its id and its JSON (a whole ingestion event object). */
    record Event(String id, String json, int attempts) {
    }

    private Outbox() {
    }

    /** Queues an event; false when an event with this id exists already. */
    static boolean enqueue(Connection c, String eventId, String lane, String json, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT OR IGNORE INTO langfuse_outbox(event_id, lane, body, "
                + "state, next_at_ms, created_ms) VALUES (?, ?, ?, 'pending', ?, ?)")) {
            ps.setString(1, eventId);
            ps.setString(2, lane);
            ps.setString(3, json);
            ps.setLong(4, now);
            ps.setLong(5, now);
            return ps.executeUpdate() == 1;
        }
    }

    /**
     * Pending events due now whose trace has no earlier event waiting for a retry, oldest first, at most
     * {@code limit} and about {@code maxBytes} of JSON.
     */
    static List<Event> due(Connection c, long now, int limit, int maxBytes) throws SQLException {
        List<Event> out = new ArrayList<>();
        int bytes = 0;
        try (PreparedStatement ps = c.prepareStatement("SELECT event_id, body, attempts FROM langfuse_outbox o "
                + "WHERE state = 'pending' AND next_at_ms <= ? AND NOT EXISTS (SELECT 1 FROM langfuse_outbox p "
                + "WHERE p.lane = o.lane AND p.state = 'pending' AND p.next_at_ms > ? AND p.rowid < o.rowid) "
                + "ORDER BY rowid LIMIT ?")) {
            ps.setLong(1, now);
            ps.setLong(2, now);
            ps.setInt(3, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String body = rs.getString(2);
                    if (!out.isEmpty() && bytes + body.length() > maxBytes) {
                        break;
                    }
                    bytes += body.length();
                    out.add(new Event(rs.getString(1), body, rs.getInt(3)));
                }
            }
        }
        return out;
    }

    static void done(Connection c, String eventId) throws SQLException {
        set(c, eventId, "done", 0, null, false);
    }

    static void rejected(Connection c, String eventId, String error) throws SQLException {
        set(c, eventId, "rejected", 0, error, true);
    }

    static void retry(Connection c, String eventId, long nextAt, String error) throws SQLException {
        set(c, eventId, "pending", nextAt, error, true);
    }

    private static void set(Connection c, String eventId, String state, long nextAt, String error, boolean attempt)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE langfuse_outbox SET state = ?, next_at_ms = "
                + "CASE WHEN ? > 0 THEN ? ELSE next_at_ms END, error = ?, attempts = attempts + ? WHERE event_id = ?")) {
            ps.setString(1, state);
            ps.setLong(2, nextAt);
            ps.setLong(3, nextAt);
            ps.setString(4, error);
            ps.setInt(5, attempt ? 1 : 0);
            ps.setString(6, eventId);
            ps.executeUpdate();
        }
    }

    static long count(Connection c, String state) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM langfuse_outbox WHERE state = ?")) {
            ps.setString(1, state);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }
}
