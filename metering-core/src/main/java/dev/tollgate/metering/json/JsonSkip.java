package dev.tollgate.metering.json;

import dev.tollgate.metering.ByteSearch;

/**
 * Jumps over JSON that metering does not read, eight bytes at a time, without tokenising it:
 * <ul>
 *   <li>a string: the next quote that is not escaped, found with a one-byte SWAR search; a quote is escaped when
 *       an odd run of backslashes precedes it (what reading {@code \x} pairs from the left decides, too);</li>
 *   <li>an object or array: quotes and brackets only, found with one SWAR search; strings inside are jumped as
 *       above, so that brackets inside them do not count; every bracket must close the kind it opened
 *       ({@code {} with }} and {@code [} with {@code ]}), and nesting deeper than {@link JsonCursor#MAX_DEPTH}
 *       is refused.</li>
 * </ul>
 * A skipped container is checked for balance, not for the whole JSON grammar: a missing colon or comma between
 * brackets inside a member metering ignores is not noticed. Its end is found exactly for any well-formed input.
 *
 * <p>Threading: stateless.
 */
final class JsonSkip {
    private JsonSkip() {
    }

    /**
     * Skips a string whose first content byte is {@code b[from]} (its opening quote is {@code b[from-1]}).
     *
     * @return the index just past the closing quote
     * @throws JsonCursor.Malformed when the string is not closed before {@code end}
     */
    static int string(byte[] b, int from, int end) {
        int i = from;
        while (true) {
            int q = ByteSearch.quote(b, i, end);
            if (q >= end) {
                throw JsonCursor.Malformed.INSTANCE;
            }
            if (b[q - 1] != '\\') {
                return q + 1;
            }
            // The run of backslashes stops at the opening quote at the latest.
            int k = q - 2;
            while (b[k] == '\\') {
                k--;
            }
            if (((q - 1 - k) & 1) == 0) {
                return q + 1;
            }
            i = q + 1;
        }
    }

    /**
     * Skips the object or array opening at {@code b[from]}, a value at nesting {@code depth}.
     *
     * @return the index just past its closing bracket
     * @throws JsonCursor.Malformed when it does not close before {@code end}, closes with the wrong kind of
     *                              bracket, or nests past {@link JsonCursor#MAX_DEPTH}
     */
    static int container(byte[] b, int from, int end, int depth) {
        if (depth >= JsonCursor.MAX_DEPTH) {
            throw JsonCursor.Malformed.INSTANCE;
        }
        // Bit r set: the container open at relative level r is an array. r stays below 64.
        long arrays = b[from] == '[' ? 1L : 0L;
        int r = 0;
        int i = from + 1;
        while (true) {
            i = ByteSearch.quoteOrBracket(b, i, end);
            if (i >= end) {
                throw JsonCursor.Malformed.INSTANCE;
            }
            byte c = b[i++];
            if (c == '"') {
                i = string(b, i, end);
            } else if (c == '{' || c == '[') {
                r++;
                if (depth + r >= JsonCursor.MAX_DEPTH) {
                    throw JsonCursor.Malformed.INSTANCE;
                }
                arrays = c == '[' ? arrays | (1L << r) : arrays & ~(1L << r);
            } else {
                boolean array = ((arrays >>> r) & 1L) != 0;
                if ((c == ']') != array) {
                    throw JsonCursor.Malformed.INSTANCE;
                }
                if (r == 0) {
                    return i;
                }
                r--;
            }
        }
    }
}
