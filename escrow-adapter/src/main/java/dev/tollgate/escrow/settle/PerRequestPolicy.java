package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;

/**
 * One escrow per request: before forwarding, lock (prompt estimate + max tokens) x price (at least the
 * minimum); afterwards release the actual cost and refund the rest; an upstream error refunds everything.
 * With quality gating the release waits for a score (or its deadline) and pays by tier.
 *
 * <p>Threading: {@link #admit} on the ledger executor; {@link #onUsage} on the metering thread inside the
 * journal's transaction; both go through the database's transaction lock.
 */
final class PerRequestPolicy {
    static final String NAME = "per_request";

    private final SettlementConfig cfg;
    private final Database db;
    private final EscrowPort port;
    private final Clock clock;

    PerRequestPolicy(SettlementConfig cfg, Database db, EscrowPort port, Clock clock) {
        this.cfg = cfg;
        this.db = db;
        this.port = port;
        this.clock = clock;
    }

    Admission admit(String requestId, String account, String worker, String model, long promptEstimate,
                    long maxTokens, AccountPolicy p) {
        Price price = cfg.priceOf(model);
        long est = price.microsUpperBound(promptEstimate, maxTokens >= 0 ? maxTokens : p.defaultMaxTokens());
        long amount = Math.max(cfg.minLockMicros(), est);
        String escrowId = "req-" + requestId;
        String opId = "lock:" + requestId;
        long now = clock.millis();
        db.transaction(c -> {
            SettlementRows.insert(c, requestId, account, worker, NAME, escrowId, "locking", amount, now);
            SettleOps.insert(c, opId, requestId, escrowId, SettleOps.Kind.LOCK, amount, account, worker, now);
            SettleOps.mark(c, opId, "sent", now, null);
            return null;
        });
        EscrowResult r = port.lock(opId, new LockRequest(escrowId, account, worker, amount,
                now + cfg.autoReleaseMillis(), "tollgate op=" + opId));
        return db.transaction(c -> {
            if (r instanceof EscrowResult.Done) {
                SettleOps.mark(c, opId, "done", now, null);
                SettlementRows.update(c, requestId, "state = ?", "locked");
                return Admission.granted(escrowId);
            }
            if (r instanceof EscrowResult.Rejected rej) {
                SettleOps.mark(c, opId, "rejected", now, rej.code());
                SettlementRows.update(c, requestId, "state = ?", "lock_failed");
                return Admission.paymentRequired(rej.code().equals("insufficient_balance")
                        ? "Insufficient balance: " + account + " cannot lock " + Micros.format(amount)
                        + " USDC for this request." : "Payment refused: " + rej.message());
            }
            // Unknown: the settler reads the backend and refunds whatever was locked; the client is not served.
            SettleOps.mark(c, opId, "unknown", now, "ambiguous lock");
            SettlementRows.update(c, requestId, "state = ?", "lock_unknown");
            return Admission.paymentRequired("The escrow could not confirm the lock; try again.");
        });
    }

    /** Writes the settlement intents for a journaled usage record. */
    void onUsage(Connection c, SettlementRows.Row row, UsageRecord r, AccountPolicy p, long now) throws SQLException {
        if (row.state().equals("lock_failed")) {
            return;
        }
        Price price = cfg.priceOf(r.model());
        long cost = Outcomes.refundAll(r, p) ? 0
                : Math.min(row.reserved(), price.microsFor(r.promptTokens(), r.completionTokens(), 1,
                Outcomes.computeMillis(r)));
        long bonus = Math.min(Outcomes.throughputBonus(r, p, cost), Long.MAX_VALUE);
        if (p.quality().gate() && cost > 0) {
            SettlementRows.update(c, row.requestId(), "state = ?, cost = ?, bonus = bonus, deadline_ms = ?",
                    "awaiting_score", cost, now + p.quality().deadlineMillis());
            if (bonus > 0) {
                SettleOps.insert(c, "bonus-tps:" + row.requestId(), row.requestId(), row.escrowId() + ":bonus",
                        SettleOps.Kind.PAY, bonus, row.account(), row.worker(), now);
            }
            return;
        }
        SettlementRows.update(c, row.requestId(), "state = ?, cost = ?", cost > 0 ? "settling" : "refunding", cost);
        settle(c, row, cost, now);
        if (bonus > 0) {
            SettleOps.insert(c, "bonus-tps:" + row.requestId(), row.requestId(), row.escrowId() + ":bonus",
                    SettleOps.Kind.PAY, bonus, row.account(), row.worker(), now);
        }
    }

    /** Release {@code pay} of the hold (0 = none) and refund the rest. */
    static void settle(Connection c, SettlementRows.Row row, long pay, long now) throws SQLException {
        if (pay > 0) {
            SettleOps.insert(c, "release:" + row.requestId(), row.requestId(), row.escrowId(), SettleOps.Kind.RELEASE,
                    pay, row.account(), row.worker(), now);
        }
        SettleOps.insert(c, "refund:" + row.requestId(), row.requestId(), row.escrowId(), SettleOps.Kind.REFUND, 0,
                row.account(), row.worker(), now);
    }
}
