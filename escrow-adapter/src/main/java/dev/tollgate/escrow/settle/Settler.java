package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.port.LockRequest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The settler thread: carries out journaled settlement operations against the escrow backend, in order per
 * escrow, with backoff. Each operation is marked {@code sent} before the call and {@code done} or
 * {@code rejected} on a definitive answer; an ambiguous answer makes it {@code unknown}, and an unknown
 * operation is resolved by reading the backend before it is retried. At start-up, operations left
 * {@code sent} by a crash become {@code unknown}, so every unfinished settlement resumes.
 *
 * <p>Post-pay payments (a remote backend without partial release): one that provably reached nothing
 * ({@code Retryable}: never sent, rate limited) is retried when the backend says ({@link RemoteHints.RetryAfter})
 * and grows to carry what accrued; one whose create was sent and never answered cannot be read back and is set
 * aside for an operator ({@link RemoteHints#CREATE_UNANSWERED}), so that the pair's later payments go on; a
 * refusal stops the pair (arrears or misconfigured, {@link PostPayPolicy#refused}). An operation found due is
 * claimed ({@code sent}) only if it is still as it was read, so that one changed meanwhile is never carried out
 * under its old id or amount.
 *
 * <p>Threading: one daemon thread, "tollgate-settler"; {@link #wake} from any thread.
 */
final class Settler implements Runnable {
    private static final Logger LOG = Logger.getLogger(Settler.class.getName());
    private static final long MAX_BACKOFF_MS = 60_000;

    private final Database db;
    private final EscrowPort port;
    private final Clock clock;
    private final Runnable housekeeping;
    private final EmbeddedLedger inlineLedger;
    private final Arrears arrears;
    private final Object signal = new Object();
    private final Thread thread;
    private volatile boolean running = true;
    private final java.util.concurrent.atomic.AtomicLong done = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong rejected = new java.util.concurrent.atomic.AtomicLong();
    private boolean woken;
    private volatile LaneFreed laneFreed = (c, payer, worker, now) -> { };

    /** Called, in the settler's transaction, when a post-pay lane has no payment in flight any more. */
    interface LaneFreed {
        void freed(Connection c, String payer, String worker, long now) throws SQLException;
    }

    Settler(Database db, EscrowPort port, Clock clock, Runnable housekeeping, Arrears arrears) {
        this.db = db;
        this.port = port;
        this.clock = clock;
        this.housekeeping = housekeeping;
        this.arrears = arrears;
        this.inlineLedger = port instanceof EmbeddedLedger e ? e : null;
        this.thread = new Thread(this, "tollgate-settler");
        this.thread.setDaemon(true);
    }

    void onLaneFreed(LaneFreed hook) {
        this.laneFreed = hook;
    }

    void start() {
        int resumed = db.transaction(SettleOps::sentToUnknown);
        if (resumed > 0) {
            LOG.info("resuming " + resumed + " settlement operation(s) interrupted by a stop");
        }
        thread.start();
    }

    /** Operations carried out since start. */
    long doneCount() {
        return done.get();
    }

    /** Operations the backend refused for good since start. */
    long rejectedCount() {
        return rejected.get();
    }

    // The journal writer's last look at the due operations (SettleOps.madePendingCount then); its thread only.
    private long inlineLookedAt = -1;

    void wake() {
        synchronized (signal) {
            woken = true;
            signal.notifyAll();
        }
    }

    void stop() {
        running = false;
        wake();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void run() {
        long lastHousekeeping = 0;
        while (running) {
            try {
                long now = clock.millis();
                if (now - lastHousekeeping >= 200) {
                    housekeeping.run();
                    lastHousekeeping = now;
                }
                int n = runDue();
                if (n == 0) {
                    synchronized (signal) {
                        if (!woken && running) {
                            signal.wait(100);
                        }
                        woken = false;
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "settler cycle failed; retrying", e);
                synchronized (signal) {
                    try {
                        signal.wait(500);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }
    }

    /** Runs every operation due now; returns how many ran. Also used by tests and shutdown to drain. */
    synchronized int runDue() {
        List<SettleOps.Op> due = db.transaction(c -> SettleOps.due(c, clock.millis(), 64));
        for (SettleOps.Op op : due) {
            execute(op);
        }
        return due.size();
    }

    /**
     * For the embedded ledger: carries out, inside the caller's transaction (the journal's group commit), every
     * operation due now. The ledger is in the same database, so an operation and its effect commit together:
     * there is nothing ambiguous to resolve and no second transaction per operation.
     */
    void runInline(Connection c, long now) throws SQLException {
        if (inlineLedger == null) {
            return;
        }
        long madePending = SettleOps.madePendingCount();
        if (madePending == inlineLookedAt) {
            return; // Nothing was made pending since the last look: no query (most commits carry no operation).
        }
        inlineLookedAt = madePending;
        for (int round = 0; round < 16; round++) {
            List<SettleOps.Op> due = SettleOps.due(c, now, 256);
            for (SettleOps.Op op : due) {
                apply(c, op, callInline(c, op), now);
            }
            if (due.size() < 256) {
                return;
            }
        }
    }

    private EscrowResult callInline(Connection c, SettleOps.Op op) throws SQLException {
        return switch (op.kind()) {
            case LOCK -> inlineLedger.lock(c, op.opId(), new LockRequest(op.escrowId(), op.payer(), op.payee(),
                    op.target(), clock.millis() + 24 * 3_600_000L, "tollgate op=" + op.opId()), false);
            case RELEASE -> inlineLedger.releaseTo(c, op.opId(), op.escrowId(), op.target());
            case REFUND -> inlineLedger.refundRemainder(c, op.opId(), op.escrowId());
            case PAY -> inlineLedger.pay(c, op.opId(), op.payer(), op.payee(), op.target(),
                    Arrears.owedOp(op.opId()) ? Arrears.ledgerKind(op.opId())
                            : op.opId().startsWith(SettlementService.TIP_PREFIX) ? "tip" : "bonus");
        };
    }

    private void execute(SettleOps.Op op) {
        long now = clock.millis();
        if (inlineLedger != null) {
            // Same database: the operation and its effect commit together, nothing can be ambiguous.
            db.transaction(c -> {
                apply(c, op, callInline(c, op), now);
                return null;
            });
            return;
        }
        if (op.state().equals("unknown") && resolvedByReading(op)) {
            return;
        }
        if (!db.transaction(c -> SettleOps.claim(c, op.opId(), op.state(), now))) {
            return; // Changed since it was found due (a post-pay payment grown to a new target and id).
        }
        EscrowResult r;
        try {
            r = call(op);
        } catch (RuntimeException e) {
            r = new EscrowResult.Ambiguous(e.toString());
        }
        EscrowResult result = r;
        db.transaction(c -> {
            apply(c, op, result, now);
            return null;
        });
    }

    private EscrowResult call(SettleOps.Op op) {
        return switch (op.kind()) {
            case LOCK -> port.lock(op.opId(), new LockRequest(op.escrowId(), op.payer(), op.payee(), op.target(),
                    clock.millis() + 24 * 3_600_000L, "tollgate op=" + op.opId()));
            case RELEASE -> port.releaseTo(op.opId(), op.escrowId(), op.target());
            case REFUND -> port.refundRemainder(op.opId(), op.escrowId());
            case PAY -> port.pay(op.opId(), op.payer(), op.payee(), op.target());
        };
    }

    /** For an operation whose outcome is unknown: true when the backend shows it took effect. */
    private boolean resolvedByReading(SettleOps.Op op) {
        if (port.capabilities().idempotencyKeys() || op.kind() == SettleOps.Kind.PAY) {
            return false; // Retrying with the same operation id is safe.
        }
        EscrowState s = port.read(op.escrowId());
        boolean took = switch (op.kind()) {
            case LOCK -> s != null;
            case RELEASE -> s != null && s.releasedMicros() >= op.target();
            case REFUND -> s != null && !s.open();
            default -> false;
        };
        if (took) {
            db.transaction(c -> {
                apply(c, op, new EscrowResult.Done(op.escrowId(), s), clock.millis());
                return null;
            });
        }
        return took;
    }

    private void apply(Connection c, SettleOps.Op op, EscrowResult r, long now) throws SQLException {
        boolean postPay = op.kind() == SettleOps.Kind.PAY && op.opId().startsWith(PostPayPolicy.LANE);
        if (r instanceof EscrowResult.Done d) {
            SettleOps.mark(c, op.opId(), "done", now, null);
            db.whenDone(done::incrementAndGet, null);
            recordEffect(c, op, d.state());
            if (Arrears.owedOp(op.opId())) {
                arrears.paid(op.payer(), op.opId());
            }
            if (postPay) {
                laneFreed.freed(c, op.payer(), op.payee(), now);
            }
        } else if (postPay && r instanceof EscrowResult.Ambiguous a
                && a.message().startsWith(RemoteHints.CREATE_UNANSWERED)) {
            // Cannot be read back (no listing, no idempotency): set aside for an operator, carried as unknown,
            // and the payer x worker's later payments go on without it.
            SettleOps.setAside(c, op.opId(), a.message().substring(RemoteHints.CREATE_UNANSWERED.length()), now);
            LOG.warning("settlement operation " + op.opId() + " (" + op.payer() + " -> " + op.payee() + ", "
                    + dev.tollgate.escrow.pricing.Micros.format(op.target()) + " USDC) is unknown: the create was sent "
                    + "and never answered; see 'tollgate settle pending'");
            laneFreed.freed(c, op.payer(), op.payee(), now);
        } else if (postPay && r instanceof EscrowResult.Rejected rej) {
            SettleOps.mark(c, op.opId(), "rejected", now, rej.code() + ": " + rej.message());
            db.whenDone(rejected::incrementAndGet, null);
            PostPayPolicy.refused(c, op, rej.code(), rej.message(), now);
            if (rej.code().equals("insufficient_balance")) {
                LOG.info("payment " + op.opId() + " refused: " + op.payer() + " cannot pay "
                        + dev.tollgate.escrow.pricing.Micros.format(op.target()) + " to " + op.payee()
                        + "; the payer is in arrears, retried on a timer");
            } else {
                LOG.severe("settlement is misconfigured for account " + op.payer() + " paying worker " + op.payee()
                        + ": the escrow service answered " + rej.code() + " (" + rej.message() + ")");
            }
        } else if (r instanceof EscrowResult.Rejected rej && op.kind() == SettleOps.Kind.PAY
                && rej.code().equals("insufficient_balance") && !op.escrowId().startsWith(PostPayPolicy.LANE)) {
            // A payment for work already done is owed, not cancelled: retried on a timer (the payer's funds may be
            // tied up in holds that are about to be refunded); beyond-the-hold cost puts the payer in arrears.
            long backoff = Math.min(MAX_BACKOFF_MS, 1_000L << Math.min(6, op.attempts()));
            SettleOps.retryLater(c, op.opId(), now + backoff, rej.code());
            if (Arrears.owedOp(op.opId())) {
                arrears.refused(op.payer(), op.opId(), op.target());
            }
        } else if (r instanceof EscrowResult.Rejected rej) {
            SettleOps.mark(c, op.opId(), "rejected", now, rej.code() + ": " + rej.message());
            db.whenDone(rejected::incrementAndGet, null);
            if (op.requestId() != null) {
                SettlementRows.update(c, op.requestId(), "state = ?", "failed_" + op.kind().name().toLowerCase());
            }
            LOG.warning("settlement operation " + op.opId() + " rejected: " + rej.code() + " " + rej.message());
        } else {
            String state = r instanceof EscrowResult.Ambiguous ? "unknown" : "pending";
            long backoff = Math.min(MAX_BACKOFF_MS, 100L << Math.min(10, op.attempts()));
            long next = now + backoff;
            if (r instanceof EscrowResult.Retryable && port instanceof RemoteHints.RetryAfter hint) {
                // A rate limit says exactly when: neither sooner (refused again) nor later (backlog).
                long notBefore = hint.retryNotBeforeMillis();
                next = notBefore > now ? notBefore : Math.min(next, now + 1_000);
            }
            if (postPay && op.attempts() == 0 && r instanceof EscrowResult.Retryable rt) {
                LOG.warning("payment " + op.opId() + " (" + op.payer() + " -> " + op.payee() + ") not made: "
                        + rt.message() + "; retried, nothing reached the escrow service");
            }
            if (postPay && r instanceof EscrowResult.Retryable) {
                // Nothing reached the service: the retry also carries what accrued since (one escrow per create).
                PostPayPolicy.topUp(c, op, next, r.toString(), now);
            } else {
                SettleOps.mark(c, op.opId(), state, next, r.toString());
            }
        }
    }

    /**
     * Reflects a completed operation in the settlement rows it concerns. Per-request locks, releases and refunds
     * are no longer queued as operations (they commit with the journal); their branches here finish operations a
     * data directory written by an earlier version may still hold.
     */
    private static void recordEffect(Connection c, SettleOps.Op op, EscrowState s) throws SQLException {
        switch (op.kind()) {
            case RELEASE -> {
                if (op.requestId() != null) {
                    SettlementRows.update(c, op.requestId(), "released = ?", op.target());
                } else {
                    try (PreparedStatement ps = c.prepareStatement("UPDATE settlement SET state = 'released', "
                            + "released = cost WHERE escrow_id = ? AND state = 'batched' AND cum_target <= ?")) {
                        ps.setString(1, op.escrowId());
                        ps.setLong(2, op.target());
                        ps.executeUpdate();
                    }
                }
            }
            case REFUND -> {
                if (op.requestId() != null) {
                    long refunded = s == null ? 0 : s.refundedMicros();
                    SettlementRows.update(c, op.requestId(), "refunded = ?, state = CASE WHEN released > 0 "
                            + "THEN 'settled' ELSE 'refunded' END", refunded);
                }
            }
            case PAY -> {
                if (Arrears.owedOp(op.opId())) {
                    // Cost beyond the hold (part of the cost already recorded, not a bonus), or a per-call price or
                    // late overage unit owed: its request's row now shows it paid.
                    if (op.requestId() != null) {
                        SettlementRows.update(c, op.requestId(), "state = CASE state WHEN 'owed' THEN 'paid' "
                                + "WHEN 'overage_owed' THEN 'overage' ELSE state END, released = CASE WHEN state IN "
                                + "('owed', 'overage_owed') THEN cost ELSE released END");
                    }
                    return;
                }
                if (op.requestId() != null) {
                    SettlementRows.update(c, op.requestId(), "bonus = bonus + ?", op.target());
                } else if (op.escrowId().startsWith(PostPayPolicy.LANE)) {
                    PostPayPolicy.paid(c, op);
                }
            }
            case LOCK -> {
                if (op.requestId() != null) {
                    SettlementRows.update(c, op.requestId(), "state = CASE WHEN state IN ('locking', 'lock_unknown') "
                            + "THEN 'locked' ELSE state END");
                }
            }
            default -> {
            }
        }
    }
}
