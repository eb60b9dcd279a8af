package dev.tollgate.metering.sse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The parser reports the same events (payload, type, positions) however a stream is cut into reads, including
 * a data line carried across reads that is taken as the event's data without a copy, and more data lines after
 * it.
 */
class SseEventParserTest {
    private static List<String> parse(SseEventParser p, byte[] s, int... cuts) {
        List<String> events = new ArrayList<>();
        SseListener l = new SseListener() {
            @Override
            public void onEvent(byte[] data, int off, int len, String type, long start, long end, long payloadStart) {
                events.add(type + "|" + new String(data, off, len, StandardCharsets.UTF_8) + "|" + start + "|" + end
                        + "|" + payloadStart);
            }

            @Override
            public void onOversizedEvent(long start, long end) {
                events.add("oversized|" + start + "|" + end);
            }
        };
        p.reset();
        int from = 0;
        for (int cut : cuts) {
            // A fresh array per read, overwritten after it, as a network buffer would be.
            byte[] piece = Arrays.copyOfRange(s, from, cut);
            p.feed(piece, 0, piece.length, l);
            Arrays.fill(piece, (byte) '#');
            from = cut;
        }
        byte[] piece = Arrays.copyOfRange(s, from, s.length);
        p.feed(piece, 0, piece.length, l);
        return events;
    }

    private static final String STREAM = "data: {\"a\":1}\n\n"
            + ": comment\nevent: delta\ndata: first line\ndata: second\n\n"
            + "data: x\r\ndata: y\r\n\r\n"
            + "id: 7\ndata:no-space\rdata: z\r\r"
            + "data: " + "w".repeat(70) + "\ndata: tail\n\n"
            + "data: [DONE]\n\n";

    /** The events of {@link #STREAM}, worked out by hand from its text. */
    private static final List<String> EXPECTED = List.of(
            "null|{\"a\":1}|0|15|6",
            "delta|first line\nsecond|15|69|-1",
            "null|x\ny|69|89|-1",
            "null|no-space\nz|89|118|-1",
            "null|" + "w".repeat(70) + "\ntail|118|207|-1",
            "null|[DONE]|207|221|213");

    @Test
    void wholeStreamGivesTheHandWorkedEvents() {
        byte[] s = STREAM.getBytes(StandardCharsets.US_ASCII);
        assertEquals(221, s.length);
        assertEquals(EXPECTED, parse(new SseEventParser(), s));
    }

    @Test
    void everyPairOfCutsGivesTheSameEvents() {
        byte[] s = STREAM.getBytes(StandardCharsets.US_ASCII);
        SseEventParser p = new SseEventParser();
        for (int a = 1; a < s.length; a++) {
            assertEquals(EXPECTED, parse(p, s, a), "cut " + a);
            for (int b = a + 1; b < s.length; b += 3) {
                assertEquals(EXPECTED, parse(p, s, a, b), "cuts " + a + ", " + b);
            }
        }
    }

    @Test
    void eventsUpToTheSizeLimitAreReportedAndLargerOnesSkippedWhereverCut() {
        SseEventParser p = new SseEventParser(64);
        // A 64-byte line fits whether it is carried across reads or not; a 65-byte payload never does.
        String fits = "data: " + "f".repeat(58) + "\n\n";
        String over = "data: " + "o".repeat(65) + "\n\n";
        // Two data lines whose joined payload (61 bytes) fits, though the first line with its field name does
        // not leave room for the second.
        String two = "data: " + "a".repeat(40) + "\ndata: " + "b".repeat(20) + "\n\n";
        byte[] s = (fits + over + two + "data: ok\n\n").getBytes(StandardCharsets.US_ASCII);
        List<String> expected = List.of("null|" + "f".repeat(58) + "|0|66|6", "oversized|66|139",
                "null|" + "a".repeat(40) + "\n" + "b".repeat(20) + "|139|214|-1", "null|ok|214|224|220");
        for (int a = 1; a < s.length; a++) {
            assertEquals(expected, parse(p, s, a), "cut " + a);
        }
    }
}
