package dev.tollgate.metering.json;

/**
 * Reads the few things metering needs from one OpenAI-style JSON payload (a stream chunk or a whole body),
 * in one pass over the bytes, without building a tree and without allocating:
 * <ul>
 *   <li>the top-level {@code choices} array: present, empty or not, the first choice's {@code index};</li>
 *   <li>{@code usage.prompt_tokens} / {@code usage.completion_tokens} (and the Responses API's
 *       {@code input_tokens} / {@code output_tokens}, in {@code usage} of a whole response body or in
 *       {@code response.usage} of a {@code response.completed} event), only when each is a plain JSON integer
 *       up to {@link #MAX_USAGE_COUNT}; any other value counts as absent;</li>
 *   <li>the byte range of the top-level {@code "usage"} member with one adjacent comma, so that removing it
 *       leaves the JSON the server would have written without it;</li>
 *   <li>a top-level {@code error} (nested or string envelope) or {@code "object":"error"} (flat envelope);</li>
 *   <li>delivered text ({@code delta.content}, {@code delta.reasoning[_content]}, {@code text},
 *       {@code message.content}, {@code tool_calls[].function.arguments}; for the Responses API a top-level
 *       string {@code delta} of a streamed event and {@code output[].content[].text} /
 *       {@code output[].arguments} of a whole body), unescaped into a {@link TextSink}.</li>
 * </ul>
 * Unknown members, nulls and nesting are jumped over without being tokenised ({@link JsonSkip}): an ignored
 * object or array is checked for balanced brackets, closed strings and depth, not for the rest of the grammar.
 * Malformed input makes {@link #scan} return false; it never throws.
 *
 * <p>Threading: not thread-safe; reuse one instance per stream.
 */
public final class ChunkScanner extends JsonCursor {
    /** Receives unescaped UTF-8 text bytes. */
    public interface TextSink {
        void append(byte[] b, int off, int len);

        void append(byte b);
    }

    private static final byte[] V_ERROR = bytes("error");
    /** Largest usage count believed (10^12 tokens); a larger one is read as absent. */
    public static final long MAX_USAGE_COUNT = 1_000_000_000_000L;
    private static final int USAGE_DIGITS = 13;

    private boolean choicesPresent;
    private int choicesCount;
    private int firstChoiceIndex;
    private long promptTokens;
    private long completionTokens;
    private boolean usagePresent;
    private boolean error;
    private int usageStripStart;
    private int usageStripEnd;

    private static byte[] bytes(String s) {
        return JsonText.ascii(s);
    }

    /** Scans {@code buf[off, off+len)}; false when it is not well-formed JSON (results are then partial). */
    public boolean scan(byte[] buf, int off, int len, TextSink textSink) {
        b = buf;
        i = off;
        end = off + len;
        sink = textSink;
        choicesPresent = false;
        choicesCount = 0;
        firstChoiceIndex = 0;
        promptTokens = -1;
        completionTokens = -1;
        usagePresent = false;
        error = false;
        usageStripStart = -1;
        usageStripEnd = -1;
        try {
            ws();
            if (i >= end) {
                return false;
            }
            if (b[i] != '{') {
                skipValue(0);
                ws();
                return i == end;
            }
            root();
            ws();
            return i == end;
        } catch (Malformed e) {
            return false;
        } finally {
            b = null;
            sink = null;
        }
    }

    public boolean choicesPresent() {
        return choicesPresent;
    }

    /** Elements of the top-level {@code choices} array. */
    public int choicesCount() {
        return choicesCount;
    }

    /** {@code index} of the first choice (0 when absent). */
    public int firstChoiceIndex() {
        return firstChoiceIndex;
    }

    /** Prompt tokens in the usage object, or -1. */
    public long promptTokens() {
        return promptTokens;
    }

    /** Completion tokens in the usage object, or -1. */
    public long completionTokens() {
        return completionTokens;
    }

    /** At least one usage count was a valid value (see {@link #MAX_USAGE_COUNT}). */
    public boolean hasUsage() {
        return promptTokens >= 0 || completionTokens >= 0;
    }

    /** A usage object was present (top-level or the Responses API's), whether or not its counts were valid. */
    public boolean usagePresent() {
        return usagePresent;
    }

