package dev.tollgate.metering.json;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Copies the top-level {@code usage} object of a body read in pieces into a fixed buffer, byte by byte as the
 * bytes go by (at most {@link IncrementalBodyScanner#MAX_USAGE} bytes; a larger one counts as absent), then reads
 * it as {@code {"usage":...}} with a {@link ChunkScanner}, so that its counts follow the same rules as a small
 * body's. The buffer and the scanner are allocated once; capturing and reading allocate nothing.
 *
 * <p>Threading: not thread-safe; owned by one {@link IncrementalBodyScanner}.
 */
final class UsageCapture {
    private static final byte[] PREFIX = JsonText.ascii("{\"usage\":");

    private final byte[] buf = new byte[PREFIX.length + IncrementalBodyScanner.MAX_USAGE + 1];
    private final ChunkScanner scanner = new ChunkScanner();

    /** Nesting depth of the usage object while it is being copied, else -1. */
    private int startDepth;
    private int len;
    private boolean tooBig;
    private boolean captured;
    private long promptTokens;
    private long completionTokens;
    private boolean present;

    UsageCapture() {
        reset();
    }

    /** Prepares for a new body. */
    void reset() {
        startDepth = -1;
        len = 0;
        tooBig = false;
        captured = false;
        promptTokens = -1;
        completionTokens = -1;
        present = false;
    }

    /** The usage object is being copied now. */
    boolean copying() {
        return startDepth >= 0;
    }

    /** A byte read at nesting {@code depth} belongs to the usage object being copied. */
    boolean covers(int depth) {
        return startDepth >= 0 && depth >= startDepth;
    }

    /** The usage object opens at nesting {@code depth} (its brace is added next). */
    void begin(int depth) {
        startDepth = depth;
        len = PREFIX.length;
        System.arraycopy(PREFIX, 0, buf, 0, len);
        tooBig = false;
        captured = false;
    }

    /** Copies {@code c}, read at nesting {@code depth}, when it belongs to the usage object. */
    void add(byte c, int depth) {
        if (covers(depth)) {
            if (len < PREFIX.length + IncrementalBodyScanner.MAX_USAGE) {
                buf[len++] = c;
            } else {
                tooBig = true;
            }
        }
    }

    /** The container at nesting {@code depth} was closed (its bracket already added). */
    void closed(int depth) {
        if (depth == startDepth) {
            startDepth = -1;
            captured = true;
        }
    }

    /** Reads the copied usage object, when one was copied whole. Idempotent. */
    void read() {
        if (captured && !tooBig) {
            buf[len] = '}';
            if (scanner.scan(buf, 0, len + 1, null)) {
                promptTokens = scanner.promptTokens();
                completionTokens = scanner.completionTokens();
                present = scanner.usagePresent();
            }
        }
    }

    /** A usage object was read (after {@link #read}). */
    boolean present() {
        return present;
    }

    /** {@code usage.prompt_tokens} if it is a valid count, else -1 (after {@link #read}). */
    long promptTokens() {
        return promptTokens;
    }

    /** {@code usage.completion_tokens} if it is a valid count, else -1 (after {@link #read}). */
    long completionTokens() {
        return completionTokens;
    }

    @Override
    public String toString() {
        return new String(Arrays.copyOf(buf, len), StandardCharsets.UTF_8);
    }
}
