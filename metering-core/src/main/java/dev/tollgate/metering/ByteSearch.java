package dev.tollgate.metering;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Finds bytes eight at a time (SWAR: a word's bytes compared at once with integer arithmetic), for the scans
 * the metering hot path spends its time in: line ends in SSE, quotes, escapes and brackets in JSON.
 *
 * <p>Each mask below flags the bytes of a word that match; only its lowest flag is exact (a borrow can flag a
 * byte above a real match), so every search takes the lowest flag and checks nothing above it.
 *
 * <p>Threading: stateless.
 */
public final class ByteSearch {
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;
    /** Every byte 0x0E: bytes below it are the C0 controls up to CR, which include LF and CR. */
    private static final long BELOW_SO = 0x0E * ONES;
    private static final long QUOTE = '"' * ONES;
    private static final long BACKSLASH = '\\' * ONES;
    /** OR-ing 0x20 turns '[' into '{' and ']' into '}' and no other byte into either. */
    private static final long CASE_BIT = 0x20 * ONES;
    private static final long OPEN_BRACE = '{' * ONES;
    private static final long CLOSE_BRACE = '}' * ONES;

    private ByteSearch() {
    }

    /** High bit set in each byte of {@code v} that is zero (exact for the lowest such byte). */
    private static long zeros(long v) {
        return (v - ONES) & ~v & HIGHS;
    }

    /** The word of eight bytes at {@code b[i]} (little-endian: {@code b[i]} is the low byte). */
    public static long word(byte[] b, int i) {
        return (long) LONGS.get(b, i);
    }

    /** Index (0..7) of the lowest byte of {@code w} equal to {@code "}, or 8 when none is. */
    public static int quoteIn(long w) {
        return Long.numberOfTrailingZeros(zeros(w ^ QUOTE)) >>> 3;
    }

    /** Index (0..7) of the lowest byte of {@code w} equal to {@code \}, or 8 when none is. */
    public static int backslashIn(long w) {
        return Long.numberOfTrailingZeros(zeros(w ^ BACKSLASH)) >>> 3;
    }

    /** Index of the first {@code \n} or {@code \r} in {@code b[from, to)}, or {@code to}. */
    public static int lineEnd(byte[] b, int from, int to) {
        int i = from;
        // Sixteen bytes a round while far from the end: one branch for both words.
        while (i + 16 <= to) {
            long w = (long) LONGS.get(b, i);
            long m = (w - BELOW_SO) & ~w & HIGHS;
            long w2 = (long) LONGS.get(b, i + 8);
            long m2 = (w2 - BELOW_SO) & ~w2 & HIGHS;
            if ((m | m2) == 0) {
                i += 16;
                continue;
            }
            int k = m != 0 ? i + (Long.numberOfTrailingZeros(m) >>> 3) : i + 8 + (Long.numberOfTrailingZeros(m2) >>> 3);
            if (b[k] == '\n' || b[k] == '\r') {
                return k;
            }
            i = k + 1;
        }
        while (i + 8 <= to) {
            long w = (long) LONGS.get(b, i);
            // One test for both: bytes below 0x0E. A tab or other control byte is a false hit, checked here.
            long m = (w - BELOW_SO) & ~w & HIGHS;
            if (m == 0) {
                i += 8;
                continue;
            }
            int k = i + (Long.numberOfTrailingZeros(m) >>> 3);
            if (b[k] == '\n' || b[k] == '\r') {
                return k;
            }
            i = k + 1;
        }
        while (i < to && b[i] != '\n' && b[i] != '\r') {
            i++;
        }
        return i;
    }

    /** Index of the first {@code "} or {@code \} in {@code b[from, to)}, or {@code to}. */
    public static int quoteOrEscape(byte[] b, int from, int to) {
        int i = from;
        while (i + 8 <= to) {
            long w = (long) LONGS.get(b, i);
            long m = zeros(w ^ QUOTE) | zeros(w ^ BACKSLASH);
            if (m != 0) {
                return i + (Long.numberOfTrailingZeros(m) >>> 3);
            }
            i += 8;
        }
        while (i < to && b[i] != '"' && b[i] != '\\') {
            i++;
        }
        return i;
    }

    /** Index of the first {@code "} in {@code b[from, to)}, or {@code to}. */
    public static int quote(byte[] b, int from, int to) {
        int i = from;
        while (i + 8 <= to) {
            long m = zeros((long) LONGS.get(b, i) ^ QUOTE);
            if (m != 0) {
                return i + (Long.numberOfTrailingZeros(m) >>> 3);
            }
            i += 8;
        }
        while (i < to && b[i] != '"') {
            i++;
        }
        return i;
    }

    /** Index of the first {@code "}, {@code [}, {@code ]}, <code>{</code> or <code>}</code> in {@code b[from, to)}, or {@code to}. */
    public static int quoteOrBracket(byte[] b, int from, int to) {
        int i = from;
        while (i + 8 <= to) {
            long w = (long) LONGS.get(b, i);
            long y = w | CASE_BIT;
            long m = zeros(w ^ QUOTE) | zeros(y ^ OPEN_BRACE) | zeros(y ^ CLOSE_BRACE);
            if (m != 0) {
                return i + (Long.numberOfTrailingZeros(m) >>> 3);
            }
            i += 8;
        }
        while (i < to) {
            byte c = b[i];
            if (c == '"' || c == '[' || c == ']' || c == '{' || c == '}') {
                return i;
            }
            i++;
        }
        return i;
    }
}
