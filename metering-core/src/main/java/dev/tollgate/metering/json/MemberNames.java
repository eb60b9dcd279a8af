package dev.tollgate.metering.json;

import dev.tollgate.metering.ByteSearch;

/**
 * The member names {@link ChunkScanner} acts on, recognised in place without a byte-by-byte compare: a name
 * shorter than eight bytes is found with its closing quote in one eight-byte word and compared as one masked
 * {@code long}; one shorter than sixteen bytes in two words, compared as two; the 17-byte ones in three; any
 * other (and any near the end of the buffer) by length, then byte by byte. A name written
 * with escapes never matches (none of these names holds a backslash, so its raw bytes cannot equal one).
 *
 * <p>Threading: stateless.
 */
final class MemberNames {
    static final int UNKNOWN = 0;
    static final int CHOICES = 1;
    static final int USAGE = 2;
    static final int ERROR = 3;
    static final int OBJECT = 4;
    static final int RESPONSE = 5;
    static final int PROMPT_TOKENS = 6;
    static final int COMPLETION_TOKENS = 7;
    static final int INPUT_TOKENS = 8;
    static final int OUTPUT_TOKENS = 9;
    static final int INDEX = 10;
    static final int DELTA = 11;
    static final int MESSAGE = 12;
    static final int TEXT = 13;
    static final int CONTENT = 14;
    static final int REASONING = 15;
    static final int REASONING_CONTENT = 16;
    static final int TOOL_CALLS = 17;
    static final int FUNCTION = 18;
    static final int ARGUMENTS = 19;
    static final int OUTPUT = 20;

    private static final long W_TEXT = first8("text");
    private static final long W_USAGE = first8("usage");
    private static final long W_ERROR = first8("error");
    private static final long W_INDEX = first8("index");
    private static final long W_DELTA = first8("delta");
    private static final long W_OBJECT = first8("object");
    private static final long W_OUTPUT = first8("output");
    private static final long W_CHOICES = first8("choices");
    private static final long W_MESSAGE = first8("message");
    private static final long W_CONTENT = first8("content");
    private static final long W_RESPONSE = first8("response");
    private static final long W_FUNCTION = first8("function");
    private static final long W_REASONING = first8("reasoning");
    private static final long W2_REASONING = first8("g");
    private static final long W_ARGUMENTS = first8("arguments");
    private static final long W2_ARGUMENTS = first8("s");
    private static final long W_TOOL_CALLS = first8("tool_calls");
    private static final long W2_TOOL_CALLS = first8("ls");
    private static final long W_INPUT_TOKENS = first8("input_tokens");
    private static final long W2_INPUT_TOKENS = first8("kens");
    private static final long W_PROMPT_TOKENS = first8("prompt_tokens");
    private static final long W2_PROMPT_TOKENS = first8("okens");
    private static final long W_OUTPUT_TOKENS = first8("output_tokens");
    private static final long W2_OUTPUT_TOKENS = first8("okens");
    private static final long W_COMPLETION_TOKENS = first8("completion_tokens");
    private static final long W2_COMPLETION_TOKENS = first8("on_token");
    private static final long W3_COMPLETION_TOKENS = first8("s");
    private static final long W_REASONING_CONTENT = first8("reasoning_content");
    private static final long W2_REASONING_CONTENT = first8("g_conten");
    private static final long W3_REASONING_CONTENT = first8("t");
    private static final byte[] N_RESPONSE = JsonText.ascii("response");
    private static final byte[] N_FUNCTION = JsonText.ascii("function");
    private static final byte[] N_REASONING = JsonText.ascii("reasoning");
    private static final byte[] N_ARGUMENTS = JsonText.ascii("arguments");
    private static final byte[] N_TOOL_CALLS = JsonText.ascii("tool_calls");
    private static final byte[] N_INPUT_TOKENS = JsonText.ascii("input_tokens");
    private static final byte[] N_PROMPT_TOKENS = JsonText.ascii("prompt_tokens");
    private static final byte[] N_OUTPUT_TOKENS = JsonText.ascii("output_tokens");
    private static final byte[] N_COMPLETION_TOKENS = JsonText.ascii("completion_tokens");
    private static final byte[] N_REASONING_CONTENT = JsonText.ascii("reasoning_content");

    private MemberNames() {
    }

    /** The first (up to) eight bytes of an ASCII name as a little-endian word. */
    static long first8(String name) {
        long v = 0;
        for (int k = 0; k < Math.min(8, name.length()); k++) {
            v |= (name.charAt(k) & 0xFFL) << (8 * k);
        }
        return v;
    }

    /**
     * Reads the member name whose first byte is {@code b[s]} (its opening quote is {@code b[s-1]}).
     *
     * @return the name's id in the high 32 bits, the index just past its closing quote in the low 32 bits
     * @throws JsonCursor.Malformed when the name is not closed before {@code end}
     */
    static long read(byte[] b, int s, int end) {
        if (s + 8 <= end) {
            long w = ByteSearch.word(b, s);
            int n = ByteSearch.quoteIn(w);
            if (n < 8) {
                if (ByteSearch.backslashIn(w) > n) {
                    return ((long) shortName(w, n) << 32) | (s + n + 1);
                }
            } else if (s + 16 <= end && ByteSearch.backslashIn(w) == 8) {
                long w2 = ByteSearch.word(b, s + 8);
                n = ByteSearch.quoteIn(w2);
                if (n < 8) {
                    if (ByteSearch.backslashIn(w2) > n) {
                        return ((long) mediumName(w, w2, n) << 32) | (s + 8 + n + 1);
                    }
                } else if (s + 24 <= end && ByteSearch.backslashIn(w2) == 8) {
                    long w3 = ByteSearch.word(b, s + 16);
                    n = ByteSearch.quoteIn(w3);
                    if (n == 1 && ByteSearch.backslashIn(w3) > n) {
                        return ((long) longName(w, w2, w3) << 32) | (s + 16 + n + 1);
                    }
                }
            }
        }
        return readSlow(b, s, end);
    }

