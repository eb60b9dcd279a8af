package dev.tollgate.metering;

import dev.tollgate.metering.json.ChunkScanner;
import dev.tollgate.metering.json.IncrementalBodyScanner;
import dev.tollgate.metering.sse.SseEventParser;
import dev.tollgate.metering.sse.SseListener;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.util.Arrays;

/**
 * Meters one upstream response body (SSE stream or JSON) as its bytes go by.
 *
 * <p>Counting rules (see wire-formats.md): time to first token is the first event with a non-empty
 * {@code choices} (Responses API: the first {@code response.*.delta} event); usage combines by high-water mark, never by summing chunks: prompt tokens keep their
 * maximum; continuous usage is cumulative per choice, so each choice keeps its maximum and a cut stream's
 * completion count is their sum; the final usage-only chunk carries the request total and wins. A reported 0
 * is a real 0, distinct from "absent" (-1). A count that is not a plain JSON integer up to
 * {@link ChunkScanner#MAX_USAGE_COUNT}, or a completion count above {@link #limitCompletionTokens the
 * ceiling}, is absent too: never read as 0, never as part of a number.
 *
 * <p>Threading: not thread-safe. One instance belongs to one exchange and is used only by the thread that
 * relays that exchange (a Netty event loop). Reusable through {@link #reset}.
 *
 * <p>Positions: every offset this class reports is an absolute position in the response body byte stream
 * (0 = first body byte), so a caller can relate events to bytes it still holds from earlier reads.
 */
public final class StreamMeter implements SseListener, ChunkScanner.TextSink {

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

    /**
     * Largest JSON body buffered and scanned whole; a larger one is scanned as it goes by, in constant memory,
     * by an {@link IncrementalBodyScanner}.
     */
    public static final int MAX_JSON_BODY = 1 << 20;
    /** Largest delivered text kept for estimation. */
    public static final int MAX_TEXT = 16 << 20;

    private final SseEventParser parser = new SseEventParser();
    private final ChunkScanner scanner = new ChunkScanner();
    /** Only for a JSON body past {@link #MAX_JSON_BODY}; made on first need (about 4 KB a stream would not use). */
    private IncrementalBodyScanner bigBody;
    private byte[] text = new byte[256];
    private int textLen;
    private byte[] body = new byte[0];
    private int bodyLen;
    private boolean bodyOverflow;
    private long[] perChoice = new long[4];

    private Route route;
    private boolean clientWantsUsage;
    private boolean clientWantsContinuous;
    private boolean eventStream;
    private long prompt;
    private long finalCompletion;
    private long maxCompletion;
    private long firstToken;
    private boolean done;
    private boolean error;
    private boolean ended;
    private long oversizedEvents;
    private long now;
    private EventSink sink;

    public StreamMeter() {
        reset(Route.CHAT_COMPLETIONS, false, false);
    }

    /**
     * Prepares for a new exchange.
     *
     * @param route                  the metered route
     * @param clientWantsUsage       the client itself asked for {@code stream_options.include_usage}
     * @param clientWantsContinuous  the client itself asked for {@code continuous_usage_stats}
     */
    public void reset(Route route, boolean clientWantsUsage, boolean clientWantsContinuous) {
        this.route = route;
        this.clientWantsUsage = clientWantsUsage;
        this.clientWantsContinuous = clientWantsContinuous;
        parser.reset();
        textLen = 0;
        bodyLen = 0;
        bodyOverflow = false;
        if (bigBody != null) {
            bigBody.reset();
        }
        Arrays.fill(perChoice, -1);
        eventStream = false;
        prompt = -1;
        finalCompletion = -1;
        maxCompletion = -1;
        firstToken = -1;
        done = false;
        error = false;
        ended = false;
        oversizedEvents = 0;
        sink = null;
    }

    /**
     * Sets the completion ceiling for this exchange (call after {@link #reset}, which clears it): a completion
     * count the upstream reports above {@code maxCompletionTokens} cannot be true (for example above
     * {@code max_tokens} x {@code n}) and is treated as absent, so the record falls back to estimation.
     * -1 = no ceiling.
     */
    public void limitCompletionTokens(long maxCompletionTokens) {
        this.maxCompletion = maxCompletionTokens < 0 ? -1 : maxCompletionTokens;
    }

