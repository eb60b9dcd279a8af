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
 * <p>Fees are charged per payer x payee pair on the cumulative amount the payer has paid the payee (escrow
 * releases and direct payments together) and rounded down once: after any sequence of releases the fee account
 * holds exactly {@code fee(total paid)} for every pair, the sub-micro remainder carried in {@code fee_pair}. Per
 * pair rather than per payee because the referrer's share depends on the payer (its referrer) while the fee is
 * taken from what the payee receives; the pair is the smallest unit both are constant on.
 *
 * <p>Threading: stateless apart from configuration and the balance observer; the caller's transaction
 * serializes use.
 */
public final class LedgerBook {
    /** Source of minted funds (faucet, dev credits); the negative of all money in the system. */
    public static final String MINT = "@mint";
    /** Where escrow fees go. */
    public static final String FEES = "@fees";

    private final Fees fees;
    private BalanceObserver observer = (account, balance) -> { };

    /** Told the new balance of every agent account a transfer changes, inside the transfer's transaction. */
    @FunctionalInterface
    public interface BalanceObserver {
        void changed(String account, long balanceMicros);
    }

    public LedgerBook(Fees fees) {
        this.fees = fees;
    }

    /** Sets the observer of agent balances (one; called under the caller's transaction). */
    public void observe(BalanceObserver o) {
        this.observer = o;
    }

    /** Whether {@code id} is an agent's account (not the mint, the fee account or an escrow hold). */
    public static boolean isAgent(String id) {
        return !id.startsWith("@") && !id.startsWith("escrow:");
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
        // The debit checks and moves in one statement; a missing account is created on its first credit.
        if (!debit(c, debit, amount)) {
            return false;
        }
        credit(c, credit, amount);
        record(c, opId, debit, credit, amount, kind, escrowId, nowMillis);
        return true;
    }

    /** The transfer row of a movement already applied to both balances. */
    private static void record(Connection c, String opId, String debit, String credit, long amount, String kind,
                               String escrowId, long nowMillis) throws SQLException {
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
    }

    private static final String DEBIT_MINT = "UPDATE account SET balance = balance - ?1 WHERE id = ?2 RETURNING balance";
    private static final String DEBIT = "UPDATE account SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1 "
            + "RETURNING balance";
    private static final String CREDIT = "UPDATE account SET balance = balance + ?1 WHERE id = ?2 RETURNING balance";

    /** Takes {@code amount} from an account that holds it (the mint may go below zero); false otherwise. */
    private boolean debit(Connection c, String account, long amount) throws SQLException {
        boolean mint = account.equals(MINT);
        if (move(c, mint ? DEBIT_MINT : DEBIT, account, amount)) {
            return true;
        }
        if (mint) {
            ensureAccount(c, MINT, null);
            return move(c, DEBIT_MINT, account, amount);
        }
        return false;
    }

    private void credit(Connection c, String account, long amount) throws SQLException {
        if (!move(c, CREDIT, account, amount)) {
            ensureAccount(c, account, null);
            move(c, CREDIT, account, amount);
        }
    }

