package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.StreamMeter;
import dev.tollgate.metering.TraceLink;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.metering.tokens.TokenEstimator;
import dev.tollgate.proxy.upstream.Upstream;

/**
 * The usage record of one metered exchange: the upstream's own counts when it reported them, an estimate with
 * the tokenizer otherwise, nothing for an error answered before any generation; with the exchange's timings.
 *
 * <p>Threading: confined to the exchange's event loop, except that {@link #record} may run once on the
 * estimator thread after the exchange handed the meter over (see {@link UsageSubmission}).
 */
final class ExchangeUsage {
    private final TokenEstimator tokens;
    private final String requestId;
    private final String account;
    private final MeteredRequest metered;
    private final StreamMeter meter;
    private final long startNanos;
    private final long startMillis;
    private final TraceLink trace;

    ExchangeUsage(TokenEstimator tokens, String requestId, String account, MeteredRequest metered, long startNanos,
                  long startMillis, TraceLink trace) {
        this.tokens = tokens;
        this.requestId = requestId;
        this.account = account;
        this.metered = metered;
        this.startNanos = startNanos;
        this.startMillis = startMillis;
        this.trace = trace;
        this.meter = new StreamMeter();
        this.meter.reset(metered.route(), metered.clientWantsUsage(), metered.clientWantsContinuous());
        if (metered.maxTokens() >= 0) {
            // Reported completion usage above what the request allowed is implausible: treated as absent and
            // estimated, never billed as sent (limit x choices is at most 10^10, validated at parse).
            meter.limitCompletionTokens(metered.maxTokens() * metered.choices());
        }
    }

    /** The meter reading this exchange's response. */
    StreamMeter meter() {
        return meter;
    }

    /** Whether {@link #record} would run the tokenizer (the upstream reported no usage for a served response). */
    boolean needsEstimate(int status, long requestSentNanos) {
        if (requestSentNanos < 0) {
            return false;
        }
        boolean exact = meter.upstreamPromptTokens() >= 0 && meter.upstreamCompletionTokens() >= 0;
        return !exact && !(status >= 400 && !meter.hasUpstreamUsage());
    }

    /**
     * @param requestSentNanos when the request went upstream, or -1 if it never did
     * @param upstreamEndNanos when the upstream body ended, or -1 (then {@code endNanos})
     */
    UsageRecord record(Outcome outcome, int status, Upstream upstream, long requestSentNanos, long upstreamEndNanos,
                       long endNanos) {
        boolean called = requestSentNanos >= 0;
        long prompt = 0;
        long completion = 0;
        UsageSource source = UsageSource.NONE;
        long firstToken = -1;
        if (called) {
            long up = meter.upstreamPromptTokens();
            long uc = meter.upstreamCompletionTokens();
            if (up >= 0 && uc >= 0) {
                prompt = up;
                completion = uc;
                source = UsageSource.UPSTREAM;
            } else if (status >= 400 && !meter.hasUpstreamUsage()) {
                // An error answered before any generation: nothing was served.
                source = UsageSource.NONE;
            } else {
                prompt = up >= 0 ? up : metered.estimatePromptTokens(tokens);
                completion = uc >= 0 ? uc : meter.estimateCompletionTokens(tokens);
                source = UsageSource.ESTIMATED;
            }
            firstToken = meter.firstTokenNanos();
        }
        long ttft = firstToken >= 0 ? firstToken - startNanos : -1;
        long lastByte = upstreamEndNanos >= 0 ? upstreamEndNanos : endNanos;
        long generation = firstToken >= 0 ? Math.max(0, lastByte - firstToken) : -1;
        long upstreamNanos = called ? Math.max(0, lastByte - requestSentNanos) : -1;
        return new UsageRecord(requestId, account, upstream == null ? "" : upstream.name(), metered.model(),
                metered.route(), metered.stream(), prompt, completion, source, metered.maxTokens(), startMillis,
                ttft, endNanos - startNanos, generation, upstreamNanos, outcome, status, trace);
    }

    /** The outcome of a response the upstream ended: an error status or an error in the body, or completed. */
    static Outcome endOutcome(int status, StreamMeter meter, boolean eventStream) {
        if (status >= 400) {
            return Outcome.UPSTREAM_ERROR;
        }
        if (meter.sawError()) {
            return eventStream ? Outcome.STREAM_ERROR : Outcome.UPSTREAM_ERROR;
        }
        return Outcome.COMPLETED;
    }
}
