package dev.tollgate.proxy;

import dev.tollgate.metering.StreamMeter;

/**
 * The progress checkpoint of a long metered stream: every {@link #INTERVAL_NANOS}, the tokens served so far go to
 * the journal's next group commit, so if the process dies before the stream ends, the next start pays what was
 * served from the hold instead of refunding it all. Only exact (upstream-reported) counts are checkpointed.
 *
 * <p>Threading: confined to the client channel's event loop (called after each upstream read).
 */
final class StreamCheckpoint {
    private static final long INTERVAL_NANOS = 2_000_000_000L;

    private final ProxyServices services;
    private final StreamMeter meter;
    private final String requestId;
    private final String model;
    private long lastNanos;

    StreamCheckpoint(ProxyServices services, StreamMeter meter, String requestId, String model) {
        this.services = services;
        this.meter = meter;
        this.requestId = requestId;
        this.model = model;
    }

    /** An upstream read completed: checkpoints when the interval since the last one (or the first read) passed. */
    void onRead() {
        if (services.settlement() == null) {
            return;
        }
        long now = System.nanoTime();
        if (lastNanos == 0) {
            lastNanos = now;
            return;
        }
        if (now - lastNanos < INTERVAL_NANOS) {
            return;
        }
        lastNanos = now;
        long prompt = meter.upstreamPromptTokens();
        long completion = meter.upstreamCompletionTokens();
        if (prompt >= 0 && completion >= 0) {
            services.settlement().progress(requestId, model, prompt, completion);
        }
    }
}
