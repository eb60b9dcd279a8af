package dev.tollgate.metering.json;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The skips find exactly where a value ends, and refuse what cannot be skipped safely. */
class JsonSkipTest {
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Where a string ends, read the way the JSON grammar reads it: escapes in pairs from the left. */
    private static int referenceStringEnd(byte[] b, int from) {
        int i = from;
        while (b[i] != '"') {
            i += b[i] == '\\' ? 2 : 1;
        }
        return i + 1;
    }

    @Test
    void aStringEndsAtTheFirstQuoteAfterAnEvenRunOfBackslashes() {
        for (int run = 0; run <= 9; run++) {
            for (int before = 0; before <= 17; before++) {
                // before filler bytes, then run backslashes, then a quote, then "tail" and a final closing quote.
                String body = "x".repeat(before) + "\\".repeat(run) + "\"tail\\\\\"";
                byte[] b = utf8("\"" + body + ",\"next\":1}");
                int expected = referenceStringEnd(b, 1);
                assertEquals(expected, JsonSkip.string(b, 1, b.length), "run " + run + " after " + before);
            }
        }
    }

    @Test
    void anUnclosedStringIsMalformed() {
        for (String s : new String[] {"\"abc", "\"abc\\\"", "\"abc\\", "\"" + "y".repeat(40) + "\\\""}) {
            byte[] b = utf8(s);
            assertThrows(JsonCursor.Malformed.class, () -> JsonSkip.string(b, 1, b.length), s);
        }
    }

    @Test
    void bracketsAndQuotesInsideStringsDoNotCount() {
        String v = "{\"a\":\"}]\\\"{[\",\"b\":[\"]\",\"\\\\\",{\"c\":\"\\u005c\"}],\"d\":\"\\\\\\\"}\"}";
        byte[] b = utf8(v + "],\"usage\":{}}");
        assertEquals(v.length(), JsonSkip.container(b, 0, b.length, 1));
    }

    @Test
    void randomValuesAreSkippedToTheirExactEndAndNeverPastTheirEnd() {
        RandomJson gen = new RandomJson(9);
        for (int round = 0; round < 20_000; round++) {
            String v = round % 2 == 0 ? gen.object(4) : gen.array(4);
            byte[] value = utf8(v);
            byte[] b = utf8(v + ",\"usage\":{\"prompt_tokens\":1}}");
            assertEquals(value.length, JsonSkip.container(b, 0, b.length, 1), v);
            // Cut anywhere before its closing bracket, the value never ends.
            int cut = gen.nextInt(value.length);
            assertThrows(JsonCursor.Malformed.class, () -> JsonSkip.container(b, 0, cut, 1), v + " cut at " + cut);
        }
    }

    @Test
    void aBracketClosingTheWrongKindIsMalformed() {
        for (String s : new String[] {"{]", "[}", "{\"a\":[}]", "[{]}", "[[]]]", "{\"a\":{}}}"}) {
            byte[] b = utf8(s);
            if (s.equals("[[]]]") || s.equals("{\"a\":{}}}")) {
                // Balanced up to its end: the stray bracket after it is the caller's to refuse.
                assertEquals(s.length() - 1, JsonSkip.container(b, 0, b.length, 1), s);
            } else {
                assertThrows(JsonCursor.Malformed.class, () -> JsonSkip.container(b, 0, b.length, 1), s);
            }
        }
    }

    @Test
    void nestingPastTheLimitIsMalformedAndBelowItIsNot() {
        String ok = "[".repeat(62) + "1" + "]".repeat(62);
        assertEquals(ok.length(), JsonSkip.container(utf8(ok), 0, ok.length(), 1));
        String deep = "[".repeat(100) + "]".repeat(100);
        assertThrows(JsonCursor.Malformed.class, () -> JsonSkip.container(utf8(deep), 0, deep.length(), 1));
        String deepObjects = "{\"a\":".repeat(100) + "1" + "}".repeat(100);
        assertThrows(JsonCursor.Malformed.class,
                () -> JsonSkip.container(utf8(deepObjects), 0, deepObjects.length(), 1));
    }
}
