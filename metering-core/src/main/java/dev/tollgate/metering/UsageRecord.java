package dev.tollgate.metering;

import java.util.Objects;

/**
 * What one metered request cost in tokens and time. Immutable; created once, when the exchange ends, on the
 * event loop that served it, and handed to the metering thread.
 *
 * <p>Durations are nanoseconds; {@code -1} means "did not happen" (no first token, no upstream call).
 * Token counts are never negative. {@code requestId} is unique and keys every later use of the record
 * (admin lookup, journal, settlement).
 *
 * @param requestId        the {@code x-tollgate-request-id} given to the client
 * @param account          the paying account (the API key's account, or {@code "anonymous"})
 * @param upstream         the upstream's name, or {@code ""} when none was called
 * @param model            the requested model; for {@link Route#PER_REQUEST}, the canonical request path,
 *                         which is the key of its price in the settlement configuration
 * @param route            the metered endpoint
 * @param streamed         whether the response was an SSE stream
 * @param promptTokens     prompt tokens (from the upstream's usage, or estimated)
 * @param completionTokens completion tokens (from the upstream's usage, or estimated)
 * @param usageSource      where the counts come from
 * @param maxTokens        the request's completion limit per choice ({@code max_completion_tokens}, else
 *                         {@code max_tokens}; {@code max_output_tokens} for responses), or {@code -1};
 *                         {@code 0} for {@link Route#PER_REQUEST}
 * @param startEpochMillis wall-clock time the request arrived
 * @param ttftNanos        request arrival to first content chunk, or {@code -1}
 * @param durationNanos    request arrival to the end of the exchange
 * @param generationNanos  first content chunk to the end of the stream, or {@code -1}
 * @param upstreamNanos    time spent waiting on the upstream (request sent to last byte), or {@code -1}
 * @param outcome          how the exchange ended
 * @param httpStatus       the status the client received
 * @param trace            the observability trace the request belongs to (Langfuse), or null
 */
public record UsageRecord(
        String requestId,
        String account,
        String upstream,
        String model,
        Route route,
        boolean streamed,
        long promptTokens,
        long completionTokens,
        UsageSource usageSource,
        long maxTokens,
        long startEpochMillis,
        long ttftNanos,
        long durationNanos,
        long generationNanos,
        long upstreamNanos,
        Outcome outcome,
        int httpStatus,
        TraceLink trace) {

    /** A record that belongs to no trace. */
    public UsageRecord(String requestId, String account, String upstream, String model, Route route, boolean streamed,
                       long promptTokens, long completionTokens, UsageSource usageSource, long maxTokens,
                       long startEpochMillis, long ttftNanos, long durationNanos, long generationNanos,
                       long upstreamNanos, Outcome outcome, int httpStatus) {
        this(requestId, account, upstream, model, route, streamed, promptTokens, completionTokens, usageSource,
                maxTokens, startEpochMillis, ttftNanos, durationNanos, generationNanos, upstreamNanos, outcome,
                httpStatus, null);
    }

    /** The trace id, or null when the request belongs to no trace. */
    public String traceId() {
        return trace == null ? null : trace.traceId();
    }

    public UsageRecord {
        Objects.requireNonNull(requestId, "requestId");
        Objects.requireNonNull(account, "account");
        Objects.requireNonNull(upstream, "upstream");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(route, "route");
        Objects.requireNonNull(usageSource, "usageSource");
        Objects.requireNonNull(outcome, "outcome");
        if (promptTokens < 0 || completionTokens < 0) {
            throw new IllegalArgumentException("negative token count in " + requestId);
        }
    }

    public long totalTokens() {
        return promptTokens + completionTokens;
    }

    /**
     * Completion tokens per second from the first token to the end, in thousandths (tokens/s x 1000), or
     * {@code -1} when there was no measurable generation. Integer arithmetic: usable for bonus thresholds.
     */
    public long milliTokensPerSecond() {
        if (generationNanos <= 0 || completionTokens == 0) {
            return -1;
        }
        // completionTokens * 10^12 fits a long below 9.2 million tokens; past that, lose sub-second precision.
        return completionTokens < 9_000_000L
                ? completionTokens * 1_000_000_000_000L / generationNanos
                : completionTokens * 1_000L / Math.max(1L, generationNanos / 1_000_000_000L);
    }

    /** Proxy overhead: total time minus time waiting on the upstream, or {@code -1} when unknown. */
    public long overheadNanos() {
        return upstreamNanos < 0 ? -1 : Math.max(0, durationNanos - upstreamNanos);
    }
}
