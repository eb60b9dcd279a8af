package dev.tollgate.proxy;

import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.proxy.upstream.Upstream;

/**
 * Hands one exchange's usage record to the metering agent. When the upstream reported no usage, the counts come
 * from the tokenizer, which can take hundreds of milliseconds on a large prompt: that record is built on the
 * {@link UsageEstimator} thread, never on the event loop.
 *
 * <p>The record is appended to the usage log on the submitting thread when the journal can take it without waiting
 * ({@link SettlementService#journalHere}); otherwise the metering thread appends it. Either way {@code afterJournal}
 * runs once it is in the log (at once when there is no journal).
 *
 * <p>Threading: {@link #submit} is called on the client channel's event loop; the exchange does not touch the
 * meter after that call. {@code afterJournal} runs on that loop, on the estimator thread or on the metering thread,
 * so callers hand it to their loop (from the loop itself that is a queued task, not a wake-up).
 */
final class UsageSubmission {
    private final ProxyServices services;
    private final ExchangeUsage usage;

    UsageSubmission(ProxyServices services, ExchangeUsage usage) {
        this.services = services;
        this.usage = usage;
    }

    /** Submits the record ({@code afterJournal}, if not null, runs once it is journaled). */
    void submit(Outcome outcome, int status, Upstream upstream, long requestSentNanos, long upstreamEndNanos,
                long endNanos, Runnable afterJournal) {
        if (!usage.needsEstimate(status, requestSentNanos)) {
            deliver(usage.record(outcome, status, upstream, requestSentNanos, upstreamEndNanos, endNanos),
                    afterJournal);
            return;
        }
        UsageEstimator.execute(() -> deliver(
                usage.record(outcome, status, upstream, requestSentNanos, upstreamEndNanos, endNanos), afterJournal));
    }

    private void deliver(UsageRecord r, Runnable afterJournal) {
        MeteringAgent metering = services.metering();
        if (afterJournal == null) {
            metering.submit(r);
            return;
        }
        SettlementService settlement = services.settlement();
        if (settlement == null) {
            // No journal: nothing has to be durable before the response ends.
            metering.submit(r);
            afterJournal.run();
        } else if (settlement.journalHere(r)) {
            // In the usage log already, appended on this thread: no round trip through the metering thread.
            metering.submitHandled(r);
            afterJournal.run();
        } else {
            metering.submit(r, afterJournal);
        }
    }
}
