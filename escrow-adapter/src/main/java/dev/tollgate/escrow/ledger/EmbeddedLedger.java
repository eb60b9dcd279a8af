package dev.tollgate.escrow.ledger;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.Capabilities;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.port.LockRequest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;

/**
 * The default escrow backend: a double-entry ledger in the embedded database. Partial releases, refunds,
 * idempotency by operation id (an operation applied twice has one effect; the second call answers the first
 * result), expiry with a configured outcome, a dev faucet.
 *
 * <p>Balances live twice: durably in the database, and in memory as {@link AvailableFunds} (balance minus
 * reservations not yet written). Every debit of an agent is reserved in memory first, so admission can decide on
 * the caller's thread and the durable lock follows in the next group commit. Each operation exists in two forms:
 * the {@link EscrowPort} methods run one transaction each; the methods taking a {@link Connection} run inside
 * the caller's transaction (the settlement journal's group commit), so many operations share one commit.
 *
 * <p>Threading: thread-safe. The connection-taking methods must be called inside {@link Database#transaction}
 * of this ledger's database.
 */
public final class EmbeddedLedger implements EscrowPort {
    public static final long FAUCET_MICROS = 1_000_000L;

    private final Database db;
    private final LedgerBook book;
    private final Clock clock;
    private final long minimumLockMicros;
    private final boolean expiryRefunds;
    private final AvailableFunds funds = new AvailableFunds();
    private final TransactionFunds inTx;
    private final LedgerOps ops;

