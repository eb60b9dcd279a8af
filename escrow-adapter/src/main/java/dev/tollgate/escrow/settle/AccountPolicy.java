package dev.tollgate.escrow.settle;

/**
 * One paying account's settlement rules.
 *
 * @param kind               the policy
 * @param referrer           agent who earns a share of the fees on this account's payments, or null
 * @param fundMicros         dev funding credited once at start (0 = none)
 * @param payOnDisconnect    a client that hangs up still pays for the tokens it was sent (else refunded)
 * @param defaultMaxTokens   completion tokens assumed for a lock when the request sets no {@code max_tokens}
 * @param budgetMicros       stream budget: size of each escrow
 * @param batchCalls         stream budget: release after this many requests (0 = not by count)
 * @param batchTokens        stream budget: release after this many tokens (0 = not by tokens)
 * @param batchMillis        stream budget: release after this much time (0 = not by time)
 * @param openNextEscrow     stream budget: when the budget cannot cover a request, open the next escrow (else 402)
 * @param bonusMinMilliTps   throughput bonus threshold, thousandths of tokens per second (0 = no bonus)
 * @param bonusPct           throughput bonus, percent of the request's cost
 * @param quality            quality gating and bonus
 * @param denyUnmetered      requests on routes Tollgate neither meters nor knows to be free are refused (403)
 *                           instead of passed through ({@code unmetered_routes: deny | pass})
 * @param pattern            per_call, subscription, hybrid and milestone terms ({@link BillingPattern#NONE} otherwise)
 */
public record AccountPolicy(PolicyKind kind, String referrer, long fundMicros, boolean payOnDisconnect,
                            long defaultMaxTokens, long budgetMicros, int batchCalls, long batchTokens,
                            long batchMillis, boolean openNextEscrow, long bonusMinMilliTps, int bonusPct,
                            Quality quality, boolean denyUnmetered, BillingPattern pattern) {

    /** Without a billing pattern's terms (per_request, stream_budget, none). */
    public AccountPolicy(PolicyKind kind, String referrer, long fundMicros, boolean payOnDisconnect,
                         long defaultMaxTokens, long budgetMicros, int batchCalls, long batchTokens,
                         long batchMillis, boolean openNextEscrow, long bonusMinMilliTps, int bonusPct,
                         Quality quality, boolean denyUnmetered) {
        this(kind, referrer, fundMicros, payOnDisconnect, defaultMaxTokens, budgetMicros, batchCalls, batchTokens,
                batchMillis, openNextEscrow, bonusMinMilliTps, bonusPct, quality, denyUnmetered, BillingPattern.NONE);
    }

    /** With the default for unmetered routes: deny for paid policies, pass for {@code none}. */
    public AccountPolicy(PolicyKind kind, String referrer, long fundMicros, boolean payOnDisconnect,
                         long defaultMaxTokens, long budgetMicros, int batchCalls, long batchTokens,
                         long batchMillis, boolean openNextEscrow, long bonusMinMilliTps, int bonusPct,
                         Quality quality) {
        this(kind, referrer, fundMicros, payOnDisconnect, defaultMaxTokens, budgetMicros, batchCalls, batchTokens,
                batchMillis, openNextEscrow, bonusMinMilliTps, bonusPct, quality, kind != PolicyKind.NONE);
    }

    public static final AccountPolicy NONE = new AccountPolicy(PolicyKind.NONE, null, 0, true, 1024, 0, 0, 0, 0,
            false, 0, 0, Quality.OFF);

    /**
     * Quality scores (e.g. from Langfuse): above {@code bonusAboveBps} a bonus of {@code bonusPct}; with
     * {@code gate} on, the release waits for the score (or the deadline, then {@code defaultScoreBps}) and pays
     * by tier: at least {@code fullBps} pays in full, at least {@code partialBps} pays {@code partialPct}, below
     * refunds.
     */
    public record Quality(boolean gate, long deadlineMillis, int defaultScoreBps, int bonusAboveBps, int bonusPct,
                          int fullBps, int partialBps, int partialPct) {
        public static final Quality OFF = new Quality(false, 0, 10_000, 9_000, 10, 9_000, 7_000, 70);
    }
}
