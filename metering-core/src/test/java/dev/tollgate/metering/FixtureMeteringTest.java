package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.tokens.TokenEstimator;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every golden fixture is metered with its documented counts, however the bytes are split. */
class FixtureMeteringTest {
    private static final TokenEstimator TOKENS = TokenEstimator.standard();

    private static MeterRun stream(String name, boolean wantsUsage, boolean continuous, int... cuts) {
        return new MeterRun(Route.CHAT_COMPLETIONS, wantsUsage, continuous, true).feed(Fixtures.bytes(name), cuts);
    }

    private static int nonEmptyChoiceEvents(byte[] body) {
        int n = 0;
        for (String ev : new String(body, StandardCharsets.UTF_8).split("\n\n")) {
            if (ev.startsWith("data: {") && !ev.contains("\"choices\":[]") && ev.contains("\"choices\":[{")) {
                n++;
            }
        }
        return n;
    }

    @Test
    void s01ContinuousUsageStreamCountsTwelveAndEight() {
        byte[] body = Fixtures.bytes("synthesized/s01_chat_stream_n1_include_usage_continuous.sse");
        assertEquals(5, nonEmptyChoiceEvents(body), "the fixture's own documented chunk count");
        MeterRun r = stream("synthesized/s01_chat_stream_n1_include_usage_continuous.sse", true, true);
        assertEquals(12, r.meter.upstreamPromptTokens());
        assertEquals(8, r.meter.upstreamCompletionTokens());
        assertEquals(1, r.meter.firstTokenNanos(), "TTFT at the first chunk with choices");
        assertTrue(r.meter.sawDone());
        assertFalse(r.meter.sawError());
        assertArrayEquals(body, r.delivered.toByteArray(), "a client that asked for everything gets everything");
    }

    @Test
    void s03CompletionsStreamCountsFiveAndThree() {
        MeterRun r = new MeterRun(Route.COMPLETIONS, true, false, true)
                .feed(Fixtures.bytes("synthesized/s03_completions_stream_include_usage.sse"));
        assertEquals(5, r.meter.upstreamPromptTokens());
        assertEquals(3, r.meter.upstreamCompletionTokens());
        assertTrue(r.meter.sawDone());
    }