    public EmbeddedLedger(Database db, LedgerBook book, Clock clock, long minimumLockMicros, boolean expiryRefunds) {
        this.db = db;
        this.book = book;
        this.clock = clock;
        this.minimumLockMicros = minimumLockMicros;
        this.expiryRefunds = expiryRefunds;
        this.inTx = new TransactionFunds(db, funds);
        this.ops = new LedgerOps(book);
        book.attach(db);
        book.observe(inTx::observed);
        db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT id, balance FROM account");
                 ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    if (LedgerBook.isAgent(rs.getString(1))) {
                        funds.committed(rs.getString(1), rs.getLong(2), 0);
                    }
                }
            }
            return null;
        });
    }

    /** Available funds per agent (balance minus reservations), for admission. */
    public AvailableFunds funds() {
        return funds;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(true, true, true, minimumLockMicros, expiryRefunds);
    }

    @Override
    public EscrowResult lock(String opId, LockRequest req) {
        return db.transaction(c -> lock(c, opId, req, false));
    }

    /**
     * Locks inside the caller's transaction. {@code reserved}: the amount was already reserved in
     * {@link #funds()} for this lock (by admission); otherwise it is reserved here.
     */
    public EscrowResult lock(Connection c, String opId, LockRequest req, boolean reserved) throws SQLException {
        return lock(c, opId, req, reserved, true);
    }

    /**
     * {@link #lock(Connection, String, LockRequest, boolean)} for a lock the settlement journal applies exactly once
     * (each logged entry commits once, with the log position it covers): the operation id names its transfers but
     * is not recorded for replays, which spares a write per lock; and the escrow id, minted by this node, is checked
     * against the escrows in memory only, which spares a read.
     */
    public EscrowResult lockJournaled(Connection c, String opId, LockRequest req) throws SQLException {
        return lock(c, opId, req, true, false);
    }

    private EscrowResult lock(Connection c, String opId, LockRequest req, boolean reserved, boolean recordOp)
            throws SQLException {
        LedgerOps.Effect effect = tx -> {
            if (req.amountMicros() < minimumLockMicros) {
                return new EscrowResult.Rejected("invalid_amount", "below the minimum lock of " + minimumLockMicros);
            }
            // A journaled lock's id is minted by this node, unique across restarts: only memory is asked; an id
            // already in the table would fail the commit at the escrow's insert rather than be overwritten.
            if ((recordOp ? book.read(tx, req.escrowId()) : book.readKnown(tx, req.escrowId())) != null) {
                return new EscrowResult.Rejected("exists", "escrow id in use: " + req.escrowId());
            }
            if (!reserved && !inTx.reserve(req.payer(), req.amountMicros())) {
                return new EscrowResult.Rejected("insufficient_balance", req.payer() + " cannot cover "
                        + req.amountMicros());
            }
            if (!book.lock(tx, opId, req.escrowId(), req.payer(), req.payee(), req.amountMicros(),
                    req.expiresAtMillis(), clock.millis())) {
                if (!reserved) {
                    inTx.unreserve(req.payer(), req.amountMicros());
                }
                return new EscrowResult.Rejected("insufficient_balance", req.payer() + " cannot cover "
                        + req.amountMicros());
            }
            if (!reserved) {
                inTx.reservationDone(req.payer(), req.amountMicros());
            }
            return new EscrowResult.Done(req.escrowId(), null);
        };
        EscrowResult r = recordOp ? ops.once(c, opId, "lock", req.escrowId(), effect) : effect.apply(c);
        if (reserved) {
            // Applied or refused, the admission's reservation is settled by this commit.
            inTx.reservationDone(req.payer(), req.amountMicros());
        }
        return r;
    }

    @Override
    public EscrowResult releaseTo(String opId, String escrowId, long target) {
        return db.transaction(c -> releaseTo(c, opId, escrowId, target));
    }

    /** Releases to a cumulative target inside the caller's transaction. */
    public EscrowResult releaseTo(Connection c, String opId, String escrowId, long target) throws SQLException {
        return ops.once(c, opId, "release", escrowId, release(opId, escrowId, target));
    }

    /**
     * {@link #releaseTo(Connection, String, String, long)} without recording the operation id: a release to a
     * cumulative target is idempotent by itself (a target already reached changes nothing), and the journal
     * applies each entry once.
     */
    public EscrowResult releaseToJournaled(Connection c, String opId, String escrowId, long target)
            throws SQLException {
        return release(opId, escrowId, target).apply(c);
    }

    private LedgerOps.Effect release(String opId, String escrowId, long target) {
        return tx -> {
            EscrowState e = book.read(tx, escrowId);
            if (e == null) {
                return new EscrowResult.Rejected("not_found", escrowId);
            }
            if (target <= e.releasedMicros()) {
                return new EscrowResult.Done(escrowId, null);
            }
            if (!e.open()) {
                return new EscrowResult.Rejected("invalid_status", escrowId + " is " + e.status());
            }
            if (target > e.lockedMicros() - e.refundedMicros()) {
                return new EscrowResult.Rejected("over_release", "target " + target + " exceeds the hold of "
                        + escrowId);
            }
            book.releaseTo(tx, opId, e, target, clock.millis());
            return new EscrowResult.Done(escrowId, null);
        };
    }

    @Override
    public EscrowResult refundRemainder(String opId, String escrowId) {
        return db.transaction(c -> refundRemainder(c, opId, escrowId));
    }

    /** Refunds what was not released and closes the escrow, inside the caller's transaction. */
    public EscrowResult refundRemainder(Connection c, String opId, String escrowId) throws SQLException {
        return ops.once(c, opId, "refund", escrowId, refund(opId, escrowId));
    }

    /**
     * {@link #refundRemainder(Connection, String, String)} without recording the operation id: refunding a closed
     * escrow changes nothing, and the journal applies each entry once. The answer carries the escrow's final state.
     */
    public EscrowResult refundRemainderJournaled(Connection c, String opId, String escrowId) throws SQLException {
        EscrowResult r = refund(opId, escrowId).apply(c);
        return r instanceof EscrowResult.Done ? new EscrowResult.Done(escrowId, book.read(c, escrowId)) : r;
    }

    private LedgerOps.Effect refund(String opId, String escrowId) {
        return tx -> {
            EscrowState e = book.read(tx, escrowId);
            if (e == null) {
                return new EscrowResult.Rejected("not_found", escrowId);
            }
            if (e.open()) {
                book.refundRemainder(tx, opId, e, "closed", clock.millis());
            }
            return new EscrowResult.Done(escrowId, null);
        };
    }

    /**
     * {@link #pay(Connection, String, String, String, long, String)} for an amount admission already reserved in
     * {@link #funds()} (a per-call price): the reservation is settled by this commit whether or not it paid.
     */
    public EscrowResult payReserved(Connection c, String opId, String payer, String payee, long amountMicros,
                                    String kind) throws SQLException {
        EscrowResult r = ops.once(c, opId, "pay", null, tx -> book.pay(tx, opId, payer, payee, amountMicros, kind,
                clock.millis()) ? new EscrowResult.Done(null, null)
                : new EscrowResult.Rejected("insufficient_balance", payer + " cannot cover " + amountMicros));
        inTx.reservationDone(payer, amountMicros);
        return r;
    }

    /**
     * Refunds {@code amountMicros} of what was not released, inside the caller's transaction; the escrow stays
     * open (an agent's partial refund). Refused ({@code invalid_amount}) beyond what the escrow still holds.
     */
    public EscrowResult refund(Connection c, String opId, String escrowId, long amountMicros) throws SQLException {
        return ops.once(c, opId, "refund-part", escrowId, tx -> {
            EscrowState e = book.read(tx, escrowId);
            if (e == null) {
                return new EscrowResult.Rejected("not_found", escrowId);
            }
            if (!e.open()) {
                return new EscrowResult.Rejected("invalid_status", escrowId + " is " + e.status());
            }
            if (amountMicros <= 0 || amountMicros > e.remainingMicros()) {
                return new EscrowResult.Rejected("invalid_amount", "refund of " + amountMicros + " exceeds what "
                        + escrowId + " holds");
            }
            book.refundPart(tx, opId, e, amountMicros, clock.millis());
            return new EscrowResult.Done(escrowId, null);
        });
    }

    /**
     * Settles one open escrow as expired inside the caller's transaction: with {@code release} the remainder goes
     * to the payee, else back to the payer; the status becomes {@code expired}. No-op for a closed escrow.
     */
    public void expire(Connection c, String escrowId, boolean release) throws SQLException {
        EscrowState e = book.read(c, escrowId);
        if (e == null || !e.open()) {
            return;
        }
        String op = "expire:" + escrowId;
        if (release) {
            book.releaseTo(c, op, e, e.lockedMicros() - e.refundedMicros(), clock.millis());
            e = book.read(c, escrowId);
        }
        book.refundRemainder(c, op, e, "expired", clock.millis());
    }

    @Override
    public EscrowResult pay(String opId, String payer, String payee, long amountMicros) {
        return db.transaction(c -> pay(c, opId, payer, payee, amountMicros, "bonus"));
    }

    /**
     * Pays straight from the payer's balance inside the caller's transaction ({@code kind}: "bonus" or "excess",
     * the cost beyond a hold); refused when the payer's available funds cannot cover it.
     */
    public EscrowResult pay(Connection c, String opId, String payer, String payee, long amountMicros, String kind)
            throws SQLException {
        return ops.once(c, opId, "pay", null, tx -> {
            if (!inTx.reserve(payer, amountMicros)) {
                return new EscrowResult.Rejected("insufficient_balance", payer + " cannot cover " + amountMicros);
            }
            if (!book.pay(tx, opId, payer, payee, amountMicros, kind, clock.millis())) {
                inTx.unreserve(payer, amountMicros);
                return new EscrowResult.Rejected("insufficient_balance", payer + " cannot cover " + amountMicros);
            }
            inTx.reservationDone(payer, amountMicros);
            return new EscrowResult.Done(null, null);
        });
    }

    @Override
    public EscrowState read(String escrowId) {
        return db.transaction(c -> book.read(c, escrowId));
    }

    /**
     * Writes the ledger rows the caller's transaction changed so far (they are otherwise written just before it
     * commits), for a query in that transaction that reads the ledger's tables with SQL.
     */
    public void writeBack(Connection c) throws SQLException {
        book.writeBack(c);
    }

    /** An escrow's state inside the caller's transaction, or null. */
    public EscrowState read(Connection c, String escrowId) throws SQLException {
        return book.read(c, escrowId);
    }

    /** Credits 1 USDC to an agent, once per agent; false when it already claimed. */
    public boolean faucet(String agent) {
        return credit("faucet:" + agent, agent, FAUCET_MICROS);
    }

    /** Mints {@code micros} to an agent under an operation id (dev funding); false when the id was used. */
    public boolean credit(String opId, String agent, long micros) {
        return db.transaction(c -> credit(c, opId, agent, micros));
    }

    /** {@link #credit(String, String, long)} inside the caller's transaction. */
    public boolean credit(Connection c, String opId, String agent, long micros) throws SQLException {
        if (LedgerOps.replay(c, book, opId) != null) {
            return false;
        }
        book.ensureAccount(c, agent, null);
        book.transfer(c, opId, LedgerBook.MINT, agent, micros, "credit", null, clock.millis());
        LedgerOps.record(c, book, opId, "credit", null, new EscrowResult.Done(null, null));
        return true;
    }

    /** Sets an agent's referrer (who earns a share of the fees on its payments). */
    public void setReferrer(String agent, String referrer) {
        db.transaction(c -> {
            book.ensureAccount(c, agent, referrer);
            return null;
        });
    }

    public long balance(String agent) {
        return db.transaction(c -> book.balance(c, agent));
    }

    /** Settles every open escrow past its expiry with the configured outcome; returns how many. */
    public int expireDue() {
        return db.transaction(c -> {
            java.util.List<String> due = new java.util.ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT id FROM escrow WHERE status = 'locked' AND expires_at_ms <= ?")) {
                ps.setLong(1, clock.millis());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        due.add(rs.getString(1));
                    }
                }
            }
            for (String id : due) {
                EscrowState e = book.read(c, id);
                String op = "expire:" + id;
                if (!expiryRefunds) {
                    book.releaseTo(c, op, e, e.lockedMicros() - e.refundedMicros(), clock.millis());
                    e = book.read(c, id);
                }
                book.refundRemainder(c, op, e, "expired", clock.millis());
            }
            return due.size();
        });
    }

    /** Every agent account (not system or escrow accounts), sorted. */
    public java.util.List<String> agents() {
        return db.transaction(c -> {
            java.util.List<String> out = new java.util.ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT id FROM account WHERE id NOT LIKE '@%' "
                    + "AND id NOT LIKE 'escrow:%' ORDER BY id"); ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
            return out;
        });
    }

    public Statement statement(String agent) {
        return db.transaction(c -> LedgerQueries.statement(c, agent));
    }

    public Conservation conservation() {
        return db.transaction(c -> LedgerQueries.conservation(c, book.fees().feeBps()));
    }
}
