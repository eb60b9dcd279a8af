package dev.tollgate.metering.json;

/**
 * Unescapes one JSON string that arrives in pieces into a {@link ChunkScanner.TextSink}, with the same results as
 * {@link ChunkScanner}: one-letter escapes, {@code \\uXXXX} as UTF-8, a surrogate pair as one code point and a
 * lone surrogate as U+FFFD. A piece may end anywhere, even inside {@code \\uXXXX} or between the two halves of
 * a pair. The caller finds the quotes and backslashes and hands over plain runs and the bytes after a backslash;
 * this class keeps only what an escape needs between pieces, in three int fields (no allocation).
 *
 * <p>Threading: not thread-safe; owned by one {@link IncrementalBodyScanner}.
 */
final class TextUnescaper {
    /** {@link #escaped}: the escape sequence is complete. */
    static final int DONE = 0;
    /** {@link #escaped}: more hex digits of {@code \\uXXXX} follow. */
    static final int MORE = 1;
    /** {@link #escaped}: not a JSON escape. */
    static final int MALFORMED = 2;

    private int hexLeft;
    private int hex;
    private int pendingHigh = -1;

    /** A new string starts. */
    void start() {
        hexLeft = 0;
        pendingHigh = -1;
    }

    /** Plain string bytes {@code b[from, to)} (no quote, no backslash). */
    void plain(ChunkScanner.TextSink sink, byte[] b, int from, int to) {
        flushHigh(sink);
        sink.append(b, from, to - from);
    }

    /** The next byte of an escape sequence (the first one is the byte after the backslash). */
    int escaped(ChunkScanner.TextSink sink, byte c) {
        if (hexLeft > 0) {
            int d = Character.digit(c, 16);
            if (d < 0) {
                return MALFORMED;
            }
            hex = (hex << 4) | d;
            if (--hexLeft > 0) {
                return MORE;
            }
            codePoint(sink, hex);
            return DONE;
        }
        if (c == 'u') {
            hexLeft = 4;
            hex = 0;
            return MORE;
        }
        int simple = JsonText.simpleEscape(c);
        if (simple == JsonText.NOT_SIMPLE) {
            return MALFORMED;
        }
        flushHigh(sink);
        sink.append((byte) simple);
        return DONE;
    }

    /** The closing quote was read. */
    void end(ChunkScanner.TextSink sink) {
        flushHigh(sink);
    }

    private void codePoint(ChunkScanner.TextSink sink, int cp) {
        if (pendingHigh >= 0) {
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                JsonText.appendUtf8(sink, JsonText.surrogatePair(pendingHigh, cp));
                pendingHigh = -1;
                return;
            }
            flushHigh(sink);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            pendingHigh = cp;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            JsonText.appendUtf8(sink, 0xFFFD);
        } else {
            JsonText.appendUtf8(sink, cp);
        }
    }

    /** A high surrogate not followed by a low one becomes U+FFFD. */
    private void flushHigh(ChunkScanner.TextSink sink) {
        if (pendingHigh >= 0) {
            pendingHigh = -1;
            JsonText.appendUtf8(sink, 0xFFFD);
        }
    }
}
