package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.tokens.TokenEstimator;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * A usage count is believed only when it is a plain JSON integer of plausible size; anything else is absent
 * (-1), so the record falls back to estimation instead of billing a made-up 0 or a runaway number.
 */
class UsageValueTest {
    private static final String HEAD = "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[";

    private static String content(String text) {
        return "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"" + text + "\"},\"finish_reason\":null}]}\n\n";
    }

    private static String usageChunk(String prompt, String completion) {
        return "data: " + HEAD + "],\"usage\":{\"prompt_tokens\":" + prompt + ",\"total_tokens\":7,\"completion_tokens\":"
                + completion + "}}\n\n";
    }

    private static MeterRun stream(String body, boolean wantsUsage, long ceiling) {
        MeterRun r = new MeterRun(Route.CHAT_COMPLETIONS, wantsUsage, false, true);
        r.meter.limitCompletionTokens(ceiling);
        return r.feed(body.getBytes(StandardCharsets.UTF_8), 7, body.length() / 2);
    }

    /** Values that are not plain integers, or larger than any real count (10^12 + 1 and beyond). */
    @ParameterizedTest
    @ValueSource(strings = {"\"12\"", "true", "false", "null", "12.0", "12.5", "1e3", "1E3", "12e0", "-5", "-0",
            "1000000000001", "99999999999999999999999", "{\"n\":12}", "[12]", "\"\""})
    void aCompletionCountThatIsNotAPlainIntegerIsAbsent(String value) {
        String body = content("Hello") + content(" world") + usageChunk("5", value) + "data: [DONE]\n\n";
        MeterRun r = stream(body, false, -1);
        assertEquals(-1, r.meter.upstreamCompletionTokens(), value);
        assertEquals(5, r.meter.upstreamPromptTokens(), "the valid member next to it is still read");
        assertTrue(r.meter.estimateCompletionTokens(TokenEstimator.standard()) > 0, "estimation has the text");
        assertEquals(content("Hello") + content(" world") + "data: [DONE]\n\n", r.deliveredText(),
                "the usage-only chunk the client did not ask for is still dropped");
    }

    @ParameterizedTest
    @ValueSource(strings = {"\"12\"", "true", "1e3", "-5", "12.0", "1000000000001"})
    void aPromptCountThatIsNotAPlainIntegerIsAbsent(String value) {
        MeterRun r = stream(content("Hi") + usageChunk(value, "2") + "data: [DONE]\n\n", true, -1);
        assertEquals(-1, r.meter.upstreamPromptTokens(), value);
        assertEquals(2, r.meter.upstreamCompletionTokens());
    }

    @Test
    void plainIntegersUpToTenToTheTwelveAreRead() {
        for (String[] c : List.of(new String[] {"0", "0"}, new String[] {"7", "7"},
                new String[] {"1000000000000", "1000000000000"})) {
            MeterRun r = stream(content("Hi") + usageChunk("3", c[0]) + "data: [DONE]\n\n", true, -1);
            assertEquals(Long.parseLong(c[1]), r.meter.upstreamCompletionTokens(), c[0]);
        }
    }

    @Test
    void aJsonBodyWithAStringCountIsEstimated() {
        String body = "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
                + "{\"role\":\"assistant\",\"content\":\"Hello there\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":\"9\",\"total_tokens\":12,\"completion_tokens\":\"3\"}}";
        MeterRun r = new MeterRun(Route.CHAT_COMPLETIONS, false, false, false)
                .feed(body.getBytes(StandardCharsets.UTF_8), 20);
        assertFalse(r.meter.hasUpstreamUsage());
        assertEquals(-1, r.meter.upstreamCompletionTokens());
        assertEquals(2, r.meter.estimateCompletionTokens(TokenEstimator.standard()), "\"Hello there\" is 2 tokens");
    }

    @Test
    void aFinalCountAboveTheCeilingIsAbsent() {
        MeterRun r = stream(content("Hi") + usageChunk("3", "5000") + "data: [DONE]\n\n", false, 100);
        assertEquals(-1, r.meter.upstreamCompletionTokens());
        assertEquals(3, r.meter.upstreamPromptTokens(), "the ceiling is on completion only");
    }

    @Test
    void aCountAtTheCeilingIsBelieved() {
        MeterRun r = stream(content("Hi") + usageChunk("3", "100") + "data: [DONE]\n\n", false, 100);
        assertEquals(100, r.meter.upstreamCompletionTokens());
    }

    @Test
    void oneImplausibleContinuousChunkDoesNotHideTheRealTotal() {
        String body = "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}],"
                + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"
                + "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":null}],"
                + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":900000000}}\n\n"
                + "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"c\"},\"finish_reason\":null}],"
                + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3}}\n\n";
        MeterRun r = stream(body, false, 50);
        assertEquals(3, r.meter.upstreamCompletionTokens(), "the cut stream's high-water mark without the outlier");
        MeterRun unlimited = stream(body, false, -1);
        assertEquals(900000000, unlimited.meter.upstreamCompletionTokens(), "without a ceiling it is believed");
    }

    @Test
    void perChoiceSumAboveTheCeilingIsAbsent() {
        String body = "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}],"
                + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":40}}\n\n"
                + "data: " + HEAD + "{\"index\":1,\"delta\":{\"content\":\"b\"},\"finish_reason\":null}],"
                + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":40}}\n\n";
        assertEquals(80, stream(body, false, 80).meter.upstreamCompletionTokens());
        assertEquals(-1, stream(body, false, 79).meter.upstreamCompletionTokens());
    }

    @Test
    void resetClearsTheCeiling() {
        MeterRun r = stream(content("Hi") + usageChunk("3", "5000") + "data: [DONE]\n\n", false, 100);
        r.meter.reset(Route.CHAT_COMPLETIONS, false, false);
        r.meter.onResponseStart(200, true, 0);
        byte[] again = (usageChunk("3", "5000") + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8);
        r.meter.onBody(again, 0, again.length, 1, null);
        assertEquals(5000, r.meter.upstreamCompletionTokens());
    }
}
