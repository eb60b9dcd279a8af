package dev.tollgate.metering.json;

import dev.tollgate.metering.ByteSearch;

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
 * <p>This class is the tokenizer and decides what each member means; the usage object is copied by a
 * {@link UsageCapture}, text is unescaped by a {@link TextUnescaper} and member names are kept by a
 * {@link NameBuffer}, all allocated once with the scanner.
 *
 * <p>Threading: not thread-safe; one instance per exchange, reusable through {@link #reset}.
 */
public final class IncrementalBodyScanner {
    /** Largest {@code usage} value kept; a larger one (no real server writes one) counts as absent. */
    public static final int MAX_USAGE = 4096;
    /** Deepest nesting followed; deeper bodies are treated as malformed. */
    public static final int MAX_DEPTH = 64;

    private static final byte[] K_USAGE = JsonText.ascii("usage");
    private static final byte[] K_CHOICES = JsonText.ascii("choices");
    private static final byte[] K_ERROR = JsonText.ascii("error");
    private static final byte[] K_OBJECT = JsonText.ascii("object");
    private static final byte[] K_MESSAGE = JsonText.ascii("message");
    private static final byte[] K_DELTA = JsonText.ascii("delta");
    private static final byte[] K_TEXT = JsonText.ascii("text");
    private static final byte[] K_CONTENT = JsonText.ascii("content");
    private static final byte[] K_REASONING_CONTENT = JsonText.ascii("reasoning_content");
    private static final byte[] K_REASONING = JsonText.ascii("reasoning");
    private static final byte[] V_ERROR = JsonText.ascii("error");

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
    private final NameBuffer name = new NameBuffer();
    private final TextUnescaper text = new TextUnescaper();
    private final UsageCapture usage = new UsageCapture();

    private int depth;
    private boolean closed;
    private boolean failed;
    private boolean expectKey;
    private int role;
    private boolean inString;
    private int stringKind;
    private boolean escape;
    private boolean error;
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
        text.start();
        usage.reset();
        error = false;
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
        if (complete()) {
            usage.read();
        }
    }

    /** The top-level object was closed and nothing malformed was seen. */
    public boolean complete() {
        return closed && !failed;
    }

    /** A top-level usage object was found (read after {@link #finish}). */
    public boolean usagePresent() {
        return usage.present();
    }

    /** At least one usage count was valid (after {@link #finish}). */
    public boolean hasUsage() {
        return usage.promptTokens() >= 0 || usage.completionTokens() >= 0;
    }

    /** {@code usage.prompt_tokens} if it is a valid count, else -1 (after {@link #finish}). */
    public long promptTokens() {
        return usage.promptTokens();
    }

    /** {@code usage.completion_tokens} if it is a valid count, else -1 (after {@link #finish}). */
    public long completionTokens() {
        return usage.completionTokens();
    }

    /** A top-level {@code error} (not null) or {@code "object":"error"} was seen. */
    public boolean error() {
        return error;
    }

    // ---- outside strings --------------------------------------------------------------------------------

    private void structural(byte c) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            usage.add(c, depth);
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
                usage.add(c, depth);
                expectKey = false;
            }
            case ',' -> {
                usage.add(c, depth);
                expectKey = !isArray[depth];
                if (isArray[depth]) {
                    role = ctx[depth] == CHOICES ? R_CHOICE : R_NONE;
                }
            }
            case '"' -> {
                usage.add(c, depth);
                startString();
            }
            default -> {
                usage.add(c, depth);
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
        } else if (role == R_USAGE && !array && !usage.copying()) {
            usage.begin(depth + 1);
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
        usage.add(array ? (byte) '[' : (byte) '{', depth);
        expectKey = !array;
        role = array && next == CHOICES ? R_CHOICE : R_NONE;
    }

    private void close(boolean array) {
        if (depth == 0 || isArray[depth] != array) {
            failed = true;
            return;
        }
        usage.add(array ? (byte) ']' : (byte) '}', depth);
        usage.closed(depth);
        depth--;
        role = R_NONE;
        expectKey = false;
        if (depth == 0) {
            closed = true;
        }
    }

    // ---- strings ----------------------------------------------------------------------------------------

    private void startString() {
        inString = true;
        escape = false;
        text.start();
        if (expectKey && !isArray[depth]) {
            byte c = ctx[depth];
            stringKind = c == ROOT || c == CHOICE || c == MESSAGE ? S_KEY : S_SKIP;
            name.start();
            role = R_NONE;
        } else if (role == R_TEXT && sink != null) {
            stringKind = S_TEXT;
            role = R_NONE;
        } else if (role == R_OBJECT) {
            stringKind = S_OBJECT;
            name.start();
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
        boolean copying = usage.covers(depth);
        if (escape) {
            escaped(b[i], copying);
            return i + 1;
        }
        if (copying) {
            byte c = b[i];
            usage.add(c, depth);
            if (c == '"') {
                inString = false;
            } else if (c == '\\') {
                escape = true;
            }
            return i + 1;
        }
        int stop = ByteSearch.quoteOrEscape(b, i, end);
        if (stop > i) {
            plain(b, i, stop);
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
    private void plain(byte[] b, int from, int to) {
        switch (stringKind) {
            case S_TEXT -> text.plain(sink, b, from, to);
            case S_KEY, S_OBJECT -> name.add(b, from, to);
            default -> {
            }
        }
    }

    /** A byte of an escape sequence ({@code \\uXXXX} digits included). */
    private void escaped(byte c, boolean copying) {
        if (copying) {
            usage.add(c, depth);
            escape = false;
        } else if (stringKind != S_TEXT) {
            // Keys with escapes never match; other strings are only skipped. \\uXXXX digits are plain bytes.
            name.escaped();
            escape = false;
        } else {
            int r = text.escaped(sink, c);
            if (r == TextUnescaper.MALFORMED) {
                failed = true;
            } else if (r == TextUnescaper.DONE) {
                escape = false;
            }
        }
    }

    private void endString() {
        inString = false;
        if (stringKind == S_TEXT) {
            text.end(sink);
        } else if (stringKind == S_KEY) {
            role = roleOf(ctx[depth]);
        } else if (stringKind == S_OBJECT) {
            error |= name.is(V_ERROR);
        }
    }

    /** What the value after the member name just read means in a container of context {@code c}. */
    private int roleOf(byte c) {
        switch (c) {
            case ROOT:
                if (name.is(K_USAGE)) {
                    return usage.copying() ? R_NONE : R_USAGE;
                }
                if (name.is(K_CHOICES)) {
                    return R_CHOICES;
                }
                if (name.is(K_ERROR)) {
                    return R_ERROR;
                }
                return name.is(K_OBJECT) ? R_OBJECT : R_NONE;
            case CHOICE:
                if (name.is(K_MESSAGE) || name.is(K_DELTA)) {
                    return R_MESSAGE;
                }
                return name.is(K_TEXT) ? R_TEXT : R_NONE;
            case MESSAGE:
                return name.is(K_CONTENT) || name.is(K_REASONING_CONTENT) || name.is(K_REASONING) ? R_TEXT : R_NONE;
            default:
                return R_NONE;
        }
    }

    @Override
    public String toString() {
        return "IncrementalBodyScanner[depth=" + depth + ", closed=" + closed + ", failed=" + failed + ", usage="
                + usage + "]";
    }
}
