package dev.tollgate.metering.json;

import dev.tollgate.metering.ByteSearch;

/**
 * The lexical half of {@link ChunkScanner}: a cursor over a byte range of JSON that reads past values, reads
 * keys and numbers in place, and unescapes string values into a sink, without allocating. Malformed input
 * throws the preallocated {@link Malformed}, which the scanner turns into a false result. A base class rather
 * than a field so that the scanner's hot loop reads the buffer and position directly.
 *
 * <p>Threading: not thread-safe; one instance per stream.
 */
abstract class JsonCursor {
    static final int MAX_DEPTH = 64;

    byte[] b;
    int i;
    int end;
    ChunkScanner.TextSink sink;

    /** A string value appended (unescaped) to the sink; null and other values are skipped. */
    final void text() {
        if (peek() != '"') {
            skipValue(6);
            return;
        }
        i++;
        int run = i;
        while (true) {
            i = ByteSearch.quoteOrEscape(b, i, end);
            if (i >= end) {
                throw Malformed.INSTANCE;
            }
            byte c = b[i];
            if (c == '"') {
                flush(run, i);
                i++;
                return;
            }
            if (c == '\\') {
                flush(run, i);
                i++;
                unescape();
                run = i;
                continue;
            }
            i++;
        }
    }

    final void flush(int from, int to) {
        if (sink != null && to > from) {
            sink.append(b, from, to - from);
        }
    }

    final void unescape() {
        byte e = next();
        int simple = JsonText.simpleEscape(e);
        if (simple != JsonText.NOT_SIMPLE) {
            emit((byte) simple);
            return;
        }
        if (e != 'u') {
            throw Malformed.INSTANCE;
        }
        int cp = hex4();
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= end && b[i] == '\\' && b[i + 1] == 'u') {
            int save = i;
            i += 2;
            int lo = hex4();
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = JsonText.surrogatePair(cp, lo);
            } else {
                i = save;
                cp = 0xFFFD;
            }
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        if (sink != null) {
            JsonText.appendUtf8(sink, cp);
        }
    }

    final void emit(byte v) {
        if (sink != null) {
            sink.append(v);
        }
    }

    final int hex4() {
        if (i + 4 > end) {
            throw Malformed.INSTANCE;
        }
        int v = 0;
        for (int k = 0; k < 4; k++) {
            int d = Character.digit(b[i++], 16);
            if (d < 0) {
                throw Malformed.INSTANCE;
            }
            v = (v << 4) | d;
        }
        return v;
    }

    /** Parses a JSON number, returning its integer part (saturating); fractions and exponents are read past. */
    final long number() {
        boolean neg = false;
        if (peek() == '-') {
            neg = true;
            i++;
        }
        if (i >= end || b[i] < '0' || b[i] > '9') {
            skipValue(6);
            return -1;
        }
        long v = 0;
        while (i < end && b[i] >= '0' && b[i] <= '9') {
            v = v > (Long.MAX_VALUE - 9) / 10 ? Long.MAX_VALUE : v * 10 + (b[i] - '0');
            i++;
        }
        while (i < end && (b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] == '+' || b[i] == '-'
                || (b[i] >= '0' && b[i] <= '9'))) {
            i++;
        }
        return neg ? -v : v;
    }

    /**
     * Reads the member name opening at {@code i} (which must be a quote) and moves past it.
     *
     * @return its {@link MemberNames} id ({@link MemberNames#UNKNOWN} for any other name)
     */
    final int name() {
        if (peek() != '"') {
            throw Malformed.INSTANCE;
        }
        long r = MemberNames.read(b, i + 1, end);
        i = (int) r;
        return (int) (r >>> 32);
    }

    /** Reads past the string value opening at {@code i}; returns the index of its closing quote. */
    final int stringEnd() {
        i = JsonSkip.string(b, i + 1, end);
        return i - 1;
    }

    /** {@code b[start, close)} holds exactly the bytes of {@code name}. */
    final boolean key(int start, int close, byte[] name) {
        return JsonText.sameBytes(b, start, close - start, name);
    }

    /** Reads past any value; a string, object or array is jumped over by {@link JsonSkip}. */
    final void skipValue(int depth) {
        if (depth > MAX_DEPTH) {
            throw Malformed.INSTANCE;
        }
        byte c = nonWs();
        if (c == '"') {
            i = JsonSkip.string(b, i + 1, end);
        } else if (c == '{' || c == '[') {
            i = JsonSkip.container(b, i, end, depth);
        } else {
            skipScalar(c);
        }
    }

    /** Reads past a number, {@code null}, {@code true} or {@code false} starting with {@code c}. */
    private void skipScalar(byte c) {
        switch (c) {
            case 'n' -> literal('u', 'l', 'l', 4);
            case 't' -> literal('r', 'u', 'e', 4);
            case 'f' -> {
                literal('a', 'l', 's', 5);
                if (b[i - 1] != 'e') {
                    throw Malformed.INSTANCE;
                }
            }
            default -> skipNumber();
        }
    }

    /**
     * Reads past a literal whose bytes after the first are {@code c1 c2 c3} then, for {@code false}, one more
     * (checked by the caller at {@code b[i-1]}); {@code len} is the literal's length.
     */
    private void literal(char c1, char c2, char c3, int len) {
        if (i + len > end || b[i + 1] != c1 || b[i + 2] != c2 || b[i + 3] != c3) {
            throw Malformed.INSTANCE;
        }
        i += len;
    }

    /** Reads past a number: an optional minus, at least one digit, then digits, '.', 'e', 'E', '+' or '-'. */
    private void skipNumber() {
        if (b[i] == '-') {
            i++;
        }
        if (i >= end || b[i] < '0' || b[i] > '9') {
            throw Malformed.INSTANCE;
        }
        i++;
        while (i < end) {
            byte c = b[i];
            if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                i++;
            } else {
                return;
            }
        }
    }

    final void ws() {
        while (i < end) {
            byte c = b[i];
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                i++;
            } else {
                return;
            }
        }
    }

    /** Reads past whitespace and returns the byte there, without consuming it; throws at the end. */
    final byte nonWs() {
        if (i < end) {
            byte c = b[i];
            if (c > ' ') {
                return c;
            }
        }
        ws();
        return peek();
    }

    final byte peek() {
        if (i >= end) {
            throw Malformed.INSTANCE;
        }
        return b[i];
    }

    final byte next() {
        if (i >= end) {
            throw Malformed.INSTANCE;
        }
        return b[i++];
    }

    final void expect(char c) {
        if (next() != c) {
            throw Malformed.INSTANCE;
        }
    }

    /** Thrown inside the scanner only; preallocated, no stack trace. */
    static final class Malformed extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final Malformed INSTANCE = new Malformed();

        private Malformed() {
            super("malformed JSON", null, false, false);
        }
    }
}
