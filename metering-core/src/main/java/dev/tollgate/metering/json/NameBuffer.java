package dev.tollgate.metering.json;

/**
 * Keeps the bytes of a member name (or of a short string value) that arrives in pieces, to compare it with
 * the few names metering knows once its closing quote is read. A name longer than {@link #MAX} bytes, or
 * written with an escape, matches none of them. Fixed buffer, no allocation.
 *
 * <p>Threading: not thread-safe; owned by one {@link IncrementalBodyScanner}.
 */
final class NameBuffer {
    /** Longest name kept; every name compared with is shorter. */
    static final int MAX = 24;

    private final byte[] bytes = new byte[MAX];
    private int len;
    private boolean unmatchable;

    /** A new name starts. */
    void start() {
        len = 0;
        unmatchable = false;
    }

    /** Plain name bytes {@code b[from, to)}. */
    void add(byte[] b, int from, int to) {
        for (int k = from; k < to; k++) {
            if (len < MAX) {
                bytes[len++] = b[k];
            } else {
                unmatchable = true;
            }
        }
    }

    /** The name holds an escape: it matches nothing. */
    void escaped() {
        unmatchable = true;
    }

    /** The name read is exactly {@code name}. */
    boolean is(byte[] name) {
        return !unmatchable && JsonText.sameBytes(bytes, 0, len, name);
    }
}