    /** A top-level error was present (nested, string or flat envelope). */
    public boolean error() {
        return error;
    }

    /** Start (offset in the scanned array) of the bytes to remove to drop the top-level usage member, or -1. */
    public int usageStripStart() {
        return usageStripStart;
    }

    public int usageStripEnd() {
        return usageStripEnd;
    }

    // ---- grammar -------------------------------------------------------------------------------------

    /** Where a member is: decides which keys matter (one walker for every object, no allocation). */
    private static final int ROOT = 0;
    private static final int CHOICE = 1;
    private static final int MESSAGE = 2;
    private static final int TOOL_CALL = 3;
    private static final int FUNCTION = 4;
    private static final int RESPONSE = 5;
    private static final int USAGE = 6;
    private static final int RESPONSE_USAGE = 7;
    private static final int OUTPUT_ITEM = 8;
    private static final int OUTPUT_PART = 9;

    private boolean inFirstChoice;

    private void root() {
        object(ROOT, 0);
    }

    /** Walks the object starting at {@code i}, handing each member's value to {@link #member}. */
    private void object(int ctx, int depth) {
        if (depth > MAX_DEPTH) {
            throw Malformed.INSTANCE;
        }
        i++;
        byte c = nonWs();
        if (c == '}') {
            i++;
            return;
        }
        int prevComma = -1;
        while (true) {
            int memberStart = i;
            int name = name();
            if (nonWs() != ':') {
                throw Malformed.INSTANCE;
            }
            i++;
            byte v = nonWs();
            if (name == MemberNames.UNKNOWN) {
                // No context reads a member it does not know.
                skipValue(depth + 1);
            } else {
                member(ctx, name, v, depth + 1, memberStart, prevComma);
            }
            c = nonWs();
            i++;
            if (c == '}') {
                return;
            }
            if (c != ',') {
                throw Malformed.INSTANCE;
            }
            if (ctx == ROOT && usageStripStart == memberStart && usageStripEnd == i - 1) {
                // usage was the first member: take the comma after it instead of one before.
                usageStripEnd = i;
            }
            prevComma = i - 1;
            c = nonWs();
        }
    }

    /** Walks the array starting at {@code i}; object elements are walked as {@code elementCtx}. */
    private int array(int elementCtx, int depth) {
        i++;
        if (nonWs() == ']') {
            i++;
            return 0;
        }
        int n = 0;
        while (true) {
            if (nonWs() == '{') {
                if (elementCtx == CHOICE) {
                    inFirstChoice = n == 0;
                }
                object(elementCtx, depth);
            } else {
                skipValue(depth);
            }
            n++;
            byte c = nonWs();
            i++;
            if (c == ']') {
                return n;
            }
            if (c != ',') {
                throw Malformed.INSTANCE;
            }
        }
    }

    /**
     * Reads the value (first byte {@code v}) of member {@code name} (a {@link MemberNames} id) of an object in
     * context {@code ctx}. One small method per context, so that the hot ones are compiled into their callers.
     */
    private void member(int ctx, int name, byte v, int depth, int memberStart, int prevComma) {
        switch (ctx) {
            case ROOT -> rootMember(name, v, depth, memberStart, prevComma);
            case CHOICE -> choiceMember(name, v, depth);
            case MESSAGE -> messageMember(name, v, depth);
            case USAGE, RESPONSE_USAGE -> usageMember(name, depth);
            default -> nestedMember(ctx, name, v, depth);
        }
    }

    private void rootMember(int name, byte v, int depth, int memberStart, int prevComma) {
        if (name == MemberNames.CHOICES && v == '[') {
            choicesPresent = true;
            choicesCount = array(CHOICE, depth);
        } else if (name == MemberNames.USAGE && v == '{') {
            usagePresent = true;
            object(USAGE, depth);
            usageStripStart = prevComma >= 0 ? prevComma : memberStart;
            usageStripEnd = i;
        } else if (name == MemberNames.ERROR) {
            error |= v != 'n';
            skipValue(depth);
        } else if (name == MemberNames.OBJECT && v == '"') {
            int vs = i + 1;
            error |= key(vs, stringEnd(), V_ERROR);
        } else if (name == MemberNames.RESPONSE && v == '{') {
            object(RESPONSE, depth);
        } else if (name == MemberNames.DELTA && v == '"') {
            text();
        } else if (name == MemberNames.OUTPUT && v == '[') {
            array(OUTPUT_ITEM, depth);
        } else {
            skipValue(depth);
        }
    }

