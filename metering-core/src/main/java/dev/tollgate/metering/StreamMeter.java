package dev.tollgate.metering;

import dev.tollgate.metering.tokens.TokenEstimator;

/**
 * Meters one upstream response body (SSE stream or JSON) as its bytes go by.
 *
 * <p>Threading: not thread-safe. One instance belongs to one exchange and is used only by the thread that
 * relays that exchange (a Netty event loop). Reusable through {@link #reset}.
 *
 * <p>Positions: every offset this class reports is an absolute position in the response body byte stream
 * (0 = first body byte), so a caller can relate events to bytes it still holds from earlier reads.
 */
public final class StreamMeter {

    /** What the relay must do with one complete SSE event before the client sees it. */
    public enum EventAction {
        /** Send the event's bytes unchanged. */
        FORWARD,
        /** Do not send the event (the usage-only chunk the client did not ask for). */
        DROP,
        /** Send the event with the bytes in [stripStart, stripEnd) removed (an injected {@code usage} field). */
        STRIP
    }

    /** Receives each complete SSE event, in order, while {@link #onBody} runs. */
    @FunctionalInterface
    public interface EventSink {
        /**
         * @param eventStart first byte of the event (absolute body position)
         * @param eventEnd   one past the event's terminating blank line
         * @param action     what to do with it
         * @param stripStart with {@link EventAction#STRIP}: first byte to remove, else -1
         * @param stripEnd   with {@link EventAction#STRIP}: one past the last byte to remove, else -1
         */
        void onEvent(long eventStart, long eventEnd, EventAction action, long stripStart, long stripEnd);
    }

    public StreamMeter() {
        throw new UnsupportedOperationException("todo");
    }

    /**
     * Prepares for a new exchange.
     *
     * @param route                  the metered route
     * @param clientWantsUsage       the client itself asked for {@code stream_options.include_usage}
     * @param clientWantsContinuous  the client itself asked for {@code continuous_usage_stats}
     */
    public void reset(Route route, boolean clientWantsUsage, boolean clientWantsContinuous) {
        throw new UnsupportedOperationException("todo");
    }

    /** The upstream's response head arrived. {@code eventStream}: content type is text/event-stream. */
    public void onResponseStart(int status, boolean eventStream, long nanoTime) {
        throw new UnsupportedOperationException("todo");
    }

    /**
     * Feeds body bytes {@code buf[off, off+len)} received at {@code nanoTime}. For event streams, calls
     * {@code sink} (may be null) once per event completed inside these bytes.
     */
    public void onBody(byte[] buf, int off, int len, long nanoTime, EventSink sink) {
        throw new UnsupportedOperationException("todo");
    }

    /** The body ended (cleanly or not). Parses a buffered JSON body; idempotent. */
    public void onBodyEnd(long nanoTime) {
        throw new UnsupportedOperationException("todo");
    }

    /** Whether the upstream reported any usage (final or continuous). 0 reported is not "absent". */
    public boolean hasUpstreamUsage() {
        throw new UnsupportedOperationException("todo");
    }

    /** Prompt tokens reported by the upstream (high-water mark), or -1. */
    public long upstreamPromptTokens() {
        throw new UnsupportedOperationException("todo");
    }

    /** Completion tokens reported by the upstream (final total, else sum of per-choice high-water marks), or -1. */
    public long upstreamCompletionTokens() {
        throw new UnsupportedOperationException("todo");
    }

    /** Completion tokens estimated from the text delivered so far. */
    public long estimateCompletionTokens(TokenEstimator estimator) {
        throw new UnsupportedOperationException("todo");
    }

    /** Time of the first chunk with non-empty {@code choices} (first token), or -1. */
    public long firstTokenNanos() {
        throw new UnsupportedOperationException("todo");
    }

    /** Time of the last body byte seen, or -1. */
    public long lastByteNanos() {
        throw new UnsupportedOperationException("todo");
    }

    /** The stream ended with {@code data: [DONE]} (or the Responses API's {@code response.completed}). */
    public boolean sawDone() {
        throw new UnsupportedOperationException("todo");
    }

    /** An error event arrived in the stream, or a 2xx JSON body carried a top-level error. */
    public boolean sawError() {
        throw new UnsupportedOperationException("todo");
    }

    /** Total body bytes seen. */
    public long bodyBytes() {
        throw new UnsupportedOperationException("todo");
    }
}
