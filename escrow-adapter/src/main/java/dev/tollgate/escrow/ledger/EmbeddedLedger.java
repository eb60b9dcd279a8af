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
 * <p>Threading: thread-safe (each call is one database transaction).
 */
public final class EmbeddedLedger implements EscrowPort {
    public static final long FAUCET_MICROS = 1_000_000L;

    private final Database db;
    private final LedgerBook book;
    private final Clock clock;
    private final long minimumLockMicros;
    private final boolean expiryRefunds;

    public EmbeddedLedger(Database db, LedgerBook book, Clock clock, long minimumLockMicros, boolean expiryRefunds) {
        this.db = db;
        this.book = book;
        this.clock = clock;
        this.minimumLockMicros = minimumLockMicros;
        this.expiryRefunds = expiryRefunds;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(true, true, true, minimumLockMicros, expiryRefunds);
    }

    /** A recorded earlier outcome of this operation id, or null. */
    private static EscrowResult replay(Connection c, LedgerBook book, String opId) throws SQLException {
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

    private static EscrowResult record(Connection c, LedgerBook book, String opId, String kind, String escrowId,
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
        if (r instanceof EscrowResult.Done && escrowId != null) {
            return new EscrowResult.Done(escrowId, book.read(c, escrowId));
        }
        return r;
    }

    /** One ledger operation's effect, decided inside its transaction. */
    @FunctionalInterface
    private interface Effect {
        EscrowResult apply(Connection c) throws SQLException;
    }

    /**
     * Runs {@code effect} once per operation id: a repeated id answers what the first call answered. The
     * escrow the operation concerns is recorded with the result when the operation succeeded.
     */
    private EscrowResult once(String opId, String kind, String escrowId, Effect effect) {
        return db.transaction(c -> {
            EscrowResult earlier = replay(c, book, opId);
            if (earlier != null) {
                return earlier;
            }
            EscrowResult r = effect.apply(c);
            return record(c, book, opId, kind, r instanceof EscrowResult.Done ? escrowId : null, r);
        });
    }

    @Override
    public EscrowResult lock(String opId, LockRequest req) {
        return once(opId, "lock", req.escrowId(), c -> {
            EscrowResult r;
            if (req.amountMicros() < minimumLockMicros) {
                r = new EscrowResult.Rejected("invalid_amount", "below the minimum lock of " + minimumLockMicros);
            } else if (book.read(c, req.escrowId()) != null) {
                r = new EscrowResult.Rejected("exists", "escrow id in use: " + req.escrowId());
            } else if (!book.lock(c, opId, req.escrowId(), req.payer(), req.payee(), req.amountMicros(),
                    req.expiresAtMillis(), clock.millis())) {
                r = new EscrowResult.Rejected("insufficient_balance", req.payer() + " cannot cover "
                        + req.amountMicros());
            } else {
                r = new EscrowResult.Done(req.escrowId(), null);
            }
            return r;
        });
    }

    @Override
    public EscrowResult releaseTo(String opId, String escrowId, long target) {
        return once(opId, "release", escrowId, c -> {
            EscrowState e = book.read(c, escrowId);
            EscrowResult r;
            if (e == null) {
                r = new EscrowResult.Rejected("not_found", escrowId);
            } else if (target <= e.releasedMicros()) {
                r = new EscrowResult.Done(escrowId, null);
            } else if (!e.open()) {
                r = new EscrowResult.Rejected("invalid_status", escrowId + " is " + e.status());
            } else if (target > e.lockedMicros() - e.refundedMicros()) {
                r = new EscrowResult.Rejected("over_release", "target " + target + " exceeds the hold of " + escrowId);
            } else {
                book.releaseTo(c, opId, e, target, clock.millis());
                r = new EscrowResult.Done(escrowId, null);
            }
            return r;
        });
    }

    @Override
    public EscrowResult refundRemainder(String opId, String escrowId) {
        return once(opId, "refund", escrowId, c -> {
            EscrowState e = book.read(c, escrowId);
            if (e == null) {
                return new EscrowResult.Rejected("not_found", escrowId);
            }
            if (e.open()) {
                book.refundRemainder(c, opId, e, "closed", clock.millis());
            }
            return new EscrowResult.Done(escrowId, null);
        });
    }

    @Override
    public EscrowResult pay(String opId, String payer, String payee, long amountMicros) {
        return once(opId, "pay", null, c -> book.pay(c, opId, payer, payee, amountMicros, "bonus", clock.millis())
                ? new EscrowResult.Done(null, null)
                : new EscrowResult.Rejected("insufficient_balance", payer + " cannot cover " + amountMicros));
    }

    @Override
    public EscrowState read(String escrowId) {
        return db.transaction(c -> book.read(c, escrowId));
    }

    /** Credits 1 USDC to an agent, once per agent; false when it already claimed. */
    public boolean faucet(String agent) {
        return credit("faucet:" + agent, agent, FAUCET_MICROS);
    }

    /** Mints {@code micros} to an agent under an operation id (dev funding); false when the id was used. */
    public boolean credit(String opId, String agent, long micros) {
        return db.transaction(c -> {
            if (replay(c, book, opId) != null) {
                return false;
            }
            book.ensureAccount(c, agent, null);
            book.transfer(c, opId, LedgerBook.MINT, agent, micros, "credit", null, clock.millis());
            record(c, book, opId, "credit", null, new EscrowResult.Done(null, null));
            return true;
        });
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
        return db.transaction(LedgerQueries::conservation);
    }
}