    private void choiceMember(int name, byte v, int depth) {
        if (name == MemberNames.INDEX && inFirstChoice) {
            firstChoiceIndex = (int) Math.max(0, Math.min(number(), 1 << 20));
        } else if ((name == MemberNames.DELTA || name == MemberNames.MESSAGE) && v == '{') {
            object(MESSAGE, depth);
        } else if (name == MemberNames.TEXT) {
            text();
        } else {
            skipValue(depth);
        }
    }

    private void messageMember(int name, byte v, int depth) {
        if (name == MemberNames.CONTENT || name == MemberNames.REASONING
                || name == MemberNames.REASONING_CONTENT) {
            text();
        } else if (name == MemberNames.TOOL_CALLS && v == '[') {
            array(TOOL_CALL, depth);
        } else {
            skipValue(depth);
        }
    }

    private void usageMember(int name, int depth) {
        // A whole Responses API body has input_tokens/output_tokens in its top-level usage.
        boolean prompt = name == MemberNames.PROMPT_TOKENS || name == MemberNames.INPUT_TOKENS;
        boolean completion = name == MemberNames.COMPLETION_TOKENS || name == MemberNames.OUTPUT_TOKENS;
        if (prompt || completion) {
            long n = usageCount(depth);
            if (prompt) {
                promptTokens = n;
            } else {
                completionTokens = n;
            }
        } else {
            skipValue(depth);
        }
    }

    /** Members of the contexts that chat streams do not reach (tool calls, the Responses API). */
    private void nestedMember(int ctx, int name, byte v, int depth) {
        switch (ctx) {
            case TOOL_CALL -> {
                if (name == MemberNames.FUNCTION && v == '{') {
                    object(FUNCTION, depth);
                } else {
                    skipValue(depth);
                }
            }
            case FUNCTION -> {
                if (name == MemberNames.ARGUMENTS) {
                    text();
                } else {
                    skipValue(depth);
                }
            }
            case RESPONSE -> {
                if (name == MemberNames.USAGE && v == '{') {
                    usagePresent = true;
                    object(RESPONSE_USAGE, depth);
                } else {
                    error |= name == MemberNames.ERROR && v != 'n';
                    skipValue(depth);
                }
            }
            case OUTPUT_ITEM -> {
                if (name == MemberNames.CONTENT && v == '[') {
                    array(OUTPUT_PART, depth);
                } else if (name == MemberNames.ARGUMENTS) {
                    text();
                } else {
                    skipValue(depth);
                }
            }
            case OUTPUT_PART -> {
                if (name == MemberNames.TEXT) {
                    text();
                } else {
                    skipValue(depth);
                }
            }
            default -> throw new IllegalStateException("context " + ctx);
        }
    }

    /**
     * Reads a usage count: a plain JSON integer from 0 to {@link #MAX_USAGE_COUNT}, written without sign,
     * fraction or exponent. Anything else (a string such as {@code "12"}, a boolean, null, {@code 12.0},
     * {@code 1e3}, a negative number, more digits than a real count has) is read past and gives -1 (absent),
     * never 0 and never the part of it that looked like a number.
     */
    private long usageCount(int depth) {
        byte c = peek();
        if (c < '0' || c > '9') {
            skipValue(depth);
            return -1;
        }
        int start = i;
        int p = i;
        long v = 0;
        while (p < end && (c = b[p]) >= '0' && c <= '9') {
            if (p - start < USAGE_DIGITS) {
                v = v * 10 + (c - '0');
            }
            p++;
        }
        i = p;
        if (p < end && (c == '.' || c == 'e' || c == 'E')) {
            readPastFractionAndExponent();
            return -1;
        }
        int digits = p - start;
        if (digits > USAGE_DIGITS || v > MAX_USAGE_COUNT || (digits > 1 && b[start] == '0')) {
            return -1;
        }
        return v;
    }

    private void readPastFractionAndExponent() {
        while (i < end && (b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] == '+' || b[i] == '-'
                || (b[i] >= '0' && b[i] <= '9'))) {
            i++;
        }
    }
}
