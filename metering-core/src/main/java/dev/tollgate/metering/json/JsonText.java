package dev.tollgate.metering.json;

import java.nio.charset.StandardCharsets;

/**
 * The byte-level rules for JSON string contents that {@link ChunkScanner} (a whole payload) and
 * {@link IncrementalBodyScanner} (a body in pieces) both follow, so that both deliver the same text and match the
 * same names: the one-letter escapes, a surrogate pair's code point, UTF-8 encoding of an escaped code point, and
 * comparing a member name's bytes with a known name. Nothing here allocates.
 *
 * <p>Threading: stateless.
 */
final class JsonText {
    /** What {@link #simpleEscape} returns for a byte that is not a one-letter escape ({@code u} included). */
    static final int NOT_SIMPLE = -1;

    private JsonText() {
    }

    /** ASCII bytes of a member name or value to compare with. */
    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** The byte that {@code \c} stands for ({@code \" \\ \/ \b \f \n \r \t}), or {@link #NOT_SIMPLE}. */
    static int simpleEscape(byte c) {
        return switch (c) {
            case '"', '\\', '/' -> c;
            case 'b' -> '\b';
            case 'f' -> '\f';
            case 'n' -> '\n';
            case 'r' -> '\r';
            case 't' -> '\t';
            default -> NOT_SIMPLE;
        };
    }

    /** The code point of the surrogate pair {@code high} (U+D800..DBFF), {@code low} (U+DC00..DFFF). */
    static int surrogatePair(int high, int low) {
        return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    }

    /** Appends code point {@code cp} to {@code sink} as UTF-8 (one to four bytes). */
    static void appendUtf8(ChunkScanner.TextSink sink, int cp) {
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

    /** {@code b[from, from+len)} holds exactly the bytes of {@code name}. */
    static boolean sameBytes(byte[] b, int from, int len, byte[] name) {
        if (len != name.length) {
            return false;
        }
        for (int k = 0; k < len; k++) {
            if (b[from + k] != name[k]) {
                return false;
            }
        }
        return true;
    }
}