    /** {@link #read} for a name of 16 bytes or more, with escapes, or near {@code end}. */
    private static long readSlow(byte[] b, int s, int end) {
        int after = JsonSkip.string(b, s, end);
        return ((long) name(b, s, after - 1 - s) << 32) | after;
    }

    /** The id of the 17-byte name made of {@code w}, {@code w2} and the low byte of {@code w3}. */
    private static int longName(long w, long w2, long w3) {
        long v = w3 & 0xFF;
        if (w == W_COMPLETION_TOKENS && w2 == W2_COMPLETION_TOKENS && v == W3_COMPLETION_TOKENS) {
            return COMPLETION_TOKENS;
        }
        return w == W_REASONING_CONTENT && w2 == W2_REASONING_CONTENT && v == W3_REASONING_CONTENT
                ? REASONING_CONTENT : UNKNOWN;
    }

    /** The id of the name of {@code 8 + n} bytes: all of {@code w}, then the low {@code n} (0..7) of {@code w2}. */
    private static int mediumName(long w, long w2, int n) {
        long v = w2 & ((1L << (n << 3)) - 1);
        switch (n) {
            case 0:
                return w == W_RESPONSE ? RESPONSE : w == W_FUNCTION ? FUNCTION : UNKNOWN;
            case 1:
                if (w == W_REASONING && v == W2_REASONING) {
                    return REASONING;
                }
                return w == W_ARGUMENTS && v == W2_ARGUMENTS ? ARGUMENTS : UNKNOWN;
            case 2:
                return w == W_TOOL_CALLS && v == W2_TOOL_CALLS ? TOOL_CALLS : UNKNOWN;
            case 4:
                return w == W_INPUT_TOKENS && v == W2_INPUT_TOKENS ? INPUT_TOKENS : UNKNOWN;
            case 5:
                if (w == W_PROMPT_TOKENS && v == W2_PROMPT_TOKENS) {
                    return PROMPT_TOKENS;
                }
                return w == W_OUTPUT_TOKENS && v == W2_OUTPUT_TOKENS ? OUTPUT_TOKENS : UNKNOWN;
            default:
                return UNKNOWN;
        }
    }

    /** The id of the name made of the low {@code n} (0..7) bytes of {@code w}. */
    static int shortName(long w, int n) {
        long v = w & ((1L << (n << 3)) - 1);
        switch (n) {
            case 4:
                return v == W_TEXT ? TEXT : UNKNOWN;
            case 5:
                if (v == W_USAGE) {
                    return USAGE;
                }
                if (v == W_INDEX) {
                    return INDEX;
                }
                if (v == W_DELTA) {
                    return DELTA;
                }
                return v == W_ERROR ? ERROR : UNKNOWN;
            case 6:
                if (v == W_OBJECT) {
                    return OBJECT;
                }
                return v == W_OUTPUT ? OUTPUT : UNKNOWN;
            case 7:
                if (v == W_CHOICES) {
                    return CHOICES;
                }
                if (v == W_CONTENT) {
                    return CONTENT;
                }
                return v == W_MESSAGE ? MESSAGE : UNKNOWN;
            default:
                return UNKNOWN;
        }
    }

    /** The id of the name in {@code b[s, s+len)} (raw bytes, escapes included). */
    private static int name(byte[] b, int s, int len) {
        if (len < 8) {
            long v = 0;
            for (int k = 0; k < len; k++) {
                v |= (b[s + k] & 0xFFL) << (8 * k);
            }
            return shortName(v, len);
        }
        return switch (len) {
            case 8 -> is(b, s, N_RESPONSE) ? RESPONSE : is(b, s, N_FUNCTION) ? FUNCTION : UNKNOWN;
            case 9 -> is(b, s, N_REASONING) ? REASONING : is(b, s, N_ARGUMENTS) ? ARGUMENTS : UNKNOWN;
            case 10 -> is(b, s, N_TOOL_CALLS) ? TOOL_CALLS : UNKNOWN;
            case 12 -> is(b, s, N_INPUT_TOKENS) ? INPUT_TOKENS : UNKNOWN;
            case 13 -> is(b, s, N_PROMPT_TOKENS) ? PROMPT_TOKENS : is(b, s, N_OUTPUT_TOKENS) ? OUTPUT_TOKENS : UNKNOWN;
            case 17 -> is(b, s, N_COMPLETION_TOKENS) ? COMPLETION_TOKENS
                    : is(b, s, N_REASONING_CONTENT) ? REASONING_CONTENT : UNKNOWN;
            default -> UNKNOWN;
        };
    }

    /** {@code b[s, s+name.length)} holds {@code name} (the rare path: plain bytes, no word reads). */
    private static boolean is(byte[] b, int s, byte[] name) {
        return JsonText.sameBytes(b, s, name.length, name);
    }
}
