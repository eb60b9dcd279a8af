package dev.tollgate.metering;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Finds one of two bytes eight bytes at a time (SWAR: a word's bytes compared at once with integer arithmetic),
 * for the scans the metering hot path spends its time in: line ends in SSE, quotes and escapes in JSON strings.
 *
 * <p>Threading: stateless.
 */
public final class ByteSearch {
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;
    private static final long NL = '\n' * ONES;
    private static final long CR = '\r' * ONES;
    private static final long QUOTE = '"' * ONES;
    private static final long BACKSLASH = '\\' * ONES;

    private ByteSearch() {
    }

    /** High bit set in each byte of {@code v} that is zero (exact for the lowest such byte). */
    private static long zeros(long v) {
        return (v - ONES) & ~v & HIGHS;
    }

    private static int first(byte[] b, int from, int to, long p, long q, byte x, byte y) {
        int i = from;
        while (i + 8 <= to) {
            long w = (long) LONGS.get(b, i);
            long m = zeros(w ^ p) | zeros(w ^ q);
            if (m != 0) {
                return i + (Long.numberOfTrailingZeros(m) >>> 3);
            }
            i += 8;
        }
        while (i < to && b[i] != x && b[i] != y) {
            i++;
        }
        return i;
    }

    /** Index of the first {@code \n} or {@code \r} in {@code b[from, to)}, or {@code to}. */
    public static int lineEnd(byte[] b, int from, int to) {
        return first(b, from, to, NL, CR, (byte) '\n', (byte) '\r');
    }

    /** Index of the first {@code "} or {@code \} in {@code b[from, to)}, or {@code to}. */
    public static int quoteOrEscape(byte[] b, int from, int to) {
        return first(b, from, to, QUOTE, BACKSLASH, (byte) '"', (byte) '\\');
    }
}
