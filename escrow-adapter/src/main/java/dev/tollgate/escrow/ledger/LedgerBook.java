package dev.tollgate.escrow.ledger;

import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.db.Database;
import java.sql.Connection;
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
 * <p>The rows live in memory between transactions ({@link LedgerState}): an operation reads and changes them there
 * and the transaction writes each changed row once, with its transfers, just before it commits.
 *
 * <p>Threading: the caller's transaction serializes use ({@link #attach} names the database first).
 */
public final class LedgerBook {
    /** Source of minted funds (faucet, dev credits); the negative of all money in the system. */
    public static final String MINT = "@mint";
    /** Where escrow fees go. */
    public static final String FEES = "@fees";

    private final Fees fees;
    private BalanceObserver observer = (account, balance) -> { };
    private LedgerState state;

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

    /** The database this book keeps its rows in; every transaction passed to it must be that database's. */
    public void attach(Database db) {
        this.state = LedgerState.of(db);
    }

    /** Writes the rows the caller's transaction changed so far (see {@link LedgerState#write}). */
    void writeBack(Connection c) throws SQLException {
        state.write(c);
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
        LedgerState.Account a = state.account(c, id);
        if (!a.exists || (referrer != null && !referrer.equals(a.referrer))) {
            a.exists = true;
            if (referrer != null) {
                a.referrer = referrer;
            }
            state.changed(a);
        }
    }

    public long balance(Connection c, String account) throws SQLException {
        LedgerState.Account a = state.account(c, account);
        return a.exists ? a.balance : 0;
    }

    String referrerOf(Connection c, String account) throws SQLException {
        return state.account(c, account).referrer;
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
        if (!debit(c, debit, amount)) {
            return false;
        }
        credit(c, credit, amount);
        state.transfer(opId, debit, credit, amount, kind, escrowId, nowMillis);
        return true;
    }

    /** Takes {@code amount} from an account that holds it (the mint may go below zero); false otherwise. */
    private boolean debit(Connection c, String account, long amount) throws SQLException {
        LedgerState.Account a = state.account(c, account);
        if (account.equals(MINT)) {
            a.exists = true;
        } else if (!a.exists || a.balance < amount) {
            return false;
        }
        move(a, -amount);
        return true;
    }

    /** Adds {@code amount} to an account, made on its first credit. */
    private void credit(Connection c, String account, long amount) throws SQLException {
        LedgerState.Account a = state.account(c, account);
        a.exists = true;
        move(a, amount);
    }

    private void move(LedgerState.Account a, long amount) {
        a.balance = Math.addExact(a.balance, amount);
        state.changed(a);
        if (isAgent(a.id)) {
            observer.changed(a.id, a.balance);
        }
    }

    /**
     * The fee on {@code amount} more paid by {@code payer} to {@code payee}, on the pair's cumulative total:
     * {fee delta, of which the referrer's share}. Updates the pair's totals.
     */
    private long[] charge(Connection c, String payer, String payee, String referrer, long amount) throws SQLException {
        LedgerState.FeePair p = state.pair(c, payer, payee);
        long newPaid = Math.addExact(p.paid, amount);
        long newFee = fees.feeOn(newPaid);
        long feeDelta = newFee - p.fee;
        long refDelta = 0;
        if (referrer != null) {
            // The referrer's share is rounded once too, on the fees accrued while the payer had a referrer.
            p.feeWithReferrer += feeDelta;
            long newReferral = fees.referrerShareOf(p.feeWithReferrer);
            refDelta = newReferral - p.referral;
            p.referral = newReferral;
        }
        p.paid = newPaid;
        p.fee = newFee;
        state.changed(p);
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
        state.newHoldAccount(c, escrowAccount(escrowId), amount);
        state.transfer(opId, payer, escrowAccount(escrowId), amount, "lock", escrowId, now);
        state.newEscrow(c, escrowId, payer, payee, amount, expiresAt, now);
        return true;
    }

    /**
     * Releases up to a cumulative target of this escrow, with the pair's fee (and the payer's referrer's share of
     * it) on the pair's cumulative amount. A target at or below what was released already is a no-op.
     */
    void releaseTo(Connection c, String opId, EscrowState e, long target, long now) throws SQLException {
        LedgerState.Escrow row = state.escrow(c, e.escrowId());
        long delta = target - row.released;
        if (delta <= 0) {
            return;
        }
        String referrer = referrerOf(c, row.payer);
        long[] f = charge(c, row.payer, row.payee, referrer, delta);
        String from = escrowAccount(row.id);
        transfer(c, opId, from, row.payee, delta - f[0], "release", row.id, now);
        transfer(c, opId, from, FEES, f[0] - f[1], "fee", row.id, now);
        if (referrer != null) {
            transfer(c, opId, from, referrer, f[1], "referral", row.id, now);
        }
        row.released = target;
        row.fee += f[0];
        row.referral += f[1];
        state.changed(row);
    }

    /** Returns what was not released to the payer and closes the escrow with {@code status}. */
    void refundRemainder(Connection c, String opId, EscrowState e, String status, long now) throws SQLException {
        LedgerState.Escrow row = state.escrow(c, e.escrowId());
        long remaining = row.locked - row.released - row.refunded;
        transfer(c, opId, escrowAccount(row.id), row.payer, remaining, "refund", row.id, now);
        row.refunded += remaining;
        row.status = status;
        state.changed(row);
    }

    /** Returns {@code amount} of what was not released to the payer; the escrow stays open. */
    void refundPart(Connection c, String opId, EscrowState e, long amount, long now) throws SQLException {
        LedgerState.Escrow row = state.escrow(c, e.escrowId());
        if (amount <= 0 || amount > row.locked - row.released - row.refunded) {
            throw new IllegalArgumentException("refund of " + amount + " from " + e.escrowId() + " holding "
                    + (row.locked - row.released - row.refunded));
        }
        transfer(c, opId, escrowAccount(row.id), row.payer, amount, "refund", row.id, now);
        row.refunded += amount;
        state.changed(row);
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

    /** An escrow held in memory, or null, without reading the database (for ids minted by this node). */
    EscrowState readKnown(Connection c, String escrowId) throws SQLException {
        LedgerState.Escrow row = state.knownEscrow(c, escrowId);
        return row == null ? null : row.view();
    }

    public EscrowState read(Connection c, String escrowId) throws SQLException {
        LedgerState.Escrow row = state.escrow(c, escrowId);
        return row == null ? null : row.view();
    }
}
