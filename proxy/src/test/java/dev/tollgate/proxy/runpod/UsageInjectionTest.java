package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Where {@code include_usage} is set on a streaming job, and how the usage-only chunk is cut out of what the
 * client reads, on the {@code s06} fixture (worker-vllm slices cut anywhere, with the trailing usage chunk).
 */
class UsageInjectionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** s06's trailing usage-only event, as vLLM writes it. */
    private static final String USAGE_CHUNK = "data: {\"id\":\"chatcmpl-0123456789abcdef\",\"object\":"
            + "\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[],"
            + "\"usage\":{\"prompt_tokens\":12,\"total_tokens\":20,\"completion_tokens\":8}}\n\n";

    private static ObjectNode body(String json) throws IOException {
        return (ObjectNode) JSON.readTree(json);
    }

    @Test
    void setOnlyOnStreamingJobsThatDidNotAskAndHaveNoWebhook() throws IOException {
        ObjectNode b = body("{\"input\":{\"prompt\":\"p\",\"stream\":true,\"sampling_params\":{\"max_tokens\":8}}}");
        assertTrue(UsageInjection.inject(b));
        assertEquals("{\"max_tokens\":8,\"stream_options\":{\"include_usage\":true}}",
                b.get("input").get("sampling_params").toString());
        ObjectNode oi = body("{\"input\":{\"openai_route\":\"/v1/chat/completions\",\"openai_input\":{\"stream\":true,"
                + "\"stream_options\":{\"continuous_usage_stats\":false}}}}");
        assertTrue(UsageInjection.inject(oi));
        assertTrue(oi.at("/input/openai_input/stream_options/include_usage").asBoolean());
        for (String unchanged : new String[] {
            "{\"input\":{\"prompt\":\"p\"}}",
            "{\"input\":{\"prompt\":\"p\",\"stream\":true,\"sampling_params\":{\"stream_options\":"
                + "{\"include_usage\":true}}}}",
            "{\"input\":{\"prompt\":\"p\",\"stream\":true},\"webhook\":\"https://client.example/hook\"}",
            "{\"input\":{\"prompt\":\"p\",\"stream\":true,\"sampling_params\":\"x\"}}"}) {
            ObjectNode u = body(unchanged);
            assertFalse(UsageInjection.inject(u), unchanged);
            assertEquals(JSON.readTree(unchanged), u);
        }
    }

    @Test
    void theAggregateOutputLosesOnlyTheUsageChunk() throws IOException {
        JsonNode answer = JobUsageTest.fixture("s06_runpod_worker_yield_framing.json")
                .get("runsync_or_status_aggregate_example");
        JsonNode stripped = UsageInjection.stripAggregate(answer);
        String before = joined(answer.get("output"));
        assertTrue(before.contains(USAGE_CHUNK));
        assertEquals(before.replace(USAGE_CHUNK, ""), joined(stripped.get("output")));
        assertEquals(answer.get("output").size(), stripped.get("output").size(), "slices kept");
        assertEquals(answer.get("delayTime"), stripped.get("delayTime"));
    }

    @Test
    void streamAnswersHoldAnIncompleteEventUntilTheNextOne() throws IOException {
        JsonNode slices = JobUsageTest.fixture("s06_runpod_worker_yield_framing.json")
                .get("new_worker_iter_any_yields_example");
        String all = joined(slices);
        UsageInjection filter = new UsageInjection();
        StringBuilder seen = new StringBuilder();
        // Two polls: the first ends inside an event.
        for (int[] range : new int[][] {{0, 3}, {3, slices.size()}}) {
            ObjectNode answer = JSON.createObjectNode().put("status", range[0] == 0 ? "IN_PROGRESS" : "COMPLETED");
            ArrayNode stream = answer.putArray("stream");
            for (int i = range[0]; i < range[1]; i++) {
                stream.addObject().set("output", slices.get(i));
            }
            JsonNode out = filter.stripStream("req-1", answer);
            out.get("stream").forEach(s -> seen.append(s.get("output").asText()));
            if (range[0] == 0) {
                assertTrue(seen.toString().endsWith("\n\n"), "only whole events go out before the end");
            }
        }
        assertEquals(all.replace(USAGE_CHUNK, ""), seen.toString());
    }

    private static String joined(JsonNode output) {
        StringBuilder sb = new StringBuilder();
        output.forEach(o -> sb.append(o.asText()));
        return sb.toString();
    }
}