    /** Runs one balance update; false when it changed no row (no such account, or not enough in it). */
    private boolean move(Connection c, String sql, String account, long amount) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setLong(1, amount);
            ps.setString(2, account);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return false;
                }
                if (isAgent(account)) {
                    observer.changed(account, rs.getLong(1));
                }
                return true;
            }
        }
    }

    /**
     * The fee on {@code amount} more paid by {@code payer} to {@code payee}, on the pair's cumulative total:
     * {fee delta, of which the referrer's share}. Updates the pair's totals.
     */
    private long[] charge(Connection c, String payer, String payee, String referrer, long amount) throws SQLException {
        long paid = 0;
        long fee = 0;
        long feeWithReferrer = 0;
        long referral = 0;
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT paid, fee, fee_with_referrer, referral FROM fee_pair WHERE payer = ? AND payee = ?")) {
            ps.setString(1, payer);
            ps.setString(2, payee);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    paid = rs.getLong(1);
                    fee = rs.getLong(2);
                    feeWithReferrer = rs.getLong(3);
                    referral = rs.getLong(4);
                }
            }
        }
        long newPaid = Math.addExact(paid, amount);
        long newFee = fees.feeOn(newPaid);
        long feeDelta = newFee - fee;
        long refDelta = 0;
        if (referrer != null) {
            // The referrer's share is rounded once too, on the fees accrued while the payer had a referrer.
            feeWithReferrer += feeDelta;
            long newReferral = fees.referrerShareOf(feeWithReferrer);
            refDelta = newReferral - referral;
            referral = newReferral;
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO fee_pair(payer, payee, paid, fee, "
                + "fee_with_referrer, referral) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(payer, payee) DO UPDATE SET "
                + "paid = excluded.paid, fee = excluded.fee, fee_with_referrer = excluded.fee_with_referrer, "
                + "referral = excluded.referral")) {
            ps.setString(1, payer);
            ps.setString(2, payee);
            ps.setLong(3, newPaid);
            ps.setLong(4, newFee);
            ps.setLong(5, feeWithReferrer);
            ps.setLong(6, referral);
            ps.executeUpdate();
        }
        return new long[] {feeDelta, refDelta};
    }

    /** Locks funds in a new escrow; false when the payer cannot cover it. */
    boolean lock(Connection c, String opId, String escrowId, String payer, String payee, long amount,
                 long expiresAt, long now) throws SQLException {
        if (amount <= 0) {
            throw new IllegalArgumentException("a lock must hold something: " + amount + " in " + opId);
        }
        if (!debit(c, payer, amount)) {
            return false;
        }
        // The hold's account is new: created with its balance in one statement.
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO account(id, balance) VALUES (?, ?)")) {
            ps.setString(1, escrowAccount(escrowId));
            ps.setLong(2, amount);
            ps.executeUpdate();
        }
        record(c, opId, payer, escrowAccount(escrowId), amount, "lock", escrowId, now);
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
     * Releases up to a cumulative target of this escrow, with the pair's fee (and the payer's referrer's share of
     * it) on the pair's cumulative amount. A target at or below what was released already is a no-op.
     */
    void releaseTo(Connection c, String opId, EscrowState e, long target, long now) throws SQLException {
        long delta = target - e.releasedMicros();
        if (delta <= 0) {
            return;
        }
        String referrer = referrerOf(c, e.payer());
        long[] f = charge(c, e.payer(), e.payee(), referrer, delta);
        String from = escrowAccount(e.escrowId());
        transfer(c, opId, from, e.payee(), delta - f[0], "release", e.escrowId(), now);
        transfer(c, opId, from, FEES, f[0] - f[1], "fee", e.escrowId(), now);
        if (referrer != null) {
            transfer(c, opId, from, referrer, f[1], "referral", e.escrowId(), now);
        }
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE escrow SET released = ?, fee = fee + ?, referral = referral + ? WHERE id = ?")) {
            ps.setLong(1, target);
            ps.setLong(2, f[0]);
            ps.setLong(3, f[1]);
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

    /** Returns {@code amount} of what was not released to the payer; the escrow stays open. */
    void refundPart(Connection c, String opId, EscrowState e, long amount, long now) throws SQLException {
        if (amount <= 0 || amount > e.remainingMicros()) {
            throw new IllegalArgumentException("refund of " + amount + " from " + e.escrowId() + " holding "
                    + e.remainingMicros());
        }
        transfer(c, opId, escrowAccount(e.escrowId()), e.payer(), amount, "refund", e.escrowId(), now);
        try (PreparedStatement ps = c.prepareStatement("UPDATE escrow SET refunded = refunded + ? WHERE id = ?")) {
            ps.setLong(1, amount);
            ps.setString(2, e.escrowId());
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

    /**
     * A payment straight from the payer's balance (bonuses, cost beyond a hold), with the pair's fee on it;
     * false when not covered.
     */
    boolean pay(Connection c, String opId, String payer, String payee, long amount, String kind, long now)
            throws SQLException {
        if (balance(c, payer) < amount) {
            return false;
        }
        String referrer = referrerOf(c, payer);
        long[] f = charge(c, payer, payee, referrer, amount);
        transfer(c, opId, payer, payee, amount - f[0], kind, null, now);
        transfer(c, opId, payer, FEES, f[0] - f[1], "fee", null, now);
        if (referrer != null) {
            transfer(c, opId, payer, referrer, f[1], "referral", null, now);
        }
        return true;
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
