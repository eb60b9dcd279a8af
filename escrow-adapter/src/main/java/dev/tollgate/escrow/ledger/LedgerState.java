package dev.tollgate.escrow.ledger;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.db.ForeignCommits;
import dev.tollgate.escrow.port.EscrowState;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The ledger's rows held in memory by the database's one writer, written back once per transaction. Accounts,
 * escrows and fee pairs are read from the database on first use and then kept; a transaction changes them in
 * memory and queues its transfers, and just before it commits ({@link Database#beforeCommit}) each changed row is
 * written once and the transfers are inserted. A request's lock, release and refund in one group commit thus
 * cost one write of the payer's balance for the whole batch instead of several per request, and no read at all.
 *
 * <p>What keeps memory and the database equal: every write to these tables goes through here; a rollback forgets
 * every row the transaction changed (they are read again, as the database kept them); and at the first use in each
 * transaction {@code PRAGMA data_version} tells whether another connection (a CLI in another process sharing the
 * data directory) committed since, in which case everything is forgotten. Closed escrows, emptied hold accounts
 * and missing accounts are forgotten at commit, so memory holds open escrows and agents, not history.
 *
 * <p>A hold opened and emptied within one transaction (a short request locked and settled in the same group commit)
 * leaves no hold account row (its balance would be zero) and no transfer of its own: its escrow row keeps the
 * request's amounts, and its transfers are netted into per-transaction sums ({@link NetTransfers}).
 *
 * <p>Threading: under the database's transaction lock only (one instance per {@link Database}, see {@link #of}).
 */
final class LedgerState {
    /** An account: an agent, a system account ({@code @mint}, {@code @fees}) or an escrow's hold. */
    static final class Account {
        final String id;
        long balance;
        String referrer;
        /** A row exists (in the database, or made by this transaction). */
        boolean exists;
        boolean stored;

        private Account(String id, long balance, String referrer, boolean exists) {
            this.id = id;
            this.balance = balance;
            this.referrer = referrer;
            this.exists = exists;
            this.stored = exists;
        }
    }

    /** An escrow row. */
    static final class Escrow {
        final String id;
        final String payer;
        final String payee;
        final long locked;
        long released;
        long refunded;
        long fee;
        long referral;
        String status;
        final long expiresAt;
        final long createdAt;
        boolean stored;

        private Escrow(String id, String payer, String payee, long locked, long released, long refunded, long fee,
                       long referral, String status, long expiresAt, long createdAt, boolean stored) {
            this.id = id;
            this.payer = payer;
            this.payee = payee;
            this.locked = locked;
            this.released = released;
            this.refunded = refunded;
            this.fee = fee;
            this.referral = referral;
            this.status = status;
            this.expiresAt = expiresAt;
            this.createdAt = createdAt;
            this.stored = stored;
        }

        EscrowState view() {
            return new EscrowState(id, payer, payee, locked, released, refunded, status);
        }

        boolean open() {
            return status.equals("locked");
        }
    }

    /** The cumulative totals of one payer x payee pair, on which fees are rounded once. */
    static final class FeePair {
        final String payer;
        final String payee;
        long paid;
        long fee;
        long feeWithReferrer;
        long referral;

        private FeePair(String payer, String payee) {
            this.payer = payer;
            this.payee = payee;
        }
    }

    private record Transfer(String opId, String debit, String credit, long amount, String kind, String escrowId,
                            long atMillis) {
    }

    private final Database db;
    private final Map<String, Account> accounts = new HashMap<>();
    private final Map<String, Escrow> escrows = new HashMap<>();
    private final Map<String, FeePair> pairs = new HashMap<>();
    // This transaction: rows changed (all of them, and those not written yet), rows read (forgotten at commit when
    // closed or empty).
    private final Set<Account> changedAccounts = new LinkedHashSet<>();
    private final Set<Escrow> changedEscrows = new LinkedHashSet<>();
    private final Set<FeePair> changedPairs = new LinkedHashSet<>();
    private final Set<Account> unwrittenAccounts = new LinkedHashSet<>();
    private final Set<Escrow> unwrittenEscrows = new LinkedHashSet<>();
    private final Set<FeePair> unwrittenPairs = new LinkedHashSet<>();
    private final List<Account> readAccounts = new ArrayList<>();
    private final List<Escrow> readEscrows = new ArrayList<>();
    private final List<Transfer> transfers = new ArrayList<>();
    private final ForeignCommits foreignCommits;

    private LedgerState(Database db) {
        this.db = db;
        this.foreignCommits = new ForeignCommits(db);
    }

    /** The state of {@code db}'s ledger (one per database, shared by every book on it). */
    static LedgerState of(Database db) {
        return db.shared(LedgerState.class, LedgerState::new);
    }

    /**
     * On the first use in a transaction: hooks the write-back and the clean-up into it, and forgets everything when
     * another connection committed since the last transaction.
     */
    private void begin(Connection c) throws SQLException {
        ForeignCommits.Entry entry = foreignCommits.enter(c);
        if (entry == ForeignCommits.Entry.AGAIN) {
            return;
        }
        if (entry == ForeignCommits.Entry.FIRST_AFTER_FOREIGN_COMMIT) {
            accounts.clear();
            escrows.clear();
            pairs.clear();
        }
        db.beforeCommit(this::write);
        db.whenDone(this::committed, this::rolledBack);
    }

    Account account(Connection c, String id) throws SQLException {
        begin(c);
        Account a = accounts.get(id);
        if (a == null) {
            try (PreparedStatement ps = c.prepareStatement("SELECT balance, referrer FROM account WHERE id = ?")) {
                ps.setString(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    a = rs.next() ? new Account(id, rs.getLong(1), rs.getString(2), true)
                            : new Account(id, 0, null, false);
                }
            }
            accounts.put(id, a);
            readAccounts.add(a);
        }
        return a;
    }

    /** A new hold's account, known not to exist (its escrow is new): no read. */
    Account newHoldAccount(Connection c, String id, long balance) throws SQLException {
        begin(c);
        Account a = new Account(id, balance, null, false);
        a.exists = true;
        accounts.put(id, a);
        changed(a);
        return a;
    }

    void changed(Account a) {
        changedAccounts.add(a);
        unwrittenAccounts.add(a);
    }

    /** An escrow, or null when there is none. */
    Escrow escrow(Connection c, String id) throws SQLException {
        begin(c);
        Escrow e = escrows.get(id);
        if (e == null) {
            try (PreparedStatement ps = c.prepareStatement("SELECT payer, payee, locked, released, refunded, fee, "
                    + "referral, status, expires_at_ms, created_at_ms FROM escrow WHERE id = ?")) {
                ps.setString(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return null;
                    }
                    e = new Escrow(id, rs.getString(1), rs.getString(2), rs.getLong(3), rs.getLong(4), rs.getLong(5),
                            rs.getLong(6), rs.getLong(7), rs.getString(8), rs.getLong(9), rs.getLong(10), true);
                }
            }
            escrows.put(id, e);
            readEscrows.add(e);
        }
        return e;
    }

    Escrow newEscrow(Connection c, String id, String payer, String payee, long locked, long expiresAt, long now)
            throws SQLException {
        begin(c);
        Escrow e = new Escrow(id, payer, payee, locked, 0, 0, 0, 0, "locked", expiresAt, now, false);
        escrows.put(id, e);
        changed(e);
        return e;
    }

    void changed(Escrow e) {
        changedEscrows.add(e);
        unwrittenEscrows.add(e);
    }

    FeePair pair(Connection c, String payer, String payee) throws SQLException {
        begin(c);
        String key = payer + '\n' + payee;
        FeePair p = pairs.get(key);
        if (p == null) {
            p = new FeePair(payer, payee);
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT paid, fee, fee_with_referrer, referral FROM fee_pair WHERE payer = ? AND payee = ?")) {
                ps.setString(1, payer);
                ps.setString(2, payee);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        p.paid = rs.getLong(1);
                        p.fee = rs.getLong(2);
                        p.feeWithReferrer = rs.getLong(3);
                        p.referral = rs.getLong(4);
                    }
                }
            }
            pairs.put(key, p);
        }
        return p;
    }

    void changed(FeePair p) {
        changedPairs.add(p);
        unwrittenPairs.add(p);
    }

    void transfer(String opId, String debit, String credit, long amount, String kind, String escrowId, long now) {
        transfers.add(new Transfer(opId, debit, credit, amount, kind, escrowId, now));
    }

    /** An escrow this writer holds in memory, or null: no database read (see {@link #escrow}). */
    Escrow knownEscrow(Connection c, String id) throws SQLException {
        begin(c);
        return escrows.get(id);
    }

    /**
     * Writes the rows this transaction changed and its transfers: just before it commits, or earlier for a query
     * of the same transaction that reads the ledger's tables with SQL.
     *
     * <p>An escrow opened and closed within the transaction, none of whose rows were written yet (a short request
     * locked and settled in one group commit), is written as its escrow row (locked, released, refunded, fee and
     * referral: the request's detail) while its hold is netted out of the transfers: the lock into the hold and the
     * refund out of it cancel, and what left the hold is written as moved straight from the payer, summed over the
     * transaction per debit x credit x kind ({@link NetTransfers}). Every balance still equals the sum of its
     * transfers.
     */
    Void write(Connection c) throws SQLException {
        for (Account a : unwrittenAccounts) {
            if (!a.exists || (!a.stored && a.balance == 0 && a.id.startsWith("escrow:"))) {
                continue;
            }
            LedgerRows.upsertAccount(c, a);
        }
        NetTransfers net = new NetTransfers();
        List<Escrow> inserts = new ArrayList<>();
        for (Escrow e : unwrittenEscrows) {
            if (e.stored) {
                LedgerRows.updateEscrow(c, e);
            } else {
                inserts.add(e);
                if (!e.open()) {
                    net.hold(e.id, e.payer);
                }
            }
        }
        // Plain inserts, several rows per statement: a journaled lock does not read the table first (its id is
        // minted by this node), so an id already taken fails the commit here instead of overwriting that escrow.
        LedgerRows.insertEscrows(c, inserts);
        for (FeePair p : unwrittenPairs) {
            LedgerRows.upsertPair(c, p);
        }
        for (Transfer t : transfers) {
            if (!net.absorb(t.debit(), t.credit(), t.amount(), t.kind(), t.escrowId(), t.atMillis())) {
                LedgerRows.insertTransfer(c, t.opId(), t.debit(), t.credit(), t.amount(), t.kind(), t.escrowId(),
                        t.atMillis());
            }
        }
        for (NetTransfers.Sum sum : net.sums()) {
            LedgerRows.insertTransfer(c, sum.opId(), sum.debit(), sum.credit(), sum.amount(), sum.kind(), null,
                    sum.atMillis());
        }
        for (Account a : unwrittenAccounts) {
            a.stored = a.exists && (a.stored || a.balance != 0 || !a.id.startsWith("escrow:"));
        }
        for (Escrow e : unwrittenEscrows) {
            e.stored = true;
        }
        unwrittenAccounts.clear();
        unwrittenEscrows.clear();
        unwrittenPairs.clear();
        transfers.clear();
        return null;
    }

    private void committed() {
        for (Escrow e : changedEscrows) {
            forgetIfClosed(e);
        }
        for (Escrow e : readEscrows) {
            forgetIfClosed(e);
        }
        for (Account a : changedAccounts) {
            forgetIfIdle(a);
        }
        for (Account a : readAccounts) {
            forgetIfIdle(a);
        }
        clear();
    }

    private void forgetIfClosed(Escrow e) {
        if (!e.open()) {
            escrows.remove(e.id, e);
        }
    }

    /** A missing account, or an emptied hold: nothing worth keeping in memory. */
    private void forgetIfIdle(Account a) {
        if (!a.exists || (a.balance == 0 && a.id.startsWith("escrow:"))) {
            accounts.remove(a.id, a);
        }
    }

    private void rolledBack() {
        // The database kept what it had before the transaction: read those rows again when next needed.
        for (Account a : changedAccounts) {
            accounts.remove(a.id, a);
        }
        for (Escrow e : changedEscrows) {
            escrows.remove(e.id, e);
        }
        for (FeePair p : changedPairs) {
            pairs.remove(p.payer + '\n' + p.payee, p);
        }
        for (Account a : readAccounts) {
            forgetIfIdle(a);
        }
        for (Escrow e : readEscrows) {
            forgetIfClosed(e);
        }
        clear();
    }

    private void clear() {
        changedAccounts.clear();
        changedEscrows.clear();
        changedPairs.clear();
        unwrittenAccounts.clear();
        unwrittenEscrows.clear();
        unwrittenPairs.clear();
        readAccounts.clear();
        readEscrows.clear();
        transfers.clear();
    }
}
