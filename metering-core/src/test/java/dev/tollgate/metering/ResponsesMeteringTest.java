package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.tokens.TokenEstimator;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The OpenAI Responses API as vLLM serves it (event lines, no {@code [DONE]}, usage only in
 * {@code response.completed} as {@code input_tokens}/{@code output_tokens}; a whole body with a top-level
 * {@code usage} in the same names): the meter reads the counts, forwards every byte, takes the first delta
 * as the first token, and keeps the delivered text for estimation. Bytes shaped like vLLM's
 * {@code model_dump_json} of the openai-python event types.
 */
class ResponsesMeteringTest {
    private static final TokenEstimator TOKENS = TokenEstimator.standard();

    private static String response(String status, String output, String usage) {
        return "{\"id\":\"resp_7f3a\",\"created_at\":1741290958,\"incomplete_details\":null,\"instructions\":\"Be brief.\","
                + "\"metadata\":null,\"model\":\"Qwen/Qwen3-0.6B\",\"object\":\"response\",\"output\":" + output
                + ",\"parallel_tool_calls\":true,\"temperature\":1.0,\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,"
                + "\"background\":false,\"max_output_tokens\":16,\"max_tool_calls\":null,\"previous_response_id\":null,"
                + "\"prompt\":null,\"reasoning\":null,\"service_tier\":\"auto\",\"status\":\"" + status + "\",\"text\":null,"
                + "\"top_logprobs\":null,\"truncation\":\"disabled\",\"usage\":" + usage + ",\"user\":null}";
    }

    private static final String MESSAGE = "[{\"id\":\"msg_91c\",\"content\":[{\"annotations\":[],\"text\":"
            + "\"Hello there, friend\",\"type\":\"output_text\",\"logprobs\":null}],\"role\":\"assistant\","
            + "\"status\":\"completed\",\"type\":\"message\"}]";
    private static final String USAGE = "{\"input_tokens\":21,\"input_tokens_details\":{\"cached_tokens\":0},"
            + "\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":26}";

    private static String event(String type, String json) {
        return "event: " + type + "\ndata: " + json + "\n\n";
    }

    private static String delta(int seq, String text) {
        return event("response.output_text.delta", "{\"content_index\":0,\"delta\":\"" + text + "\",\"item_id\":"
                + "\"msg_91c\",\"logprobs\":[],\"output_index\":0,\"sequence_number\":" + seq
                + ",\"type\":\"response.output_text.delta\"}");
    }

    static final String STREAM = event("response.created", "{\"response\":" + response("in_progress", "[]", "null")
            + ",\"sequence_number\":0,\"type\":\"response.created\"}")
            + event("response.in_progress", "{\"response\":" + response("in_progress", "[]", "null")
            + ",\"sequence_number\":1,\"type\":\"response.in_progress\"}")
            + event("response.output_item.added", "{\"item\":{\"id\":\"msg_91c\",\"content\":[],\"role\":\"assistant\","
            + "\"status\":\"in_progress\",\"type\":\"message\"},\"output_index\":0,\"sequence_number\":2,"
            + "\"type\":\"response.output_item.added\"}")
            + event("response.content_part.added", "{\"content_index\":0,\"item_id\":\"msg_91c\",\"output_index\":0,"
            + "\"part\":{\"annotations\":[],\"text\":\"\",\"type\":\"output_text\",\"logprobs\":[]},\"sequence_number\":3,"
            + "\"type\":\"response.content_part.added\"}")
            + delta(4, "Hello") + delta(5, " there,") + delta(6, " friend")
            + event("response.output_text.done", "{\"content_index\":0,\"item_id\":\"msg_91c\",\"logprobs\":[],"
            + "\"output_index\":0,\"sequence_number\":7,\"text\":\"Hello there, friend\",\"type\":\"response.output_text.done\"}")
            + event("response.content_part.done", "{\"content_index\":0,\"item_id\":\"msg_91c\",\"output_index\":0,"
            + "\"part\":{\"annotations\":[],\"text\":\"Hello there, friend\",\"type\":\"output_text\",\"logprobs\":null},"
            + "\"sequence_number\":8,\"type\":\"response.content_part.done\"}")
            + event("response.output_item.done", "{\"item\":" + MESSAGE.substring(1, MESSAGE.length() - 1)
            + ",\"output_index\":0,\"sequence_number\":9,\"type\":\"response.output_item.done\"}")
            + event("response.completed", "{\"response\":" + response("completed", MESSAGE, USAGE)
            + ",\"sequence_number\":10,\"type\":\"response.completed\"}");

    @Test
    void streamedUsageComesFromResponseCompletedAtEverySplitPoint() {
        byte[] body = STREAM.getBytes(StandardCharsets.UTF_8);
        int firstDelta = STREAM.indexOf("event: response.output_text.delta");
        for (int cut = 1; cut < body.length; cut++) {
            MeterRun run = new MeterRun(Route.RESPONSES, true, true, true).feed(body, cut);
            StreamMeter m = run.meter;
            assertEquals(21, m.upstreamPromptTokens(), "cut " + cut);
            assertEquals(5, m.upstreamCompletionTokens(), "cut " + cut);
            assertTrue(m.sawDone(), "cut " + cut);
            assertFalse(m.sawError(), "cut " + cut);
            assertArrayEquals(body, run.delivered.toByteArray(), "cut " + cut);
            // The first delta completes in the piece that holds its end: piece 1 (t=1) or piece 2 (t=2).
            int deltaEnd = STREAM.indexOf("\n\n", firstDelta) + 2;
            assertEquals(deltaEnd <= cut ? 1 : 2, m.firstTokenNanos(), "cut " + cut);
            assertEquals(TOKENS.count("Hello there, friend"), m.estimateCompletionTokens(TOKENS), "cut " + cut);
        }
    }

    @Test
    void aStreamCutBeforeResponseCompletedHasNoUsageButItsText() {
        String cut = STREAM.substring(0, STREAM.indexOf("event: response.output_text.done"));
        MeterRun run = new MeterRun(Route.RESPONSES, true, true, true).feed(cut.getBytes(StandardCharsets.UTF_8));
        assertFalse(run.meter.hasUpstreamUsage());
        assertFalse(run.meter.sawDone());
        assertEquals(TOKENS.count("Hello there, friend"), run.meter.estimateCompletionTokens(TOKENS));
    }

    @Test
    void wholeBodyUsageUsesTheResponsesNames() {
        byte[] body = response("completed", MESSAGE, USAGE).getBytes(StandardCharsets.UTF_8);
        MeterRun run = new MeterRun(Route.RESPONSES, true, true, false).feed(body, body.length / 2);
        assertEquals(21, run.meter.upstreamPromptTokens());
        assertEquals(5, run.meter.upstreamCompletionTokens());
        assertFalse(run.meter.sawError());
        assertEquals(TOKENS.count("Hello there, friend"), run.meter.estimateCompletionTokens(TOKENS));
        assertArrayEquals(body, run.delivered.toByteArray());
    }
}