    /** {@code c} if it is a plausible completion count, else -1 (absent). */
    private long plausible(long c) {
        return maxCompletion >= 0 && c > maxCompletion ? -1 : c;
    }

    /** The upstream's response head arrived. {@code eventStream}: content type is text/event-stream. */
    public void onResponseStart(int status, boolean eventStream, long nanoTime) {
        this.eventStream = eventStream;
    }

    /**
     * Feeds body bytes {@code buf[off, off+len)} received at {@code nanoTime}. For event streams, calls
     * {@code sink} (may be null) once per event completed inside these bytes.
     */
    public void onBody(byte[] buf, int off, int len, long nanoTime, EventSink sink) {
        if (len <= 0) {
            return;
        }
        if (eventStream) {
            this.now = nanoTime;
            this.sink = sink;
            parser.feed(buf, off, len, this);
            this.sink = null;
        } else if (bodyOverflow) {
            bigBody.feed(buf, off, len, this);
        } else {
            if (bodyLen + len > MAX_JSON_BODY) {
                // Too big to buffer: scan what is buffered, then every later byte as it arrives.
                bodyOverflow = true;
                if (bigBody == null) {
                    bigBody = new IncrementalBodyScanner();
                }
                bigBody.feed(body, 0, bodyLen, this);
                bigBody.feed(buf, off, len, this);
                bodyLen = 0;
                body = new byte[0];
                return;
            }
            if (bodyLen + len > body.length) {
                body = Arrays.copyOf(body, Math.min(MAX_JSON_BODY, Math.max(body.length * 2, bodyLen + len)));
            }
            System.arraycopy(buf, off, body, bodyLen, len);
            bodyLen += len;
        }
    }

    /** The body ended (cleanly or not). Parses a buffered JSON body; idempotent. */
    public void onBodyEnd(long nanoTime) {
        if (ended) {
            return;
        }
        ended = true;
        if (!eventStream && bodyOverflow) {
            bigBody.finish();
            error |= bigBody.error();
            if (bigBody.hasUsage()) {
                prompt = Math.max(prompt, bigBody.promptTokens());
                long c = plausible(bigBody.completionTokens());
                if (c < 0 && route == Route.EMBEDDINGS && bigBody.promptTokens() >= 0) {
                    c = 0;
                }
                finalCompletion = Math.max(finalCompletion, c);
            }
        } else if (!eventStream && bodyLen > 0) {
            boolean ok = scanner.scan(body, 0, bodyLen, this);
            if (scanner.error()) {
                error = true;
            }
            if (ok && scanner.hasUsage()) {
                prompt = Math.max(prompt, scanner.promptTokens());
                long c = plausible(scanner.completionTokens());
                if (c < 0 && route == Route.EMBEDDINGS && scanner.promptTokens() >= 0) {
                    c = 0;
                }
                finalCompletion = Math.max(finalCompletion, c);
            }
        }
        if (body.length > (64 << 10)) {
            body = new byte[0];
        }
    }

