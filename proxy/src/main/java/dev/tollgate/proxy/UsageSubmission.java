package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.upstream.Upstream;

/**
 * Hands one exchange's usage record to the metering agent. When the upstream reported no usage, the counts come
 * from the tokenizer, which can take hundreds of milliseconds on a large prompt: that record is built on the
 * {@link UsageEstimator} thread, never on the event loop.
 *
 * <p>Threading: {@link #submit} is called on the client channel's event loop; the exchange does not touch the
 * meter after that call. {@code afterJournal} runs on the metering thread, so callers hop back to their loop.
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
        if (afterJournal == null) {
            services.metering().submit(r);
        } else {
            services.metering().submit(r, afterJournal);
        }
    }
}
