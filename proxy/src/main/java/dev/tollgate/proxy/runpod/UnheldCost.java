package dev.tollgate.proxy.runpod;

import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.escrow.settle.ExcessCharge;
import dev.tollgate.escrow.settle.PolicyKind;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import java.util.Optional;

/**
 * Pays what a job served when its hold could not: a job outlives what holds its money in two ways, and in both the
 * cost is charged straight to the payer's balance ({@link ExcessCharge}: retried while refused, the payer in
 * arrears meanwhile), once per job:
 * <ul>
 *   <li>a {@code stream_budget} job across a restart: its reservation lived in the previous process's memory, so
 *       its usage record finds no budget to accrue to and leaves no settlement row; the job's cost is priced here
 *       exactly as the budget would have ({@code prompt, completion, executionTime} at the model's price);</li>
 *   <li>a {@code per_request} job still running when its hold expired ({@code auto_release_hours}): the expiry
 *       refunded the hold, so the release at the job's end fails ({@code failed_release}); what the expired hold
 *       did not release to the worker is paid.</li>
 * </ul>
 * Decided from what is durable (the usage journal, the settlement row, the escrow), so a crash before the payment
 * is queued pays it on the resume, and a repeat queues nothing. The settlement row of an expired hold keeps its
 * state {@code failed_release}: the payment is the {@code excess:job:<request id>} settlement operation.
 *
 * <p>Threading: on the RunPod thread, after the job's usage record is journaled (blocking JDBC).
 */
final class UnheldCost {
    private final SettlementService settlement;

    UnheldCost(SettlementService settlement) {
        this.settlement = settlement;
    }

    /** Charges the payer what no hold paid for this journaled record; returns the amount queued (0 when none). */
    long charge(Job job, UsageRecord r) {
        if (!settlement.settles(job.account()) || !paid(r.outcome())) {
            return 0;
        }
        long micros = unpaid(job, r);
        if (micros > 0) {
            ExcessCharge.pay(settlement, "job:" + job.requestId(), job.requestId(), job.account(), job.worker(),
                    micros);
        }
        return micros;
    }

    private long unpaid(Job job, UsageRecord r) {
        Optional<SettlementView> row = settlement.settlement(job.requestId());
        if (row.isEmpty()) {
            if (settlement.config().policyOf(job.account()).kind() != PolicyKind.STREAM_BUDGET) {
                return 0;
            }
            // No reservation took the record (lost with the process that admitted the job).
            Price price = settlement.config().priceOf(r.model());
            return price == null ? 0 : price.microsFor(r.promptTokens(), r.completionTokens(), 1,
                    Math.max(0, r.durationNanos() / 1_000_000L));
        }
        SettlementView v = row.get();
        if (!"failed_release".equals(v.state()) || v.escrowId() == null) {
            return 0;
        }
        // The hold closed before the job ended: what it released at expiry (expiry: release) counts as paid.
        EscrowState e = settlement.ledger().read(v.escrowId());
        long released = e == null ? 0 : e.releasedMicros();
        return Math.max(0, v.costMicros() - released);
    }

    private static boolean paid(Outcome o) {
        return o == Outcome.COMPLETED || o == Outcome.STREAM_ERROR;
    }
}
