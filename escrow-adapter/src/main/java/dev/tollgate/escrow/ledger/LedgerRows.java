package dev.tollgate.escrow.ledger;

import dev.tollgate.escrow.db.MultiRowInsert;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.List;

/**
 * The SQL that writes {@link LedgerState}'s rows: one statement per row (new escrows several rows per statement),
 * compiled once per connection by the database's statement cache.
 *
 * <p>Threading: called by {@link LedgerState#write} under the database's transaction lock.
 */
final class LedgerRows {
    private LedgerRows() {
    }

    static void upsertAccount(Connection c, LedgerState.Account a) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO account(id, balance, referrer) VALUES (?, ?, ?) "
                + "ON CONFLICT(id) DO UPDATE SET balance = excluded.balance, referrer = excluded.referrer")) {
            ps.setString(1, a.id);
            ps.setLong(2, a.balance);
            ps.setString(3, a.referrer);
            ps.executeUpdate();
        }
    }

    static void upsertPair(Connection c, LedgerState.FeePair p) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO fee_pair(payer, payee, paid, fee, "
                + "fee_with_referrer, referral) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(payer, payee) DO UPDATE SET "
                + "paid = excluded.paid, fee = excluded.fee, fee_with_referrer = excluded.fee_with_referrer, "
                + "referral = excluded.referral")) {
            ps.setString(1, p.payer);
            ps.setString(2, p.payee);
            ps.setLong(3, p.paid);
            ps.setLong(4, p.fee);
            ps.setLong(5, p.feeWithReferrer);
            ps.setLong(6, p.referral);
            ps.executeUpdate();
        }
    }

    private static final MultiRowInsert<LedgerState.Escrow> ESCROWS = new MultiRowInsert<>("INSERT INTO escrow(id, "
            + "payer, payee, locked, released, refunded, fee, referral, status, expires_at_ms, created_at_ms)", 11,
            LedgerRows::bindEscrow);

    /** Inserts new escrows (a plain insert: an id already in the table fails the statement). */
    static void insertEscrows(Connection c, List<LedgerState.Escrow> escrows) throws SQLException {
        ESCROWS.insert(c, escrows);
    }

    private static void bindEscrow(PreparedStatement ps, int i, LedgerState.Escrow e) throws SQLException {
        ps.setString(i, e.id);
        ps.setString(i + 1, e.payer);
        ps.setString(i + 2, e.payee);
        ps.setLong(i + 3, e.locked);
        ps.setLong(i + 4, e.released);
        ps.setLong(i + 5, e.refunded);
        ps.setLong(i + 6, e.fee);
        ps.setLong(i + 7, e.referral);
        ps.setString(i + 8, e.status);
        ps.setLong(i + 9, e.expiresAt);
        ps.setLong(i + 10, e.createdAt);
    }

    static void updateEscrow(Connection c, LedgerState.Escrow e) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE escrow SET released = ?, refunded = ?, fee = ?, "
                + "referral = ?, status = ? WHERE id = ?")) {
            ps.setLong(1, e.released);
            ps.setLong(2, e.refunded);
            ps.setLong(3, e.fee);
            ps.setLong(4, e.referral);
            ps.setString(5, e.status);
            ps.setString(6, e.id);
            ps.executeUpdate();
        }
    }

    static void insertTransfer(Connection c, String opId, String debit, String credit, long amount,
                                       String kind, String escrowId, long atMillis) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO transfer(op_id, debit, credit, amount, kind, "
                + "escrow_id, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, opId);
            ps.setString(2, debit);
            ps.setString(3, credit);
            ps.setLong(4, amount);
            ps.setString(5, kind);
            ps.setString(6, escrowId);
            ps.setLong(7, atMillis);
            ps.executeUpdate();
        }
    }
}
