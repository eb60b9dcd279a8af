package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tollgate.metering.json.RandomJson;
import dev.tollgate.metering.json.RandomChunks;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Streams whose chunks carry random members metering ignores (nested logprobs, escaped quotes and backslashes,
 * unicode escapes, look-alike usage) are metered to their known counts and text, and a client that did not ask
 * for usage gets each chunk without its usage member, however the stream is cut into reads: in particular
 * with a cut inside every ignored member.
 */
class SkippedMembersStreamTest {
    private static final TokenEstimator TOKENS = TokenEstimator.standard();

    /** A random stream, the stream a client without usage must receive, and the expected counts and text. */
    private record Case(byte[] stream, String withoutUsage, long prompt, long completion, String text) {
    }

    private static Case randomCase(RandomJson gen, int chunks) {
        StringBuilder sent = new StringBuilder();
        StringBuilder delivered = new StringBuilder();
        StringBuilder text = new StringBuilder();
        long prompt = 1 + gen.nextInt(5000);
        long completion = 0;
        for (int k = 0; k < chunks; k++) {
            completion += gen.nextInt(3);
            String[] parts = RandomChunks.parts(gen, prompt, completion, text);
            sent.append("data: ").append(parts[0]).append(',').append(parts[1]).append("}\n\n");
            delivered.append("data: ").append(parts[0]).append("}\n\n");
        }
        sent.append("data: [DONE]\n\n");
        delivered.append("data: [DONE]\n\n");
        return new Case(sent.toString().getBytes(StandardCharsets.UTF_8), delivered.toString(), prompt, completion,
                text.toString());
    }

    private static void check(Case c, MeterRun r, String where) {
        assertEquals(c.prompt, r.meter.upstreamPromptTokens(), where);
        assertEquals(c.completion, r.meter.upstreamCompletionTokens(), where);
        assertEquals(TOKENS.countUtf8(c.text.getBytes(StandardCharsets.UTF_8), 0,
                c.text.getBytes(StandardCharsets.UTF_8).length), r.meter.estimateCompletionTokens(TOKENS), where);
        assertEquals(c.withoutUsage, r.deliveredText(), where);
    }

    @Test
    void everySingleCutGivesTheKnownCountsTextAndStrippedStream() {
        Case c = randomCase(new RandomJson(5), 4);
        for (int cut = 1; cut < c.stream.length; cut++) {
            check(c, new MeterRun(Route.CHAT_COMPLETIONS, false, false, true).feed(c.stream, cut), "cut " + cut);
        }
    }

    @Test
    void randomStreamsInRandomReadsGiveTheKnownCountsTextAndStrippedStream() {
        RandomJson gen = new RandomJson(6);
        for (int round = 0; round < 400; round++) {
            Case c = randomCase(gen, 1 + gen.nextInt(6));
            check(c, new MeterRun(Route.CHAT_COMPLETIONS, false, false, true).feed(c.stream), "whole " + round);
            List<Integer> cuts = new ArrayList<>();
            int at = 0;
            while ((at += 1 + gen.nextInt(60)) < c.stream.length) {
                cuts.add(at);
            }
            check(c, new MeterRun(Route.CHAT_COMPLETIONS, false, false, true)
                    .feed(c.stream, cuts.stream().mapToInt(Integer::intValue).toArray()), "round " + round);
        }
    }
}
