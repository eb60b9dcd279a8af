package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The word-at-a-time searches find exactly what a byte-by-byte scan finds, at every offset and length. */
class ByteSearchTest {
    private static int naive(byte[] b, int from, int to, byte x, byte y) {
        int i = from;
        while (i < to && b[i] != x && b[i] != y) {
            i++;
        }
        return i;
    }

    @Test
    void agreesWithAByteByByteScan() {
        Random r = new Random(7);
        byte[] alphabet = {'a', '\n', '\r', '"', '\\', (byte) 0x80, (byte) 0xff, 0, 0x0a - 1, 0x0d + 1, '"' + 1,
            '[', ']', '{', '}', '|', 0x0b, 0x0c, 0x01, 0x0d - 1, (byte) ('[' | 0x80), (byte) ('}' | 0x80)};
        for (int round = 0; round < 20_000; round++) {
            byte[] b = new byte[r.nextInt(40)];
            for (int k = 0; k < b.length; k++) {
                b[k] = r.nextInt(4) == 0 ? alphabet[r.nextInt(alphabet.length)] : (byte) r.nextInt(256);
            }
            int from = b.length == 0 ? 0 : r.nextInt(b.length + 1);
            int to = from + (b.length - from == 0 ? 0 : r.nextInt(b.length - from + 1));
            assertEquals(naive(b, from, to, (byte) '\n', (byte) '\r'), ByteSearch.lineEnd(b, from, to));
            assertEquals(naive(b, from, to, (byte) '"', (byte) '\\'), ByteSearch.quoteOrEscape(b, from, to));
            assertEquals(naive(b, from, to, (byte) '"', (byte) '"'), ByteSearch.quote(b, from, to));
            assertEquals(Math.min(naive(b, from, to, (byte) '"', (byte) '['),
                    Math.min(naive(b, from, to, (byte) ']', (byte) '{'), naive(b, from, to, (byte) '}', (byte) '}'))),
                    ByteSearch.quoteOrBracket(b, from, to));
        }
    }
}
