package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Tollgate asks the upstream for continuous usage; the meter tells the relay which bytes to drop so that a
 * client sees exactly the stream it would have got without that request. Also: n > 1 continuous usage
 * combines per choice, and the final usage-only chunk wins.
 */
class UsageInjectionTest {
    private static final String HEAD = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
            + "\"model\":\"m\",\"choices\":[";

    /** A two-choice stream, with continuous usage (and the final usage chunk) or without any usage. */
    private static String stream(boolean continuous, boolean usageChunk) {
        StringBuilder sb = new StringBuilder();
        long[] done = new long[2];
        for (int c = 0; c < 2; c++) {
            sb.append("data: ").append(HEAD).append("{\"index\":").append(c)
                    .append(",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]")
                    .append(continuous ? usage(9, 0) : "").append("}\n\n");
        }
        for (int step = 0; step < 5; step++) {
            for (int c = 0; c < 2; c++) {
                if (c == 1 && step >= 3) {
                    continue;
                }
                done[c]++;
                sb.append("data: ").append(HEAD).append("{\"index\":").append(c)
                        .append(",\"delta\":{\"content\":\" w").append(step).append("\"},\"logprobs\":null,\"finish_reason\":null}]")
                        .append(continuous ? usage(9, done[c]) : "").append("}\n\n");
            }
        }
        if (usageChunk) {
            sb.append("data: ").append(HEAD).append("]").append(usage(9, done[0] + done[1])).append("}\n\n");
        }
        return sb.append("data: [DONE]\n\n").toString();
    }

    private static String usage(long p, long c) {
        return ",\"usage\":{\"prompt_tokens\":" + p + ",\"total_tokens\":" + (p + c) + ",\"completion_tokens\":" + c + "}";
    }

    private static MeterRun run(String s, boolean wantsUsage, boolean wantsContinuous, int... cuts) {
        return new MeterRun(Route.CHAT_COMPLETIONS, wantsUsage, wantsContinuous, true)
                .feed(s.getBytes(StandardCharsets.UTF_8), cuts);
    }

    @Test
    void clientWithoutUsageGetsTheStreamWithoutAnyUsage() {
        MeterRun r = run(stream(true, true), false, false, 17, 300, 301, 900);
        assertEquals(stream(false, false), r.deliveredText());
        assertEquals(9, r.meter.upstreamPromptTokens());
        assertEquals(8, r.meter.upstreamCompletionTokens());
    }

    @Test
    void clientWithIncludeUsageKeepsOnlyTheFinalUsageChunk() {
        MeterRun r = run(stream(true, true), true, false, 5, 640);
        assertEquals(stream(false, true), r.deliveredText());
    }

    @Test
    void clientWithContinuousUsageGetsEverything() {
        MeterRun r = run(stream(true, true), true, true);
        assertEquals(stream(true, true), r.deliveredText());
    }

    @Test
    void cutStreamSumsThePerChoiceHighWaterMarks() {
        String full = stream(true, false);
        String cut = full.substring(0, full.indexOf("\"content\":\" w4\""));
        cut = cut.substring(0, cut.lastIndexOf("\n\n") + 2);
        MeterRun r = run(cut, false, false);
        // choice 0 saw w0..w3 (4 tokens), choice 1 saw w0..w2 (3 tokens).
        assertEquals(7, r.meter.upstreamCompletionTokens());
        assertEquals(9, r.meter.upstreamPromptTokens());
        assertTrue(!r.meter.sawDone());
    }

    @Test
    void zeroIsAValueNotAbsence() {
        String s = "data: " + HEAD + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]"
                + usage(4, 0) + "}\n\ndata: " + HEAD + "]" + usage(4, 0) + "}\n\ndata: [DONE]\n\n";
        MeterRun r = run(s, false, false);
        assertEquals(0, r.meter.upstreamCompletionTokens());
        assertTrue(r.meter.hasUpstreamUsage());
    }

    @Test
    void oversizedEventIsSkippedWithBoundedMemory() {
        StringBuilder big = new StringBuilder("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
        big.append("x".repeat(2 << 20)).append("\"}}]}\n\n");
        String s = big + "data: " + HEAD + "]" + usage(3, 2) + "}\n\ndata: [DONE]\n\n";
        int[] cuts = new int[40];
        for (int i = 0; i < cuts.length; i++) {
            cuts[i] = (i + 1) * 50_000;
        }
        MeterRun r = run(s, true, true, cuts);
        assertEquals(1, r.meter.oversizedEvents());
        assertEquals(2, r.meter.upstreamCompletionTokens());
        assertTrue(r.meter.sawDone());
    }

    @Test
    void responsesApiEventFramingAndUsage() {
        String s = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r1\"}}\n\n"
                + "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n"
                + "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\","
                + "\"usage\":{\"input_tokens\":11,\"output_tokens\":2,\"total_tokens\":13}}}\n\n";
        MeterRun r = run(s, true, true, 30, 90);
        assertEquals(11, r.meter.upstreamPromptTokens());
        assertEquals(2, r.meter.upstreamCompletionTokens());
        assertTrue(r.meter.sawDone());
    }

    @Test
    void malformedJsonNeverThrows() {
        String s = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\ndata: {garbage\n\n"
                + "data: \u00ff\u00fe\n\ndata: [DONE]\n\n";
        MeterRun r = run(s, false, false, 3, 40);
        assertTrue(r.meter.sawDone());
        assertTrue(r.meter.firstTokenNanos() > 0);
    }
}
