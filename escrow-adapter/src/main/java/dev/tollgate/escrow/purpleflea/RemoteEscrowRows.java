package dev.tollgate.escrow.purpleflea;

import dev.tollgate.escrow.db.Database;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The Purple Flea escrows Tollgate created, by operation: {@code remote_escrow} holds the state machine
 * ({@code creating} before the create call, {@code created} with the escrow id the moment the 201 arrives,
 * {@code released}); {@code purpleflea_escrow} holds each released escrow's amount and the service's fees for the
 * views.
 *
 * <p>Threading: each method runs its own transaction on the database (thread-safe), except {@link #adopt}, which
 * runs in the caller's.
 */
public final class RemoteEscrowRows {
    /** An operation's remote escrow: its id (null while the create is unanswered) and state. */
    record Row(String remoteId, String state) {
    }

    private final Database db;

    RemoteEscrowRows(Database db) {
        this.db = db;
    }

    Row find(String opId) {
        return db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT remote_id, state FROM remote_escrow WHERE op_id = ?")) {
                ps.setString(1, opId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? new Row(rs.getString(1), rs.getString(2)) : null;
                }
            }
        });
    }

    void record(String opId, String remoteId, String state, long amount, long now) {
        db.transaction(c -> {
            upsert(c, opId, remoteId, state, amount, now);
            return null;
        });
    }

    /** Forgets a create that provably created nothing (refused, or never sent): a retry may create. */
    void forget(String opId) {
        db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM remote_escrow WHERE op_id = ? AND remote_id IS NULL")) {
                ps.setString(1, opId);
                ps.executeUpdate();
            }
            return null;
        });
    }

    /** A released escrow with the fees the service took (1% of it; 15% of that to the payer's referrer). */
    void released(String opId, String escrowId, String payer, String worker, long amount, long commission,
                  long referral, long now) {
        db.transaction(c -> {
            upsert(c, opId, escrowId, "released", amount, now);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO purpleflea_escrow(op_id, escrow_id, payer, "
                    + "worker, amount, commission, referral, status, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'released', ?) "
                    + "ON CONFLICT(op_id) DO UPDATE SET escrow_id = excluded.escrow_id, commission = excluded.commission, "
                    + "referral = excluded.referral, status = 'released', updated_ms = excluded.updated_ms")) {
                ps.setString(1, opId);
                ps.setString(2, escrowId);
                ps.setString(3, payer);
                ps.setString(4, worker);
                ps.setLong(5, amount);
                ps.setLong(6, commission);
                ps.setLong(7, referral);
                ps.setLong(8, now);
                ps.executeUpdate();
            }
            return null;
        });
    }

    /**
     * An operator found the escrow of an unanswered create: the operation now knows its escrow id, so its next
     * run releases it instead of creating. In the caller's transaction.
     */
    public static void adopt(Connection c, String opId, String escrowId, long amount, long now) throws SQLException {
        upsert(c, opId, escrowId, "created", amount, now);
    }

    /** An operator established that an unanswered create created nothing. In the caller's transaction. */
    public static void notCreated(Connection c, String opId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM remote_escrow WHERE op_id = ?")) {
            ps.setString(1, opId);
            ps.executeUpdate();
        }
    }

    private static void upsert(Connection c, String opId, String remoteId, String state, long amount, long now)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO remote_escrow(op_id, remote_id, state, amount, "
                + "updated_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(op_id) DO UPDATE SET remote_id = "
                + "excluded.remote_id, state = excluded.state, updated_ms = excluded.updated_ms")) {
            ps.setString(1, opId);
            ps.setString(2, remoteId);
            ps.setString(3, state);
            ps.setLong(4, amount);
            ps.setLong(5, now);
            ps.executeUpdate();
        }
    }
}
