package dev.tollgate.escrow.settle;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;

/** Which outcomes are paid for. */
final class Outcomes {
    private Outcomes() {
    }

    /**
     * Whether the payer gets everything back: the upstream failed before serving (cancel with full refund),
     * or the client hung up and the account refunds disconnects.
     */
    static boolean refundAll(UsageRecord r, AccountPolicy p) {
        Outcome o = r.outcome();
        if (o == Outcome.UPSTREAM_ERROR || o == Outcome.UPSTREAM_UNREACHABLE || o == Outcome.REJECTED
                || o == Outcome.PAYMENT_REQUIRED) {
            return true;
        }
        return (o == Outcome.CLIENT_DISCONNECTED || o == Outcome.CLIENT_STALLED) && !p.payOnDisconnect();
    }

    /** Milliseconds of compute billed (request duration). */
    static long computeMillis(UsageRecord r) {
        return Math.max(0, r.durationNanos() / 1_000_000L);
    }

    /** The throughput bonus for a request of this cost, or 0. */
    static long throughputBonus(UsageRecord r, AccountPolicy p, long costMicros) {
        if (p.bonusMinMilliTps() <= 0 || costMicros <= 0) {
            return 0;
        }
        long mtps = r.milliTokensPerSecond();
        return mtps >= p.bonusMinMilliTps() ? costMicros * p.bonusPct() / 100 : 0;
    }
}
