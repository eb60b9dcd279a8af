package dev.tollgate.metering.json;

import dev.tollgate.metering.ByteSearch;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads what metering needs from a JSON response body of any size, fed in arbitrary pieces, in O(1) memory:
 * the top-level {@code usage} member (captured whole, at most {@link #MAX_USAGE} bytes, then read by
 * {@link ChunkScanner} with the same rules as a small body), delivered text from
 * {@code choices[].message.content} / {@code reasoning_content} / {@code reasoning} and {@code choices[].text}
 * (unescaped into a {@link ChunkScanner.TextSink}), and a top-level {@code error} or {@code "object":"error"}.
 *
 * <p>It tracks only what a tokenizer of JSON must: nesting (up to {@link #MAX_DEPTH}), whether it is inside a
 * string or just after a backslash, and whether the next string is a key. Every member name is matched only at
 * the depth where it means something, so a {@code "usage"} inside message text, inside a choice or inside
 * {@code logprobs} is never taken for the body's usage. Scalars are not validated; a body that is cut short,
 * nests too deep or closes the wrong bracket is {@linkplain #complete() incomplete} and its usage is not used.
 *
 * <p>Threading: not thread-safe; one instance per exchange, reusable through {@link #reset}.
 */
public final class IncrementalBodyScanner {
    /** Largest {@code usage} value kept; a larger one (no real server writes one) counts as absent. */
    public static final int MAX_USAGE = 4096;
    /** Deepest nesting followed; deeper bodies are treated as malformed. */
    public static final int MAX_DEPTH = 64;

    private static final byte[] USAGE_PREFIX = "{\"usage\":".getBytes(StandardCharsets.US_ASCII);
    private static final int KEY_MAX = 24;

    // Context of a container (what its members or elements mean).
    private static final byte OTHER = 0;
    private static final byte ROOT = 1;
    private static final byte CHOICES = 2;
    private static final byte CHOICE = 3;
    private static final byte MESSAGE = 4;

    // Role of the value that follows a key (or an array element).
    private static final int R_NONE = 0;
    private static final int R_USAGE = 1;
    private static final int R_CHOICES = 2;
    private static final int R_CHOICE = 3;
    private static final int R_MESSAGE = 4;
    private static final int R_TEXT = 5;
    private static final int R_ERROR = 6;
    private static final int R_OBJECT = 7;

    // String kinds.
    private static final int S_SKIP = 0;
    private static final int S_KEY = 1;
    private static final int S_TEXT = 2;
    private static final int S_OBJECT = 3;

    private final byte[] ctx = new byte[MAX_DEPTH + 1];
    private final boolean[] isArray = new boolean[MAX_DEPTH + 1];
    private final byte[] key = new byte[KEY_MAX];
    private final byte[] usage = new byte[USAGE_PREFIX.length + MAX_USAGE + 1];
    private final ChunkScanner scanner = new ChunkScanner();

    private int depth;
    private boolean closed;
    private boolean failed;
    private boolean expectKey;
    private int role;
    private boolean inString;
    private int stringKind;
    private boolean escape;
    private int hexLeft;
    private int hex;
    private int pendingHigh;
    private int keyLen;
    private boolean keyUnmatchable;
    private boolean objectIsError;
    private int usageDepth;
    private int usageLen;
    private boolean usageTooBig;
    private boolean usageCaptured;
    private boolean error;
    private long promptTokens;
    private long completionTokens;
    private boolean usagePresent;
    private ChunkScanner.TextSink sink;

    public IncrementalBodyScanner() {
        reset();
    }

    /** Prepares for a new body. */
    public void reset() {
        depth = 0;
        closed = false;
        failed = false;
        expectKey = false;
        role = R_NONE;
        inString = false;
        escape = false;
        hexLeft = 0;
        pendingHigh = -1;
        usageDepth = -1;
        usageLen = 0;
        usageTooBig = false;
        usageCaptured = false;
        error = false;
        promptTokens = -1;
        completionTokens = -1;
        usagePresent = false;
        sink = null;
    }

    /** Feeds the next body bytes {@code b[off, off+len)}; text goes to {@code textSink} (may be null). */
    public void feed(byte[] b, int off, int len, ChunkScanner.TextSink textSink) {
        if (failed) {
            return;
        }
        sink = textSink;
        int end = off + len;
        int i = off;
        while (i < end && !failed) {
            if (inString) {
                i = string(b, i, end);
            } else {
                structural(b[i]);
                i++;
            }
        }
        sink = null;
    }

    /** The body ended: reads the captured usage (only when the body was complete). Idempotent. */
    public void finish() {
        if (complete() && usageCaptured && !usageTooBig) {
            usage[usageLen] = '}';
            if (scanner.scan(usage, 0, usageLen + 1, null)) {
                promptTokens = scanner.promptTokens();
                completionTokens = scanner.completionTokens();
                usagePresent = scanner.usagePresent();
            }
        }
    }

    /** The top-level object was closed and nothing malformed was seen. */
    public boolean complete() {
        return closed && !failed;
    }

    /** A top-level usage object was found (read after {@link #finish}). */
    public boolean usagePresent() {
        return usagePresent;
    }

    /** At least one usage count was valid (after {@link #finish}). */
    public boolean hasUsage() {
        return promptTokens >= 0 || completionTokens >= 0;
    }

    /** {@code usage.prompt_tokens} if it is a valid count, else -1 (after {@link #finish}). */
    public long promptTokens() {
        return promptTokens;
    }

    /** {@code usage.completion_tokens} if it is a valid count, else -1 (after {@link #finish}). */
    public long completionTokens() {
        return completionTokens;
    }

    /** A top-level {@code error} (not null) or {@code "object":"error"} was seen. */
    public boolean error() {
        return error;
    }

    // ---- outside strings --------------------------------------------------------------------------------

    private void structural(byte c) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            capture(c);
            return;
        }
        if (closed) {
            failed = true;
            return;
        }
        if (depth == 0 && c != '{') {
            failed = true;
            return;
        }
        switch (c) {
            case '{', '[' -> open(c == '[');
            case '}', ']' -> close(c == ']');
            case ':' -> {
                capture(c);
                expectKey = false;
            }
            case ',' -> {
                capture(c);
                expectKey = !isArray[depth];
                if (isArray[depth]) {
                    role = ctx[depth] == CHOICES ? R_CHOICE : R_NONE;
                }
            }
            case '"' -> {
                capture(c);
                startString();
            }
            default -> {
                capture(c);
                if (role == R_ERROR && c != 'n') {
                    error = true;
                }
                role = R_NONE;
            }
        }
    }

    private void open(boolean array) {
        if (depth == MAX_DEPTH) {
            failed = true;
            return;
        }
        byte next = OTHER;
        if (depth == 0) {
            next = ROOT;
        } else if (role == R_USAGE && !array && usageDepth < 0) {
            usageDepth = depth + 1;
            usageLen = USAGE_PREFIX.length;
            System.arraycopy(USAGE_PREFIX, 0, usage, 0, usageLen);
            usageTooBig = false;
            usageCaptured = false;
        } else if (role == R_CHOICES && array) {
            next = CHOICES;
        } else if (role == R_CHOICE && !array) {
            next = CHOICE;
        } else if (role == R_MESSAGE && !array) {
            next = MESSAGE;
        } else if (role == R_ERROR) {
            error = true;
        }
        depth++;
        ctx[depth] = next;
        isArray[depth] = array;
        capture(array ? (byte) '[' : (byte) '{');
        expectKey = !array;
        role = array && next == CHOICES ? R_CHOICE : R_NONE;
    }

    private void close(boolean array) {
        if (depth == 0 || isArray[depth] != array) {
            failed = true;
            return;
        }
        capture(array ? (byte) ']' : (byte) '}');
        if (depth == usageDepth) {
            usageDepth = -1;
            usageCaptured = true;
        }
        depth--;
        role = R_NONE;
        expectKey = false;
        if (depth == 0) {
            closed = true;
        }
    }

    private void capture(byte c) {
        if (usageDepth >= 0 && depth >= usageDepth) {
            if (usageLen < USAGE_PREFIX.length + MAX_USAGE) {
                usage[usageLen++] = c;
            } else {
                usageTooBig = true;
            }
        }
    }

    // ---- strings ----------------------------------------------------------------------------------------

    private void startString() {
        inString = true;
        escape = false;
        hexLeft = 0;
        pendingHigh = -1;
        if (expectKey && !isArray[depth]) {
            byte c = ctx[depth];
            stringKind = c == ROOT || c == CHOICE || c == MESSAGE ? S_KEY : S_SKIP;
            keyLen = 0;
            keyUnmatchable = false;
            role = R_NONE;
        } else if (role == R_TEXT && sink != null) {
            stringKind = S_TEXT;
            role = R_NONE;
        } else if (role == R_OBJECT) {
            stringKind = S_OBJECT;
            keyLen = 0;
            keyUnmatchable = false;
            role = R_NONE;
        } else {
            if (role == R_ERROR) {
                error = true;
            }
            stringKind = S_SKIP;
            role = R_NONE;
        }
    }

    /** Consumes string bytes from {@code i}; returns the index after what it consumed. */
    private int string(byte[] b, int i, int end) {
        boolean capturing = usageDepth >= 0 && depth >= usageDepth;
        if (escape) {
            return escaped(b, i, end, capturing);
        }
        if (capturing) {
            byte c = b[i];
            capture(c);
            if (c == '"') {
                inString = false;
            } else if (c == '\\') {
                escape = true;
            }
            return i + 1;
        }
        int stop = ByteSearch.quoteOrEscape(b, i, end);
        if (stop > i) {
            run(b, i, stop);
        }
        if (stop >= end) {
            return end;
        }
        if (b[stop] == '"') {
            endString();
        } else {
            escape = true;
        }
        return stop + 1;
    }

    /** Plain string bytes {@code b[from, to)} (no quote, no backslash). */
    private void run(byte[] b, int from, int to) {
        switch (stringKind) {
            case S_TEXT -> {
                flushHigh();
                sink.append(b, from, to - from);
            }
            case S_KEY, S_OBJECT -> {
                for (int k = from; k < to; k++) {
                    keyByte(b[k]);
                }
            }
            default -> {
            }
        }
    }

    private void keyByte(byte c) {
        if (keyLen < KEY_MAX) {
            key[keyLen++] = c;
        } else {
            keyUnmatchable = true;
        }
    }

    private int escaped(byte[] b, int i, int end, boolean capturing) {
        byte c = b[i];
        if (capturing) {
            capture(c);
            escape = false;
            return i + 1;
        }
        if (stringKind != S_TEXT) {
            // Keys with escapes never match; other strings are only skipped. \\uXXXX digits are plain bytes.
            keyUnmatchable = true;
            escape = false;
            return i + 1;
        }
        if (hexLeft > 0) {
            int d = Character.digit(c, 16);
            if (d < 0) {
                failed = true;
                return i + 1;
            }
            hex = (hex << 4) | d;
            if (--hexLeft == 0) {
                escape = false;
                codePoint(hex);
            }
            return i + 1;
        }
        switch (c) {
            case '"', '\\', '/' -> emit(c);
            case 'b' -> emit((byte) '\b');
            case 'f' -> emit((byte) '\f');
            case 'n' -> emit((byte) '\n');
            case 'r' -> emit((byte) '\r');
            case 't' -> emit((byte) '\t');
            case 'u' -> {
                hexLeft = 4;
                hex = 0;
                return i + 1;
            }
            default -> failed = true;
        }
        escape = false;
        return i + 1;
    }

    private void endString() {
        inString = false;
        if (stringKind == S_TEXT) {
            flushHigh();
        } else if (stringKind == S_KEY) {
            role = keyUnmatchable ? R_NONE : roleOf(ctx[depth]);
        } else if (stringKind == S_OBJECT) {
            error |= !keyUnmatchable && is("error");
        }
    }

    /** What the value after the key just read means in a container of context {@code c}. */
    private int roleOf(byte c) {
        switch (c) {
            case ROOT:
                if (is("usage")) {
                    return usageDepth < 0 ? R_USAGE : R_NONE;
                }
                if (is("choices")) {
                    return R_CHOICES;
                }
                if (is("error")) {
                    return R_ERROR;
                }
                return is("object") ? R_OBJECT : R_NONE;
            case CHOICE:
                if (is("message") || is("delta")) {
                    return R_MESSAGE;
                }
                return is("text") ? R_TEXT : R_NONE;
            case MESSAGE:
                return is("content") || is("reasoning_content") || is("reasoning") ? R_TEXT : R_NONE;
            default:
                return R_NONE;
        }
    }

    private boolean is(String name) {
        if (keyLen != name.length()) {
            return false;
        }
        for (int k = 0; k < keyLen; k++) {
            if (key[k] != name.charAt(k)) {
                return false;
            }
        }
        return true;
    }

    // ---- text unescaping (same results as ChunkScanner) -----------------------------------------------

    private void codePoint(int cp) {
        if (pendingHigh >= 0) {
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                utf8(0x10000 + ((pendingHigh - 0xD800) << 10) + (cp - 0xDC00));
                pendingHigh = -1;
                return;
            }
            flushHigh();
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            pendingHigh = cp;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            utf8(0xFFFD);
        } else {
            utf8(cp);
        }
    }

    /** A high surrogate not followed by a low one becomes U+FFFD. */
    private void flushHigh() {
        if (pendingHigh >= 0) {
            pendingHigh = -1;
            utf8(0xFFFD);
        }
    }

    private void emit(byte v) {
        flushHigh();
        sink.append(v);
    }

    private void utf8(int cp) {
        if (cp < 0x80) {
            sink.append((byte) cp);
        } else if (cp < 0x800) {
            sink.append((byte) (0xC0 | (cp >> 6)));
            sink.append((byte) (0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            sink.append((byte) (0xE0 | (cp >> 12)));
            sink.append((byte) (0x80 | ((cp >> 6) & 0x3F)));
            sink.append((byte) (0x80 | (cp & 0x3F)));
        } else {
            sink.append((byte) (0xF0 | (cp >> 18)));
            sink.append((byte) (0x80 | ((cp >> 12) & 0x3F)));
            sink.append((byte) (0x80 | ((cp >> 6) & 0x3F)));
            sink.append((byte) (0x80 | (cp & 0x3F)));
        }
    }

    @Override
    public String toString() {
        return "IncrementalBodyScanner[depth=" + depth + ", closed=" + closed + ", failed=" + failed + ", usage="
                + new String(Arrays.copyOf(usage, usageLen), StandardCharsets.UTF_8) + "]";
    }
}
