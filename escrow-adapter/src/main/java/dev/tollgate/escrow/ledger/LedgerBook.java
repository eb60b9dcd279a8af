package dev.tollgate.escrow.ledger;

import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.pricing.Fees;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The double-entry book: accounts, transfers and escrows, operated inside a caller's transaction. Every
 * movement is one {@code transfer} row between two accounts and the two balances change in the same
 * transaction, so {@code sum(balance) == 0} over all accounts at every commit ({@link #MINT} is the only
 * account allowed below zero: it is where faucet and credits come from).
 *
 * <p>Threading: stateless apart from configuration; the caller's transaction serializes use.
 */
public final class LedgerBook {
    /** Source of minted funds (faucet, dev credits); the negative of all money in the system. */
    public static final String MINT = "@mint";
    /** Where escrow fees go. */
    public static final String FEES = "@fees";

    private final Fees fees;

    public LedgerBook(Fees fees) {
        this.fees = fees;
    }

    public Fees fees() {
        return fees;
    }

    static String escrowAccount(String escrowId) {
        return "escrow:" + escrowId;
    }

    public void ensureAccount(Connection c, String id, String referrer) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO account(id, balance, referrer) VALUES (?, 0, ?) ON CONFLICT(id) DO UPDATE SET "
                        + "referrer = COALESCE(excluded.referrer, account.referrer)")) {
            ps.setString(1, id);
            ps.setString(2, referrer);
            ps.executeUpdate();
        }
    }

    public long balance(Connection c, String account) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT balance FROM account WHERE id = ?")) {
            ps.setString(1, account);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    String referrerOf(Connection c, String account) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT referrer FROM account WHERE id = ?")) {
            ps.setString(1, account);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    /** Moves {@code amount} from debit to credit; false (nothing moved) when debit lacks the funds. */
    boolean transfer(Connection c, String opId, String debit, String credit, long amount, String kind,
                     String escrowId, long nowMillis) throws SQLException {
        if (amount == 0) {
            return true;
        }
        if (amount < 0) {
            throw new IllegalArgumentException("negative transfer " + amount + " in " + opId);
        }
        ensureAccount(c, debit, null);
        ensureAccount(c, credit, null);
        if (!debit.equals(MINT) && balance(c, debit) < amount) {
            return false;
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE account SET balance = balance + ? WHERE id = ?")) {
            ps.setLong(1, -amount);
            ps.setString(2, debit);
            ps.executeUpdate();
            ps.setLong(1, amount);
            ps.setString(2, credit);
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO transfer(op_id, debit, credit, amount, kind, "
                + "escrow_id, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, opId);
            ps.setString(2, debit);
            ps.setString(3, credit);
            ps.setLong(4, amount);
            ps.setString(5, kind);
            ps.setString(6, escrowId);
            ps.setLong(7, nowMillis);
            ps.executeUpdate();
        }
        return true;
    }

    /** Locks funds in a new escrow; false when the payer cannot cover it. */
    boolean lock(Connection c, String opId, String escrowId, String payer, String payee, long amount,
                 long expiresAt, long now) throws SQLException {
        ensureAccount(c, payer, null);
        ensureAccount(c, payee, null);
        if (!transfer(c, opId, payer, escrowAccount(escrowId), amount, "lock", escrowId, now)) {
            return false;
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO escrow(id, payer, payee, locked, released, "
                + "refunded, fee, referral, status, expires_at_ms, created_at_ms) VALUES (?, ?, ?, ?, 0, 0, 0, 0, "
                + "'locked', ?, ?)")) {
            ps.setString(1, escrowId);
            ps.setString(2, payer);
            ps.setString(3, payee);
            ps.setLong(4, amount);
            ps.setLong(5, expiresAt);
            ps.setLong(6, now);
            ps.executeUpdate();
        }
        return true;
    }

    /**
     * Releases up to a cumulative target, with the fee (and the payer's referrer's share of it) computed on
     * the cumulative amount. A target at or below what was released already is a no-op.
     */
    void releaseTo(Connection c, String opId, EscrowState e, long target, long now) throws SQLException {
        long delta = target - e.releasedMicros();
        if (delta <= 0) {
            return;
        }
        long[] f = escrowFees(c, e.escrowId());
        long feeTotal = fees.feeOn(target);
        String referrer = referrerOf(c, e.payer());
        long refTotal = referrer == null ? 0 : fees.referrerShareOf(feeTotal);
        long feeDelta = feeTotal - f[0];
        long refDelta = refTotal - f[1];
        String from = escrowAccount(e.escrowId());
        transfer(c, opId, from, e.payee(), delta - feeDelta, "release", e.escrowId(), now);
        transfer(c, opId, from, FEES, feeDelta - refDelta, "fee", e.escrowId(), now);
        if (referrer != null) {
            transfer(c, opId, from, referrer, refDelta, "referral", e.escrowId(), now);
        }
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE escrow SET released = ?, fee = ?, referral = ? WHERE id = ?")) {
            ps.setLong(1, target);
            ps.setLong(2, feeTotal);
            ps.setLong(3, refTotal);
            ps.setString(4, e.escrowId());
            ps.executeUpdate();
        }
    }

    /** Returns what was not released to the payer and closes the escrow with {@code status}. */
    void refundRemainder(Connection c, String opId, EscrowState e, String status, long now) throws SQLException {
        long remaining = e.remainingMicros();
        transfer(c, opId, escrowAccount(e.escrowId()), e.payer(), remaining, "refund", e.escrowId(), now);
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE escrow SET refunded = refunded + ?, status = ? WHERE id = ?")) {
            ps.setLong(1, remaining);
            ps.setString(2, status);
            ps.setString(3, e.escrowId());
            ps.executeUpdate();
        }
    }

    void close(Connection c, String escrowId, String status) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE escrow SET status = ? WHERE id = ?")) {
            ps.setString(1, status);
            ps.setString(2, escrowId);
            ps.executeUpdate();
        }
    }

    /** A payment straight from the payer's balance (bonuses), with the fee on it; false when not covered. */
    boolean pay(Connection c, String opId, String payer, String payee, long amount, String kind, long now)
            throws SQLException {
        if (balance(c, payer) < amount) {
            return false;
        }
        long fee = fees.feeOn(amount);
        String referrer = referrerOf(c, payer);
        long ref = referrer == null ? 0 : fees.referrerShareOf(fee);
        transfer(c, opId, payer, payee, amount - fee, kind, null, now);
        transfer(c, opId, payer, FEES, fee - ref, "fee", null, now);
        if (referrer != null) {
            transfer(c, opId, payer, referrer, ref, "referral", null, now);
        }
        return true;
    }

    private long[] escrowFees(Connection c, String escrowId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT fee, referral FROM escrow WHERE id = ?")) {
            ps.setString(1, escrowId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new long[] {rs.getLong(1), rs.getLong(2)};
            }
        }
    }

    public EscrowState read(Connection c, String escrowId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT payer, payee, locked, released, refunded, status FROM escrow WHERE id = ?")) {
            ps.setString(1, escrowId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                return new EscrowState(escrowId, rs.getString(1), rs.getString(2), rs.getLong(3), rs.getLong(4),
                        rs.getLong(5), rs.getString(6));
            }
        }
    }
}
