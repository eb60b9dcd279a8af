package dev.tollgate.proxy.runpod;

import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.escrow.settle.ExcessCharge;
import dev.tollgate.escrow.settle.PolicyKind;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import java.util.Optional;

/**
 * Pays what a job served when its hold could not: a job can outlive what holds its money, and then its cost is
 * charged straight to the payer's balance ({@link ExcessCharge}: retried while refused, the payer in arrears
 * meanwhile), once per job:
 * <ul>
 *   <li>a {@code stream_budget} job across a restart: its reservation lived in the previous process's memory, so
 *       its usage record finds no budget to accrue to and leaves no settlement row; the job's cost is priced here
 *       exactly as the budget would have ({@code prompt, completion, executionTime} at the model's price);</li>
 * </ul>
 * Decided from what is durable (the usage journal and the settlement row), so a crash before the payment is
 * queued pays it on the resume, and a repeat queues nothing.
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
        if (row.isEmpty() && settlement.config().policyOf(job.account()).kind() == PolicyKind.STREAM_BUDGET) {
            // No reservation took the record (lost with the process that admitted the job).
            Price price = settlement.config().priceOf(r.model());
            return price == null ? 0 : price.microsFor(r.promptTokens(), r.completionTokens(), 1,
                    Math.max(0, r.durationNanos() / 1_000_000L));
        }
        return 0;
    }

    private static boolean paid(Outcome o) {
        return o == Outcome.COMPLETED || o == Outcome.STREAM_ERROR;
    }
}