    @Test
    void s04MidStreamErrorHasNoUsageAndIsEstimated() {
        MeterRun r = stream("synthesized/s04_chat_stream_midstream_error_new_format.sse", false, false);
        assertFalse(r.meter.hasUpstreamUsage());
        assertEquals(-1, r.meter.upstreamCompletionTokens());
        assertTrue(r.meter.sawError());
        assertTrue(r.meter.sawDone());
        assertTrue(r.meter.estimateCompletionTokens(TOKENS) > 0);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "verbatim/v01_vllm-0.5.x_chat_stream_truncated.sse",
        "verbatim/v02_vllm-0.9-0.15_chat_stream_truncated.sse",
        "verbatim/v03_vllm-0.21_chat_reasoning_stream_truncated.sse"})
    void truncatedRealStreamsParseWithTextButNoUsage(String name) {
        MeterRun r = stream(name, false, false);
        assertFalse(r.meter.hasUpstreamUsage());
        assertFalse(r.meter.sawError());
        assertTrue(r.meter.firstTokenNanos() > 0);
        assertTrue(r.meter.estimateCompletionTokens(TOKENS) > 0, "delivered text (content or reasoning) is kept");
        assertArrayEquals(Fixtures.bytes(name), r.delivered.toByteArray());
    }

    @Test
    void v04ContinuousUsageGivesTheLastCumulativeValues() {
        MeterRun r = stream("verbatim/v04_vllm-omni_chat_stream_continuous_usage_truncated.sse", false, false);
        assertEquals(15, r.meter.upstreamPromptTokens());
        assertEquals(1, r.meter.upstreamCompletionTokens());
        assertFalse(r.deliveredText().contains("\"usage\""), "usage is cut out for a client that did not ask");
        assertTrue(r.deliveredText().contains("\"modality\":\"text\""), "everything else is kept");
    }

    @Test
    void s07NonStreamBodyUsage() {
        MeterRun r = new MeterRun(Route.CHAT_COMPLETIONS, false, false, false)
                .feed(Fixtures.bytes("synthesized/s07_chat_completion_nonstream.json"), 100, 101, 500);
        assertEquals(12, r.meter.upstreamPromptTokens());
        assertEquals(8, r.meter.upstreamCompletionTokens());
        assertFalse(r.meter.sawError());
        assertTrue(r.meter.estimateCompletionTokens(TOKENS) >= 5, "message text kept for estimation");
    }

    @Test
    void s08aEmbeddingsUsage() {
        MeterRun r = new MeterRun(Route.EMBEDDINGS, false, false, false)
                .feed(Fixtures.bytes("synthesized/s08a_embeddings_response.json"));
        assertEquals(7, r.meter.upstreamPromptTokens());
        assertEquals(0, r.meter.upstreamCompletionTokens());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "verbatim/v05a_error_flat_pre-0.10.1_http400.json",
        "verbatim/v05b_error_nested_0.10.1plus_http400.json",
        "verbatim/v05c_error_nested_0.16plus_oversized_prompt_http400.json",
        "verbatim/v05d_error_nested_0.16plus_prompt_plus_max_tokens_http400.json"})
    void errorBodiesInBothEnvelopesAreErrors(String name) {
        MeterRun r = new MeterRun(Route.CHAT_COMPLETIONS, false, false, false).feed(Fixtures.bytes(name));
        assertTrue(r.meter.sawError());
        assertFalse(r.meter.hasUpstreamUsage());
    }

    @Test
    void s06RunPodFramingGivesTheSameCountsAsS01() {
        String json = new String(Fixtures.bytes("synthesized/s06_runpod_worker_yield_framing.json"), StandardCharsets.UTF_8);
        for (String key : new String[] {"new_worker_iter_any_yields_example", "old_worker_batched_yields_1_3_9"}) {
            List<String> pieces = stringArray(json, key);
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            List<Integer> cuts = new ArrayList<>();
            for (String p : pieces) {
                all.writeBytes(p.getBytes(StandardCharsets.UTF_8));
                cuts.add(all.size());
            }
            cuts.remove(cuts.size() - 1);
            MeterRun r = new MeterRun(Route.CHAT_COMPLETIONS, true, true, true)
                    .feed(all.toByteArray(), cuts.stream().mapToInt(Integer::intValue).toArray());
            assertEquals(12, r.meter.upstreamPromptTokens(), key);
            assertEquals(8, r.meter.upstreamCompletionTokens(), key);
            assertTrue(r.meter.sawDone(), key);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "synthesized/s01_chat_stream_n1_include_usage_continuous.sse",
        "synthesized/s03_completions_stream_include_usage.sse",
        "synthesized/s04_chat_stream_midstream_error_new_format.sse",
        "verbatim/v03_vllm-0.21_chat_reasoning_stream_truncated.sse",
        "verbatim/v04_vllm-omni_chat_stream_continuous_usage_truncated.sse"})
    void anySplitGivesTheSameResult(String name) {
        byte[] body = Fixtures.bytes(name);
        for (boolean crlf : new boolean[] {false, true}) {
            byte[] b = crlf ? new String(body, StandardCharsets.UTF_8).replace("\n", "\r\n")
                    .getBytes(StandardCharsets.UTF_8) : body;
            MeterRun whole = new MeterRun(Route.CHAT_COMPLETIONS, false, false, true).feed(b);
            for (int cut = 1; cut < b.length; cut++) {
                assertSame(whole, new MeterRun(Route.CHAT_COMPLETIONS, false, false, true).feed(b, cut), name + " @" + cut);
            }
            Random rnd = new Random(42);
            for (int round = 0; round < 50; round++) {
                List<Integer> cuts = new ArrayList<>();
                int at = 0;
                while ((at += 1 + rnd.nextInt(40)) < b.length) {
                    cuts.add(at);
                }
                assertSame(whole, new MeterRun(Route.CHAT_COMPLETIONS, false, false, true)
                        .feed(b, cuts.stream().mapToInt(Integer::intValue).toArray()), name + " round " + round);
            }
        }
    }

    private static void assertSame(MeterRun expected, MeterRun actual, String where) {
        assertEquals(expected.meter.upstreamPromptTokens(), actual.meter.upstreamPromptTokens(), where);
        assertEquals(expected.meter.upstreamCompletionTokens(), actual.meter.upstreamCompletionTokens(), where);
        assertEquals(expected.meter.sawDone(), actual.meter.sawDone(), where);
        assertEquals(expected.meter.sawError(), actual.meter.sawError(), where);
        assertEquals(expected.meter.estimateCompletionTokens(TOKENS), actual.meter.estimateCompletionTokens(TOKENS), where);
        assertEquals(expected.actions, actual.actions, where);
        assertEquals(expected.eventEnds, actual.eventEnds, where);
        assertEquals(expected.deliveredText(), actual.deliveredText(), where);
    }

    /** The string elements of a top-level JSON array member (fixture JSON has no nested arrays of strings). */
    private static List<String> stringArray(String json, String key) {
        int at = json.indexOf("\"" + key + "\"");
        int open = json.indexOf('[', at);
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(json);
        int i = open + 1;
        while (m.find(i)) {
            int close = json.indexOf(']', i);
            if (m.start() > close && json.substring(i, m.start()).contains("]")) {
                break;
            }
            out.add(unescape(m.group(1)));
            i = m.end();
            String rest = json.substring(i).stripLeading();
            if (rest.startsWith("]")) {
                break;
            }
        }
        return out;
    }

    private static String unescape(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            char e = s.charAt(++i);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    sb.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
                    i += 4;
                }
                default -> sb.append(e);
            }
        }
        return sb.toString();
    }
}
