package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Usage of finished jobs from RunPod's published answers (fixtures {@code v06}-{@code v10}, {@code s06}): the
 * counts each answer carries are the expected values.
 */
class JobUsageTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TokenEstimator TOKENS = TokenEstimator.standard();
    private static final JsonNode PROMPT_INPUT = JSON.createObjectNode().put("prompt", "Is 7 prime?");

    static JsonNode fixture(String name) throws IOException {
        try (InputStream in = JobUsageTest.class.getResourceAsStream("/fixtures/runpod/" + name)) {
            return JSON.readTree(in);
        }
    }

    private static JobUsage.Usage usage(JsonNode output) {
        return JobUsage.of(PROMPT_INPUT, output, TOKENS);
    }

    @Test
    void worker_vllm_streamed_slices_carry_vllm_usage_however_they_are_cut() throws IOException {
        JsonNode s06 = fixture("s06_runpod_worker_yield_framing.json");
        // s06: 12 prompt + 8 completion tokens, in the aggregate /status output, the new worker's arbitrary
        // iter_any() slices and the old worker's batches of whole events.
        for (String key : List.of("new_worker_iter_any_yields_example", "old_worker_batched_yields_1_3_9")) {
            assertEquals(new JobUsage.Usage(12, 8, JobUsage.Kind.VLLM), usage(s06.get(key)), key);
        }
        assertEquals(new JobUsage.Usage(12, 8, JobUsage.Kind.VLLM),
                usage(s06.get("runsync_or_status_aggregate_example").get("output")));
    }

    @Test
    void legacy_usage_input_output_of_public_endpoints() throws IOException {
        JsonNode v08 = fixture("v08_runpod_public_endpoint_runsync_legacy_worker_output.json");
        assertEquals(new JobUsage.Usage(10, 100, JobUsage.Kind.LEGACY), usage(v08.get("http_200").get("output")));
        // The FAILED answer has no output at all.
        assertEquals(JobUsage.Kind.NONE, usage(v08.get("http_400").get("output")).kind());
    }

    @Test
    void documented_status_output_with_input_and_output_tokens() throws IOException {
        JsonNode v07 = fixture("v07_runpod_native_api_responses.json");
        assertEquals(new JobUsage.Usage(22, 16, JobUsage.Kind.LEGACY),
                usage(v07.get("status_response").get("output")));
    }

    @Test
    void an_image_job_has_no_tokens() throws IOException {
        JsonNode v07 = fixture("v07_runpod_native_api_responses.json");
        assertEquals(new JobUsage.Usage(0, 0, JobUsage.Kind.NONE), usage(v07.get("runsync_response").get("output")));
        JsonNode v06 = fixture("v06_vllm_chat_finish_chunk_pretty.json");
        assertEquals(JobUsage.Kind.NONE, usage(JSON.createArrayNode().add(v06)).kind(), "an empty finish chunk");
    }

    @Test
    void plain_text_yields_are_estimated_with_the_tokenizer() throws IOException {
        JsonNode v09 = fixture("v09_runpod_stream_poll_shape_runpod-python-tests.json");
        var outputs = JSON.createArrayNode();
        v09.get("in_progress").get("stream").forEach(s -> outputs.add(s.get("output")));
        JobUsage.Usage u = usage(outputs);
        assertEquals(JobUsage.Kind.ESTIMATED, u.kind());
        assertEquals(TOKENS.count("Job output 1Job output 2"), u.completion());
        assertEquals(TOKENS.count("Is 7 prime?"), u.prompt());
    }

    @Test
    void the_prompt_estimate_reads_the_openai_input_the_platform_sends() throws IOException {
        JsonNode test = fixture("v10_worker-vllm_runpod_tests.json").get("tests").get(1).get("input");
        assertEquals(TOKENS.countChat(List.of("You are a helpful assistant that writes concise responses.",
                "Explain what a neural network is in one sentence.")), JobUsage.promptEstimate(test, TOKENS));
        JsonNode legacy = fixture("v10_worker-vllm_runpod_tests.json").get("tests").get(0).get("input");
        assertEquals(TOKENS.count("Write a short poem about artificial intelligence."),
                JobUsage.promptEstimate(legacy, TOKENS));
    }

    @Test
    void a_count_that_is_not_a_plain_integer_is_not_reported() throws IOException {
        JsonNode out = JSON.readTree("[{\"choices\":[{\"text\":\"hello there\"}],"
                + "\"usage\":{\"prompt_tokens\":\"12\",\"completion_tokens\":8.0}}]");
        JobUsage.Usage u = usage(out);
        assertEquals(JobUsage.Kind.ESTIMATED, u.kind());
        assertEquals(TOKENS.count("hello there"), u.completion());
    }
}
