package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;

/**
 * One escrow per request on the embedded ledger: before forwarding, reserve (prompt estimate + max tokens x
 * choices) x price (at least the minimum lock) in memory and queue the lock for the next group commit;
 * afterwards release the actual cost from the hold, pay any cost beyond the hold straight from the payer's
 * balance (or put the payer in arrears), and refund the rest; an upstream error refunds everything. With
 * quality gating the release waits for a score (or its deadline) and pays by tier.
 *
 * <p>Threading: {@link #admit} on any thread (an event loop), without touching the database; the other methods
 * on the journal's writer inside its transaction.
 */
final class PerRequestPolicy {
    static final String NAME = "per_request";

    private final SettlementConfig cfg;
    private final EmbeddedLedger ledger;
    private final LedgerIntents intents;
    private final Arrears arrears;
    private final Clock clock;
    private final PendingSettlements pending;

    PerRequestPolicy(SettlementConfig cfg, EmbeddedLedger ledger, LedgerIntents intents, Arrears arrears,
                     Clock clock, PendingSettlements pending) {
        this.cfg = cfg;
        this.ledger = ledger;
        this.intents = intents;
        this.arrears = arrears;
        this.clock = clock;
        this.pending = pending;
    }

    /** The rows of this commit's locks, until its records are settled. */
    PendingSettlements pending() {
        return pending;
    }

    /** Decides in memory; a granted request's lock is written in the journal's next commit. */
    Admission admit(String requestId, String account, String worker, String model, long amount) {
        String owed = arrears.owedBy(account);
        if (owed != null) {
            return Admission.paymentRequired("Account " + account + " owes " + owed + " USDC for tokens already "
                    + "served beyond their escrow; top up the balance.");
        }
        if (!ledger.funds().reserve(account, amount)) {
            return Admission.paymentRequired("Insufficient balance: " + account + " cannot lock "
                    + Micros.format(amount) + " USDC for this request.");
        }
        intents.offer(new LedgerIntents.Lock(requestId, account, worker, model, amount,
                clock.millis() + cfg.autoReleaseMillis()));
        return Admission.granted(escrowId(requestId));
    }

    static String escrowId(String requestId) {
        return "req-" + requestId;
    }

    /** Writes an admitted lock (already reserved in memory) and its settlement row. */
    void applyLock(Connection c, LedgerIntents.Lock lock, long now) throws SQLException {
        String escrowId = escrowId(lock.requestId());
        EscrowResult r = ledger.lockJournaled(c, "lock:" + lock.requestId(), new LockRequest(escrowId,
                lock.account(), lock.worker(), lock.amountMicros(), lock.expiresAtMillis(),
                "tollgate op=lock:" + lock.requestId()));
        // A lock the ledger refused (the balance changed outside this process) leaves the request unlocked: its
        // cost is then paid straight from the balance, or owed.
        pending.add(new SettlementRows.Row(lock.requestId(), lock.account(), lock.worker(), NAME, escrowId,
                r instanceof EscrowResult.Done ? "locked" : "unlocked",
                r instanceof EscrowResult.Done ? lock.amountMicros() : 0, 0, 0, 0, 0, null, 0));
    }

    /**
     * An admitted lock the journal could not write even alone (a database error): the request is recorded as
     * unlocked, as for a lock the ledger refused, so its cost is paid straight from the balance, or owed. The
     * admission's reservation is given back by the caller, in memory.
     */
    void refuseLock(LedgerIntents.Lock lock) {
        pending.add(new SettlementRows.Row(lock.requestId(), lock.account(), lock.worker(), NAME,
                escrowId(lock.requestId()), "unlocked", 0, 0, 0, 0, 0, null, 0));
    }

    /** Writes the settlement intents for a journaled usage record. */
    void onUsage(Connection c, SettlementRows.Row row, UsageRecord r, AccountPolicy p, long now) throws SQLException {
        Price price = cfg.priceOf(r.model());
        long cost = Outcomes.refundAll(r, p) || price == null ? 0
                : price.microsFor(r.promptTokens(), r.completionTokens(), 1, Outcomes.computeMillis(r));
        long bonus = Outcomes.throughputBonus(r, p, cost);
        if (p.quality().gate() && cost > 0) {
            long deadline = now + p.quality().deadlineMillis();
            pending.update(c, row.requestId(), x -> new SettlementRows.Row(x.requestId(), x.account(), x.worker(),
                    x.policy(), x.escrowId(), "awaiting_score", x.reserved(), cost, x.released(), x.refunded(),
                    x.bonus(), x.score(), deadline), "state = ?, cost = ?, deadline_ms = ?", "awaiting_score", cost,
                    deadline);
        } else {
            settle(c, row, cost, now);
        }
        if (bonus > 0) {
            SettleOps.insert(c, "bonus-tps:" + row.requestId(), row.requestId(), row.escrowId() + ":bonus",
                    SettleOps.Kind.PAY, bonus, row.account(), row.worker(), now);
        }
    }

    /**
     * Pays {@code pay} for the request: from its hold up to what the hold holds, the rest straight from the
     * payer's balance ({@code excess:} operation, which puts the payer in arrears while it cannot be paid);
     * then refunds what is left of the hold, and records the outcome (state, cost, released, refunded) in the
     * request's settlement row. The hold's release and refund run right here, inside the journal's transaction
     * (the ledger is in the same database: nothing to queue, nothing ambiguous).
     */
    void settle(Connection c, SettlementRows.Row row, long pay, long now) throws SQLException {
        long fromHold = Math.min(pay, row.reserved());
        long released = 0;
        String state = null;
        if (fromHold > 0) {
            EscrowResult r = ledger.releaseToJournaled(c, "release:" + row.requestId(), row.escrowId(), fromHold);
            if (r instanceof EscrowResult.Done) {
                released = fromHold;
            } else {
                state = "failed_release";
            }
        }
        if (pay > fromHold) {
            SettleOps.insert(c, Arrears.OP_PREFIX + row.requestId(), row.requestId(), row.escrowId() + ":excess",
                    SettleOps.Kind.PAY, pay - fromHold, row.account(), row.worker(), now);
        }
        long refunded = 0;
        if (row.reserved() > 0) {
            EscrowResult r = ledger.refundRemainderJournaled(c, "refund:" + row.requestId(), row.escrowId());
            if (r instanceof EscrowResult.Done d && d.state() != null) {
                refunded = d.state().refundedMicros();
            }
        }
        if (state == null) {
            state = released > 0 || pay > fromHold ? "settled" : "refunded";
        }
        String finalState = state;
        long paid = released;
        long returned = refunded;
        pending.update(c, row.requestId(), x -> new SettlementRows.Row(x.requestId(), x.account(), x.worker(),
                x.policy(), x.escrowId(), finalState, x.reserved(), pay, paid, returned, x.bonus(), x.score(),
                x.deadlineMs()), "state = ?, cost = ?, released = ?, refunded = ?", state, pay, released, refunded);
    }
}
