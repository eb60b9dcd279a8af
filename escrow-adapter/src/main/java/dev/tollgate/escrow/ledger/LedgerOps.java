package dev.tollgate.escrow.ledger;

import dev.tollgate.escrow.port.EscrowResult;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * Makes each ledger operation happen once per operation id: the outcome is recorded in {@code ledger_op} in the
 * operation's transaction, and a repeated id answers what the first call answered.
 *
 * <p>Threading: inside the caller's transaction only.
 */
final class LedgerOps {
    private final LedgerBook book;

    LedgerOps(LedgerBook book) {
        this.book = book;
    }

    /** A recorded earlier outcome of this operation id, or null. */
    static EscrowResult replay(Connection c, LedgerBook book, String opId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT outcome, code, escrow_id FROM ledger_op WHERE op_id = ?")) {
            ps.setString(1, opId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                String escrowId = rs.getString(3);
                if (rs.getString(1).equals("done")) {
                    return new EscrowResult.Done(escrowId, escrowId == null ? null : book.read(c, escrowId));
                }
                return new EscrowResult.Rejected(rs.getString(2), "rejected earlier: " + rs.getString(2));
            }
        }
    }

    static EscrowResult record(Connection c, LedgerBook book, String opId, String kind, String escrowId,
                                       EscrowResult r) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO ledger_op(op_id, kind, escrow_id, outcome, code) VALUES (?, ?, ?, ?, ?)")) {
            ps.setString(1, opId);
            ps.setString(2, kind);
            ps.setString(3, escrowId);
            ps.setString(4, r instanceof EscrowResult.Done ? "done" : "rejected");
            ps.setString(5, r instanceof EscrowResult.Rejected rej ? rej.code() : null);
            ps.executeUpdate();
        }
        if (r instanceof EscrowResult.Done && escrowId != null && kind.equals("refund")) {
            // A refund's answer carries the escrow's final state (what was refunded); the others' callers only
            // need to know it was done, so they spare the read.
            return new EscrowResult.Done(escrowId, book.read(c, escrowId));
        }
        return r;
    }

    /** One ledger operation's effect, decided inside its transaction. */
    @FunctionalInterface
    interface Effect {
        EscrowResult apply(Connection c) throws SQLException;
    }

    /**
     * Runs {@code effect} once per operation id: a repeated id answers what the first call answered. The
     * escrow the operation concerns is recorded with the result when the operation succeeded.
     *
     * <p>The id is claimed first, as done, with one insert that a repeated id leaves unchanged: a new id (nearly
     * every call) costs that one statement instead of a read and an insert. A rejection then rewrites the row;
     * a payment refused for lack of funds deletes it (it is retried later under the same id); an exception rolls
     * the whole transaction back, the claim with it.
     */
    EscrowResult once(Connection c, String opId, String kind, String escrowId, Effect effect)
            throws SQLException {
        if (!claim(c, opId, kind, escrowId)) {
            return replay(c, book, opId);
        }
        EscrowResult r = effect.apply(c);
        if (r instanceof EscrowResult.Rejected rej) {
            boolean retried = kind.equals("pay") && rej.code().equals("insufficient_balance");
            try (PreparedStatement ps = c.prepareStatement(retried ? "DELETE FROM ledger_op WHERE op_id = ?"
                    : "UPDATE ledger_op SET outcome = 'rejected', code = ?, escrow_id = NULL WHERE op_id = ?")) {
                if (retried) {
                    // A payment for work already done is retried later under the same id: not final.
                    ps.setString(1, opId);
                } else {
                    ps.setString(1, rej.code());
                    ps.setString(2, opId);
                }
                ps.executeUpdate();
            }
            return r;
        }
        if (escrowId != null && kind.equals("refund")) {
            // A refund's answer carries the escrow's final state (what was refunded); the others' callers only
            // need to know it was done, so they spare the read.
            return new EscrowResult.Done(escrowId, book.read(c, escrowId));
        }
        return r;
    }

    /** Records {@code opId} as done; false when the id was recorded before (nothing changes then). */
    private static boolean claim(Connection c, String opId, String kind, String escrowId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO ledger_op(op_id, kind, escrow_id, outcome, code) "
                + "VALUES (?, ?, ?, 'done', NULL) ON CONFLICT(op_id) DO NOTHING")) {
            ps.setString(1, opId);
            ps.setString(2, kind);
            ps.setString(3, escrowId);
            return ps.executeUpdate() == 1;
        }
    }
}