    @Override
    public void onEvent(byte[] data, int off, int len, String eventType, long eventStart, long eventEnd,
                        long payloadStart) {
        EventAction action = EventAction.FORWARD;
        long stripStart = -1;
        long stripEnd = -1;
        if (isDone(data, off, len)) {
            done = true;
        } else {
            boolean ok = scanner.scan(data, off, len, this);
            if (scanner.error()) {
                error = true;
            }
            if (eventType != null && eventType.equals("response.completed")) {
                done = true;
            }
            if (eventType != null && (eventType.equals("error") || eventType.equals("response.failed"))) {
                error = true;
            }
            if (firstToken < 0 && (scanner.choicesCount() > 0 || isResponsesDelta(eventType))) {
                firstToken = now;
            }
            if (ok && scanner.usagePresent()) {
                if (scanner.promptTokens() >= 0) {
                    prompt = Math.max(prompt, scanner.promptTokens());
                }
                long c = plausible(scanner.completionTokens());
                boolean usageOnly = scanner.choicesPresent() && scanner.choicesCount() == 0;
                if (usageOnly || !scanner.choicesPresent()) {
                    finalCompletion = Math.max(finalCompletion, c);
                } else if (c >= 0) {
                    int idx = scanner.firstChoiceIndex();
                    if (idx >= perChoice.length) {
                        int old = perChoice.length;
                        perChoice = Arrays.copyOf(perChoice, Math.max(idx + 1, old * 2));
                        Arrays.fill(perChoice, old, perChoice.length, -1);
                    }
                    perChoice[idx] = Math.max(perChoice[idx], c);
                }
                if (usageOnly) {
                    action = clientWantsUsage ? EventAction.FORWARD : EventAction.DROP;
                } else if (!clientWantsContinuous && payloadStart >= 0 && scanner.usageStripStart() >= 0) {
                    action = EventAction.STRIP;
                    stripStart = payloadStart + (scanner.usageStripStart() - off);
                    stripEnd = payloadStart + (scanner.usageStripEnd() - off);
                }
            }
        }
        if (sink != null) {
            sink.onEvent(eventStart, eventEnd, action, stripStart, stripEnd);
        }
    }

    @Override
    public void onOversizedEvent(long eventStart, long eventEnd) {
        oversizedEvents++;
        if (sink != null) {
            sink.onEvent(eventStart, eventEnd, EventAction.FORWARD, -1, -1);
        }
    }

    /** A Responses API event that carries generated output ({@code response.output_text.delta}...). */
    private static boolean isResponsesDelta(String eventType) {
        return eventType != null && eventType.startsWith("response.") && eventType.endsWith(".delta");
    }

    private static boolean isDone(byte[] d, int off, int len) {
        return len == 6 && d[off] == '[' && d[off + 1] == 'D' && d[off + 2] == 'O' && d[off + 3] == 'N'
                && d[off + 4] == 'E' && d[off + 5] == ']';
    }

    @Override
    public void append(byte[] b, int off, int len) {
        if (textLen + len > MAX_TEXT) {
            return;
        }
        if (textLen + len > text.length) {
            text = Arrays.copyOf(text, Math.min(MAX_TEXT, Math.max(text.length * 2, textLen + len)));
        }
        System.arraycopy(b, off, text, textLen, len);
        textLen += len;
    }

    @Override
    public void append(byte b) {
        if (textLen >= MAX_TEXT) {
            return;
        }
        if (textLen == text.length) {
            text = Arrays.copyOf(text, Math.min(MAX_TEXT, text.length * 2));
        }
        text[textLen++] = b;
    }

    /** Whether the upstream reported any usage (final or continuous). 0 reported is not "absent". */
    public boolean hasUpstreamUsage() {
        return prompt >= 0 || upstreamCompletionTokens() >= 0;
    }

    /** Prompt tokens reported by the upstream (high-water mark), or -1. */
    public long upstreamPromptTokens() {
        return prompt;
    }

    /** Completion tokens reported by the upstream (final total, else sum of per-choice high-water marks), or -1. */
    public long upstreamCompletionTokens() {
        if (finalCompletion >= 0) {
            return finalCompletion;
        }
        long sum = -1;
        for (long c : perChoice) {
            if (c >= 0) {
                sum = Math.max(sum, 0) + c;
            }
        }
        return plausible(sum);
    }

    /** Completion tokens estimated from the text delivered so far. */
    public long estimateCompletionTokens(TokenEstimator estimator) {
        return textLen == 0 ? 0 : estimator.countUtf8(text, 0, textLen);
    }

    /** Time of the first chunk with non-empty {@code choices} (first token), or -1. */
    public long firstTokenNanos() {
        return firstToken;
    }

    /** The stream ended with {@code data: [DONE]} (or the Responses API's {@code response.completed}). */
    public boolean sawDone() {
        return done;
    }

    /** An error event arrived in the stream, or a 2xx JSON body carried a top-level error. */
    public boolean sawError() {
        return error;
    }

    /** Events skipped for exceeding the parser's size limit. */
    public long oversizedEvents() {
        return oversizedEvents;
    }
}
