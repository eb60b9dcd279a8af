package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.json.ChunkScanner;
import dev.tollgate.metering.json.IncrementalBodyScanner;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Non-streamed JSON bodies larger than the meter buffers (vLLM with {@code logprobs}/{@code top_logprobs}
 * writes tens of MiB) are still metered exactly: the top-level usage is found as the bytes go by, in constant
 * memory, however the body is split, and a {@code "usage"} anywhere else is never taken for it.
 */
class BigJsonBodyTest {

    /** Collects what the scanner appends as delivered text. */
    private static final class Text implements ChunkScanner.TextSink {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        @Override
        public void append(byte[] b, int off, int len) {
            out.write(b, off, len);
        }

        @Override
        public void append(byte b) {
            out.write(b);
        }

        String text() {
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    /**
     * A chat completion with logprobs for every token of {@code words} words, about {@code targetBytes} long.
     * The message content mentions {@code "usage"}, one logprob entry and the choice carry a decoy usage
     * object; the real usage (prompt 17, completion = words) is the last member.
     */
    private static byte[] logprobsBody(int targetBytes, StringBuilder content) {
        StringBuilder lp = new StringBuilder();
        int words = 0;
        while (lp.length() < targetBytes) {
            String tok = " w" + words;
            content.append(tok);
            lp.append(words == 0 ? "" : ",").append("{\"token\":\"").append(tok).append("\",\"logprob\":-0.")
                    .append(words % 1000).append(",\"bytes\":[32,119],\"top_logprobs\":[{\"token\":\"")
                    .append(tok).append("\",\"logprob\":-0.1,\"bytes\":[32]},{\"token\":\"\\\"usage\\\"\",\"logprob\":-9.5e-3,"
                    + "\"bytes\":[34]}]");
            if (words == 7) {
                lp.append(",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}");
            }
            lp.append('}');
            words++;
        }
        content.append(" and \"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4} in text");
        String body = "{\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
                + content.toString().replace("\"", "\\\"") + "\"},"
                + "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2},"
                + "\"logprobs\":{\"content\":[" + lp + "]},\"finish_reason\":\"length\"}],"
                + "\"usage\":{\"prompt_tokens\":17,\"total_tokens\":" + (17 + words) + ",\"completion_tokens\":" + words
                + "}}";
        return body.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void twentyMebibyteLogprobsBodyIsMeteredFromItsUsage() {
        StringBuilder content = new StringBuilder();
        byte[] body = logprobsBody(20 << 20, content);
        assertTrue(body.length > 20 << 20);
        String tail = new String(body, body.length - 80, 80, StandardCharsets.UTF_8);
        long words = Long.parseLong(tail.substring(tail.lastIndexOf(':') + 1, tail.length() - 2));
        Random rnd = new Random(42);
        int[] cuts = new int[400];
        int at = 0;
        for (int i = 0; i < cuts.length; i++) {
            at += 1 + rnd.nextInt(2 * body.length / cuts.length - 1);
            cuts[i] = Math.min(at, body.length - 1);
        }
        java.util.Arrays.sort(cuts);
        MeterRun r = new MeterRun(Route.CHAT_COMPLETIONS, false, false, false).feed(body, cuts);
        assertEquals(17, r.meter.upstreamPromptTokens());
        assertEquals(words, r.meter.upstreamCompletionTokens(), "the usage at the end, not a decoy");
        assertFalse(r.meter.sawError());
        TokenEstimator tokens = TokenEstimator.standard();
        assertEquals(tokens.countUtf8(content.toString().getBytes(StandardCharsets.UTF_8), 0,
                content.toString().getBytes(StandardCharsets.UTF_8).length), r.meter.estimateCompletionTokens(tokens),
                "the estimation text is the message content, unescaped");
    }

    /** A small body with every kind of boundary: escapes, a surrogate pair, decoys, whitespace between tokens. */
    private static final String SMALL = "{ \"id\" : \"c\\\"1\" ,\n\t\"choices\" : [ {\"index\":0,\"message\":{\"role\":"
            + "\"assistant\",\"content\":\"a\\\"usage\\\"\\\\ \\u00e9\\ud83d\\ude00\\n\\u4e2d\\/x\",\"reasoning_content\":"
            + "null},\"text\":\"t\\tz\",\"logprobs\":{\"usage\":{\"prompt_tokens\":99,\"completion_tokens\":99}}} ,"
            + " {\"index\":1,\"message\":{\"content\":\"second\"}} ] , \"us\\u0061ge\" : {\"prompt_tokens\":55},"
            + " \"usage\" : { \"prompt_tokens\" : 12 , \"completion_tokens\" : 8 , \"note\" : \"}\\\"{\" } }\n";
    private static final String SMALL_TEXT = "a\"usage\"\\ \u00e9\ud83d\ude00\n\u4e2d/xt\tzsecond";

    private static IncrementalBodyScanner scan(byte[] b, Text text, int... cuts) {
        IncrementalBodyScanner s = new IncrementalBodyScanner();
        int from = 0;
        for (int cut : cuts) {
            s.feed(java.util.Arrays.copyOfRange(b, from, cut), 0, cut - from, text);
            from = cut;
        }
        s.feed(java.util.Arrays.copyOfRange(b, from, b.length), 0, b.length - from, text);
        s.finish();
        return s;
    }

    @Test
    void everySplitPointGivesTheSameUsageAndText() {
        byte[] b = SMALL.getBytes(StandardCharsets.UTF_8);
        for (int cut = 0; cut <= b.length; cut++) {
            for (int second : new int[] {cut, Math.min(b.length, cut + 1), Math.min(b.length, cut + 5)}) {
                Text text = new Text();
                IncrementalBodyScanner s = scan(b, text, cut, second);
                String where = "cut at " + cut + "/" + second;
                assertTrue(s.complete(), where);
                assertEquals(12, s.promptTokens(), where);
                assertEquals(8, s.completionTokens(), where);
                assertEquals(SMALL_TEXT, text.text(), where);
            }
        }
    }

    @Test
    void oneByteAtATime() {
        byte[] b = SMALL.getBytes(StandardCharsets.UTF_8);
        int[] cuts = new int[b.length - 1];
        for (int i = 0; i < cuts.length; i++) {
            cuts[i] = i + 1;
        }
        Text text = new Text();
        IncrementalBodyScanner s = scan(b, text, cuts);
        assertEquals(12, s.promptTokens());
        assertEquals(8, s.completionTokens());
        assertEquals(SMALL_TEXT, text.text());
    }

    @Test
    void theSmallBodyScannedWholeGivesTheSameAnswer() {
        byte[] b = SMALL.getBytes(StandardCharsets.UTF_8);
        ChunkScanner whole = new ChunkScanner();
        assertTrue(whole.scan(b, 0, b.length, null));
        assertEquals(12, whole.promptTokens());
        assertEquals(8, whole.completionTokens());
    }

    @Test
    void usageOnlyInsideContentIsNotUsage() {
        String body = "{\"choices\":[{\"message\":{\"content\":\"{\\\"usage\\\":{\\\"prompt_tokens\\\":5,"
                + "\\\"completion_tokens\\\":6}}\"}}],\"model\":\"usage\"}";
        IncrementalBodyScanner s = scan(body.getBytes(StandardCharsets.UTF_8), new Text(), 10, 40);
        assertTrue(s.complete());
        assertFalse(s.hasUsage());
        assertEquals(-1, s.completionTokens());
    }

    @Test
    void aBodyCutShortHasNoUsage() {
        byte[] b = SMALL.getBytes(StandardCharsets.UTF_8);
        byte[] cut = java.util.Arrays.copyOf(b, SMALL.lastIndexOf('}'));
        IncrementalBodyScanner s = scan(cut, new Text(), 100);
        assertFalse(s.complete());
        assertFalse(s.hasUsage());
    }

    @Test
    void mismatchedBracketsAndDeepNestingAreMalformedNeverAnException() {
        for (String body : new String[] {"{\"a\":[}", "[1,2]", "{\"a\":1}}", "{\"a\":1} x", "\"usage\"",
                "{" + "\"a\":[".repeat(100) + "]".repeat(100) + ",\"usage\":{\"prompt_tokens\":1}}"}) {
            IncrementalBodyScanner s = scan(body.getBytes(StandardCharsets.UTF_8), new Text(), 1);
            assertFalse(s.complete(), body);
            assertFalse(s.hasUsage(), body);
        }
    }

    @Test
    void countsThatAreNotPlainIntegersAreAbsentInBigBodiesToo() {
        String body = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
                + "\"usage\":{\"prompt_tokens\":\"12\",\"completion_tokens\":1e3}}";
        IncrementalBodyScanner s = scan(body.getBytes(StandardCharsets.UTF_8), new Text(), 3);
        assertTrue(s.complete());
        assertFalse(s.hasUsage());
    }

    @Test
    void topLevelErrorIsSeenAndNullErrorIsNot() {
        assertTrue(scan("{\"error\":{\"message\":\"x\"}}".getBytes(StandardCharsets.UTF_8), new Text(), 4).error());
        assertTrue(scan("{\"object\":\"error\",\"message\":\"x\"}".getBytes(StandardCharsets.UTF_8), new Text(), 13)
                .error());
        assertFalse(scan("{\"error\":null,\"choices\":[{\"error\":1}]}".getBytes(StandardCharsets.UTF_8), new Text(), 9)
                .error());
    }

    @Test
    void aBodyJustOverTheBufferSwitchesToScanningWithoutLosingTheStart() {
        StringBuilder content = new StringBuilder();
        byte[] body = logprobsBody(StreamMeter.MAX_JSON_BODY, content);
        MeterRun r = new MeterRun(Route.CHAT_COMPLETIONS, false, false, false)
                .feed(body, StreamMeter.MAX_JSON_BODY - 3, StreamMeter.MAX_JSON_BODY + 10);
        assertEquals(17, r.meter.upstreamPromptTokens());
        assertTrue(r.meter.upstreamCompletionTokens() > 1000);
        MeterRun limited = new MeterRun(Route.CHAT_COMPLETIONS, false, false, false);
        limited.meter.limitCompletionTokens(10);
        limited.feed(body, 5000);
        assertEquals(-1, limited.meter.upstreamCompletionTokens(), "the ceiling applies to big bodies too");
    }
}
